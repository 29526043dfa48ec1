// OpenMeter's docs' curl commands, replayed with an HTTP client: the bodies byte for byte as the
// docs have them, with the docs' headers; only the base URL and the token differ (and, where the
// docs' path holds a placeholder id, the id of a real customer after the verbatim attempt).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { assertProblem, client, fixture, freeIdentifiers, http, problemFields, stripeApp } from './lib.js';

const openmeter = client();

// curl -X POST "$OPENMETER_URL/api/v1/customers" -H 'Content-Type: application/json' --data-raw
const CREATE_CUSTOMER = `{
  "name": "",
  "description": "",
  "metadata": {
    "externalId": "019142cc-a016-796a-8113-1a942fecd26d"
  },
  "key": "",
  "usageAttribution": {
    "subjectKeys": [
      "$YOUR-SUBJECT"
    ]
  },
  "primaryEmail": "",
  "currency": "USD",
  "billingAddress": {
    "country": "US",
    "postalCode": "",
    "state": "",
    "city": "",
    "line1": "",
    "line2": "",
    "phoneNumber": ""
  }
}`;

// curl -X PUT "$OPENMETER_URL/api/v1/customers/01JDJM1WF8Y461YQ9F0EW4WHY2/apps" ...
const UPSERT_APPS = `[
  {
    "type": "stripe",
    "stripeCustomerId": "cus_xxxxxxx"
  }
]`;

// curl -X POST "$OPENMETER_URL/api/v1/stripe/checkout/sessions" ...
const CHECKOUT = `{
  "customer": {
    "name": "ACME, Inc.",
    "currency": "USD",
    "usageAttribution": {
      "subjectKeys": ["my-identifier"]
    }
  },
  "options": {
    "successUrl": "https://example.com/success"
  }
}`;

// curl -X POST "$OPENMETER_URL/api/v1/events" -H 'Content-Type: application/cloudevents+json'
const EVENT = `{
  "specversion": "1.0",
  "type": "api-calls",
  "id": "00002",
  "time": "2023-01-01T00:00:00.001Z",
  "source": "service-0",
  "subject": "customer-1",
  "data": {
    "duration": "20",
    "path": "/hello"
  }
}`;

describe("OpenMeter docs' curl bodies", () => {
  test('POST /api/v1/customers: the empty name is a 400 naming it; with a name, empty strings are absent', async () => {
    const refused = await http('POST', '/api/v1/customers', { body: CREATE_CUSTOMER });
    assert.deepEqual(problemFields(assertProblem(refused, 400, 'name')), ['name']);
    const nothing = await openmeter.customers.list({ subject: '$YOUR-SUBJECT' });
    assert.equal(nothing.totalCount, 0, 'nothing was stored');

    const named = CREATE_CUSTOMER.replace('"name": ""', '"name": "ACME, Inc."');
    const created = await http('POST', '/api/v1/customers', { body: named });
    assert.equal(created.status, 201, created.text);
    assert.match(created.contentType, /^application\/json/);
    const customer = created.json;
    assert.equal(customer.name, 'ACME, Inc.');
    assert.deepEqual(customer.metadata, { externalId: '019142cc-a016-796a-8113-1a942fecd26d' });
    assert.deepEqual(customer.usageAttribution, { subjectKeys: ['$YOUR-SUBJECT'] });
    assert.equal(customer.currency, 'USD');
    assert.deepEqual(customer.billingAddress, { country: 'US' }, 'empty address parts are omitted');
    for (const absent of ['key', 'description', 'primaryEmail', 'deletedAt']) {
      assert.ok(!(absent in customer), `${absent} is omitted: ${created.text}`);
    }
    // Not a ULID, not a time in another format: RFC 3339.
    assert.ok(!Number.isNaN(Date.parse(customer.createdAt)), customer.createdAt);
  });

  test('PUT /api/v1/customers/{id}/apps with stripeCustomerId', async () => {
    await stripeApp(openmeter);
    // The docs' path names a customer that does not exist here.
    const unknown = await http('PUT', '/api/v1/customers/01JDJM1WF8Y461YQ9F0EW4WHY2/apps', { body: UPSERT_APPS });
    assertProblem(unknown, 404, '01JDJM1WF8Y461YQ9F0EW4WHY2');

    const customer = await openmeter.customers.create({ name: 'Curl Co', key: 'curl-co' });
    // cus_xxxxxxx is a placeholder Stripe does not know: a client error naming it (and its field:
    // problem-fields.test.js).
    const placeholder = await http('PUT', `/api/v1/customers/${customer.id}/apps`, { body: UPSERT_APPS });
    assert.ok([400, 412].includes(placeholder.status), placeholder.text);
    assertProblem(placeholder, placeholder.status, 'cus_xxxxxxx');

    const real = UPSERT_APPS.replace('cus_xxxxxxx', fixture(1).customer);
    const stored = await http('PUT', `/api/v1/customers/${customer.id}/apps`, { body: real });
    assert.equal(stored.status, 200, stored.text);
    assert.equal(stored.json.length, 1);
    assert.equal(stored.json[0].type, 'stripe');
    assert.equal(stored.json[0].stripeCustomerId, fixture(1).customer);
  });

  test('POST /api/v1/stripe/checkout/sessions with the docs spelling successUrl', async () => {
    await stripeApp(openmeter);
    await freeIdentifiers(openmeter, 'my-identifier');
    const created = await http('POST', '/api/v1/stripe/checkout/sessions', { body: CHECKOUT });
    assert.equal(created.status, 201, created.text);
    const session = created.json;
    assert.match(session.customerId, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    assert.match(session.stripeCustomerId, /^cus_/);
    assert.match(session.sessionId, /^cs_test_/);
    assert.match(session.setupIntentId, /^seti_/);
    assert.equal(session.mode, 'setup');
    assert.equal(session.successURL, 'https://example.com/success');
    assert.match(session.url, /^https:\/\//);
    assert.equal(session.currency, 'USD');
    const customer = await openmeter.customers.get(session.customerId);
    assert.equal(customer.name, 'ACME, Inc.');
    assert.deepEqual(customer.usageAttribution, { subjectKeys: ['my-identifier'] });
    await openmeter.customers.delete(customer.id);

    const badUrl = await http('POST', '/api/v1/stripe/checkout/sessions', {
      body: CHECKOUT.replace('https://example.com/success', 'not a url'),
    });
    assert.deepEqual(problemFields(assertProblem(badUrl, 400)), ['options.successURL']);
  });

  test('POST /api/v1/events with the docs event', async () => {
    const ingested = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents+json',
      body: EVENT,
    });
    assert.equal(ingested.status, 204, ingested.text);
    assert.equal(ingested.text, '');
    const again = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents+json',
      body: EVENT,
    });
    assert.equal(again.status, 204, 'a duplicate is accepted');
  });
});
