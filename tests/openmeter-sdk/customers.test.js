// Customers through the SDK: create, get by id and by key, list with OpenMeter's paging, filters
// and ordering, PUT as a full replace, DELETE 204, and the errors the SDK surfaces.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assertProblem,
  assertTimestamp,
  assertUlid,
  client,
  http,
  keysRequired,
  otherTenantKey,
  problemFields,
  rejectsWithProblem,
  unique,
} from './lib.js';

const openmeter = client();

describe('customers', () => {
  test('create answers 201 with every field in OpenMeter spelling; get by id and by key', async () => {
    const key = unique('full');
    const created = await openmeter.customers.create({
      name: 'Globex Corporation',
      description: 'A customer with every field',
      key,
      metadata: { externalId: '019142cc-a016-796a-8113-1a942fecd26d' },
      usageAttribution: { subjectKeys: [`${key}-b`, `${key}-a`] },
      primaryEmail: 'billing@globex.example',
      currency: 'usd',
      billingAddress: {
        country: 'us',
        postalCode: '94107',
        state: 'CA',
        city: 'San Francisco',
        line1: '1 Market St',
        line2: 'Suite 100',
        phoneNumber: '+1 415 555 0100',
      },
    });
    assertUlid(created.id, 'id');
    assert.equal(created.name, 'Globex Corporation');
    assert.equal(created.description, 'A customer with every field');
    assert.equal(created.key, key);
    assert.deepEqual(created.metadata, { externalId: '019142cc-a016-796a-8113-1a942fecd26d' });
    assert.deepEqual(created.usageAttribution, { subjectKeys: [`${key}-a`, `${key}-b`] });
    assert.equal(created.primaryEmail, 'billing@globex.example');
    assert.equal(created.currency, 'USD');
    assert.deepEqual(created.billingAddress, {
      country: 'US',
      postalCode: '94107',
      state: 'CA',
      city: 'San Francisco',
      line1: '1 Market St',
      line2: 'Suite 100',
      phoneNumber: '+1 415 555 0100',
    });
    assertTimestamp(created.createdAt, 'createdAt');
    assertTimestamp(created.updatedAt, 'updatedAt');
    assert.equal(created.deletedAt, undefined);

    const raw = await http('GET', `/api/v1/customers/${created.id}`);
    assert.equal(raw.status, 200);
    assert.match(raw.contentType, /^application\/json/);
    assert.match(raw.json.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);

    const byId = await openmeter.customers.get(created.id);
    assert.deepEqual(byId, created);
    const byKey = await openmeter.customers.get(key);
    assert.deepEqual(byKey, created);
  });

  test('list pages with page/pageSize, orders by name, id or createdAt, and filters', async () => {
    const prefix = unique('Paged');
    const names = [`${prefix} Charlie`, `${prefix} Alpha`, `${prefix} Bravo`];
    const created = [];
    for (const name of names) {
      created.push(
        await openmeter.customers.create({
          name,
          key: `${name}-key`,
          primaryEmail: `${name.toLowerCase().replaceAll(' ', '.')}@example.com`,
          usageAttribution: { subjectKeys: [`${name}-subject`] },
        }),
      );
    }
    const byName = [...created].sort((a, b) => a.name.localeCompare(b.name));

    const first = await openmeter.customers.list({ name: prefix, page: 1, pageSize: 2, orderBy: 'name' });
    assert.equal(first.totalCount, 3);
    assert.equal(first.page, 1);
    assert.equal(first.pageSize, 2);
    assert.deepEqual(
      first.items.map((c) => c.name),
      byName.slice(0, 2).map((c) => c.name),
    );
    const second = await openmeter.customers.list({ name: prefix, page: 2, pageSize: 2, orderBy: 'name' });
    assert.equal(second.totalCount, 3);
    assert.equal(second.page, 2);
    assert.deepEqual(
      second.items.map((c) => c.name),
      byName.slice(2).map((c) => c.name),
    );
    const beyond = await openmeter.customers.list({ name: prefix, page: 3, pageSize: 2, orderBy: 'name' });
    assert.deepEqual(beyond.items, []);
    assert.equal(beyond.totalCount, 3);

    const desc = await openmeter.customers.list({ name: prefix, orderBy: 'name', order: 'DESC' });
    assert.deepEqual(
      desc.items.map((c) => c.name),
      byName.map((c) => c.name).reverse(),
    );
    const byId = await openmeter.customers.list({ name: prefix, orderBy: 'id' });
    assert.deepEqual(
      byId.items.map((c) => c.id),
      created.map((c) => c.id).sort(),
    );
    const byCreated = await openmeter.customers.list({ name: prefix.toUpperCase(), orderBy: 'createdAt' });
    assert.deepEqual(
      byCreated.items.map((c) => c.id),
      created.map((c) => c.id),
      'the name filter ignores case; createdAt orders by creation',
    );

    const bySubject = await openmeter.customers.list({ subject: `${names[2]}-subject` });
    assert.deepEqual(
      bySubject.items.map((c) => c.id),
      [created[2].id],
    );
    const byEmail = await openmeter.customers.list({ primaryEmail: created[1].primaryEmail.toUpperCase() });
    assert.deepEqual(
      byEmail.items.map((c) => c.id),
      [created[1].id],
    );

    await openmeter.customers.delete(created[0].id);
    const live = await openmeter.customers.list({ name: prefix });
    assert.equal(live.totalCount, 2);
    const all = await openmeter.customers.list({ name: prefix, includeDeleted: true });
    assert.equal(all.totalCount, 3);
    const deleted = all.items.find((c) => c.id === created[0].id);
    assertTimestamp(deleted.deletedAt, 'deletedAt');

    const problem = await http('GET', '/api/v1/customers?pageSize=0');
    assert.equal(problem.status, 400, problem.text);
  });

  test('PUT replaces the whole customer: omitted fields are cleared', async () => {
    const key = unique('replace');
    const created = await openmeter.customers.create({
      name: 'Initech',
      description: 'before',
      key,
      metadata: { tier: 'gold' },
      usageAttribution: { subjectKeys: [`${key}-old`] },
      primaryEmail: 'old@initech.example',
      currency: 'EUR',
      billingAddress: { country: 'DE', city: 'Berlin' },
    });
    const replaced = await openmeter.customers.update(created.id, {
      name: 'Initech GmbH',
      key,
      usageAttribution: { subjectKeys: [`${key}-new`] },
    });
    assert.equal(replaced.id, created.id);
    assert.equal(replaced.name, 'Initech GmbH');
    assert.equal(replaced.key, key);
    assert.deepEqual(replaced.usageAttribution, { subjectKeys: [`${key}-new`] });
    for (const cleared of ['description', 'primaryEmail', 'currency', 'billingAddress']) {
      assert.equal(replaced[cleared], undefined, `${cleared} is cleared by the full replace`);
    }
    assert.ok(
      replaced.metadata === undefined || Object.keys(replaced.metadata).length === 0,
      `metadata is cleared: ${JSON.stringify(replaced.metadata)}`,
    );
    assert.ok(replaced.updatedAt.getTime() >= created.updatedAt.getTime());
    assert.deepEqual(await openmeter.customers.get(key), replaced);
    // By key too; the old subject key is free again.
    const byKey = await openmeter.customers.update(key, { name: 'Initech AG', key });
    assert.equal(byKey.id, created.id);
    assert.deepEqual(byKey.usageAttribution?.subjectKeys ?? [], [], 'no subject keys any more');
    const freed = await openmeter.customers.create({
      name: 'Taker',
      usageAttribution: { subjectKeys: [`${key}-old`] },
    });
    assert.deepEqual(freed.usageAttribution, { subjectKeys: [`${key}-old`] });
  });

  test('DELETE answers 204; the customer stays readable by id with deletedAt', async () => {
    const key = unique('gone');
    const created = await openmeter.customers.create({ name: 'Umbrella', key });
    const raw = await http('DELETE', `/api/v1/customers/${key}`);
    assert.equal(raw.status, 204, raw.text);
    assert.equal(raw.text, '');
    const byId = await openmeter.customers.get(created.id);
    assertTimestamp(byId.deletedAt, 'deletedAt');
    await rejectsWithProblem(openmeter.customers.get(key), 404, key);
  });

  test('errors are problem+json the SDK surfaces: 400 naming the JSON field, 404, 409', async () => {
    // Field paths are the request body's JSON paths, exactly.
    const country = await rejectsWithProblem(
      openmeter.customers.create({ name: 'Bad Country', key: unique('bad'), billingAddress: { country: 'XX' } }),
      400,
      'billingAddress.country',
    );
    assert.deepEqual(problemFields(country), ['billingAddress.country']);
    const name = await rejectsWithProblem(openmeter.customers.create({ name: '', key: unique('empty') }), 400, 'name');
    assert.deepEqual(problemFields(name), ['name']);
    const email = await rejectsWithProblem(
      openmeter.customers.create({ name: 'Bad Email', key: unique('mail'), primaryEmail: 'not an email' }),
      400,
      'primaryEmail',
    );
    assert.deepEqual(problemFields(email), ['primaryEmail']);
    const subjects = await rejectsWithProblem(
      openmeter.customers.create({ name: 'Bad Subject', usageAttribution: { subjectKeys: ['ok', ''] } }),
      400,
    );
    assert.deepEqual(problemFields(subjects), ['usageAttribution.subjectKeys[1]']);
    await rejectsWithProblem(
      openmeter.customers.create({ name: 'Nothing to attribute' }),
      400,
    );
    // Bad JSON is a 400, never 422.
    const malformed = await http('POST', '/api/v1/customers', { body: '{"name": "ACME",' });
    assert.equal(malformed.status, 400, malformed.text);
    assert.equal(malformed.contentType, 'application/problem+json');
    const wrongType = await http('POST', '/api/v1/customers', { body: '{"name": 42, "key": "x"}' });
    assert.equal(wrongType.status, 400, wrongType.text);
    assert.ok(wrongType.text.includes('name'), wrongType.text);

    await rejectsWithProblem(openmeter.customers.get('01JDJM1WF8Y461YQ9F0EW4WHY2'), 404);
    await rejectsWithProblem(openmeter.customers.get(unique('nobody')), 404);
    await rejectsWithProblem(openmeter.customers.delete(unique('nobody')), 404);

    const key = unique('taken');
    const holder = await openmeter.customers.create({ name: 'Holder', key });
    const conflict = await rejectsWithProblem(openmeter.customers.create({ name: 'Second', key }), 409, key);
    assert.ok(JSON.stringify(conflict).includes(holder.id), 'the conflict names the holder');
    // Nothing was stored by the failed calls.
    const listed = await openmeter.customers.list({ key });
    assert.deepEqual(
      listed.items.map((c) => c.id),
      [holder.id],
    );
  });

  test('API keys: a call without a key is 401 when keys are on; tenants see only their own', async () => {
    const anonymous = client(null);
    if (keysRequired) {
      await rejectsWithProblem(anonymous.customers.list({}), 401);
      await rejectsWithProblem(client('not-a-key').customers.list({}), 401);
      const raw = await http('GET', '/api/v1/customers', { key: null });
      assertProblem(raw, 401);

      assert.ok(otherTenantKey, 'PATRON_OTHER_API_KEY is set with API keys');
      const key = unique('tenant');
      const mine = await openmeter.customers.create({ name: 'Mine', key });
      const other = client(otherTenantKey);
      await rejectsWithProblem(other.customers.get(mine.id), 404);
      await rejectsWithProblem(other.customers.get(key), 404);
      assert.equal((await other.customers.list({ key })).totalCount, 0);
      // The same key is free in the other namespace.
      const theirs = await other.customers.create({ name: 'Theirs', key });
      assert.notEqual(theirs.id, mine.id);
      assert.equal((await openmeter.customers.get(key)).id, mine.id);
    } else {
      // Without configured keys every call acts for the default namespace.
      const listed = await anonymous.customers.list({});
      assert.ok(listed.totalCount >= 1);
    }
  });
});
