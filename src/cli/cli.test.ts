import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '../core/index.js';
import { isProcessAlive } from '../supervisor/index.js';
import { CLI, CliHarness, eventually, processesOfHome, type CliResult } from '../testing/cli-harness.js';

function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is not on PATH; the test needs it`);
}

/** A temp dir holding only `node` and the named tools, for a PATH that lacks everything else. */
function binDirWith(harness: CliHarness, tools: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tc-test-bin-'));
  harness.track(dir);
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of tools) symlinkSync(findOnPath(tool), join(dir, tool));
  return dir;
}

/** Runs the built CLI in `cwd` (the harness runs it in the test's own cwd). */
function runIn(harness: CliHarness, cwd: string, args: string[]): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: harness.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

interface HttpReply {
  status: number;
  body: unknown;
}

/** A raw HTTP call (node:http, so a foreign Host header really goes out). */
function httpCall(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpReply> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON: keep the text */
        }
        resolvePromise({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${url} did not answer`)));
    req.end(opts.body);
  });
}

function supervisorOf(harness: CliHarness): { pid: number; url: string; token: string } {
  const info = harness.supervisorInfo();
  assert.ok(info, `no run/supervisor.json under ${harness.home}`);
  return info;
}

function errorCodeOf(reply: HttpReply): unknown {
  return (reply.body as { error?: { code?: unknown } }).error?.code;
}

describe('tmux-claude doctor on a healthy machine', () => {
  const harness = new CliHarness();
  after(() => harness.cleanup());

  test('exits 0 with every check marked ✓', async () => {
    const r = await harness.run(['doctor']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    for (const name of ['node', 'tmux', 'git', 'store', 'supervisor']) {
      assert.ok(
        lines.some((l) => l.startsWith(`✓ ${name}`)),
        `no passing ${name} check in:\n${r.stdout}`,
      );
    }
    assert.ok(
      lines.every((l) => l.startsWith('✓')),
      `a check failed:\n${r.stdout}`,
    );
  });

  test('--json reports ok:true and every check as ok', async () => {
    const report = await harness.json<{ ok: boolean; checks: Array<{ check: string; ok: boolean }> }>([
      'doctor',
    ]);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.map((c) => c.check),
      ['node', 'tmux', 'git', 'store', 'supervisor'],
    );
    assert.ok(
      report.checks.every((c) => c.ok),
      JSON.stringify(report.checks),
    );
  });
});

for (const { missing, present } of [
  { missing: 'tmux', present: 'git' },
  { missing: 'git', present: 'tmux' },
]) {
  describe(`without ${missing} on PATH`, () => {
    const harness = new CliHarness();
    after(() => harness.cleanup());
    const env = (): NodeJS.ProcessEnv => ({ PATH: binDirWith(harness, [present]) });

    test(`doctor exits non-zero and names ${missing} as the failing check`, async () => {
      const r = await harness.run(['doctor'], { env: env() });
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, new RegExp(`✗ ${missing}\\s+${missing} is not installed`));
      assert.match(r.stderr, new RegExp(`failed: ${missing}`));

      const json = await harness.run(['doctor', '--json'], { env: env() });
      assert.notEqual(json.code, 0);
      const report = JSON.parse(json.stdout) as {
        ok: boolean;
        checks: Array<{ check: string; ok: boolean }>;
      };
      assert.equal(report.ok, false);
      assert.deepEqual(
        report.checks.filter((c) => !c.ok).map((c) => c.check),
        [missing],
      );
    });

    test(`up exits non-zero saying ${missing} is not installed and how to install it, and starts nothing`, async () => {
      const r = await harness.run(['up'], { env: env() });
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, new RegExp(`${missing} is not installed`));
      assert.match(r.stderr, new RegExp(`install ${missing}`));
      assert.equal(r.stdout, '');
      assert.equal(harness.supervisorInfo(), null);
      assert.deepEqual(processesOfHome(harness.home), []);
    });
  });
}

describe('supervisor lifecycle', () => {
  test('up twice reuses the running supervisor, status shows it, and down stops it', async () => {
    const harness = new CliHarness();
    try {
      const first = await harness.run(['up']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^started: /);
      const { pid } = supervisorOf(harness);
      assert.match(first.stdout, new RegExp(`\\(pid ${pid}\\)`));

      const second = await harness.run(['up']);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`^already running: .*\\(pid ${pid}\\)`));
      assert.equal(supervisorOf(harness).pid, pid);

      const status = await harness.json<{ running: boolean; pid: number }>(['status']);
      assert.equal(status.running, true);
      assert.equal(status.pid, pid);

      const down = await harness.run(['down']);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, new RegExp(`stopped the supervisor \\(pid ${pid}\\)`));
      assert.equal(isProcessAlive(pid), false);
      assert.equal(harness.supervisorInfo(), null);
      assert.deepEqual(harness.tmuxSessions(), []);

      const stopped = await harness.run(['status']);
      assert.equal(stopped.code, 3);
      assert.match(stopped.stdout, /not running/);
      const afterJson = await harness.run(['status', '--json']);
      assert.equal(afterJson.code, 3);
      assert.deepEqual(JSON.parse(afterJson.stdout), { running: false, staleRunFile: false });
    } finally {
      await harness.cleanup();
    }
  });

  test('after a supervisor crash, status reports the stale run file and up replaces it keeping the store', async () => {
    const harness = new CliHarness();
    try {
      const up = await harness.run(['up']);
      assert.equal(up.code, 0, up.stderr);
      const crashed = supervisorOf(harness);
      process.kill(crashed.pid, 'SIGKILL');
      await eventually('the killed supervisor to be gone', () => !isProcessAlive(crashed.pid));

      const status = await harness.run(['status']);
      assert.equal(status.code, 3);
      assert.match(status.stdout, /not running/);
      assert.match(status.stdout, /stale run file/);
      const statusJson = await harness.run(['status', '--json']);
      assert.equal(statusJson.code, 3);
      assert.deepEqual(JSON.parse(statusJson.stdout), { running: false, staleRunFile: true });

      const again = await harness.run(['up']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^started: /);
      const restarted = supervisorOf(harness);
      assert.notEqual(restarted.pid, crashed.pid);
      assert.notEqual(restarted.token, crashed.token);
      assert.ok(isProcessAlive(restarted.pid));
      assert.match(again.stdout, new RegExp(`\\(pid ${restarted.pid}\\)`));

      assert.ok(existsSync(harness.paths.storeFile), 'the store was removed');
      const events = (await harness.run(['log', '--json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent);
      const starts = events.filter((e) => e.kind === 'supervisor.started').map((e) => e.data.pid);
      assert.deepEqual(
        starts,
        [crashed.pid, restarted.pid],
        'the audit trail from before the crash was lost',
      );
    } finally {
      await harness.cleanup();
    }
  });
});

describe('bad input on the command line', () => {
  const harness = new CliHarness();
  after(() => harness.cleanup());

  for (const args of [
    ['send', 'nope', 'hello'],
    ['read', 'nope'],
    ['kill', 'nope'],
    ['restart', 'nope'],
    ['attach', 'nope'],
  ]) {
    test(`${args.join(' ')} exits 4 (not found) naming the unknown instance`, async () => {
      const r = await harness.run(args);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /^tmux-claude: instance "nope" not found$/m);
      assert.equal(r.stdout, '');
    });
  }

  test('read --since with a non-numeric cursor exits 2 with a clear error', async () => {
    const r = await harness.run(['read', 'nope', '--since', 'abc']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--since "abc" is not a cursor/);
    assert.equal(r.stdout, '');
  });

  test('run in a directory that is not a git repository exits 2 and creates nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-test-plain-'));
    harness.track(dir);
    const r = await harness.run(['run', 'build a thing', '--repo', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is not a git repository/);
    assert.ok(r.stderr.includes(dir), r.stderr);
    assert.deepEqual(readdirSync(dir), [], 'the directory was touched');
    assert.deepEqual(await harness.json<unknown[]>(['ls', '--all']), []);
  });

  test('run with a --repo that does not exist exits 2 saying so', async () => {
    const missing = join(tmpdir(), 'tc-test-no-such-dir', 'repo');
    const r = await harness.run(['run', 'build a thing', '--repo', missing]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`${missing} does not exist`), r.stderr);
    assert.equal(existsSync(missing), false);
  });

  test("run resolves a relative --repo against the caller's working directory", async () => {
    const parent = realpathSync(mkdtempSync(join(tmpdir(), 'tc-test-cwd-')));
    harness.track(parent);
    mkdirSync(join(parent, 'plain'));
    const r = await runIn(harness, parent, ['run', 'build a thing', '--repo', 'plain']);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`${join(parent, 'plain')} is not a git repository`), r.stderr);
  });
});

describe('ls on an empty home', () => {
  const harness = new CliHarness();
  after(() => harness.cleanup());

  test('ls --json prints an empty list', async () => {
    const r = await harness.run(['ls', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });
});

describe('the supervisor HTTP endpoints reject malformed and unauthenticated requests', () => {
  const harness = new CliHarness();
  let url = '';
  let token = '';
  before(async () => {
    const r = await harness.run(['up']);
    assert.equal(r.code, 0, r.stderr);
    ({ url, token } = supervisorOf(harness));
  });
  after(() => harness.cleanup());

  const admin = (): Record<string, string> => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });

  test('POST /api/runs with invalid JSON answers 400 INVALID_ARGUMENT', async () => {
    const reply = await httpCall(`${url}/api/runs`, { method: 'POST', headers: admin(), body: '{"goal": ' });
    assert.equal(reply.status, 400);
    assert.equal(errorCodeOf(reply), 'INVALID_ARGUMENT');
  });

  test('POST /api/runs without a goal answers 400 INVALID_ARGUMENT naming the goal', async () => {
    const reply = await httpCall(`${url}/api/runs`, {
      method: 'POST',
      headers: admin(),
      body: JSON.stringify({ repo: harness.home }),
    });
    assert.equal(reply.status, 400);
    assert.equal(errorCodeOf(reply), 'INVALID_ARGUMENT');
    assert.match(JSON.stringify(reply.body), /goal/);
  });

  test('an /api request without the admin token, or with a wrong one, answers 401', async () => {
    const none = await httpCall(`${url}/api/instances`);
    assert.equal(none.status, 401);
    assert.equal(errorCodeOf(none), 'UNAUTHORIZED');
    const wrong = await httpCall(`${url}/api/instances`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(wrong.status, 401);
  });

  test('a request with a foreign Host header answers 403 (DNS-rebinding protection)', async () => {
    const reply = await httpCall(`${url}/api/instances`, {
      headers: { ...admin(), host: 'evil.example' },
    });
    assert.equal(reply.status, 403);
  });

  const mcpCall = (authorization?: string): Promise<HttpReply> =>
    httpCall(`${url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });

  test('/mcp without a bearer token answers 401', async () => {
    assert.equal((await mcpCall()).status, 401);
  });

  test('/mcp with a bogus bearer token answers 401', async () => {
    assert.equal((await mcpCall('Bearer bogus')).status, 401);
  });

  test('/mcp with the admin token answers 401: only instance tokens open it', async () => {
    assert.equal((await mcpCall(`Bearer ${token}`)).status, 401);
  });

  test('after the rejected requests the supervisor still serves and holds no run or instance', async () => {
    const status = await harness.json<{ running: boolean; instances: Record<string, number> }>(['status']);
    assert.equal(status.running, true);
    assert.deepEqual(status.instances, {});
    assert.deepEqual(await harness.json<unknown[]>(['ls', '--all']), []);
  });
});
