import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GENESIS_HASH, eventHash, verifyChain, type ChainHead, type StoredEvent } from './event-chain.js';

/** A chain of n events built as a backend would append them, and its head. */
function chain(n: number): { events: StoredEvent[]; head: ChainHead } {
  const events: StoredEvent[] = [];
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  for (let seq = 1; seq <= n; seq += 1) {
    const fields = {
      seq,
      ts: 1_700_000_000_000 + seq,
      kind: 'tool.called',
      actor: 'exec-1',
      instanceId: seq % 2 ? 'exec-1' : null,
      data: JSON.stringify({ tool: 'send', ok: true, n: seq }),
    };
    const hash = eventHash(head.hash, fields);
    events.push({ ...fields, prevHash: head.hash, hash });
    head = { seq, hash };
  }
  return { events, head };
}

/** Serves the events as pages, counting the largest page handed out. */
function reader(events: StoredEvent[], head: ChainHead | null) {
  const stats = { largestPage: 0, pages: 0 };
  const read = (afterSeq: number, limit: number) => {
    const page = events.filter((e) => e.seq > afterSeq).slice(0, limit);
    stats.largestPage = Math.max(stats.largestPage, page.length);
    stats.pages += 1;
    return { events: page, head };
  };
  return { read, stats };
}

describe('event chain', () => {
  it('hashes the stored data text with the previous hash, so any field or link change alters it', () => {
    const e = { seq: 1, ts: 5, kind: 'k', actor: 'a', instanceId: null, data: '{"x":1}' };
    const h = eventHash(GENESIS_HASH, e);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(eventHash(GENESIS_HASH, { ...e }), h);
    for (const changed of [
      { ...e, seq: 2 },
      { ...e, ts: 6 },
      { ...e, kind: 'j' },
      { ...e, actor: 'b' },
      { ...e, instanceId: 'a' },
      { ...e, data: '{"x": 1}' },
    ]) {
      assert.notEqual(eventHash(GENESIS_HASH, changed), h, JSON.stringify(changed));
    }
    assert.notEqual(eventHash('f'.repeat(64), e), h);
  });

  it('verifies an empty log with the genesis head', async () => {
    assert.deepEqual(await verifyChain(reader([], { seq: 0, hash: GENESIS_HASH }).read), {
      ok: true,
      events: 0,
      head: { seq: 0, hash: GENESIS_HASH },
    });
  });

  it('walks a long chain a page at a time', async () => {
    const { events, head } = chain(10);
    const { read, stats } = reader(events, head);
    assert.deepEqual(await verifyChain(read, 3), { ok: true, events: 10, head });
    assert.equal(stats.largestPage, 3);
    assert.equal(stats.pages, 4);
  });

  it('reports an edited event at its seq', async () => {
    const { events, head } = chain(7);
    events[4] = { ...events[4]!, data: JSON.stringify({ tool: 'spawn', ok: true, n: 5 }) };
    const report = await verifyChain(reader(events, head).read, 3);
    assert.equal(report.ok, false);
    assert.deepEqual(!report.ok && [report.events, report.problem.seq, report.problem.kind], [
      4,
      5,
      'edited',
    ]);
  });

  it('reports an event without a hash as edited', async () => {
    const { events, head } = chain(3);
    events[1] = { ...events[1]!, hash: null };
    const report = await verifyChain(reader(events, head).read);
    assert.deepEqual(!report.ok && [report.problem.seq, report.problem.kind], [2, 'edited']);
  });

  it('reports a deleted event (a gap in the sequence numbers), also on a page boundary and at the start', async () => {
    for (const [drop, missing, detail] of [
      [[3], 4, /event #4 is missing/],
      [[3, 4, 5], 4, /events #4–#6 are missing/],
      [[0], 1, /event #1 is missing/],
    ] as const) {
      const { events, head } = chain(8);
      const kept = events.filter((_, i) => !(drop as readonly number[]).includes(i));
      const report = await verifyChain(reader(kept, head).read, 3);
      assert.equal(report.ok, false, `dropping ${drop.join(',')}`);
      if (!report.ok) {
        assert.equal(report.problem.kind, 'deleted');
        assert.equal(report.problem.seq, missing);
        assert.match(report.problem.detail, detail);
      }
    }
  });

  it('reports a rewritten event (new hash) as a broken link at the next one', async () => {
    const { events, head } = chain(5);
    const e = events[1]!;
    const data = JSON.stringify({ tool: 'forged', ok: true });
    events[1] = { ...e, data, hash: eventHash(e.prevHash!, { ...e, data }) };
    const report = await verifyChain(reader(events, head).read);
    assert.deepEqual(!report.ok && [report.events, report.problem.seq, report.problem.kind], [
      2,
      3,
      'broken-link',
    ]);
  });

  it('reports the newest events missing, events past the head, and a missing head record', async () => {
    const { events, head } = chain(5);
    const truncated = await verifyChain(reader(events.slice(0, 4), head).read);
    assert.deepEqual(!truncated.ok && [truncated.problem.seq, truncated.problem.kind], [5, 'head-mismatch']);
    assert.match(!truncated.ok ? truncated.problem.detail : '', /names event #5 but the log ends at #4/);

    const stale = await verifyChain(reader(events, { seq: 4, hash: events[3]!.hash! }).read);
    assert.deepEqual(!stale.ok && [stale.problem.seq, stale.problem.kind], [5, 'head-mismatch']);

    const wrongHash = await verifyChain(reader(events, { seq: 5, hash: GENESIS_HASH }).read);
    assert.deepEqual(!wrongHash.ok && [wrongHash.problem.seq, wrongHash.problem.kind], [5, 'head-mismatch']);

    const none = await verifyChain(reader(events, null).read);
    assert.deepEqual(!none.ok && [none.problem.kind, none.problem.detail], [
      'head-mismatch',
      'the head record is missing',
    ]);
  });
});
