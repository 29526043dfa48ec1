// OpenMeter's docs' SDK examples, exactly as our users have them (only the base URL and the
// token differ), in the order of a Stripe integration: a customer with a key and a subject,
// looked up by key, its Stripe data, a Checkout Session, subjects, a usage event.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assertTimestamp,
  assertUlid,
  client,
  fixture,
  freeIdentifiers,
  rejectsWithProblem,
  stripeApp,
} from './lib.js';

const openmeter = client();

describe("OpenMeter docs' SDK examples", () => {
  let customerId;

  test('customers.create with usageAttribution.subjectKeys', async () => {
    await freeIdentifiers(openmeter, 'my-database-id', 'my-identifier');
    const customer = await openmeter.customers.create({
      name: 'ACME, Inc.',
      key: 'my-database-id',
      usageAttribution: { subjectKeys: ['my-identifier'] },
    });
    assertUlid(customer.id, 'id');
    assert.equal(customer.name, 'ACME, Inc.');
    assert.equal(customer.key, 'my-database-id');
    assert.deepEqual(customer.usageAttribution, { subjectKeys: ['my-identifier'] });
    assertTimestamp(customer.createdAt, 'createdAt');
    assertTimestamp(customer.updatedAt, 'updatedAt');
    assert.equal(customer.deletedAt, undefined, 'empty optional fields are omitted');
    customerId = customer.id;
  });

  test('customers.list({ key }) is an exact, case-sensitive match: one or none', async () => {
    const found = await openmeter.customers.list({ key: 'my-database-id' });
    assert.equal(found.totalCount, 1);
    assert.deepEqual(
      found.items.map((c) => c.id),
      [customerId],
    );
    for (const near of ['MY-DATABASE-ID', 'my-database', 'my-database-id-2']) {
      const none = await openmeter.customers.list({ key: near });
      assert.deepEqual(none.items, [], near);
      assert.equal(none.totalCount, 0, near);
    }
  });

  test('customers.create with the usageAttribution.subjects alias', async () => {
    const docsCall = () =>
      openmeter.customers.create({
        name: 'ACME, Inc.',
        key: 'my-database-id',
        usageAttribution: { subjects: ['my-identifier'] },
      });
    // The key and the subject are held by the customer above: the conflict names the holder.
    await rejectsWithProblem(docsCall(), 409, customerId);
    assert.equal(await openmeter.customers.delete(customerId), undefined, '204 No Content');
    // A deleted customer frees its key and subjects: the docs' call now creates a customer.
    const customer = await docsCall();
    assert.notEqual(customer.id, customerId);
    assert.equal(customer.key, 'my-database-id');
    assert.deepEqual(customer.usageAttribution, { subjectKeys: ['my-identifier'] });
    const found = await openmeter.customers.list({ key: 'my-database-id' });
    assert.deepEqual(
      found.items.map((c) => c.id),
      [customer.id],
      'the deleted holder is not listed',
    );
    customerId = customer.id;
  });

  test('customers.apps.upsert with the Stripe customer and its default payment method', async () => {
    const app = await stripeApp(openmeter);
    const { customer: stripeCustomerId, paymentMethod } = fixture(0);
    const stored = await openmeter.customers.apps.upsert(customerId, [
      {
        type: 'stripe',
        stripeCustomerId,
        stripeDefaultPaymentMethodId: paymentMethod,
      },
    ]);
    assert.ok(Array.isArray(stored), 'the upsert answers the stored items');
    assert.equal(stored.length, 1);
    assert.equal(stored[0].type, 'stripe');
    assert.equal(stored[0].id, app.id, 'the default Stripe app');
    assert.equal(stored[0].stripeCustomerId, stripeCustomerId);
    assert.equal(stored[0].stripeDefaultPaymentMethodId, paymentMethod);
  });

  test('apps.stripe.createCheckoutSession for the customer of the key', async () => {
    const session = await openmeter.apps.stripe.createCheckoutSession({
      customer: {
        name: 'ACME, Inc.',
        key: 'my-database-id',
        usageAttribution: { subjectKeys: ['my-identifier'] },
      },
      options: {
        successURL: 'https://example.com/success',
        currency: 'USD',
      },
    });
    // The live holder of the key is reused, with the Stripe customer it is connected to.
    assert.equal(session.customerId, customerId);
    assert.equal(session.stripeCustomerId, fixture(0).customer);
    assert.equal(session.mode, 'setup');
    assert.match(session.sessionId, /^cs_test_/);
    assert.match(session.setupIntentId, /^seti_/);
    assert.equal(session.successURL, 'https://example.com/success');
    assert.match(session.url, /^https:\/\//);
    assertTimestamp(session.createdAt, 'createdAt');
  });

  test('subjects.upsert, get, list, delete', async () => {
    const upserted = await openmeter.subjects.upsert([
      { key: 'customer-1', displayName: 'ACME', metadata: {}, stripeCustomerId: 'cus_xxx' },
    ]);
    assert.equal(upserted.length, 1);
    assert.equal(upserted[0].key, 'customer-1');
    assert.equal(upserted[0].displayName, 'ACME');
    assert.equal(upserted[0].stripeCustomerId, 'cus_xxx');
    assertUlid(upserted[0].id, 'id');
    assertTimestamp(upserted[0].createdAt, 'createdAt');

    const byKey = await openmeter.subjects.get('customer-1');
    assert.equal(byKey.id, upserted[0].id);
    const byId = await openmeter.subjects.get(upserted[0].id);
    assert.equal(byId.key, 'customer-1');
    const listed = await openmeter.subjects.list();
    assert.ok(Array.isArray(listed), 'OpenMeter lists subjects as a plain array');
    assert.ok(listed.some((s) => s.key === 'customer-1'));

    const deleted = await openmeter.subjects.delete('customer-1');
    assert.equal(deleted, undefined, '204 No Content');
    await rejectsWithProblem(openmeter.subjects.get('customer-1'), 404, 'customer-1');
  });

  test("events.ingest of the docs' event", async () => {
    const docsEvent = {
      specversion: '1.0',
      type: 'api-calls',
      id: '00002',
      time: '2023-01-01T00:00:00.001Z',
      source: 'service-0',
      subject: 'customer-1',
      data: { duration: '20', path: '/hello' },
    };
    assert.equal(await openmeter.events.ingest(docsEvent), undefined, '204 No Content');
    // Ingesting it again is a duplicate, accepted the same way.
    assert.equal(await openmeter.events.ingest(docsEvent), undefined);
    // Ingestion creates the subject it names when none is live (patron, like OpenMeter Cloud).
    const subject = await openmeter.subjects.get('customer-1');
    assert.equal(subject.key, 'customer-1');
  });
});
