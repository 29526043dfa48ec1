// Problems name the offending field as the endpoint's own JSON schema spells it (OpenMeter's
// api/openapi.yaml): the same rule has different names on different endpoints, and a client
// (a form that highlights the field, the SDK's `getField`) can only use the request's spelling.
// Run by its own harness test (tests/api/openmeter_sdk.rs), so that it shows on its own.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assertProblem,
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

describe('problem field paths in each endpoint\'s spelling', () => {
  /// A second app, of the other Stripe account.
  async function otherApp() {
    await stripeApp(openmeter);
    const listed = await openmeter.apps.list({});
    const found = listed.items.find((app) => app.stripeAccountId !== stripe.accountId);
    if (found) {
      return found;
    }
    return (await openmeter.apps.marketplace.installWithAPIKey('stripe', { apiKey: stripe.otherApiKey })).app;
  }

  test('PUT /apps/{id}/stripe/api-key names secretAPIKey', async () => {
    const other = await otherApp();
    // StripeAPIKeyInput { secretAPIKey }: a key of another Stripe account.
    const problem = await rejectsWithProblem(
      openmeter.apps.stripe.updateApiKey(other.id, { secretAPIKey: stripe.apiKey }),
      400,
    );
    assert.deepEqual(problemFields(problem), ['secretAPIKey']);
  });

  test('PUT /apps/{id} names secretAPIKey', async () => {
    const other = await otherApp();
    // StripeAppReplaceUpdate { type, name, secretAPIKey }.
    const problem = await rejectsWithProblem(
      openmeter.apps.update(other.id, { type: 'stripe', name: 'Stripe EU', secretAPIKey: stripe.apiKey }),
      400,
    );
    assert.deepEqual(problemFields(problem), ['secretAPIKey']);
  });

  test('POST /customers/{id}/stripe/portal names returnUrl', async () => {
    await stripeApp(openmeter);
    const key = unique('portal-fields');
    await openmeter.customers.create({ name: 'Portal Fields', key });
    await openmeter.customers.stripe.upsert(key, { stripeCustomerId: fixture(0).customer });
    // CreateStripeCustomerPortalSessionParams { configurationId, locale, returnUrl }.
    const problem = await rejectsWithProblem(
      openmeter.customers.stripe.createPortalSession(key, { returnUrl: 'not a url' }),
      400,
    );
    assert.deepEqual(problemFields(problem), ['returnUrl']);
  });

  test('PUT /customers/{id}/apps names stripeCustomerId of a Stripe customer Stripe does not know', async () => {
    await stripeApp(openmeter);
    const customer = await openmeter.customers.create({ name: 'Apps Fields', key: unique('apps-fields') });
    // The docs' curl body, verbatim: cus_xxxxxxx is a placeholder.
    const raw = await http('PUT', `/api/v1/customers/${customer.id}/apps`, {
      body: '[{"type": "stripe", "stripeCustomerId": "cus_xxxxxxx"}]',
    });
    assert.ok([400, 412].includes(raw.status), raw.text);
    const problem = assertProblem(raw, raw.status);
    assert.ok(
      JSON.stringify(problem).includes('stripeCustomerId'),
      `the problem does not name the field stripeCustomerId: ${raw.text}`,
    );
    assert.ok(!raw.text.includes('data[0]'), `the gRPC request's path leaks: ${raw.text}`);
  });

  test('a 409 names the taken identifier by its JSON field, not the gRPC one', async () => {
    const subject = unique('held');
    await openmeter.customers.create({ name: 'Holder', usageAttribution: { subjectKeys: [subject] } });
    const problem = await rejectsWithProblem(
      openmeter.customers.create({ name: 'Second', usageAttribution: { subjectKeys: [subject] } }),
      409,
      subject,
    );
    assert.ok(!problem.detail.includes('usage_attribution'), problem.detail);
    assert.ok(problem.detail.includes('usageAttribution.subjectKeys'), problem.detail);
  });
});
