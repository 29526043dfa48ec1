// The OpenAPI document patron serves names every operation this suite calls, with OpenMeter's
// operation paths and methods, and nothing answers outside it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { assertProblem, http } from './lib.js';

// Every (method, path) the SDK and the curl replays of this suite use, in OpenMeter's spelling.
const USED = [
  ['get', '/api/v1/customers'],
  ['post', '/api/v1/customers'],
  ['get', '/api/v1/customers/{customerIdOrKey}'],
  ['put', '/api/v1/customers/{customerIdOrKey}'],
  ['delete', '/api/v1/customers/{customerIdOrKey}'],
  ['get', '/api/v1/customers/{customerIdOrKey}/apps'],
  ['put', '/api/v1/customers/{customerIdOrKey}/apps'],
  ['delete', '/api/v1/customers/{customerIdOrKey}/apps/{appId}'],
  ['get', '/api/v1/customers/{customerIdOrKey}/stripe'],
  ['put', '/api/v1/customers/{customerIdOrKey}/stripe'],
  ['post', '/api/v1/customers/{customerIdOrKey}/stripe/portal'],
  ['post', '/api/v1/stripe/checkout/sessions'],
  ['get', '/api/v1/subjects'],
  ['post', '/api/v1/subjects'],
  ['get', '/api/v1/subjects/{subjectIdOrKey}'],
  ['delete', '/api/v1/subjects/{subjectIdOrKey}'],
  ['post', '/api/v1/events'],
  ['get', '/api/v1/apps'],
  ['get', '/api/v1/apps/{id}'],
  ['put', '/api/v1/apps/{id}'],
  ['delete', '/api/v1/apps/{id}'],
  ['put', '/api/v1/apps/{id}/stripe/api-key'],
  ['post', '/api/v1/apps/{id}/stripe/webhook'],
  ['get', '/api/v1/marketplace/listings'],
  ['get', '/api/v1/marketplace/listings/{type}'],
  ['post', '/api/v1/marketplace/listings/{type}/install/apikey'],
];

describe('OpenAPI document', () => {
  test('GET /api/v1/openapi.json lists every operation the suite uses', async () => {
    const response = await http('GET', '/api/v1/openapi.json');
    assert.equal(response.status, 200, response.text);
    assert.match(response.contentType, /^application\/json/);
    const doc = response.json;
    assert.match(String(doc.openapi), /^3\./);
    const served = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
          .map((m) => `${m} ${path.replace(/\{[^}]+\}/g, '{}')}`),
      ),
    );
    for (const [method, path] of USED) {
      const shape = `${method} ${path.replace(/\{[^}]+\}/g, '{}')}`;
      assert.ok(served.has(shape), `${method.toUpperCase()} ${path} is not in the document`);
    }
  });

  test('an operation OpenMeter has and patron does not serve is a problem+json 404', async () => {
    assertProblem(await http('GET', '/api/v1/meters'), 404);
  });
});
