import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, type PageGlobals } from '../bench/browser.js';
import type { AuditEvent } from '../core/index.js';
import { CliHarness, eventually } from '../testing/cli-harness.js';
import { api } from '../testing/org-helpers.js';

/** Set to a folder (e.g. docs/screenshots, by `npm run screenshots`) to keep a screenshot of each panel. */
const SHOTS = process.env.TMUX_CLAUDE_SCREENSHOTS;

/** Every state an element (by test id and id attribute) showed, in order, recorded by a MutationObserver. */
interface Seen {
  testid: string;
  id: string;
  state: string;
  at: number;
}

/**
 * Installed before the page's own scripts: records each state an instance row, message row or task node shows,
 * so the test can tell that the page changed live (no reload) and what it went through. Plain JavaScript in a
 * string: a function would be serialized after tsx's transform, with helpers the page does not have.
 */
const RECORD_STATES = `
  window.__seen = [];
  const last = new Map();
  const attrs = { 'instance-row': 'data-instance-id', 'message-row': 'data-message-id', 'task-node': 'data-task-id' };
  function scan() {
    for (const [testid, idAttr] of Object.entries(attrs)) {
      for (const el of document.querySelectorAll('[data-testid="' + testid + '"]')) {
        const id = el.getAttribute(idAttr) || '';
        const state = el.getAttribute('data-state') || '';
        const key = testid + ':' + id;
        if (last.get(key) === state) continue;
        last.set(key, state);
        window.__seen.push({ testid, id, state, at: Date.now() });
      }
    }
  }
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(scan).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'],
    });
    scan();
  });
`;

const seen = (page: Page): Promise<Seen[]> =>
  page.evaluate(() => (globalThis as unknown as { __seen: Seen[] }).__seen);

const rowCount = (page: Page, testid: string): Promise<number> =>
  page.evaluate(
    (t) => (globalThis as unknown as PageGlobals).document.querySelectorAll(`[data-testid="${t}"]`).length,
    testid,
  );

/** The states each element went through, e.g. `spec-1 → ['busy', 'idle']`. */
function histories(all: Seen[], testid: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of all.filter((x) => x.testid === testid)) out.set(s.id, [...(out.get(s.id) ?? []), s.state]);
  return out;
}

describe('dashboard in headless Chromium during a demo run', () => {
  const h = new CliHarness();
  let browser: Browser;
  let url: string;
  const pages: Page[] = [];

  before(async () => {
    const up = await h.run(['up']);
    assert.equal(up.code, 0, up.stderr);
    const info = h.supervisorInfo()!;
    url = `${info.url}/?token=${encodeURIComponent(info.token)}`;
    browser = await launchChromium();
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await h.cleanup();
  });

  const open = async (view: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    await page.addInitScript({ content: RECORD_STATES });
    await page.goto(url);
    // The token link signs in and redirects to the page itself.
    assert.equal(new URL(page.url()).search, '');
    await page.click(`[data-testid="tab-${view}"]`);
    await page.waitForSelector('[data-testid="connection-status"][data-state="open"]');
    pages.push(page);
    return page;
  };
  const shot = async (page: Page, name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };

  it('shows the hierarchy grow and messages and tasks change state live, without a reload', async () => {
    // Two pages open before the run starts: one on the message flow, one on the task graph.
    const messages = await open('messages');
    const tasks = await open('tasks');
    assert.equal(await rowCount(messages, 'instance-row'), 0);

    const demo = await h.json<{ repo: string; instances: Array<{ id: string; role: string }> }>(
      ['demo', '--keep'],
      { timeoutMs: 300_000 },
    );
    h.track(dirname(demo.repo));
    const total = demo.instances.length;
    for (const page of [messages, tasks]) {
      await page.waitForFunction(
        (n) =>
          (globalThis as unknown as PageGlobals).document.querySelectorAll('[data-testid="instance-row"]')
            .length >= n,
        total,
      );
    }

    const onMessages = await seen(messages);
    const instanceRows = onMessages.filter((s) => s.testid === 'instance-row');
    // The tree grew one spawn at a time: the executive first, the last specialist seconds later.
    const firstSeen = new Map<string, number>();
    for (const s of instanceRows) if (!firstSeen.has(s.id)) firstSeen.set(s.id, s.at);
    assert.equal(firstSeen.size, total);
    const exec = demo.instances.find((i) => i.role === 'executive')!;
    const times = [...firstSeen.values()].sort((a, b) => a - b);
    assert.equal(firstSeen.get(exec.id), times[0], 'the executive appeared first');
    assert.ok(times.at(-1)! > times[0]!, 'instances appeared over time');
    // Instances changed state on screen (e.g. starting → busy → idle → terminated).
    const specialistHistories = [...histories(onMessages, 'instance-row').values()].filter(
      (h) => h.length >= 3,
    );
    assert.ok(specialistHistories.length >= 4, JSON.stringify([...histories(onMessages, 'instance-row')]));

    // A message row changed state live (pending → delivered, or on to acked).
    const messageHistories = histories(onMessages, 'message-row');
    assert.ok(messageHistories.size > 0, 'message rows were shown');
    assert.ok(
      [...messageHistories.values()].some((h) => new Set(h).size >= 2),
      `a message changed state on screen: ${JSON.stringify([...messageHistories].slice(0, 5))}`,
    );

    // A task node went from claimed to done on screen.
    const taskHistories = histories(await seen(tasks), 'task-node');
    assert.equal(taskHistories.size, 4, 'the demo has four tasks');
    assert.ok(
      [...taskHistories.values()].some((h) => h.includes('claimed') && h.at(-1) === 'done'),
      `a task went claimed → done: ${JSON.stringify([...taskHistories])}`,
    );
    await tasks.waitForSelector('[data-testid="rollup-total"]');
    await shot(tasks, 'tasks');
    await shot(messages, 'messages');
  });

  it("opens an instance's terminal and shows the agent's output", async () => {
    const page = pages[0]!;
    const exec = page.locator('[data-testid="instance-row"][data-role="executive"]');
    await exec.click();
    await page.waitForSelector('[data-testid="terminal"][data-status="live"]');
    await page.waitForFunction(() =>
      Array.from((globalThis as unknown as PageGlobals).document.querySelectorAll('.xterm-rows')).some((r) =>
        r.textContent?.includes('ALL DONE: merged 2 managers'),
      ),
    );
    assert.equal(
      await page.locator('[data-testid="terminal"]').getAttribute('data-interactive'),
      'false',
      'read-only by default',
    );
    await shot(page, 'terminal');
  });

  it('restarts an instance from the UI (confirmed, audited) and shows it recover', async () => {
    const page = pages[0]!;
    const execId = await page
      .locator('[data-testid="instance-row"][data-role="executive"]')
      .getAttribute('data-instance-id');
    assert.ok(execId);
    const head = await api<{ seq: number }>(h, 'GET', '/events/head');
    const clickedAt = Date.now();
    await page.click('[data-testid="action-restart"]');
    // Nothing happens before the confirmation.
    await page.waitForSelector('[data-testid="confirm-dialog"]');
    assert.equal(
      (await api<AuditEvent[]>(h, 'GET', `/events?after=${head.seq}&instance=${execId}`)).length,
      0,
    );
    await page.click('[data-testid="confirm-ok"]');
    await page.waitForSelector(`[data-testid="action-result"][data-action="restart"][data-ok="true"]`);

    // On screen: away from idle (starting), then back to a live state.
    await eventually('the restarted executive to be idle again on screen', async () => {
      const history = (await seen(page)).filter(
        (s) => s.testid === 'instance-row' && s.id === execId && s.at >= clickedAt,
      );
      const states = history.map((s) => s.state);
      return states.includes('starting') && ['idle', 'ready'].includes(states.at(-1)!) ? states : null;
    });
    const events = await api<AuditEvent[]>(h, 'GET', `/events?after=${head.seq}&instance=${execId}`);
    assert.ok(events.some((e) => e.kind === 'instance.restarted'));
    const action = events.find((e) => e.kind === 'dashboard.action');
    assert.deepEqual(action?.data, { action: 'instances.restart', target: execId, ok: true });
    assert.equal(action?.actor, 'dashboard');
    await shot(page, 'hierarchy');
  });

  it('shows the run’s budgets: a budget set on the executive appears with its meters, live', async () => {
    const page = pages[1]!;
    await page.click('[data-testid="tab-budgets"]');
    const execId = await page
      .locator('[data-testid="instance-row"][data-role="executive"]')
      .getAttribute('data-instance-id');
    assert.ok(execId);
    await api(h, 'POST', `/instances/${execId}/budget`, { max_tokens: 5_000_000, max_instances: 12 });
    const row = page.locator(`[data-testid="budget-row"][data-root="${execId}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'active');
    const meters = await row
      .locator('[data-testid="budget-meter"]')
      .evaluateAll((els) => els.map((e) => [e.getAttribute('data-resource'), e.getAttribute('data-level')]));
    assert.deepEqual(
      meters.filter(([r]) => r === 'instances' || r === 'tokens'),
      [
        ['instances', 'ok'],
        ['tokens', 'ok'],
      ],
    );
    await shot(page, 'budgets');
  });

  it('shows conflicts, resources and the audit feed', async () => {
    const page = pages[1]!;
    await page.click('[data-testid="tab-conflicts"]');
    await page.waitForSelector('[data-testid="conflicts-summary"]');
    await shot(page, 'conflicts');
    await page.click('[data-testid="tab-resources"]');
    await page.waitForSelector('[data-testid="chart-host-cpu"] canvas');
    await shot(page, 'resources');
    await page.click('[data-testid="tab-audit"]');
    await page.waitForSelector('[data-testid="audit-row"][data-kind="dashboard.action"]');
    await page.selectOption('[data-testid="audit-filter-kind"]', 'task.');
    await eventually('the audit feed to show only task events', async () => {
      const kinds = await page
        .locator('[data-testid="audit-row"]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind') ?? ''));
      return kinds.length > 0 && kinds.every((k) => k.startsWith('task.')) ? kinds : null;
    });
    await shot(page, 'audit');
  });
});
