import { ROLES, TmuxClaudeError, notFound, type Instance, type Role } from '../core/index.js';
import type { Store } from '../store/index.js';

/** Largest message body, in UTF-8 bytes. Bigger content belongs in a file or the knowledge store. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Longest subject, in characters (one line). */
export const MAX_SUBJECT_CHARS = 200;
/** Topic names: lower-case letters, digits, `.`, `_`, `-`; 1–64 characters, starting with a letter or digit. */
export const TOPIC_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Topics the supervisor publishes to; agents may subscribe and replay but not publish. */
export const SYSTEM_TOPICS = [
  'system.spawned',
  'system.completed',
  'system.failed',
  'system.merged',
] as const;
export type SystemTopic = (typeof SYSTEM_TOPICS)[number];

/** Who sends: an instance (role set), or the user / the supervisor acting within a run (role null). */
export interface Sender {
  id: string;
  role: Role | null;
  runId: string;
  parentId: string | null;
}

/** Where an address points: instances, or a topic whose subscribers receive it. */
export type Resolved = { kind: 'instances'; ids: string[] } | { kind: 'topic'; topic: string };

export function validateTopic(topic: string, forPublishing: boolean): string {
  if (!TOPIC_NAME.test(topic)) {
    throw new TmuxClaudeError('INVALID_ARGUMENT', `invalid topic name ${JSON.stringify(topic)}`, {
      hint: 'use 1-64 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
  }
  if (forPublishing && topic.startsWith('system.')) {
    throw new TmuxClaudeError('FORBIDDEN', `topic ${topic} is written by the supervisor only`, {
      hint: `subscribe to it or replay it; system topics are ${SYSTEM_TOPICS.join(', ')}`,
    });
  }
  return topic;
}

export function validateContent(body: string, subject: string | undefined): void {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_BODY_BYTES) {
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `message body is ${bytes} bytes; the limit is ${MAX_BODY_BYTES} bytes (64 KiB)`,
      { hint: 'put large content in a file (or record_discovery) and send its path' },
    );
  }
  if (body.length === 0) throw new TmuxClaudeError('INVALID_ARGUMENT', 'message body is empty');
  if (subject !== undefined && (subject.length > MAX_SUBJECT_CHARS || /[\r\n]/.test(subject))) {
    throw new TmuxClaudeError(
      'INVALID_ARGUMENT',
      `subject must be one line of at most ${MAX_SUBJECT_CHARS} characters`,
    );
  }
}

/** Role words an address may use, singular or plural. */
function roleOf(address: string): Role | undefined {
  const word = address.endsWith('s') ? address.slice(0, -1) : address;
  return ROLES.find((r) => r === word);
}

/**
 * Resolves an address to recipients: `topic:NAME`, `parent`, `children` (live direct children), a role
 * (`manager`/`managers`, … : live instances of that role below the sender), or an instance id of the same run
 * that is not terminated (a dead one keeps its mail until it is restarted).
 */
export async function resolveAddress(store: Store, sender: Sender, address: string): Promise<Resolved> {
  if (address.startsWith('topic:')) return { kind: 'topic', topic: validateTopic(address.slice(6), true) };
  if (address === 'parent') {
    if (!sender.parentId) {
      throw new TmuxClaudeError('INVALID_ARGUMENT', `${sender.id} has no parent instance`, {
        hint: 'the executive reports to the user by finishing its turn with a summary',
      });
    }
    return { kind: 'instances', ids: [(await mustReach(store, sender, sender.parentId)).id] };
  }
  const role = roleOf(address);
  if (address === 'children' || role) {
    const below = await subtree(store, sender);
    const ids = below
      .filter((i) => i.state !== 'terminated')
      .filter((i) => (role ? i.role === role : i.parentId === sender.id))
      .map((i) => i.id);
    if (ids.length === 0) {
      throw new TmuxClaudeError('NOT_FOUND', `no live ${role ?? 'child'} instances below ${sender.id}`, {
        hint: 'call `list` to see the instances you can reach',
      });
    }
    return { kind: 'instances', ids };
  }
  return { kind: 'instances', ids: [(await mustReach(store, sender, address)).id] };
}

async function mustReach(store: Store, sender: Sender, id: string): Promise<Instance> {
  const target = await store.instances.get(id);
  if (!target) throw notFound('instance', id, 'call `list` to see the instances you can reach');
  if (target.runId !== sender.runId) {
    throw new TmuxClaudeError('FORBIDDEN', `${id} belongs to another run`);
  }
  if (target.state === 'terminated') {
    throw new TmuxClaudeError('CONFLICT', `${id} was terminated and will never read messages`, {
      hint: 'send to a live instance',
    });
  }
  return target;
}

/** Every instance below the sender (the whole run for the user and the supervisor). */
async function subtree(store: Store, sender: Sender): Promise<Instance[]> {
  const all = await store.instances.list({ runId: sender.runId });
  if (sender.role === null) return all;
  const byParent = new Map<string, Instance[]>();
  for (const i of all) {
    if (!i.parentId) continue;
    byParent.set(i.parentId, [...(byParent.get(i.parentId) ?? []), i]);
  }
  const out: Instance[] = [];
  const queue = [sender.id];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child.id);
    }
  }
  return out;
}
