// What every file of the suite shares: the running patron it talks to (from the environment the
// Rust harness tests/api/openmeter_sdk.rs sets), the OpenMeter client, a raw HTTP client for the
// docs' curl bodies, and the assertions on OpenMeter's problem responses.
//
// Environment:
//   PATRON_URL            base URL of patron's HTTP listener (the REST API is under /api/v1)
//   PATRON_API_KEY        the API key to send (`Authorization: Bearer`); empty when patron runs
//                         without API keys
//   PATRON_OTHER_API_KEY  with API keys, the key of another tenant (namespace)
//   STRIPE_API_KEY        a secret key the fake Stripe knows, for installing the Stripe app
//   STRIPE_ACCOUNT_ID     the account of STRIPE_API_KEY
//   STRIPE_OTHER_API_KEY  a key of another Stripe account (a second app: update, uninstall)
//   STRIPE_ROTATED_API_KEY
//                         another key of the other account (the API-key update)
//   STRIPE_FIXTURES       JSON [{customer, paymentMethod}]: Stripe customers of STRIPE_ACCOUNT_ID,
//                         each with a card attached, in the order fixture(i) hands them out

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { HTTPError, OpenMeter } from '@openmeter/sdk';

function required(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this suite through tests/api/openmeter_sdk.rs`);
  return value;
}

export const baseUrl = required('PATRON_URL');
export const apiKey = process.env.PATRON_API_KEY || undefined;
export const keysRequired = apiKey !== undefined;
export const otherTenantKey = process.env.PATRON_OTHER_API_KEY || undefined;
export const stripe = {
  apiKey: required('STRIPE_API_KEY'),
  accountId: required('STRIPE_ACCOUNT_ID'),
  otherApiKey: required('STRIPE_OTHER_API_KEY'),
  rotatedApiKey: required('STRIPE_ROTATED_API_KEY'),
  fixtures: JSON.parse(required('STRIPE_FIXTURES')),
};

/// The client exactly as OpenMeter's docs build it: only the base URL and the token change.
export function client(key = apiKey) {
  return new OpenMeter({ baseUrl, apiKey: key });
}

/// A Stripe customer (with a card attached) of the installed app's account, one per `index`:
/// each file uses its own indexes (a Stripe customer belongs to at most one customer per app).
export function fixture(index) {
  const found = stripe.fixtures[index];
  assert.ok(found, `STRIPE_FIXTURES has no fixture ${index}`);
  return found;
}

/// A string unique to this run, for keys that must not collide with other tests.
export function unique(prefix) {
  return `${prefix}-${randomUUID()}`;
}

/// The Stripe app of STRIPE_ACCOUNT_ID: installed by API key through the marketplace listing the
/// first time, found in the app list afterwards.
export async function stripeApp(om = client()) {
  const listed = await om.apps.list({ page: 1, pageSize: 100 });
  const found = listed.items.find((app) => app.stripeAccountId === stripe.accountId);
  if (found) {
    return found;
  }
  const installed = await om.apps.marketplace.installWithAPIKey('stripe', {
    apiKey: stripe.apiKey,
  });
  return installed.app;
}

/// As on a fresh account: deletes the live customers holding any of these keys or subject keys
/// (the docs' examples use fixed identifiers, and files of the suite share one server).
export async function freeIdentifiers(om, ...identifiers) {
  for (const identifier of identifiers) {
    for (const filter of [{ key: identifier }, { subject: identifier }]) {
      const holders = await om.customers.list(filter);
      for (const holder of holders.items) {
        await om.customers.delete(holder.id);
      }
    }
  }
}

/// A raw HTTP call to patron (what curl does): method, path under the base URL, a body sent
/// verbatim (a string) with its content type, and the API key unless `key` is null.
export async function http(method, path, { body, contentType = 'application/json', key = apiKey } = {}) {
  const headers = {};
  if (body !== undefined) {
    headers['Content-Type'] = contentType;
  }
  if (key) {
    headers.Authorization = `Bearer ${key}`;
  }
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), text, json };
}

/// Asserts `promise` rejects with the SDK's HTTPError of `status` (or one of several), parsed from an RFC 7807
/// problem (the SDK only parses `application/problem+json` exactly: otherwise it has no
/// `detail`); `mentions` are strings the problem must name (e.g. the JSON field path).
/// Returns the problem.
export async function rejectsWithProblem(promise, status, ...mentions) {
  let error;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  assert.ok(error, `expected a ${status} problem, the call succeeded`);
  assert.ok(error instanceof HTTPError, `expected the SDK's HTTPError, got ${error}`);
  const statuses = [status].flat();
  assert.ok(statuses.includes(error.status), `expected ${statuses.join(' or ')}: ${error.message}`);
  const problem = error.__raw;
  assert.ok(
    problem && typeof problem.detail === 'string',
    `the SDK did not parse a problem+json body (${error.message})`,
  );
  assertProblemShape(problem, error.status);
  for (const mention of mentions) {
    assert.ok(
      JSON.stringify(problem).includes(mention),
      `the problem does not name ${mention}: ${JSON.stringify(problem)}`,
    );
  }
  return problem;
}

/// Asserts a raw response is an RFC 7807 problem of `status` naming `mentions`.
export function assertProblem(response, status, ...mentions) {
  assert.equal(response.status, status, response.text);
  assert.equal(response.contentType, 'application/problem+json', response.text);
  assertProblemShape(response.json, status);
  for (const mention of mentions) {
    assert.ok(response.text.includes(mention), `the problem does not name ${mention}: ${response.text}`);
  }
  return response.json;
}

/// The JSON field paths a 400 problem names (`extensions.validationErrors[].field`).
export function problemFields(problem) {
  const errors = problem?.extensions?.validationErrors;
  assert.ok(Array.isArray(errors), `no extensions.validationErrors: ${JSON.stringify(problem)}`);
  return errors.map((e) => e.field);
}

function assertProblemShape(problem, status) {
  // OpenMeter's UnexpectedProblemResponse: type, title, detail and instance are required.
  assert.equal(typeof problem.type, 'string', JSON.stringify(problem));
  assert.equal(typeof problem.title, 'string', JSON.stringify(problem));
  assert.equal(typeof problem.detail, 'string', JSON.stringify(problem));
  assert.equal(typeof problem.instance, 'string', JSON.stringify(problem));
  if (problem.status !== undefined) {
    assert.equal(problem.status, status, JSON.stringify(problem));
  }
  if (status >= 500) {
    // No internals: no SQL, no Rust types, no stack traces.
    assert.doesNotMatch(JSON.stringify(problem), /sqlx|sea_orm|SELECT |panicked|\.rs:/);
  }
}

/// A timestamp the SDK decoded from RFC 3339 (it turns every ISO date string into a Date).
export function assertTimestamp(value, field) {
  assert.ok(value instanceof Date && !Number.isNaN(value.getTime()), `${field}: ${value}`);
}

/// A ULID, as OpenMeter's ids are.
export function assertUlid(value, field) {
  assert.match(String(value), /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/, field);
}
