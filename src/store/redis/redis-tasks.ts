import type { Redis } from 'ioredis';
import {
  TmuxClaudeError,
  globsOverlap,
  newReservationId,
  notFound,
  type Reservation,
  type ReservationMode,
  type Task,
  type TaskState,
} from '../../core/index.js';
import type {
  ClaimOutcome,
  ClaimRequest,
  FenceOutcome,
  Released,
  ReservationStore,
  ReserveRequest,
  TaskFilter,
  TaskStore,
} from '../types.js';
import { defineScript, hgetallMany, num, numOrNull, sortable, strOrNull, toMap } from './redis-common.js';
import type { Changed } from './redis-wake.js';

/*
 * The task graph and file reservations on Redis.
 *
 * Keys (after the prefix): `task:ID` a hash per task (null fields absent; `rk` its rank among ready tasks,
 * `waiting` how many of its dependencies are not done yet); `task-run:RUN` and `task-all` sorted sets by
 * creation time (ties by id); `task-state:STATE:RUN` sets; `task-ready:RUN` a lexicographic sorted set of the
 * ready tasks' rank keys (priority high first, then oldest, then id); `task-lease` claimed tasks by lease
 * expiry; `task-held:HOLDER` the tasks a holder has claimed; `task-owner:X` / `task-assignee:X` for listing;
 * `task-dependents:ID` the tasks waiting on one. `res:ID` a hash per reservation; `res-run:RUN`,
 * `res-holder:H`, `res-task:T` sets; `res-own:H` a hash pattern → id of a holder's explicit reservations;
 * `res-expiry` all reservations by expiry; `res-seq` the insertion counter; `res-version:RUN` a counter
 * raised whenever a reservation of the run is added or extended.
 *
 * Leases expire by the caller's clock (`now` in every call), as the interface says, not by Redis' own: a lapse
 * must also hand the task back (a state change), which a key expiring on its own (SET NX PX) cannot do, and
 * tests and hosts pass explicit times. The epoch is the fencing token, raised with HINCRBY on every grant.
 *
 * Every decision that only compares fields is one Lua script (atomic). Deciding whether globs overlap needs
 * core's `globsOverlap` (picomatch), which is JavaScript; rewriting it in Lua would be a second, drifting
 * implementation. So claims of tasks with files and `reserve` are optimistic: JS reads a snapshot (the run's
 * live reservations and `res-version:RUN`) in one script, decides, and a second script commits only if the
 * version is unchanged, else the call starts over. WATCH/MULTI would do the same, but WATCH belongs to a
 * connection, and this store shares one connection between concurrent callers (auto-pipelining), so a
 * version compared inside the committing script is the safe form. Removing a reservation cannot create a
 * conflict, so only additions and extensions raise the version; a grant of a task without files needs no
 * check at all.
 */

const TASK_LUA = `
local function taskKey(id) return P .. 'task:' .. id end

local function setTaskState(id, runId, from, to, rk)
  if from == to then return end
  redis.call('SREM', P .. 'task-state:' .. from .. ':' .. runId, id)
  redis.call('SADD', P .. 'task-state:' .. to .. ':' .. runId, id)
  if from == 'ready' then redis.call('ZREM', P .. 'task-ready:' .. runId, rk) end
  if to == 'ready' then redis.call('ZADD', P .. 'task-ready:' .. runId, 0, rk) end
  redis.call('HSET', taskKey(id), 'state', to)
end

local function setOwner(id, old, new)
  if old then redis.call('SREM', P .. 'task-owner:' .. old, id) end
  if new then
    redis.call('SADD', P .. 'task-owner:' .. new, id)
    redis.call('HSET', taskKey(id), 'owner', new)
  else
    redis.call('HDEL', taskKey(id), 'owner')
  end
end

local function deleteReservation(rid)
  local key = P .. 'res:' .. rid
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local r = toMap(flat)
  redis.call('SREM', P .. 'res-run:' .. r.runId, rid)
  redis.call('SREM', P .. 'res-holder:' .. r.holder, rid)
  if r.taskId then
    redis.call('SREM', P .. 'res-task:' .. r.taskId, rid)
  elseif redis.call('HGET', P .. 'res-own:' .. r.holder, r.pattern) == rid then
    redis.call('HDEL', P .. 'res-own:' .. r.holder, r.pattern)
  end
  redis.call('ZREM', P .. 'res-expiry', rid)
  redis.call('DEL', key)
  return flat
end

local function deleteTaskReservations(id, out)
  for _, rid in ipairs(redis.call('SMEMBERS', P .. 'res-task:' .. id)) do
    local flat = deleteReservation(rid)
    if flat then table.insert(out, flat) end
  end
  redis.call('DEL', P .. 'res-task:' .. id)
end

local function dropLease(id, t)
  redis.call('HDEL', taskKey(id), 'leaseExpiresAt')
  redis.call('ZREM', P .. 'task-lease', id)
  if t.owner then redis.call('SREM', P .. 'task-held:' .. t.owner, id) end
end

-- Leaves claimed: ready again when retrying with attempts left (no owner), else failed (last owner kept).
-- Deletes the task's reservations into out.
local function settle(id, retry, err, now, out)
  local t = toMap(redis.call('HGETALL', taskKey(id)))
  local again = retry and tonumber(t.attempts) < tonumber(t.maxAttempts)
  dropLease(id, t)
  setTaskState(id, t.runId, t.state, again and 'ready' or 'failed', t.rk)
  if again then setOwner(id, t.owner, nil) end
  redis.call('HSET', taskKey(id), 'error', err, 'updatedAt', now)
  deleteTaskReservations(id, out)
  return redis.call('HGETALL', taskKey(id))
end

local function expireLapsed(now)
  local tasks, res = {}, {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'task-lease', '-inf', now)) do
    table.insert(tasks, settle(id, true, 'lease expired', now, res))
  end
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'res-expiry', '-inf', now)) do
    local flat = deleteReservation(rid)
    if flat then table.insert(res, flat) end
  end
  return tasks, res
end

local function liveOthers(runId, holder, now)
  local out = {}
  for _, rid in ipairs(redis.call('SMEMBERS', P .. 'res-run:' .. runId)) do
    local flat = redis.call('HGETALL', P .. 'res:' .. rid)
    local r = toMap(flat)
    if r.holder and r.holder ~= holder and tonumber(r.expiresAt) > tonumber(now) then table.insert(out, flat) end
  end
  return out
end

local function createReservation(rid, runId, holder, pattern, mode, taskId, expiresAt, now)
  local key = P .. 'res:' .. rid
  local seq = redis.call('INCR', P .. 'res-seq')
  redis.call('HSET', key, 'id', rid, 'runId', runId, 'holder', holder, 'pattern', pattern, 'mode', mode,
    'expiresAt', expiresAt, 'createdAt', now, 'seq', seq)
  redis.call('SADD', P .. 'res-run:' .. runId, rid)
  redis.call('SADD', P .. 'res-holder:' .. holder, rid)
  redis.call('ZADD', P .. 'res-expiry', expiresAt, rid)
  if taskId then
    redis.call('HSET', key, 'taskId', taskId)
    redis.call('SADD', P .. 'res-task:' .. taskId, rid)
  else
    redis.call('HSET', P .. 'res-own:' .. holder, pattern, rid)
  end
  return redis.call('HGETALL', key)
end

local function fenced(id, holder, epoch, now)
  local flat = redis.call('HGETALL', taskKey(id))
  if #flat == 0 then return nil, {'not_found'} end
  local t = toMap(flat)
  if tonumber(t.epoch) ~= tonumber(epoch) then return nil, {'stale_epoch', flat} end
  if t.state ~= 'claimed' then return nil, {'not_claimed', flat} end
  if t.owner ~= holder then return nil, {'not_holder', flat} end
  if not t.leaseExpiresAt or tonumber(t.leaseExpiresAt) <= tonumber(now) then return nil, {'expired', flat} end
  return t, nil
end
`;

/** ARGV: P, n, then per task: nFields, fields…, nDeps, deps… */
const CREATE = `${TASK_LUA}
local n = tonumber(ARGV[2])
local tasks, seen, i = {}, {}, 3
for k = 1, n do
  local nf = tonumber(ARGV[i]); local fields = {unpack(ARGV, i + 1, i + nf)}; i = i + nf + 1
  local nd = tonumber(ARGV[i]); local deps = {unpack(ARGV, i + 1, i + nd)}; i = i + nd + 1
  local t = toMap(fields)
  tasks[k] = {t = t, fields = fields, deps = deps}
  seen[t.id] = t
end
for k = 1, n do
  local t = tasks[k].t
  for _, dep in ipairs(tasks[k].deps) do
    local sibling = seen[dep]
    local runId = sibling and sibling.runId or redis.call('HGET', taskKey(dep), 'runId')
    if runId ~= t.runId then return {'not_found', dep, t.id} end
  end
  if redis.call('EXISTS', taskKey(t.id)) == 1 then return {'conflict', t.id} end
  for j = 1, k - 1 do if tasks[j].t.id == t.id then return {'conflict', t.id} end end
end
local out = {}
for k = 1, n do
  local t, id = tasks[k].t, tasks[k].t.id
  local waiting = 0
  for _, dep in ipairs(tasks[k].deps) do
    if seen[dep] or redis.call('HGET', taskKey(dep), 'state') ~= 'done' then
      waiting = waiting + 1
      redis.call('SADD', P .. 'task-dependents:' .. dep, id)
    end
  end
  local state = waiting == 0 and 'ready' or 'blocked'
  redis.call('HSET', taskKey(id), unpack(tasks[k].fields))
  redis.call('HSET', taskKey(id), 'state', state, 'waiting', waiting, 'epoch', 0, 'attempts', 0,
    'updatedAt', t.createdAt)
  redis.call('ZADD', P .. 'task-run:' .. t.runId, t.createdAt, id)
  redis.call('ZADD', P .. 'task-all', t.createdAt, id)
  redis.call('SADD', P .. 'task-state:' .. state .. ':' .. t.runId, id)
  if state == 'ready' then redis.call('ZADD', P .. 'task-ready:' .. t.runId, 0, t.rk) end
  if t.assignee then redis.call('SADD', P .. 'task-assignee:' .. t.assignee, id) end
  table.insert(out, redis.call('HGETALL', taskKey(id)))
end
return {'ok', out}
`;

/**
 * The snapshot a claim decides on, after taking back lapsed leases. ARGV: P, runId, claimant, now, taskId
 * ('' for the best ready task), chunk. Returns {version, others' live reservations, tasks, last rank key}.
 */
const CLAIM_VIEW = `${TASK_LUA}
local runId, claimant, now, taskId, chunk = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
expireLapsed(now)
local version = redis.call('GET', P .. 'res-version:' .. runId) or '0'
local others = liveOthers(runId, claimant, now)
local tasks, last = {}, ''
if taskId ~= '' then
  local flat = redis.call('HGETALL', taskKey(taskId))
  if #flat > 0 then tasks[1] = flat end
else
  for _, m in ipairs(redis.call('ZRANGEBYLEX', P .. 'task-ready:' .. runId, '-', '+', 'LIMIT', 0, chunk)) do
    table.insert(tasks, redis.call('HGETALL', taskKey(string.match(m, '^[^|]*|[^|]*|(.*)$'))))
    last = m
  end
end
return {version, others, tasks, last}
`;

/** More ready tasks after a rank key. ARGV: P, runId, after, chunk. */
const READY_AFTER = `${TASK_LUA}
local tasks, last = {}, ''
for _, m in ipairs(redis.call('ZRANGEBYLEX', P .. 'task-ready:' .. ARGV[2], '(' .. ARGV[3], '+', 'LIMIT', 0, tonumber(ARGV[4]))) do
  table.insert(tasks, redis.call('HGETALL', taskKey(string.match(m, '^[^|]*|[^|]*|(.*)$'))))
  last = m
end
return {tasks, last}
`;

/**
 * Grants the first candidate that is still free, or renews the claimant's own live claim of a named task.
 * ARGV: P, runId, claimant, now, expiresAt, version, mode ('named' | 'best'), nIds, reservation ids…,
 * candidate task ids… Returns {'granted', task, reservations} or {'retry'} when the snapshot is stale.
 */
const CLAIM_GRANT = `${TASK_LUA}
local runId, claimant, now, expiresAt, version, mode = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local nIds = tonumber(ARGV[8])
local current = redis.call('GET', P .. 'res-version:' .. runId) or '0'
for i = 9 + nIds, #ARGV do
  local id = ARGV[i]
  local key = taskKey(id)
  local t = toMap(redis.call('HGETALL', key))
  if t.id and t.runId == runId then
    if mode == 'named' and t.state == 'claimed' and t.owner == claimant and tonumber(t.leaseExpiresAt) > tonumber(now) then
      redis.call('HSET', key, 'leaseExpiresAt', expiresAt, 'updatedAt', now)
      redis.call('ZADD', P .. 'task-lease', expiresAt, id)
      local res = {}
      for _, rid in ipairs(redis.call('SMEMBERS', P .. 'res-task:' .. id)) do
        redis.call('HSET', P .. 'res:' .. rid, 'expiresAt', expiresAt)
        redis.call('ZADD', P .. 'res-expiry', expiresAt, rid)
        table.insert(res, redis.call('HGETALL', P .. 'res:' .. rid))
      end
      if #res > 0 then redis.call('INCR', P .. 'res-version:' .. runId) end
      return {'granted', redis.call('HGETALL', key), res}
    end
    local files = cjson.decode(t.files)
    if t.state == 'ready' and (not t.assignee or t.assignee == claimant) then
      if #files > 0 and current ~= version then return {'retry'} end
      setTaskState(id, runId, 'ready', 'claimed', t.rk)
      setOwner(id, t.owner, claimant)
      redis.call('HINCRBY', key, 'epoch', 1)
      redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('HSET', key, 'leaseExpiresAt', expiresAt, 'updatedAt', now)
      redis.call('ZADD', P .. 'task-lease', expiresAt, id)
      redis.call('SADD', P .. 'task-held:' .. claimant, id)
      local res = {}
      for j, pattern in ipairs(files) do
        table.insert(res, createReservation(ARGV[8 + j], runId, claimant, pattern, 'exclusive', id, expiresAt, now))
      end
      if #files > 0 then redis.call('INCR', P .. 'res-version:' .. runId) end
      return {'granted', redis.call('HGETALL', key), res}
    end
  end
  if mode == 'named' then return {'retry'} end
end
return {'retry'}
`;

/** ARGV: P, holder, expiresAt, now. */
const RENEW = `${TASK_LUA}
local holder, expiresAt, now = ARGV[2], ARGV[3], ARGV[4]
local tasks = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'task-held:' .. holder)) do
  local t = toMap(redis.call('HGETALL', taskKey(id)))
  if t.state == 'claimed' and t.owner == holder and tonumber(t.leaseExpiresAt) > tonumber(now) then
    redis.call('HSET', taskKey(id), 'leaseExpiresAt', expiresAt, 'updatedAt', now)
    redis.call('ZADD', P .. 'task-lease', expiresAt, id)
    table.insert(tasks, redis.call('HGETALL', taskKey(id)))
  end
end
local n, runs = 0, {}
for _, rid in ipairs(redis.call('SMEMBERS', P .. 'res-holder:' .. holder)) do
  local r = toMap(redis.call('HGETALL', P .. 'res:' .. rid))
  if r.expiresAt and tonumber(r.expiresAt) > tonumber(now) then
    redis.call('HSET', P .. 'res:' .. rid, 'expiresAt', expiresAt)
    redis.call('ZADD', P .. 'res-expiry', expiresAt, rid)
    runs[r.runId] = true
    n = n + 1
  end
end
for runId in pairs(runs) do redis.call('INCR', P .. 'res-version:' .. runId) end
return {tasks, n}
`;

/** ARGV: P, id, holder, epoch, now, result|'' , hasResult, branch|'', hasBranch. */
const COMPLETE = `${TASK_LUA}
local id, holder, epoch, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local t, refusal = fenced(id, holder, epoch, now)
if not t then return refusal end
local key = taskKey(id)
dropLease(id, t)
setTaskState(id, t.runId, 'claimed', 'done', t.rk)
redis.call('HSET', key, 'completedAt', now, 'updatedAt', now)
if ARGV[7] == '1' then redis.call('HSET', key, 'result', ARGV[6]) else redis.call('HDEL', key, 'result') end
if ARGV[9] == '1' then redis.call('HSET', key, 'branch', ARGV[8]) else redis.call('HDEL', key, 'branch') end
deleteTaskReservations(id, {})
local unblocked = {}
for _, dep in ipairs(redis.call('SMEMBERS', P .. 'task-dependents:' .. id)) do
  local left = redis.call('HINCRBY', taskKey(dep), 'waiting', -1)
  local d = toMap(redis.call('HGETALL', taskKey(dep)))
  if left <= 0 and d.state == 'blocked' then
    setTaskState(dep, d.runId, 'blocked', 'ready', d.rk)
    redis.call('HSET', taskKey(dep), 'updatedAt', now)
    table.insert(unblocked, redis.call('HGETALL', taskKey(dep)))
  end
end
redis.call('DEL', P .. 'task-dependents:' .. id)
return {'ok', redis.call('HGETALL', key), unblocked}
`;

/** ARGV: P, id, holder, epoch, error, retry ('1'|'0'), now. */
const FAIL = `${TASK_LUA}
local id, holder, epoch, err, retry, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1', ARGV[7]
local t, refusal = fenced(id, holder, epoch, now)
if not t then return refusal end
return {'ok', settle(id, retry, err, now, {})}
`;

/** ARGV: P, holder, reason, now. */
const RELEASE_HOLDER = `${TASK_LUA}
local holder, reason, now = ARGV[2], ARGV[3], ARGV[4]
local tasks, res = {}, {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'task-held:' .. holder)) do
  if redis.call('HGET', taskKey(id), 'state') == 'claimed' then
    table.insert(tasks, settle(id, true, reason, now, res))
  end
end
redis.call('DEL', P .. 'task-held:' .. holder)
for _, rid in ipairs(redis.call('SMEMBERS', P .. 'res-holder:' .. holder)) do
  local flat = deleteReservation(rid)
  if flat then table.insert(res, flat) end
end
return {tasks, res}
`;

/** ARGV: P, id, reason, now. */
const RELEASE_TASK = `${TASK_LUA}
local id, reason, now = ARGV[2], ARGV[3], ARGV[4]
local state = redis.call('HGET', taskKey(id), 'state')
if not state then return {'not_found'} end
if state ~= 'claimed' then return {'ok', {}, {}} end
local res = {}
local task = settle(id, true, reason, now, res)
return {'ok', {task}, res}
`;

/** ARGV: P, now. */
const EXPIRE = `${TASK_LUA}
local tasks, res = expireLapsed(ARGV[2])
return {tasks, res}
`;

/** ARGV: P, now, ids… */
const MARK_MERGED = `${TASK_LUA}
local now, out = ARGV[2], {}
for i = 3, #ARGV do
  local key = taskKey(ARGV[i])
  local t = toMap(redis.call('HGETALL', key))
  if t.state == 'done' and not t.mergedAt then
    redis.call('HSET', key, 'mergedAt', now, 'updatedAt', now)
    table.insert(out, redis.call('HGETALL', key))
  end
end
return out
`;

/** ARGV: P, id, assignee|'', hasAssignee, now. */
const ASSIGN = `${TASK_LUA}
local id, assignee, has, now = ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5]
local key = taskKey(id)
local t = toMap(redis.call('HGETALL', key))
if not t.id then return {'not_found'} end
if t.state == 'claimed' and tonumber(t.leaseExpiresAt or '0') > tonumber(now) then return {'conflict', t.owner} end
if t.assignee then redis.call('SREM', P .. 'task-assignee:' .. t.assignee, id) end
if has then
  redis.call('SADD', P .. 'task-assignee:' .. assignee, id)
  redis.call('HSET', key, 'assignee', assignee)
else
  redis.call('HDEL', key, 'assignee')
end
redis.call('HSET', key, 'updatedAt', now)
return {'ok', redis.call('HGETALL', key)}
`;

/** ARGV: P, runId, holder, now. Returns {version, others' live reservations}. */
const RESERVE_VIEW = `${TASK_LUA}
return {redis.call('GET', P .. 'res-version:' .. ARGV[2]) or '0', liveOthers(ARGV[2], ARGV[3], ARGV[4])}
`;

/** ARGV: P, runId, holder, mode, expiresAt, now, version, n, patterns…, ids… */
const RESERVE_COMMIT = `${TASK_LUA}
local runId, holder, mode, expiresAt, now, version = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if (redis.call('GET', P .. 'res-version:' .. runId) or '0') ~= version then return {'retry'} end
local n = tonumber(ARGV[8])
local out = {}
for i = 1, n do
  local pattern = ARGV[8 + i]
  local own = redis.call('HGET', P .. 'res-own:' .. holder, pattern)
  if own and redis.call('EXISTS', P .. 'res:' .. own) == 1 then
    redis.call('HSET', P .. 'res:' .. own, 'mode', mode, 'expiresAt', expiresAt)
    redis.call('ZADD', P .. 'res-expiry', expiresAt, own)
    table.insert(out, redis.call('HGETALL', P .. 'res:' .. own))
  else
    table.insert(out, createReservation(ARGV[8 + n + i], runId, holder, pattern, mode, nil, expiresAt, now))
  end
end
redis.call('INCR', P .. 'res-version:' .. runId)
return {'ok', out}
`;

/** ARGV: P, holder, all ('1'|'0'), patterns… Returns {released, notHeld}. */
const RELEASE_FILES = `${TASK_LUA}
local holder, all = ARGV[2], ARGV[3] == '1'
local released, notHeld = {}, {}
if all then
  local own = redis.call('HGETALL', P .. 'res-own:' .. holder)
  for i = 2, #own, 2 do
    local flat = deleteReservation(own[i])
    if flat then table.insert(released, flat) end
  end
  redis.call('DEL', P .. 'res-own:' .. holder)
else
  for i = 4, #ARGV do
    local rid = redis.call('HGET', P .. 'res-own:' .. holder, ARGV[i])
    local flat = rid and deleteReservation(rid)
    if flat then table.insert(released, flat) else table.insert(notHeld, ARGV[i]) end
  end
end
return {released, notHeld}
`;

function toTask(h: Record<string, string>): Task {
  return {
    id: h.id!,
    runId: h.runId!,
    title: h.title!,
    description: h.description!,
    dependsOn: JSON.parse(h.dependsOn!) as string[],
    files: JSON.parse(h.files!) as string[],
    priority: num(h.priority),
    state: h.state as TaskState,
    createdBy: h.createdBy!,
    assignee: strOrNull(h.assignee),
    owner: strOrNull(h.owner),
    epoch: num(h.epoch),
    leaseExpiresAt: numOrNull(h.leaseExpiresAt),
    attempts: num(h.attempts),
    maxAttempts: num(h.maxAttempts),
    result: strOrNull(h.result),
    error: strOrNull(h.error),
    branch: strOrNull(h.branch),
    mergedAt: numOrNull(h.mergedAt),
    createdAt: num(h.createdAt),
    updatedAt: num(h.updatedAt),
    completedAt: numOrNull(h.completedAt),
  };
}

function toReservation(h: Record<string, string>): Reservation & { seq: number } {
  return {
    id: h.id!,
    runId: h.runId!,
    holder: h.holder!,
    pattern: h.pattern!,
    mode: h.mode as ReservationMode,
    taskId: strOrNull(h.taskId),
    expiresAt: num(h.expiresAt),
    createdAt: num(h.createdAt),
    seq: num(h.seq),
  };
}

type Flat = string[];
const tasksOf = (flats: readonly Flat[]): Task[] =>
  flats
    .map((f) => toTask(toMap(f)))
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
/** Reservations oldest first (creation time, then insertion order), without the internal seq. */
function reservationsOf(flats: readonly Flat[]): Reservation[] {
  return flats
    .map((f) => toReservation(toMap(f)))
    .sort((a, b) => a.createdAt - b.createdAt || a.seq - b.seq)
    .map(({ seq: _seq, ...r }) => r);
}

function overlapping(patterns: readonly string[], reservations: readonly Reservation[]): Reservation[] {
  return reservations.filter((r) => patterns.some((p) => globsOverlap(p, r.pattern)));
}

const unique = (values: readonly string[]): string[] => [...new Set(values)];

/** The ready-set rank key: priority high first, then oldest, then id (fixed-width numbers sort as text). */
function rankKey(priority: number, createdAt: number, id: string): string {
  const p = Math.min(Math.max(Math.round(priority), -1e15 + 1), 1e15 - 1);
  return `${sortable(1e15 - p)}|${sortable(createdAt)}|${id}`;
}

/**
 * Ready tasks a claim reads with its snapshot (most claims take one of the first few), then per further round
 * trip when those are all taken or waiting on files; and how many it offers the granting script at once, so
 * that concurrent claimants racing for the best task fall through to the next instead of starting over.
 */
const FIRST_CHUNK = 32;
const CHUNK = 256;
const CANDIDATES = 16;
/** Optimistic rounds before a claim or reserve gives up (each lost round means another caller progressed). */
const MAX_ROUNDS = 10_000;

async function backoff(round: number): Promise<void> {
  if (round < 3) return;
  await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(round, 20)));
}

function contended(what: string): TmuxClaudeError {
  return new TmuxClaudeError('UNAVAILABLE', `${what} kept losing to concurrent changes; try again`);
}

export function makeRedisTaskStores(
  redis: Redis,
  prefix: string,
  changed: Changed = () => {},
): { tasks: TaskStore; reservations: ReservationStore } {
  const P = prefix;
  /** Announces the runs whose tasks or reservations changed. */
  const runsChanged = (items: ReadonlyArray<{ runId: string }>) =>
    changed(...[...new Set(items.map((i) => i.runId))].map((runId) => ({ kind: 'tasks' as const, runId })));
  const released = (r: Released): Released => {
    runsChanged([...r.tasks, ...r.reservations]);
    return r;
  };
  const s = (body: string) => defineScript(redis, body);
  const create = s(CREATE);
  const claimView = s(CLAIM_VIEW);
  const readyAfter = s(READY_AFTER);
  const claimGrant = s(CLAIM_GRANT);
  const renew = s(RENEW);
  const complete = s(COMPLETE);
  const fail = s(FAIL);
  const releaseHolder = s(RELEASE_HOLDER);
  const releaseTask = s(RELEASE_TASK);
  const expire = s(EXPIRE);
  const markMerged = s(MARK_MERGED);
  const assign = s(ASSIGN);
  const reserveView = s(RESERVE_VIEW);
  const reserveCommit = s(RESERVE_COMMIT);
  const releaseFiles = s(RELEASE_FILES);

  const grant = async (
    req: ClaimRequest,
    version: string,
    mode: 'named' | 'best',
    candidates: readonly Task[],
  ): Promise<ClaimOutcome | null> => {
    const ids = Array.from({ length: Math.max(0, ...candidates.map((t) => t.files.length)) }, () =>
      newReservationId(),
    );
    const out = (await claimGrant(
      P,
      req.runId,
      req.claimant,
      String(req.now),
      String(req.now + req.ttlMs),
      version,
      mode,
      ids.length,
      ...ids,
      ...candidates.map((t) => t.id),
    )) as [string, Flat?, Flat[]?];
    if (out[0] !== 'granted') return null;
    return { granted: true, task: toTask(toMap(out[1]!)), reservations: reservationsOf(out[2]!) };
  };

  const claimOnce = async (req: ClaimRequest): Promise<ClaimOutcome | null> => {
    const [version, otherFlats, taskFlats, last] = (await claimView(
      P,
      req.runId,
      req.claimant,
      String(req.now),
      req.taskId ?? '',
      FIRST_CHUNK,
    )) as [string, Flat[], Flat[], string];
    const others = reservationsOf(otherFlats);
    if (req.taskId !== undefined) {
      const task = taskFlats[0] ? toTask(toMap(taskFlats[0])) : null;
      if (!task || task.runId !== req.runId) return { granted: false, reason: 'not_found' };
      const retry =
        task.state === 'claimed' && task.owner === req.claimant && (task.leaseExpiresAt ?? 0) > req.now;
      if (!retry) {
        if (task.assignee !== null && task.assignee !== req.claimant) {
          return { granted: false, reason: 'assigned', task };
        }
        if (task.state !== 'ready') return { granted: false, reason: 'not_ready', task };
        const conflicts = overlapping(task.files, others);
        if (conflicts.length > 0) return { granted: false, reason: 'files_busy', task, conflicts };
      }
      return grant(req, version, 'named', [task]);
    }
    let waitingOnFiles = 0;
    const candidates: Task[] = [];
    let page = taskFlats;
    let cursor = last;
    let chunk = FIRST_CHUNK;
    for (;;) {
      for (const flat of page) {
        const task = toTask(toMap(flat));
        if (task.assignee !== null && task.assignee !== req.claimant) continue;
        if (req.creators && !req.creators.includes(task.createdBy)) continue;
        if (overlapping(task.files, others).length > 0) {
          waitingOnFiles += 1;
          continue;
        }
        candidates.push(task);
        if (candidates.length >= CANDIDATES) break;
      }
      if (candidates.length >= CANDIDATES || page.length < chunk) break;
      chunk = CHUNK;
      [page, cursor] = (await readyAfter(P, req.runId, cursor, chunk)) as [Flat[], string];
    }
    if (candidates.length === 0) return { granted: false, reason: 'none_ready', waitingOnFiles };
    return grant(req, version, 'best', candidates);
  };

  const tasks: TaskStore = {
    create: async (batch) => {
      if (batch.length === 0) return [];
      const args: Array<string | number> = [P, batch.length];
      for (const t of batch) {
        const fields = [
          'id',
          t.id,
          'runId',
          t.runId,
          'title',
          t.title,
          'description',
          t.description,
          'dependsOn',
          JSON.stringify(unique(t.dependsOn)),
          'files',
          JSON.stringify(unique(t.files)),
          'priority',
          String(t.priority),
          'createdBy',
          t.createdBy,
          'maxAttempts',
          String(t.maxAttempts),
          'createdAt',
          String(t.createdAt),
          'rk',
          rankKey(t.priority, t.createdAt, t.id),
          ...(t.assignee === null ? [] : ['assignee', t.assignee]),
        ];
        const deps = unique(t.dependsOn);
        args.push(fields.length, ...fields, deps.length, ...deps);
      }
      const out = (await create(...args)) as [string, ...unknown[]];
      if (out[0] === 'not_found') {
        const [, dep, id] = out as string[];
        throw new TmuxClaudeError(
          'NOT_FOUND',
          `dependency ${JSON.stringify(dep)} of task ${JSON.stringify(id)} is not a task of run ${batch[0]!.runId}`,
          { hint: 'create the dependency first, or in the same batch' },
        );
      }
      if (out[0] === 'conflict') {
        throw new TmuxClaudeError('CONFLICT', `task ${JSON.stringify(out[1])} exists`);
      }
      const created = (out[1] as Flat[]).map((f) => toTask(toMap(f)));
      runsChanged(created);
      return created;
    },
    get: async (id) => {
      const h = await redis.hgetall(`${P}task:${id}`);
      return h.id === undefined ? null : toTask(h);
    },
    list: async (filter: TaskFilter = {}) => {
      if (filter.states?.length === 0 || filter.ids?.length === 0) return [];
      let ids: string[];
      if (filter.ids) ids = unique(filter.ids);
      else if (filter.runId !== undefined && filter.states) {
        ids = await redis.sunion(...filter.states.map((st) => `${P}task-state:${st}:${filter.runId}`));
      } else if (filter.runId !== undefined) ids = await redis.zrange(`${P}task-run:${filter.runId}`, 0, -1);
      else if (filter.owner !== undefined) ids = await redis.smembers(`${P}task-owner:${filter.owner}`);
      else if (filter.assignee !== undefined) {
        ids = await redis.smembers(`${P}task-assignee:${filter.assignee}`);
      } else ids = await redis.zrange(`${P}task-all`, 0, -1);
      const found = (
        await hgetallMany(
          redis,
          ids.map((id) => `${P}task:${id}`),
        )
      )
        .filter((h) => h.id !== undefined)
        .map(toTask);
      return found
        .filter(
          (t) =>
            (filter.runId === undefined || t.runId === filter.runId) &&
            (filter.states === undefined || filter.states.includes(t.state)) &&
            (filter.owner === undefined || t.owner === filter.owner) &&
            (filter.assignee === undefined || t.assignee === filter.assignee) &&
            (filter.createdBy === undefined || t.createdBy === filter.createdBy),
        )
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    claim: async (req) => {
      for (let round = 0; round < MAX_ROUNDS; round += 1) {
        const out = await claimOnce(req);
        if (out?.granted) runsChanged([out.task]);
        if (out) return out;
        await backoff(round);
      }
      throw contended(`claiming in run ${req.runId}`);
    },
    renew: async (holder, ttlMs, now) => {
      const [flats, n] = (await renew(P, holder, String(now + ttlMs), String(now))) as [Flat[], number];
      return { tasks: tasksOf(flats), reservations: n };
    },
    complete: async (taskId, holder, epoch, result, now) => {
      const out = (await complete(
        P,
        taskId,
        holder,
        String(epoch),
        String(now),
        result.result ?? '',
        result.result === null ? '0' : '1',
        result.branch ?? '',
        result.branch === null ? '0' : '1',
      )) as [string, Flat?, Flat[]?];
      if (out[0] === 'ok') {
        const task = toTask(toMap(out[1]!));
        runsChanged([task]);
        return { ok: true, task, unblocked: tasksOf(out[2]!) };
      }
      return refusal(out);
    },
    fail: async (taskId, holder, epoch, error, retry, now) => {
      const out = (await fail(P, taskId, holder, String(epoch), error, retry ? '1' : '0', String(now))) as [
        string,
        Flat?,
      ];
      if (out[0] === 'ok') {
        const task = toTask(toMap(out[1]!));
        runsChanged([task]);
        return { ok: true, task };
      }
      return refusal(out);
    },
    releaseHolder: async (holder, reason, now) => {
      const [t, r] = (await releaseHolder(P, holder, reason, String(now))) as [Flat[], Flat[]];
      return released({ tasks: tasksOf(t), reservations: reservationsOf(r) });
    },
    releaseTask: async (taskId, reason, now): Promise<Released> => {
      const out = (await releaseTask(P, taskId, reason, String(now))) as [string, Flat[]?, Flat[]?];
      if (out[0] === 'not_found') throw notFound('task', taskId);
      return released({ tasks: tasksOf(out[1]!), reservations: reservationsOf(out[2]!) });
    },
    expire: async (now) => {
      const [t, r] = (await expire(P, String(now))) as [Flat[], Flat[]];
      return released({ tasks: tasksOf(t), reservations: reservationsOf(r) });
    },
    nextExpiry: async () => {
      const replies = (await redis
        .multi()
        .zrange(`${P}task-lease`, 0, 0, 'WITHSCORES')
        .zrange(`${P}res-expiry`, 0, 0, 'WITHSCORES')
        .exec()) as Array<[Error | null, string[]]>;
      const scores = replies.flatMap(([err, r]) => {
        if (err) throw err;
        return r[1] === undefined ? [] : [Number(r[1])];
      });
      return scores.length === 0 ? null : Math.min(...scores);
    },
    markMerged: async (taskIds, now) => {
      const ids = unique(taskIds);
      if (ids.length === 0) return [];
      const merged = tasksOf((await markMerged(P, String(now), ...ids)) as Flat[]);
      runsChanged(merged);
      return merged;
    },
    assign: async (taskId, assignee, now) => {
      const out = (await assign(P, taskId, assignee ?? '', assignee === null ? '0' : '1', String(now))) as [
        string,
        unknown,
      ];
      if (out[0] === 'not_found') throw notFound('task', taskId);
      if (out[0] === 'conflict') {
        throw new TmuxClaudeError(
          'CONFLICT',
          `task ${JSON.stringify(taskId)} is claimed by ${String(out[1])}`,
          {
            hint: 'assign it once it is released, or after its lease runs out',
          },
        );
      }
      const task = toTask(toMap(out[1] as Flat));
      runsChanged([task]);
      return task;
    },
  };

  const reservations: ReservationStore = {
    reserve: async (req: ReserveRequest) => {
      const patterns = unique(req.patterns);
      for (let round = 0; round < MAX_ROUNDS; round += 1) {
        const [version, otherFlats] = (await reserveView(P, req.runId, req.holder, String(req.now))) as [
          string,
          Flat[],
        ];
        const clashing = reservationsOf(otherFlats).filter(
          (r) => r.mode === 'exclusive' || req.mode === 'exclusive',
        );
        const conflicts = overlapping(patterns, clashing);
        if (conflicts.length > 0) return { ok: false as const, conflicts };
        const out = (await reserveCommit(
          P,
          req.runId,
          req.holder,
          req.mode,
          String(req.now + req.ttlMs),
          String(req.now),
          version,
          patterns.length,
          ...patterns,
          ...patterns.map(() => newReservationId()),
        )) as [string, Flat[]?];
        if (out[0] === 'ok') {
          // In the order asked, like the other backend (not the creation order of renewed ones).
          return { ok: true as const, reservations: out[1]!.map((f) => stripSeq(toReservation(toMap(f)))) };
        }
        await backoff(round);
      }
      throw contended(`reserving files in run ${req.runId}`);
    },
    release: async (holder, patterns) => {
      const [released, notHeld] = (await releaseFiles(
        P,
        holder,
        patterns === undefined ? '1' : '0',
        ...unique(patterns ?? []),
      )) as [Flat[], string[]];
      const freed = reservationsOf(released);
      runsChanged(freed);
      return { released: freed, notHeld };
    },
    list: async ({ runId, holder, now }) => {
      const ids =
        runId !== undefined
          ? await redis.smembers(`${P}res-run:${runId}`)
          : holder !== undefined
            ? await redis.smembers(`${P}res-holder:${holder}`)
            : await redis.zrangebyscore(`${P}res-expiry`, `(${now}`, '+inf');
      const found = (
        await hgetallMany(
          redis,
          ids.map((id) => `${P}res:${id}`),
        )
      ).filter(
        (h) =>
          h.id !== undefined &&
          (runId === undefined || h.runId === runId) &&
          (holder === undefined || h.holder === holder) &&
          Number(h.expiresAt) > now,
      );
      return reservationsOf(found.map((h) => Object.entries(h).flat()));
    },
  };

  return { tasks, reservations };
}

function stripSeq(r: Reservation & { seq: number }): Reservation {
  const { seq: _seq, ...rest } = r;
  return rest;
}

function refusal<T>(out: [string, Flat?, ...unknown[]]): FenceOutcome<T> {
  const reason = out[0] as 'not_found' | 'stale_epoch' | 'not_holder' | 'expired' | 'not_claimed';
  if (reason === 'not_found') return { ok: false, reason };
  return { ok: false, reason, task: toTask(toMap(out[1]!)) };
}
