import { strict as assert } from 'node:assert';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent, TmuxClaudeError, VerifyReport } from '../core/index.js';
import { CliHarness } from '../testing/cli-harness.js';
import { parseSince } from './audit.js';

describe('log --since', () => {
  const now = Date.parse('2024-05-10T12:00:00Z');

  test('takes a sequence number, a relative time or an ISO date or date-time', () => {
    assert.deepEqual(parseSince('120', now), { afterSeq: 120 });
    assert.deepEqual(parseSince('0', now), { afterSeq: 0 });
    assert.deepEqual(parseSince('30s', now), { sinceTs: now - 30_000 });
    assert.deepEqual(parseSince('10m', now), { sinceTs: now - 600_000 });
    assert.deepEqual(parseSince('2h', now), { sinceTs: now - 7_200_000 });
    assert.deepEqual(parseSince('1d', now), { sinceTs: now - 86_400_000 });
    assert.deepEqual(parseSince('1w', now), { sinceTs: now - 7 * 86_400_000 });
    assert.deepEqual(parseSince('2024-05-01T13:00:00Z', now), {
      sinceTs: Date.parse('2024-05-01T13:00:00Z'),
    });
    assert.deepEqual(parseSince('2024-05-01 13:00+02:00', now), {
      sinceTs: Date.parse('2024-05-01T13:00+02:00'),
    });
    // Without a zone: local time, as the user's clock reads.
    assert.deepEqual(parseSince('2024-05-01', now), { sinceTs: new Date(2024, 4, 1).getTime() });
    assert.deepEqual(parseSince('2024-05-01T13:00', now), { sinceTs: new Date(2024, 4, 1, 13).getTime() });
  });

  test('refuses anything else with INVALID_ARGUMENT and says what it takes', () => {
    for (const bad of [
      'yesterday-ish',
      '',
      '-5',
      '1.5',
      '10 m',
      '3y',
      '2024-13-45',
      '2024-05-01T25:00',
      'now',
    ]) {
      assert.throws(
        () => parseSince(bad, now),
        (e: unknown) =>
          (e as TmuxClaudeError).code === 'INVALID_ARGUMENT' &&
          /is not a sequence number or a time/.test((e as Error).message) &&
          /2h/.test((e as TmuxClaudeError).hint ?? ''),
        bad,
      );
    }
  });
});

/** Runs the CLI and expects exit 0. */
async function ok(harness: CliHarness, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await harness.run(args);
  assert.equal(r.code, 0, `tmux-claude ${args.join(' ')}: ${r.stderr}`);
  return r;
}

function jsonLines(text: string): AuditEvent[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

/** Some audit events: each `up` appends supervisor.started, each `down` supervisor.stopped. */
async function makeEvents(harness: CliHarness, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i += 1) {
    await ok(harness, ['up']);
    await ok(harness, ['status']);
    await ok(harness, ['down']);
  }
}

describe('the audit trail on the command line', () => {
  const harness = new CliHarness();
  before(() => makeEvents(harness, 2));
  after(() => harness.cleanup());

  test('log --verify reports an intact trail with its head (starting the supervisor)', async () => {
    const r = await ok(harness, ['log', '--verify']);
    assert.match(r.stdout, /^audit trail intact: \d+ events, head #\d+ [0-9a-f]{16}\n$/);
    const report = JSON.parse((await ok(harness, ['log', '--verify', '--json'])).stdout) as VerifyReport;
    assert.equal(report.ok, true);
    assert.ok(report.ok && report.events >= 5 && report.head.seq === report.events, JSON.stringify(report));
  });

  test('log --export - writes every event as JSONL with its hashes, chained, and counts them on stderr', async () => {
    const r = await ok(harness, ['log', '--export', '-']);
    const events = jsonLines(r.stdout);
    assert.ok(events.length >= 5);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.equal(events[0]?.prevHash, '0'.repeat(64));
    for (const [i, e] of events.entries()) {
      assert.match(e.hash, /^[0-9a-f]{64}$/);
      if (i > 0) assert.equal(e.prevHash, events[i - 1]?.hash);
    }
    assert.ok(events.some((e) => e.kind === 'supervisor.stopped'));
    assert.match(r.stderr, new RegExp(`exported ${events.length} events to stdout`));
  });

  test('log --export FILE writes the matching events to the file', async () => {
    const file = join(harness.home, 'trail.jsonl');
    const r = await ok(harness, ['log', '--export', file, '--since', '2']);
    const events = jsonLines(readFileSync(file, 'utf8'));
    assert.ok(events.length > 0 && events.every((e) => e.seq > 2 && e.hash.length === 64));
    assert.match(r.stderr, new RegExp(`exported ${events.length} events to ${file}`));
    assert.equal(r.stdout, '');
  });

  test('log --since takes a relative time or a date, and refuses garbage with exit 2', async () => {
    const all = jsonLines((await ok(harness, ['log', '--json'])).stdout);
    const recent = jsonLines((await ok(harness, ['log', '--since', '1h', '--json'])).stdout);
    assert.deepEqual(
      recent.map((e) => e.seq),
      all.map((e) => e.seq),
    );
    assert.equal((await ok(harness, ['log', '--since', '2999-01-01'])).stdout, '');

    const bad = await harness.run(['log', '--since', 'yesterday-ish']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since "yesterday-ish" is not a sequence number or a time/);
  });

  test('log --verify refuses filters, and --export refuses --follow, with exit 2', async () => {
    for (const args of [
      ['log', '--verify', '--since', '1h'],
      ['log', '--verify', '--instance', 'x'],
      ['log', '--export', '-', '--follow'],
    ]) {
      const r = await harness.run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

for (const { what, sql, kind } of [
  { what: 'an edited event', sql: `UPDATE events SET data = '{"pid":1}' WHERE seq = 2`, kind: 'edited' },
  { what: 'a deleted event', sql: 'DELETE FROM events WHERE seq = 2', kind: 'deleted' },
]) {
  describe(`the audit trail after ${what} in the store file`, () => {
    const harness = new CliHarness();
    before(async () => {
      await makeEvents(harness, 2);
      const db = new Database(harness.paths.storeFile);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    });
    after(() => harness.cleanup());

    test(`log --verify exits 5 naming event #2 as ${kind}`, async () => {
      const r = await harness.run(['log', '--verify']);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`audit trail BROKEN at event #2: ${kind} \\(`));
      assert.equal(r.stdout, '');

      const json = await harness.run(['log', '--verify', '--json']);
      assert.equal(json.code, 5);
      const report = JSON.parse(json.stdout) as VerifyReport;
      assert.deepEqual(!report.ok && [report.events, report.problem.seq, report.problem.kind], [1, 2, kind]);
    });
  });
}
