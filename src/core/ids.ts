import { createHash, randomBytes } from 'node:crypto';
import type { Role } from './types.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

function randomSuffix(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

const ROLE_PREFIX: Record<Role, string> = { executive: 'exec', manager: 'mgr', specialist: 'spec' };

/**
 * Instance ids read as what they are: `exec-k3f9q2m7`, `mgr-…`, `spec-…`. Eight characters keep collisions
 * negligible across every instance a store ever holds (six gave ~3% over 10k ids).
 */
export function newInstanceId(role: Role): string {
  return `${ROLE_PREFIX[role]}-${randomSuffix(8)}`;
}

export function newRunId(): string {
  return `run-${randomSuffix(8)}`;
}

export function newMessageId(): string {
  return `msg-${Date.now().toString(36)}-${randomSuffix(6)}`;
}

/** Task ids are short (they go into branch names) yet unlikely to collide within a run's thousands of tasks. */
export function newTaskId(): string {
  return `t${randomSuffix(7)}`;
}

export function newKnowledgeId(): string {
  return `kn-${Date.now().toString(36)}-${randomSuffix(6)}`;
}

export function newReservationId(): string {
  return `res-${randomSuffix(10)}`;
}

/** A bearer token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Lower-case, dash-separated, safe in a git branch name; never empty. */
export function slugify(text: string, maxLength = 32): string {
  const slug = text
    .toLowerCase()
    .normalize('NFKD')
    // NFKD splits "é" into "e" plus a combining accent; drop the accent rather than turn it into a dash.
    .replace(/\p{M}+/gu, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxLength)
    .replace(/-+$/g, '');
  return slug || 'work';
}

/** The branch contract of ARCHITECTURE.md: `specialist-<instanceId>-<taskId>-<feature>`. */
export function specialistBranch(instanceId: string, taskId: string, feature: string): string {
  return `specialist-${instanceId}-${taskId}-${slugify(feature)}`;
}

export function managerBranch(instanceId: string, feature: string): string {
  return `manager-${instanceId}-${slugify(feature)}`;
}
