// Apps and customer app data through the SDK: install by API key at the marketplace listing,
// list, get, update, the API-key update, uninstall; a customer's app data (list, upsert, delete),
// the /stripe shortcut, the customer portal; and the webhook path OpenMeter gives Stripe.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assertProblem,
  assertTimestamp,
  assertUlid,
  client,
  fixture,
  http,
  problemFields,
  rejectsWithProblem,
  stripe,
  stripeApp,
  unique,
} from './lib.js';

const openmeter = client();

function assertStripeApp(app) {
  assertUlid(app.id, 'id');
  assert.equal(app.type, 'stripe');
  assert.equal(app.status, 'ready');
  assert.equal(app.livemode, false);
  assert.match(app.stripeAccountId, /^acct_/);
  assert.equal(app.listing?.type, 'stripe');
  assertTimestamp(app.createdAt, 'createdAt');
  assertTimestamp(app.updatedAt, 'updatedAt');
}

describe('apps', () => {
  test('install by API key through the marketplace listing, list, get, update, rotate, uninstall', async () => {
    const main = await stripeApp(openmeter);
    assertStripeApp(main);
    assert.equal(main.stripeAccountId, stripe.accountId);
    assert.ok(main.maskedAPIKey.endsWith(stripe.apiKey.slice(-3)), main.maskedAPIKey);
    assert.ok(!main.maskedAPIKey.includes(stripe.apiKey), 'the key is masked');

    // A key Stripe refuses names the field; nothing is installed.
    await rejectsWithProblem(
      openmeter.apps.marketplace.installWithAPIKey('stripe', { apiKey: 'sk_test_unknownKey123456' }),
      400,
      'apiKey',
    );
    const publishable = await rejectsWithProblem(
      openmeter.apps.marketplace.installWithAPIKey('stripe', { apiKey: 'pk_test_abc' }),
      400,
      'apiKey',
    );
    assert.deepEqual(problemFields(publishable), ['apiKey']);

    const installed = await openmeter.apps.marketplace.installWithAPIKey('stripe', {
      apiKey: stripe.otherApiKey,
      name: 'Stripe EU',
    });
    assert.ok(Array.isArray(installed.defaultForCapabilityTypes));
    const other = installed.app;
    assertStripeApp(other);
    assert.equal(other.name, 'Stripe EU');
    assert.notEqual(other.stripeAccountId, stripe.accountId);
    // The same account again is a conflict.
    await rejectsWithProblem(
      openmeter.apps.marketplace.installWithAPIKey('stripe', { apiKey: stripe.otherApiKey }),
      409,
    );

    const listed = await openmeter.apps.list({ page: 1, pageSize: 10 });
    assert.equal(listed.page, 1);
    assert.equal(listed.pageSize, 10);
    assert.equal(listed.totalCount, 2);
    assert.deepEqual(listed.items.map((a) => a.id).sort(), [main.id, other.id].sort());
    const firstPage = await openmeter.apps.list({ page: 1, pageSize: 1 });
    const secondPage = await openmeter.apps.list({ page: 2, pageSize: 1 });
    assert.equal(firstPage.items.length, 1);
    assert.equal(secondPage.items.length, 1);
    assert.notEqual(firstPage.items[0].id, secondPage.items[0].id);

    assert.deepEqual(await openmeter.apps.get(other.id), other);
    await rejectsWithProblem(openmeter.apps.get('01JDJM1WF8Y461YQ9F0EW4WHY2'), 404);

    const updated = await openmeter.apps.update(other.id, {
      type: 'stripe',
      name: 'Stripe Europe',
      description: 'EU entity',
      metadata: { region: 'eu' },
    });
    assert.equal(updated.id, other.id);
    assert.equal(updated.name, 'Stripe Europe');
    assert.equal(updated.description, 'EU entity');
    assert.deepEqual(updated.metadata, { region: 'eu' });
    const badName = await rejectsWithProblem(openmeter.apps.update(other.id, { type: 'stripe', name: '' }), 400, 'name');
    assert.deepEqual(problemFields(badName), ['name']);

    const rotated = await openmeter.apps.stripe.updateApiKey(other.id, {
      secretAPIKey: stripe.rotatedApiKey,
    });
    assert.equal(rotated, undefined, '204 No Content');
    const afterRotation = await openmeter.apps.get(other.id);
    assert.ok(afterRotation.maskedAPIKey.endsWith(stripe.rotatedApiKey.slice(-3)), afterRotation.maskedAPIKey);
    assert.equal(afterRotation.status, 'ready');
    // A key of another Stripe account cannot replace the app's key.
    // (Its field path: problem-fields.test.js.)
    await rejectsWithProblem(
      openmeter.apps.stripe.updateApiKey(other.id, { secretAPIKey: stripe.apiKey }),
      400,
      'another Stripe account',
    );

    assert.equal(await openmeter.apps.uninstall(other.id), undefined, '204 No Content');
    const remaining = await openmeter.apps.list({});
    assert.deepEqual(
      remaining.items.map((a) => a.id),
      [main.id],
    );
  });

  test('the marketplace lists the Stripe listing, installable by API key', async () => {
    const listings = await openmeter.apps.marketplace.list({ page: 1, pageSize: 10 });
    assert.equal(listings.page, 1);
    assert.equal(listings.pageSize, 10);
    assert.ok(listings.totalCount >= 1);
    const listed = listings.items.find((l) => l.type === 'stripe');
    assert.ok(listed, JSON.stringify(listings));
    const listing = await openmeter.apps.marketplace.get('stripe');
    assert.deepEqual(listing, listed);
    assert.equal(listing.name, 'Stripe');
    assert.equal(typeof listing.description, 'string');
    assert.ok(Array.isArray(listing.capabilities));
    assert.ok(listing.installMethods.includes('with_api_key'), JSON.stringify(listing.installMethods));
    await rejectsWithProblem(openmeter.apps.marketplace.get('no-such-app'), [400, 404]);
  });

  test('the webhook path OpenMeter gives Stripe answers as patron\'s own', async () => {
    const app = await stripeApp(openmeter);
    for (const path of [`/api/v1/apps/${app.id}/stripe/webhook`, `/webhooks/stripe/${app.id}`]) {
      // Authenticated by Stripe's signature only, never by an API key.
      const unsigned = await http('POST', path, { body: '{"id":"evt_1","object":"event"}', key: null });
      assert.equal(unsigned.status, 400, `${path}: ${unsigned.text}`);
      const badSignature = await fetch(`${process.env.PATRON_URL}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Stripe-Signature': 't=1,v1=00' },
        body: '{"id":"evt_1","object":"event"}',
        signal: AbortSignal.timeout(20_000),
      });
      assert.equal(badSignature.status, 400, path);
    }
    const own = await http('POST', `/webhooks/stripe/${app.id}`, { body: '{}', key: null });
    const alias = await http('POST', `/api/v1/apps/${app.id}/stripe/webhook`, { body: '{}', key: null });
    assert.equal(alias.status, own.status);
    assert.equal(alias.text, own.text);
  });
});

describe('customer app data', () => {
  test('upsert returns the stored items; list, the /stripe shortcut, delete 204', async () => {
    const app = await stripeApp(openmeter);
    const key = unique('billing');
    const customer = await openmeter.customers.create({ name: 'Hooli', key });
    const { customer: stripeCustomerId, paymentMethod } = fixture(2);

    const none = await openmeter.customers.apps.list(key);
    assert.deepEqual(none.items, []);
    assert.equal(none.totalCount, 0);
    await rejectsWithProblem(openmeter.customers.stripe.get(key), 404);

    const stored = await openmeter.customers.apps.upsert(key, [{ type: 'stripe', stripeCustomerId }]);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].type, 'stripe');
    assert.equal(stored[0].id, app.id);
    assert.equal(stored[0].stripeCustomerId, stripeCustomerId);
    assert.equal(stored[0].stripeDefaultPaymentMethodId, undefined);

    const listed = await openmeter.customers.apps.list(customer.id, { page: 1, pageSize: 10 });
    assert.equal(listed.totalCount, 1);
    assert.equal(listed.items[0].id, app.id);
    assert.equal(listed.items[0].stripeCustomerId, stripeCustomerId);
    const stripeOnly = await openmeter.customers.apps.list(customer.id, { type: 'stripe' });
    assert.equal(stripeOnly.totalCount, 1);

    // The shortcut for the default Stripe app: upsert and get.
    const shortcut = await openmeter.customers.stripe.upsert(key, {
      stripeCustomerId,
      stripeDefaultPaymentMethodId: paymentMethod,
    });
    assert.equal(shortcut.type, 'stripe');
    assert.equal(shortcut.stripeCustomerId, stripeCustomerId);
    assert.equal(shortcut.stripeDefaultPaymentMethodId, paymentMethod);
    const got = await openmeter.customers.stripe.get(customer.id);
    assert.equal(got.stripeCustomerId, stripeCustomerId);
    assert.equal(got.stripeDefaultPaymentMethodId, paymentMethod);

    // One Stripe customer belongs to one customer per app.
    const other = await openmeter.customers.create({ name: 'Pied Piper', key: unique('piper') });
    await rejectsWithProblem(
      openmeter.customers.apps.upsert(other.id, [{ type: 'stripe', stripeCustomerId }]),
      409,
      stripeCustomerId,
    );
    // A Stripe customer Stripe does not know is a client error (its field: problem-fields.test.js).
    await rejectsWithProblem(
      openmeter.customers.apps.upsert(other.id, [{ type: 'stripe', stripeCustomerId: 'cus_unknown000000' }]),
      [400, 412],
      'cus_unknown000000',
    );
    await rejectsWithProblem(
      openmeter.customers.apps.upsert(unique('nobody'), [{ type: 'stripe', stripeCustomerId }]),
      404,
    );

    assert.equal(await openmeter.customers.apps.delete(key, app.id), undefined, '204 No Content');
    const after = await openmeter.customers.apps.list(key);
    assert.deepEqual(after.items, []);
    // There is nothing left to delete.
    const again = await http('DELETE', `/api/v1/customers/${encodeURIComponent(key)}/apps/${app.id}`);
    assertProblem(again, 404, app.id);
  });

  test('portal session for the customer\'s Stripe customer (201)', async () => {
    await stripeApp(openmeter);
    const key = unique('portal');
    await openmeter.customers.create({ name: 'Portal Co', key });
    const { customer: stripeCustomerId } = fixture(3);
    // Without Stripe data the portal cannot open: a client error, never a 5xx.
    await rejectsWithProblem(
      openmeter.customers.stripe.createPortalSession(key, { returnUrl: 'https://example.com/account' }),
      [400, 412],
    );
    await openmeter.customers.stripe.upsert(key, { stripeCustomerId });

    const session = await openmeter.customers.stripe.createPortalSession(key, {
      returnUrl: 'https://example.com/account',
      locale: 'fr',
    });
    assert.match(session.id, /^bps_/);
    assert.equal(session.stripeCustomerId, stripeCustomerId);
    assert.match(session.configurationId, /^bpc_/);
    assert.equal(session.livemode, false);
    assert.equal(session.returnUrl, 'https://example.com/account');
    assert.equal(session.locale, 'fr');
    assert.match(session.url, /^https:\/\//);
    assertTimestamp(session.createdAt, 'createdAt');

    const raw = await http('POST', `/api/v1/customers/${encodeURIComponent(key)}/stripe/portal`, {
      body: JSON.stringify({ returnUrl: 'https://example.com/account' }),
    });
    assert.equal(raw.status, 201, raw.text);
    // (Its field path: problem-fields.test.js.)
    await rejectsWithProblem(
      openmeter.customers.stripe.createPortalSession(key, { returnUrl: 'not a url' }),
      400,
      'absolute http(s) URL',
    );
  });
});
