import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PermissionDialog } from './permission.js';
import type { ToolCall } from './tool-types.js';

void describe('the light runtime permission dialog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-permission-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const make = () => {
    const seen: string[] = [];
    const dialog = new PermissionDialog({
      ui: { notice: (t) => seen.push(`notice ${t}`) },
      notify: async (m) => void seen.push(`notify ${m}`),
      toolUsed: async (c) => void seen.push(`used ${c.name}`),
    });
    return { dialog, seen };
  };
  const refused = { content: 'path "../x.txt" is outside the working directory', isError: true };
  const call = (path: string): ToolCall => ({
    id: 't1',
    name: 'write_file',
    input: { path, content: 'hi\n' },
  });

  void it('asks on a write outside the working directory, posts the notification, writes once allowed', async () => {
    const { dialog, seen } = make();
    const target = join(dir, 'allowed.txt');
    const outcome = dialog.review(call(target), refused, join(dir, 'cwd'), new AbortController().signal);
    await new Promise((r) => setImmediate(r));
    assert.ok(dialog.open);
    assert.ok(seen.some((s) => s.startsWith('notify Permission required: write_file wants to write')));
    assert.equal(dialog.answer('y'), true);
    assert.equal((await outcome).isError, false);
    assert.equal(readFileSync(target, 'utf8'), 'hi\n');
    assert.ok(seen.includes('used write_file'));
    assert.equal(dialog.answer('y'), false, 'a line after the dialog is a prompt again');
  });

  void it('a denial or an interrupt refuses the call; other outcomes pass unchanged', async () => {
    const { dialog } = make();
    const denied = dialog.review(call(join(dir, 'no.txt')), refused, dir, new AbortController().signal);
    await new Promise((r) => setImmediate(r));
    dialog.answer('no');
    assert.match((await denied).content, /denied/);
    const ctl = new AbortController();
    const interrupted = dialog.review(call(join(dir, 'no.txt')), refused, dir, ctl.signal);
    ctl.abort();
    assert.equal((await interrupted).isError, true);
    const other = { content: 'ENOSPC', isError: true };
    assert.equal(await dialog.review(call('a.txt'), other, dir, ctl.signal), other);
  });
});
