// The README's OpenMeter SDK example: OpenMeter's docs' calls, unchanged but for the base URL and
// the token, against a running patron (tests/api/openmeter_sdk.rs runs it too).
//
//   PATRON_URL      patron's HTTP listener (default http://127.0.0.1:8080)
//   PATRON_API_KEY  an API key, if patron runs with keys
//   STRIPE_API_KEY  the Stripe test key to install once (default: the README's fake Stripe key)

import { OpenMeter } from '@openmeter/sdk';

const openmeter = new OpenMeter({
  baseUrl: process.env.PATRON_URL ?? 'http://127.0.0.1:8080',
  apiKey: process.env.PATRON_API_KEY || undefined,
});

// Connect Stripe once (OpenMeter: Apps > Stripe > install with an API key).
const apps = await openmeter.apps.list({});
if (apps.items.length === 0) {
  const { app } = await openmeter.apps.marketplace.installWithAPIKey('stripe', {
    apiKey: process.env.STRIPE_API_KEY ?? 'sk_test_51DemoKey000abc',
  });
  console.log('installed app', app.id, app.stripeAccountId);
}

const customer = await openmeter.customers.create({
  name: 'ACME, Inc.',
  key: 'my-database-id',
  usageAttribution: { subjectKeys: ['my-identifier'] },
});
console.log('customer', customer.id, customer.key);

const found = await openmeter.customers.list({ key: 'my-database-id' });
console.log('customers with key my-database-id:', found.items.length);

const session = await openmeter.apps.stripe.createCheckoutSession({
  customer: {
    name: 'ACME, Inc.',
    key: 'my-database-id',
    usageAttribution: { subjectKeys: ['my-identifier'] },
  },
  options: { successURL: 'https://example.com/success', currency: 'USD' },
});
console.log('checkout', session.mode, session.customerId, session.stripeCustomerId, session.url);

await openmeter.subjects.upsert([{ key: 'customer-1', displayName: 'ACME', metadata: {} }]);
await openmeter.events.ingest({
  specversion: '1.0',
  type: 'api-calls',
  id: '00002',
  time: '2023-01-01T00:00:00.001Z',
  source: 'service-0',
  subject: 'customer-1',
  data: { duration: '20', path: '/hello' },
});
console.log('event ingested');
await openmeter.subjects.delete('customer-1');
console.log('subject deleted');
