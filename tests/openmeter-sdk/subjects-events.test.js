// Subjects (upsert, list, get by id and key, delete) and event ingestion (one CloudEvent, a
// batch, duplicates, bad events) through the SDK and raw HTTP.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { assertProblem, assertTimestamp, client, http, rejectsWithProblem, unique } from './lib.js';

const openmeter = client();

describe('subjects', () => {
  test('upsert creates then updates, in request order; get by id and key; delete 204', async () => {
    const a = unique('subject-a');
    const b = unique('subject-b');
    const created = await openmeter.subjects.upsert([
      { key: b, displayName: 'Bee', metadata: { plan: 'pro' } },
      { key: a },
    ]);
    assert.deepEqual(
      created.map((s) => s.key),
      [b, a],
    );
    assert.equal(created[0].displayName, 'Bee');
    assert.deepEqual(created[0].metadata, { plan: 'pro' });
    assertTimestamp(created[0].createdAt, 'createdAt');
    assertTimestamp(created[0].updatedAt, 'updatedAt');

    const updated = await openmeter.subjects.upsert({ key: b, displayName: 'Bumblebee' });
    assert.equal(updated.length, 1);
    assert.equal(updated[0].id, created[0].id, 'the same subject');
    assert.equal(updated[0].displayName, 'Bumblebee');

    assert.equal((await openmeter.subjects.get(created[1].id)).key, a);
    assert.equal((await openmeter.subjects.get(b)).displayName, 'Bumblebee');
    const listed = await openmeter.subjects.list();
    for (const key of [a, b]) {
      assert.ok(
        listed.some((s) => s.key === key),
        key,
      );
    }

    assert.equal(await openmeter.subjects.delete(a), undefined);
    await rejectsWithProblem(openmeter.subjects.get(a), 404, a);
    const afterDelete = await openmeter.subjects.list();
    assert.ok(!afterDelete.some((s) => s.key === a), 'a deleted subject is not listed');
    // Deleting again (by id: a key names only a live subject) is idempotent in patron.
    const again = await http('DELETE', `/api/v1/subjects/${created[1].id}`);
    assert.equal(again.status, 204, again.text);
  });

  test('bad subjects are a 400 naming the field; nothing is stored', async () => {
    const good = unique('kept-out');
    await rejectsWithProblem(openmeter.subjects.upsert([{ key: good }, { key: '' }]), 400, 'key');
    await rejectsWithProblem(openmeter.subjects.get(good), 404);
    const malformed = await http('POST', '/api/v1/subjects', { body: '[{"key": 1}]' });
    assertProblem(malformed, 400, 'key');
  });
});

describe('events', () => {
  test('ingest one event, a batch, and duplicates; subjects are created on first sight', async () => {
    const subject = unique('meter');
    const single = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents+json',
      body: JSON.stringify({
        specversion: '1.0',
        type: 'api-calls',
        id: unique('evt'),
        time: '2024-05-01T10:00:00Z',
        source: 'service-0',
        subject,
        data: { duration: '10', path: '/hello' },
      }),
    });
    assert.equal(single.status, 204, single.text);
    assert.equal((await openmeter.subjects.get(subject)).key, subject);

    const batch = [1, 2, 3].map((n) => ({
      type: 'api-calls',
      id: `${subject}-${n}`,
      source: 'service-1',
      subject: `${subject}-batch`,
      time: new Date(Date.UTC(2024, 4, 1, 10, n)),
      data: { duration: String(n) },
    }));
    assert.equal(await openmeter.events.ingest(batch), undefined);
    assert.equal(await openmeter.events.ingest(batch), undefined, 'duplicates are accepted');
    assert.equal((await openmeter.subjects.get(`${subject}-batch`)).key, `${subject}-batch`);

    const rawBatch = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents-batch+json',
      body: JSON.stringify([{ specversion: '1.0', type: 'api-calls', id: unique('evt'), source: 's', subject }]),
    });
    assert.equal(rawBatch.status, 204, rawBatch.text);
  });

  test('bad events are a 400 naming the field; a bad batch stores nothing', async () => {
    const subject = unique('never');
    await rejectsWithProblem(
      openmeter.events.ingest([
        { type: 'api-calls', id: unique('evt'), source: 's', subject },
        { type: '', id: unique('evt'), source: 's', subject },
      ]),
      400,
      'type',
    );
    await rejectsWithProblem(openmeter.subjects.get(subject), 404);
    const noSubject = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents+json',
      body: JSON.stringify({ specversion: '1.0', type: 'api-calls', id: unique('evt'), source: 's' }),
    });
    assertProblem(noSubject, 400, 'subject');
    const malformed = await http('POST', '/api/v1/events', {
      contentType: 'application/cloudevents+json',
      body: '{"specversion": "1.0",',
    });
    assertProblem(malformed, 400);
  });
});
