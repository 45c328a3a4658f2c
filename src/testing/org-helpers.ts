import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initRepo } from '../git/index.js';
import type { CliHarness } from './cli-harness.js';

/** Helpers for end-to-end tests that talk to a harness's supervisor as the admin or as an instance. */

/** A fresh git repository with a README, removed by the harness's cleanup. */
export async function sampleRepo(h: CliHarness): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tc-test-repo-'));
  h.track(dir);
  const repo = join(dir, 'repo');
  await initRepo(repo, { 'README.md': '# sample\n' });
  return repo;
}

/** Calls the admin API; fails the test on a non-2xx answer. */
export async function api<T>(
  h: CliHarness,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  const info = h.supervisorInfo();
  assert.ok(info, 'supervisor is running');
  const res = await fetch(`${info.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** An instance's bearer token, read from its tmux session's environment. */
export function tokenOf(h: CliHarness, session: string): string {
  const r = spawnSync(
    'tmux',
    ['-L', h.paths.tmuxSocket, 'show-environment', '-t', `=${session}`, 'TMUX_CLAUDE_TOKEN'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('=').slice(1).join('=');
}

/** A real MCP client acting as the instance whose token it holds. */
export async function mcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

export function resultText(r: Awaited<ReturnType<Client['callTool']>>): string {
  return (r.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('');
}

/** Calls a tool as the client's instance; returns its parsed JSON answer, or throws with the error text. */
export async function callJson<T = Record<string, unknown>>(
  c: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<T> {
  const r = await c.callTool({ name, arguments: args });
  const text = resultText(r);
  if (r.isError) throw new Error(text);
  return JSON.parse(text) as T;
}

/** Calls a tool that must be refused; returns the error text. */
export async function callRefused(c: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const r = await c.callTool({ name, arguments: args });
  assert.equal(r.isError, true, `${name} should have been refused: ${resultText(r)}`);
  return resultText(r);
}

/** An instance as spawn answers, with an MCP client acting as it. */
export interface ActingInstance {
  id: string;
  worktree: string;
  tmuxSession: string;
  client: Client;
}

/**
 * A run whose executive idles (its model is unreachable) plus idle specialists spawned by it, each with an MCP
 * client holding its token: the test acts as them. The caller closes the clients (see {@link closeAll}).
 */
export async function idleRun(
  h: CliHarness,
  specialists: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ runId: string; url: string; exec: Client; specs: ActingInstance[] }> {
  const repo = await sampleRepo(h);
  const res = await h.json<{ run: { id: string }; executive: { tmuxSession: string } }>(
    ['run', 'idle executive\n```plan\n{"managers":[]}\n```', '--repo', repo],
    { env: { ...env, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: 'test' } },
  );
  const url = h.supervisorInfo()!.url;
  const exec = await mcpClient(url, tokenOf(h, res.executive.tmuxSession));
  const specs: ActingInstance[] = [];
  for (const name of specialists) {
    // No prompt: the specialist idles, and the test acts with its token.
    const s = await callJson<Omit<ActingInstance, 'client'>>(exec, 'spawn', { role: 'specialist', name });
    specs.push({ ...s, client: await mcpClient(url, tokenOf(h, s.tmuxSession)) });
  }
  return { runId: res.run.id, url, exec, specs };
}

/** Closes MCP clients, ignoring ones already closed or never opened. */
export async function closeAll(clients: ReadonlyArray<Client | undefined>): Promise<void> {
  for (const c of clients) await c?.close().catch(() => undefined);
}
