import {
  TmuxClaudeError,
  newMessageId,
  type Envelope,
  type EventInput,
  type Logger,
  type Message,
  type Signals,
} from '../core/index.js';
import type { Store } from '../store/index.js';
import { resolveAddress, validateContent, validateTopic, type Sender, type SystemTopic } from './address.js';

/** Options of {@link Bus}. */
export interface BusDeps {
  store: Store;
  /** Shared with the supervisor: `inbox:<id>` wakes waits, `delivered:<messageId>` wakes senders. */
  signals: Signals;
  /** Appends an audit event. */
  emit(event: EventInput): Promise<void>;
  log: Logger;
  /** Unconfirmed push attempts before a delivery is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Backoff before the second attempt; it doubles per attempt (default 1 s). */
  backoffMs?: number;
  /** Called when a recipient has new unread mail (the supervisor pushes it to idle agents). */
  onMail?: (recipient: string) => void;
}

export interface SendRequest {
  to: string;
  body: string;
  subject?: string | undefined;
  requiresAck?: boolean | undefined;
  replyTo?: string | undefined;
  clientId?: string | undefined;
}

export interface SendOutcome {
  messageId: string;
  recipients: string[];
  /** The sender had already sent this client id: nothing new was stored. */
  duplicate: boolean;
  topic?: string;
  topicSeq?: number;
}

export interface WaitFilter {
  /** Sender instance id (or `parent`). */
  from?: string | undefined;
  subject?: string | undefined;
}

/** How a message reached the agent's turn. */
export type DeliveryVia = 'paste' | 'stop-hook' | 'tool';

/** Bytes of pending mail pushed as one prompt; the rest follows in the next one. */
const PUSH_BATCH_BYTES = 256 * 1024;
/** Longest wait_for_messages. */
export const MAX_WAIT_MS = 300_000;

/**
 * The delivery contract on top of the store: per-recipient deliveries move pending → delivered → acked, or
 * to dead after `maxAttempts` unconfirmed pushes (with doubling backoff); dead letters are raised to the
 * sender's parent. Senders are idempotent per client id; each recipient's mail keeps send order. Topics are
 * append-only logs: publishing delivers to the current subscribers, `replay` serves late ones.
 * The supervisor does the pushing (pastes, Stop-hook handovers) and reports back through this class.
 */
export class Bus {
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(private readonly deps: BusDeps) {
    this.maxAttempts = deps.maxAttempts ?? 5;
    this.backoffMs = deps.backoffMs ?? 1_000;
  }

  private get store(): Store {
    return this.deps.store;
  }

  // ---- sending ----------------------------------------------------------------------------------

  /** Sends to an instance, `parent`, `children`, a role below the sender, or `topic:NAME`. */
  async send(sender: Sender, req: SendRequest): Promise<SendOutcome> {
    validateContent(req.body, req.subject);
    if (req.replyTo !== undefined && !(await this.store.messages.get(req.replyTo))) {
      throw new TmuxClaudeError('NOT_FOUND', `reply_to: message ${JSON.stringify(req.replyTo)} not found`);
    }
    // A retried send must not fail because the address changed meanwhile (e.g. a child was terminated).
    if (req.clientId !== undefined) {
      const earlier = await this.findByClientId(sender, req.clientId);
      if (earlier) return earlier;
    }
    const target = await resolveAddress(this.store, sender, req.to);
    if (target.kind === 'topic') return this.post(sender, req, target.topic);
    return this.post(sender, req, null, target.ids);
  }

  /** Appends to a topic; its current subscribers (other than the sender) receive it. */
  async publish(sender: Sender, topic: string, body: string, subject?: string): Promise<SendOutcome> {
    validateContent(body, subject);
    return this.post(sender, { to: `topic:${topic}`, body, subject }, validateTopic(topic, true));
  }

  /** The supervisor's own events (spawned, completed, failed, merged) on the built-in topics. */
  async publishSystem(runId: string, topic: SystemTopic, data: Record<string, unknown>): Promise<void> {
    const sender: Sender = { id: 'supervisor', role: null, runId, parentId: null };
    await this.post(sender, { to: `topic:${topic}`, body: JSON.stringify(data), subject: topic }, topic);
  }

  async subscribe(sender: Sender, topic: string): Promise<{ topic: string; headSeq: number }> {
    validateTopic(topic, false);
    await this.store.messages.subscribe(sender.runId, topic, sender.id, Date.now());
    return { topic, headSeq: await this.store.messages.topicHead(sender.runId, topic) };
  }

  async replay(
    sender: Sender,
    topic: string,
    sinceSeq: number,
    limit: number,
  ): Promise<{ topic: string; messages: Message[]; headSeq: number }> {
    validateTopic(topic, false);
    const messages = await this.store.messages.replay(sender.runId, topic, sinceSeq, limit);
    return { topic, messages, headSeq: await this.store.messages.topicHead(sender.runId, topic) };
  }

  private async findByClientId(sender: Sender, clientId: string): Promise<SendOutcome | null> {
    const found = await this.store.messages.findByClientId(sender.id, clientId);
    if (!found) return null;
    return this.outcome(
      found.message,
      found.deliveries.map((d) => d.recipient),
      true,
    );
  }

  private outcome(message: Message, recipients: string[], duplicate: boolean): SendOutcome {
    return {
      messageId: message.id,
      recipients,
      duplicate,
      ...(message.topic !== null ? { topic: message.topic } : {}),
      ...(message.topicSeq !== null ? { topicSeq: message.topicSeq } : {}),
    };
  }

  private async post(
    sender: Sender,
    req: SendRequest,
    topic: string | null,
    ids: readonly string[] = [],
  ): Promise<SendOutcome> {
    const recipients = topic
      ? (await this.store.messages.subscribers(sender.runId, topic)).filter((id) => id !== sender.id)
      : ids;
    const { message, deliveries, duplicate } = await this.store.messages.post(
      {
        id: newMessageId(),
        runId: sender.runId,
        from: sender.id,
        to: req.to,
        subject: req.subject ?? null,
        body: req.body,
        requiresAck: req.requiresAck ?? false,
        replyTo: req.replyTo ?? null,
        clientId: req.clientId ?? null,
        topic,
        createdAt: Date.now(),
      },
      recipients,
    );
    const to = deliveries.map((d) => d.recipient);
    if (!duplicate) {
      await this.deps.emit({
        kind: 'message.sent',
        actor: sender.id,
        instanceId: to.length === 1 ? to[0]! : null,
        data: {
          messageId: message.id,
          to: req.to,
          recipients: to,
          bytes: Buffer.byteLength(req.body),
          ...(topic ? { topic } : {}),
        },
      });
      for (const r of to) this.mailFor(r);
    }
    return this.outcome(message, to, duplicate);
  }

  private mailFor(recipient: string): void {
    this.deps.signals.notify(`inbox:${recipient}`);
    this.deps.onMail?.(recipient);
  }

  // ---- reading ----------------------------------------------------------------------------------

  /**
   * The recipient's mail, oldest first. Unread (pending) messages handed out here count as delivered —
   * the tool call is the confirmation. With `unreadOnly` false, the newest read ones are included too.
   */
  async inbox(
    recipient: string,
    opts: { unreadOnly: boolean; limit: number },
  ): Promise<{ messages: Envelope[]; more: boolean }> {
    const states = opts.unreadOnly ? (['pending'] as const) : (['pending', 'delivered', 'acked'] as const);
    const found = opts.unreadOnly
      ? await this.store.messages.inbox(recipient, states, opts.limit + 1)
      : await this.store.messages.list({ recipient, states }, opts.limit + 1);
    const more = found.length > opts.limit;
    const page = more ? (opts.unreadOnly ? found.slice(0, opts.limit) : found.slice(1)) : found;
    const taken = await this.take(
      recipient,
      page.filter((e) => e.delivery.state === 'pending'),
    );
    const byId = new Map(taken.map((e) => [e.message.id, e]));
    // Pending ones another call took first are left out: each message is handed to the turn once.
    const messages = page.flatMap((e) => {
      if (e.delivery.state !== 'pending') return [e];
      const mine = byId.get(e.message.id);
      return mine ? [mine] : [];
    });
    return { messages, more };
  }

  /**
   * Blocks until unread mail matching the filter exists (returned and marked delivered) or the timeout
   * passes. Woken by new mail, never by polling.
   */
  async waitForMessages(
    recipient: string,
    filter: WaitFilter & { timeoutMs: number; parentId?: string | null },
  ): Promise<{ messages: Envelope[]; timedOut: boolean }> {
    const key = `inbox:${recipient}`;
    const from = filter.from === 'parent' ? (filter.parentId ?? undefined) : filter.from;
    const deadline = Date.now() + Math.min(Math.max(filter.timeoutMs, 0), MAX_WAIT_MS);
    for (;;) {
      const version = this.deps.signals.version(key);
      const unread = await this.store.messages.inbox(recipient, ['pending'], 500);
      const matching = unread.filter(
        (e) =>
          (from === undefined || e.message.from === from) &&
          (filter.subject === undefined || e.message.subject === filter.subject),
      );
      const taken = await this.take(recipient, matching);
      if (taken.length > 0) return { messages: taken, timedOut: false };
      const left = deadline - Date.now();
      if (left <= 0) return { messages: [], timedOut: true };
      await this.deps.signals.waitSince(key, version, left);
    }
  }

  async ack(recipient: string, ids: readonly string[]): Promise<{ acked: string[]; alreadyAcked: string[] }> {
    if (ids.length === 0) throw new TmuxClaudeError('INVALID_ARGUMENT', 'ids is empty');
    const at = Date.now();
    const outcome = await this.store.messages.ack(recipient, ids, at);
    if (outcome.unknown.length > 0) {
      throw new TmuxClaudeError(
        'NOT_FOUND',
        `not messages of ${recipient}: ${outcome.unknown.join(', ')}; nothing was acked`,
        { hint: 'ack only ids from your own inbox (dead letters cannot be acked)' },
      );
    }
    for (const id of outcome.acked) {
      const m = await this.store.messages.get(id);
      await this.deps.emit({
        kind: 'message.acked',
        actor: recipient,
        instanceId: recipient,
        data: { messageId: id, latencyMs: at - (m?.createdAt ?? at) },
      });
    }
    return { acked: outcome.acked, alreadyAcked: outcome.alreadyAcked };
  }

  /** Marks pending envelopes delivered by a tool call; returns the ones this call moved. */
  private async take(recipient: string, envelopes: readonly Envelope[]): Promise<Envelope[]> {
    if (envelopes.length === 0) return [];
    return this.confirmDelivered(recipient, envelopes, 'tool', Date.now());
  }

  // ---- pushing (the supervisor's side) ----------------------------------------------------------

  /** Recipients whose pending mail is due for a push now. */
  dueRecipients(): Promise<string[]> {
    return this.store.messages.dueRecipients(Date.now());
  }

  /** Pending mail for one push, oldest first, at most ~256 KiB (always at least one message). */
  async nextPush(recipient: string): Promise<Envelope[]> {
    const pending = await this.store.messages.inbox(recipient, ['pending'], 200);
    const batch: Envelope[] = [];
    let bytes = 0;
    for (const e of pending) {
      bytes += Buffer.byteLength(e.message.body);
      if (batch.length > 0 && bytes > PUSH_BATCH_BYTES) break;
      batch.push(e);
    }
    return batch;
  }

  /** pending → delivered, with audit events and wake-ups; returns the envelopes that moved. */
  async confirmDelivered(
    recipient: string,
    envelopes: readonly Envelope[],
    via: DeliveryVia,
    startedAt: number,
  ): Promise<Envelope[]> {
    const at = Date.now();
    const moved = new Set(
      await this.store.messages.markDelivered(
        recipient,
        envelopes.map((e) => e.message.id),
        at,
      ),
    );
    const out: Envelope[] = [];
    for (const e of envelopes) {
      if (!moved.has(e.message.id)) continue;
      out.push({ message: e.message, delivery: { ...e.delivery, state: 'delivered', deliveredAt: at } });
      await this.deps.emit({
        kind: 'message.delivered',
        actor: 'supervisor',
        instanceId: recipient,
        data: { messageId: e.message.id, latencyMs: at - Math.min(e.message.createdAt, startedAt), via },
      });
      this.deps.signals.notify(`delivered:${e.message.id}`);
    }
    return out;
  }

  /**
   * A push that was not confirmed: counts the attempt and backs off; deliveries out of attempts become dead
   * letters raised to the sender's parent.
   */
  async pushFailed(recipient: string, envelopes: readonly Envelope[], error: string): Promise<void> {
    const spent = envelopes.filter((e) => e.delivery.attempts + 1 >= this.maxAttempts);
    const retry = envelopes.filter((e) => e.delivery.attempts + 1 < this.maxAttempts);
    if (retry.length > 0) {
      const attempts = Math.max(...retry.map((e) => e.delivery.attempts)) + 1;
      const next = Date.now() + this.backoffMs * 2 ** (attempts - 1);
      await this.store.messages.recordFailedAttempt(
        recipient,
        retry.map((e) => e.message.id),
        next,
        error,
      );
    }
    if (spent.length > 0) {
      await this.deadLetter(
        recipient,
        spent.map((e) => e.message.id),
        `not delivered after ${this.maxAttempts} attempts: ${error}`,
        true,
      );
    }
  }

  /** The recipient restarted: its pending mail, and its unacked mail that requires an ack, is delivered again. */
  async requeueUnacked(recipient: string, reason: string): Promise<string[]> {
    const ids = await this.store.messages.requeueUnacked(recipient);
    if (ids.length > 0) {
      await this.deps.emit({
        kind: 'message.requeued',
        actor: 'supervisor',
        instanceId: recipient,
        data: { messageIds: ids, reason },
      });
      this.mailFor(recipient);
    }
    return ids;
  }

  /**
   * A successor takes over from `recipient`: its pending and delivered-but-unacked mail (except `except`) is
   * delivered to `successor` instead, in the order it was sent. Recorded as `message.requeued` on the
   * successor, with a reason that names both.
   */
  async handOver(recipient: string, successor: string, except: readonly string[] = []): Promise<string[]> {
    const ids = await this.store.messages.handOver(recipient, successor, except);
    if (ids.length > 0) {
      await this.deps.emit({
        kind: 'message.requeued',
        actor: 'supervisor',
        instanceId: successor,
        data: { messageIds: ids, reason: `handed over from ${recipient} to its successor ${successor}` },
      });
      this.mailFor(successor);
    }
    return ids;
  }

  /** The recipient was terminated: what it never received becomes dead letters (raised when acks were asked). */
  async recipientGone(recipient: string, reason: string): Promise<void> {
    const open = await this.store.messages.inbox(recipient, ['pending'], 100_000);
    await this.deadLetter(
      recipient,
      open.map((e) => e.message.id),
      reason,
      false,
    );
  }

  private async deadLetter(
    recipient: string,
    ids: string[],
    error: string,
    raiseAll: boolean,
  ): Promise<void> {
    if (ids.length === 0) return;
    const dead = await this.store.messages.markDead(recipient, ids, Date.now(), error);
    for (const e of dead) {
      await this.deps.emit({
        kind: 'message.dead',
        actor: 'supervisor',
        instanceId: recipient,
        data: { messageId: e.message.id, from: e.message.from, error, attempts: e.delivery.attempts },
      });
      this.deps.signals.notify(`delivered:${e.message.id}`);
      if (raiseAll || e.message.requiresAck) await this.raise(e, error);
    }
  }

  /** Tells the sender's parent about a dead letter (the supervisor's own mail is not raised again). */
  private async raise(e: Envelope, error: string): Promise<void> {
    if (e.message.from === 'supervisor' || e.message.from === 'user') return;
    const sender = await this.store.instances.get(e.message.from);
    const parentId = sender?.parentId;
    if (!parentId) return;
    const parent = await this.store.instances.get(parentId);
    if (!parent || parent.state === 'terminated') return;
    await this.post(
      { id: 'supervisor', role: null, runId: e.message.runId, parentId: null },
      {
        to: parentId,
        subject: 'dead letter',
        body:
          `Message ${e.message.id} from ${e.message.from} to ${e.delivery.recipient} could not be delivered ` +
          `(${error}). See \`tmux-claude messages --dead\`.`,
      },
      null,
      [parentId],
    );
  }
}
