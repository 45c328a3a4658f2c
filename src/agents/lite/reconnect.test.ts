import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { failedBeforeSend, ReconnectBackoff, reconnectNotices, rootMessage, sleep } from './reconnect.js';

void describe('reconnect helpers', () => {
  void test('backoff doubles from 200 ms up to 2 s, within its window', () => {
    const backoff = new ReconnectBackoff(60_000);
    assert.deepEqual(
      Array.from({ length: 7 }, () => backoff.next()),
      [200, 400, 800, 1600, 2000, 2000, 2000],
    );
    assert.equal(backoff.exceeds(2000), false);
    assert.equal(backoff.exceeds(61_000), true);
    assert.equal(new ReconnectBackoff(0).exceeds(200), true);
  });

  void test('failedBeforeSend looks through causes; rootMessage names the innermost', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4100'), { code: 'ECONNREFUSED' });
    const wrapped = new Error('cannot connect', { cause: new TypeError('fetch failed', { cause: refused }) });
    assert.equal(failedBeforeSend(wrapped), true);
    assert.equal(rootMessage(wrapped), 'connect ECONNREFUSED 127.0.0.1:4100');
    const dropped = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    assert.equal(failedBeforeSend(new TypeError('fetch failed', { cause: dropped })), false);
  });

  void test('one notice when the supervisor goes away and one when it is back, however many requests wait', () => {
    const notices: string[] = [];
    const observer = reconnectNotices((t) => notices.push(t));
    observer.reconnected();
    observer.retrying(new Error('connect ECONNREFUSED'), 200);
    observer.retrying(new Error('connect ECONNREFUSED'), 400);
    observer.reconnected();
    observer.reconnected();
    assert.deepEqual(notices, [
      'supervisor unreachable, retrying… (connect ECONNREFUSED)',
      'supervisor reachable again',
    ]);
  });

  void test('sleep ends early when its signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await assert.rejects(sleep(10_000, controller.signal), /stop/);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(sleep(10, controller.signal), /stop/);
  });
});
