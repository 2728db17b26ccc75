/**
 * The `cxr-screen` queue adapter: the ingest enqueues through it, the ingest's backpressure and
 * the metrics read it. One of the few files that talk to BullMQ (Immich keeps one such adapter).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisClient, type RedisConnectionOptions } from './connection.js';
import { screenJobId } from './job-id.js';
import { SCREEN_CLAIM_TTL_SECONDS, screenRetryPolicy } from './job-options.js';
import { JobName, QueueName } from './names.js';
import { MAX_OBJECTS_PER_JOB, screenJobPayloadSchema, type ScreenJobPayload } from './payloads.js';
import { RESULT_ALIAS_KEY_INFIX } from './result-queue.js';

/**
 * Jobs per `cxrAddScreenJobs` call (one EVALSHA): one call took ~15-20 ms of Redis time in the
 * 1M-key bench, during which Redis serves no one else (workers' fetches and lock renewals wait);
 * larger calls would lengthen that pause for little gain (the per-call overhead is already small).
 */
export const ENQUEUE_CHUNK = 1000;
/** Calls in flight: 2 lets node build the next call while Redis runs the current one. */
export const ENQUEUE_CHUNKS_IN_FLIGHT = 2;
/** addBulk calls in flight on the `addBulk` path (DEPENDENCY_NOTES: 4 gave ~14-18k jobs/s). */
const ADD_BULK_CHUNKS_IN_FLIGHT = 4;

/**
 * `batchResultPending(objectId)`: whether the object's outcome travels in a `screen-results`
 * message (its alias `<results prefix>obj:<id>` names it, see ResultQueue) that is waiting, active
 * or delayed, i.e. neither finished nor gone. Expects `resultPrefix`, `resultCompletedKey` and
 * `resultFailedKey` in scope; included before REMOVE_IF_FINISHED_LUA and CLAIMS_LUA.
 */
const BATCH_RESULT_PENDING_LUA = `
local function batchResultPending(objectId)
  local batchId = redis.call("GET", resultPrefix .. "${RESULT_ALIAS_KEY_INFIX}" .. objectId)
  if not batchId then return false end
  if redis.call("EXISTS", resultPrefix .. batchId) == 0 then return false end
  return not (redis.call("ZSCORE", resultCompletedKey, batchId) or redis.call("ZSCORE", resultFailedKey, batchId))
end
`;

/**
 * The re-enqueue rule shared by ADD_SCREEN_JOBS_LUA and REMOVE_FINISHED_LUA: removes the job `jobId`
 * (hash, logs, its completed/failed set entry) when it is finished and its result message is not
 * pending (absent, or finished on `cxr-results`); returns whether it did. A finished result
 * message of the same id is removed with it: result messages are deduplicated by job id, so the
 * new screening's message would otherwise be dropped as a duplicate of the old one. Expects
 * `prefix`, `resultPrefix`, `completedKey`, `failedKey`, `resultCompletedKey` and
 * `resultFailedKey` in scope. A pending `screen-results` message holding the object's outcome
 * (BATCH_RESULT_PENDING_LUA) counts as its pending result message too.
 */
const REMOVE_IF_FINISHED_LUA = `
${BATCH_RESULT_PENDING_LUA}
local function removeIfFinished(jobId)
  local jobKey = prefix .. jobId
  if redis.call("EXISTS", jobKey) == 0 then return false end
  if not (redis.call("ZSCORE", completedKey, jobId) or redis.call("ZSCORE", failedKey, jobId)) then
    return false
  end
  if batchResultPending(jobId) then return false end
  local resultKey = resultPrefix .. jobId
  if redis.call("EXISTS", resultKey) == 1 then
    local resultFinished = redis.call("ZREM", resultCompletedKey, jobId) + redis.call("ZREM", resultFailedKey, jobId)
    if resultFinished == 0 then return false end
    redis.call("DEL", resultKey, resultKey .. ":logs")
  end
  redis.call("ZREM", completedKey, jobId)
  redis.call("ZREM", failedKey, jobId)
  redis.call("DEL", jobKey, jobKey .. ":logs")
  return true
end
`;

/**
 * Helpers of the per-object claims of multi-object jobs (see ADD_SCREEN_GROUPS_LUA), shared by
 * both add scripts: `finished(jobId)`, `resultPending(objectId)`, `dropFinishedResult(objectId)`
 * and `groupHolding(objectId)` (the id of the existing job named by the object's claim, or nil);
 * `resultPending` also sees a pending `screen-results` message (BATCH_RESULT_PENDING_LUA).
 * Expects `prefix`, `claimPrefix`, `resultPrefix`, `completedKey`, `failedKey`,
 * `resultCompletedKey` and `resultFailedKey` in scope.
 */
const CLAIMS_LUA = `
local function finished(jobId)
  return redis.call("ZSCORE", completedKey, jobId) or redis.call("ZSCORE", failedKey, jobId)
end
local function resultPending(objectId)
  if batchResultPending(objectId) then return true end
  if redis.call("EXISTS", resultPrefix .. objectId) == 0 then return false end
  return not (redis.call("ZSCORE", resultCompletedKey, objectId) or redis.call("ZSCORE", resultFailedKey, objectId))
end
local function dropFinishedResult(objectId)
  local resultKey = resultPrefix .. objectId
  redis.call("ZREM", resultCompletedKey, objectId)
  redis.call("ZREM", resultFailedKey, objectId)
  redis.call("DEL", resultKey, resultKey .. ":logs")
end
local function groupHolding(objectId)
  local group = redis.call("GET", claimPrefix .. objectId)
  if group and redis.call("EXISTS", prefix .. group) == 1 then return group end
  return nil
end
`;

/**
 * Adds a batch of jobs exactly as BullMQ 6.7's addStandardJob-9.lua (FIFO) and
 * addPrioritizedJob-9.lua (priority > 0) store them, for what this queue uses (no delay, parent,
 * repeat or deduplication options), and reports per job whether it was created (1) or already
 * existed (0). One call replaces one EVALSHA per job plus a read-back round trip: the per-call
 * overhead of BullMQ's script dominated Redis CPU (30-53 us per job). Atomic per call, so two
 * ingests racing on the same ids count every id exactly once as new. Per call: INCRBY of the id
 * counter by the batch size (BullMQ INCRs once per add, also for existing ids), `maxLenEvents`
 * and the paused/maxed check. Per new job: the job hash (name, data, opts, timestamp, delay,
 * priority) plus one lookup (see the script), the `added` event, LPUSH onto wait or ZADD onto
 * prioritized (score from the `pc` counter), the `waiting` event (trims the stream); an existing
 * id gets the `duplicated` event only. The marker is added once if any job was. screen-queue-enqueue.int.test.ts compares the
 * keys with BullMQ's own addBulk: re-run it when upgrading BullMQ.
 *
 *
 * Re-enqueue (`requeue` = 1 for a job): an id that exists but whose job is finished (completed or
 * failed) while its result message is not pending on `cxr-results` is removed first (job hash,
 * logs, its entry in the completed/failed set) and added anew, answered 2. The ingest asks for it
 * only for objects that have no final row in the store: a result lost on its way to the store
 * (the store down past the old result retry budget) is screened again, whatever the queue
 * remembers. A finished job whose result message still waits, runs or retries is left alone: its
 * row is on its way.
 *
 * KEYS: wait, meta, id, active, events, marker, prioritized, pc, completed, failed, and the
 * completed and failed sets of `cxr-results`. ARGV: job key prefix, job name, timestamp, the opts
 * JSON after `{"jobId":"<id>",` (and `"priority":<n>,`), the result job key prefix, the claim key
 * prefix, then per job: id, data JSON, priority (0 = none), requeue (0 or 1).
 *
 * An id held by a multi-object job (its claim names an existing job, see ADD_SCREEN_GROUPS_LUA) is
 * a duplicate too, re-enqueued by the same rule: whatever CXR_OBJECTS_PER_JOB an earlier ingest
 * used, an object is queued once.
 */
const ADD_SCREEN_JOBS_LUA = `
local rcall = redis.call
local waitKey, metaKey, idKey, activeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, markerKey, prioritizedKey, priorityCounterKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local completedKey, failedKey, resultCompletedKey, resultFailedKey = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local prefix, name, timestamp, optsTail, resultPrefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local claimPrefix = ARGV[6]
local n = (#ARGV - 6) / 4
${REMOVE_IF_FINISHED_LUA}
${CLAIMS_LUA}
local maxEvents = rcall("HGET", metaKey, "opts.maxLenEvents")
if not maxEvents then
  maxEvents = 10000
  rcall("HSET", metaKey, "opts.maxLenEvents", maxEvents)
end
rcall("INCRBY", idKey, n)
local pausedOrMaxed = false
local attributes = rcall("HMGET", metaKey, "paused", "concurrency")
if attributes[1] then
  pausedOrMaxed = true
elseif attributes[2] then
  pausedOrMaxed = rcall("LLEN", activeKey) >= tonumber(attributes[2])
end
local created = {}
local any = false
for i = 1, n do
  local at = 3 + 4 * i
  local jobId = ARGV[at]
  local jobKey = prefix .. jobId
  -- Held by a multi-object job (its claim): a duplicate, unless re-enqueued by the same rule.
  local group = groupHolding(jobId)
  local requeued = false
  if ARGV[at + 3] == "1" and (not group or (finished(group) and not resultPending(jobId))) then
    requeued = removeIfFinished(jobId)
    if group and rcall("EXISTS", jobKey) == 0 then
      dropFinishedResult(jobId)
      requeued = true
      group = nil
    end
  end
  if rcall("EXISTS", jobKey) == 1 or group then
    rcall("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "duplicated", "jobId", jobId)
    created[i] = 0
  else
    local priority = tonumber(ARGV[at + 2])
    local opts
    if priority > 0 then
      opts = '{"jobId":"' .. jobId .. '","priority":' .. priority .. ',' .. optsTail
    else
      opts = '{"jobId":"' .. jobId .. '",' .. optsTail
    end
    rcall("HMSET", jobKey, "name", name, "data", ARGV[at + 1], "opts", opts, "timestamp", timestamp,
      "delay", 0, "priority", priority)
    -- The 5th field doubled the hash's table; a lookup finishes the incremental rehash and frees
    -- the old table (32 bytes per waiting job otherwise, until a worker first reads the job).
    rcall("HEXISTS", jobKey, "name")
    rcall("XADD", eventsKey, "*", "event", "added", "jobId", jobId, "name", name)
    if priority > 0 then
      local score = priority * 0x100000000 + rcall("INCR", priorityCounterKey) % 0x100000000
      rcall("ZADD", prioritizedKey, score, jobId)
    else
      rcall("LPUSH", waitKey, jobId)
    end
    rcall("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", jobId)
    if requeued then created[i] = 2 else created[i] = 1 end
    any = true
  end
end
if any and not pausedOrMaxed then
  rcall("ZADD", markerKey, 0, "0")
end
return created
`;

/**
 * Adds objects as `screen-objects` jobs of up to `perJob` objects each, deduplicated and
 * re-enqueued per object, atomically (one call per chunk, like ADD_SCREEN_JOBS_LUA). Each object
 * keeps its own screen job id (`screenJobId`): its result message id, and the key of its claim,
 * `<prefix>cxr-screen:obj:<id>` -> the id of the job that holds it, set for CLAIM_TTL_SECONDS.
 *
 * Per object: it is a duplicate while a job holds it, that is while its single-object job exists
 * (a `/v1/predict` or pre-group job of the same id) or while the job its claim names exists.
 * With `requeue`, a held object is taken again when every job holding it is finished and its
 * result message is not pending (the rule of ADD_SCREEN_JOBS_LUA, per object): its finished single
 * job is removed (REMOVE_IF_FINISHED_LUA), its finished result message too, and the claim moves
 * to the new job; a finished multi-object job is left in place for its other objects.
 * The objects taken are packed, in order, into new jobs whose ids are `grp_` + 40 hex digits
 * (sha1 of the member ids and a counter: never reused). Each new job is stored as BullMQ 6.7's
 * addStandardJob stores a FIFO job (see ADD_SCREEN_JOBS_LUA), data = `{"objects":[...],` + the
 * shared tail. Answers per object 0 (duplicate), 1 (added) or 2 (re-enqueued).
 *
 * KEYS: wait, meta, id, active, events, marker, completed, failed, results completed, results
 * failed, group counter. ARGV: job key prefix, job name, timestamp, opts tail, result job key
 * prefix, claim key prefix, claim TTL seconds, objects per job, data tail (after `"objects":[...],`),
 * then per object: id, object JSON, requeue (0 or 1).
 */
const ADD_SCREEN_GROUPS_LUA = `
local rcall = redis.call
local waitKey, metaKey, idKey, activeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, markerKey = KEYS[5], KEYS[6]
local completedKey, failedKey, resultCompletedKey, resultFailedKey = KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local groupCounterKey = KEYS[11]
local prefix, name, timestamp, optsTail, resultPrefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local claimPrefix, claimTtl, perJob, dataTail = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local n = (#ARGV - 9) / 3
${REMOVE_IF_FINISHED_LUA}
${CLAIMS_LUA}
local maxEvents = rcall("HGET", metaKey, "opts.maxLenEvents")
if not maxEvents then
  maxEvents = 10000
  rcall("HSET", metaKey, "opts.maxLenEvents", maxEvents)
end
local pausedOrMaxed = false
local attributes = rcall("HMGET", metaKey, "paused", "concurrency")
if attributes[1] then
  pausedOrMaxed = true
elseif attributes[2] then
  pausedOrMaxed = rcall("LLEN", activeKey) >= tonumber(attributes[2])
end
local created = {}
local takenIds, takenJson = {}, {}
for i = 1, n do
  local at = 7 + 3 * i
  local objectId = ARGV[at]
  local single = rcall("EXISTS", prefix .. objectId) == 1
  local group = groupHolding(objectId)
  local grouped = group ~= nil
  local code = 0
  if not single and not grouped then
    code = 1
  elseif ARGV[at + 2] == "1" and (not single or finished(objectId)) and (not grouped or finished(group))
      and not resultPending(objectId) then
    if single then removeIfFinished(objectId) else dropFinishedResult(objectId) end
    code = 2
  end
  created[i] = code
  if code > 0 then
    takenIds[#takenIds + 1] = objectId
    takenJson[#takenJson + 1] = ARGV[at + 1]
  end
end
local jobs = 0
local first = 1
while first <= #takenIds do
  local last = math.min(first + perJob - 1, #takenIds)
  local ids, objects = {}, {}
  for k = first, last do
    ids[#ids + 1] = takenIds[k]
    objects[#objects + 1] = takenJson[k]
  end
  local counter = rcall("INCR", groupCounterKey)
  local jobId = "grp_" .. string.sub(redis.sha1hex(table.concat(ids, ",") .. "#" .. counter), 1, 40)
  local jobKey = prefix .. jobId
  local data = '{"objects":[' .. table.concat(objects, ",") .. '],' .. dataTail
  local opts = '{"jobId":"' .. jobId .. '",' .. optsTail
  rcall("HMSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", timestamp, "delay", 0,
    "priority", 0)
  rcall("HEXISTS", jobKey, "name")
  rcall("XADD", eventsKey, "*", "event", "added", "jobId", jobId, "name", name)
  rcall("LPUSH", waitKey, jobId)
  rcall("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", jobId)
  for k = 1, #ids do
    rcall("SET", claimPrefix .. ids[k], jobId, "EX", claimTtl)
  end
  jobs = jobs + 1
  first = last + 1
end
if jobs > 0 then
  rcall("INCRBY", idKey, jobs)
  if not pausedOrMaxed then rcall("ZADD", markerKey, 0, "0") end
end
return created
`;

/**
 * The re-enqueue rule of ADD_SCREEN_JOBS_LUA on its own, for the `addBulk` path: removes each
 * given id whose job is finished and whose result message is not pending; returns 1 per removed
 * id. KEYS: completed, failed, results completed, results failed. ARGV: job key prefix, result job
 * key prefix, then the ids.
 */
const REMOVE_FINISHED_LUA = `
local completedKey, failedKey, resultCompletedKey, resultFailedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, resultPrefix = ARGV[1], ARGV[2]
${REMOVE_IF_FINISHED_LUA}
local removed = {}
for i = 3, #ARGV do
  if removeIfFinished(ARGV[i]) then removed[i - 2] = 1 else removed[i - 2] = 0 end
end
return removed
`;

/** The ioredis client with the `cxrAddScreenJobs` and `cxrRemoveFinishedScreenJobs` commands. */
type AddScreenJobsClient = Redis & {
  cxrAddScreenJobs(...keysAndArgs: string[]): Promise<number[]>;
  cxrAddScreenGroups(...keysAndArgs: string[]): Promise<number[]>;
  cxrRemoveFinishedScreenJobs(...keysAndArgs: string[]): Promise<number[]>;
};

/** Where a queue lives: the connection (see `redisConnectionFromUrl`) and key prefix. */
export interface QueueLocation {
  readonly connection: RedisConnectionOptions;
  /** Redis key prefix (BullMQ's default is `bull`); tests use a random one each. */
  readonly prefix?: string;
}

/** Options of `ScreenQueue`. */
export interface ScreenQueueOptions extends QueueLocation {
  /**
   * Overrides of the retry policy (`screenRetryPolicy`): how long transient faults are retried,
   * the first backoff delay, or an explicit attempt count (tests shorten them).
   */
  readonly retry?: {
    readonly attempts?: number;
    readonly backoffDelayMs?: number;
    readonly budgetSeconds?: number;
  };
  /**
   * How `enqueueBulk` adds jobs: `script` (default, `cxrAddScreenJobs`) or
   * `addBulk` (BullMQ's addBulk + timestamp read-back, the pre-issue-4 path: the bench baseline,
   * and a fallback should the script's contract test fail after a BullMQ upgrade).
   */
  readonly enqueueVia?: 'script' | 'addBulk';
}

/** Result of `enqueueBulk`: how many jobs were new and how many already existed. */
export interface EnqueueResult {
  /** Jobs created, re-enqueued ones included. */
  readonly added: number;
  /** Of `added`: finished jobs removed and added anew (`requeueFinished`). */
  readonly requeued: number;
  /** Already in the queue (any state, incl. completed within retention) or repeated in the call. */
  readonly duplicates: number;
}

/** Job counts per BullMQ state; the `state` label of `cxr_queue_jobs`. */
export interface QueueCounts {
  readonly waiting: number;
  readonly prioritized: number;
  readonly active: number;
  readonly delayed: number;
  readonly completed: number;
  readonly failed: number;
}

const COUNTED_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

/** BullMQ's key prefix when none is configured. */
const BULLMQ_DEFAULT_PREFIX = 'bull';

/** Wait-list entries read from the tail by oldestWaitingAgeSeconds (LIFO predict jobs sit there too). */
const WAIT_TAIL_SCAN = 64;

/** BullMQ's prioritized zset score is priority * 2^32 + an insertion counter (getPriorityScore.lua). */
const PRIORITY_SCORE_BASE = 0x1_0000_0000;

/** `entries` in arrays of at most `size`, in insertion order. */
function chunked<K, V>(entries: Map<K, V>, size: number): [K, V][][] {
  const chunks: [K, V][][] = [];
  let chunk: [K, V][] = [];
  for (const entry of entries) {
    chunk.push(entry);
    if (chunk.length === size) {
      chunks.push(chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Adapter over the BullMQ `cxr-screen` queue. */
export class ScreenQueue {
  readonly #queue: Queue;
  readonly #redis: AddScreenJobsClient;
  /** The stored `opts` JSON after `{"jobId":"<id>",` (what BullMQ stores for the default options). */
  readonly #optsTail: string;
  readonly #enqueueVia: 'script' | 'addBulk';
  /** Key of `cxr-results` under the same prefix (BullMQ's `prefix:queue:suffix` layout). */
  readonly #resultQueueKey: (suffix: string) => string;

  constructor(options: ScreenQueueOptions) {
    const redis = createRedisClient(options.connection);
    redis.defineCommand('cxrAddScreenJobs', { numberOfKeys: 12, lua: ADD_SCREEN_JOBS_LUA });
    redis.defineCommand('cxrAddScreenGroups', { numberOfKeys: 11, lua: ADD_SCREEN_GROUPS_LUA });
    redis.defineCommand('cxrRemoveFinishedScreenJobs', { numberOfKeys: 4, lua: REMOVE_FINISHED_LUA });
    this.#redis = redis as AddScreenJobsClient;
    const retry = options.retry;
    const defaultJobOptions = screenRetryPolicy({
      ...(retry?.attempts !== undefined ? { attempts: retry.attempts } : {}),
      ...(retry?.backoffDelayMs !== undefined ? { firstDelayMs: retry.backoffDelayMs } : {}),
      ...(retry?.budgetSeconds !== undefined ? { budgetSeconds: retry.budgetSeconds } : {}),
    });
    this.#optsTail = JSON.stringify(defaultJobOptions).slice(1);
    this.#enqueueVia = options.enqueueVia ?? 'script';
    const resultQueueBase = `${options.prefix ?? BULLMQ_DEFAULT_PREFIX}:${QueueName.Results}:`;
    this.#resultQueueKey = (suffix) => resultQueueBase + suffix;
    this.#queue = new Queue(QueueName.Screen, {
      connection: this.#redis,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      defaultJobOptions,
    });
    // BullMQ forwards its client's connection errors here; with no listener it prints each one
    // raw to stderr (a stack per reconnect attempt while Redis is down). The client's own
    // listener reports them (see createRedisClient).
    this.#queue.on('error', () => undefined);
  }

  /**
   * Validates and enqueues payloads with deterministic job ids (`screenJobId`) and reports new vs
   * duplicate. `forceNonce` (e.g. the run id) re-screens everything. Holds the payloads of one call
   * in memory: the ingest calls it per listing chunk.
   *
   * Jobs go through `cxrAddScreenJobs` (see ADD_SCREEN_JOBS_LUA): one script call per
   * ENQUEUE_CHUNK jobs that adds each absent id and says which ids it created, atomically, so the
   * counts stay exact when two ingests race on the same ids. `enqueueVia: 'addBulk'` uses
   * BullMQ's addBulk instead, see `#addViaAddBulk`.
   */
  async enqueueBulk(
    payloads: Iterable<ScreenJobPayload>,
    options: {
      readonly forceNonce?: string;
      /**
       * Re-enqueue jobs that are finished while their result message is not pending (see
       * ADD_SCREEN_JOBS_LUA): the ingest sets it for objects that have no final row in the store.
       */
      readonly requeueFinished?: boolean;
      /**
       * CXR_OBJECTS_PER_JOB: above 1, objects go into `screen-objects` jobs of up to this many
       * (ADD_SCREEN_GROUPS_LUA; dedupe and re-enqueue stay per object); payloads with a priority
       * still get one job each. Default 1: one `screen-object` job per object.
       */
      readonly objectsPerJob?: number;
    } = {},
  ): Promise<EnqueueResult> {
    const perJob = options.objectsPerJob ?? 1;
    if (!Number.isInteger(perJob) || perJob < 1 || perJob > MAX_OBJECTS_PER_JOB) {
      throw new RangeError(`objectsPerJob must be an integer in 1..${MAX_OBJECTS_PER_JOB}, got ${perJob}`);
    }
    const unique = new Map<string, ScreenJobPayload>();
    let duplicates = 0;
    for (const raw of payloads) {
      const payload = screenJobPayloadSchema.parse(raw);
      const id = screenJobId(
        payload.uri,
        payload.etag ?? payload.size,
        payload.modelId,
        payload.modelVersion,
        options.forceNonce,
      );
      if (unique.has(id)) duplicates += 1;
      else unique.set(id, payload);
    }
    const chunks = chunked(unique, ENQUEUE_CHUNK);
    const viaScript = this.#enqueueVia === 'script';
    // BullMQ writes the queue's meta (version) once its client is ready; the script relies on it.
    if ((viaScript || perJob > 1) && chunks.length > 0) await this.#queue.waitUntilReady();
    let added = 0;
    let requeued = 0;
    let next = 0;
    const requeue = options.requeueFinished === true;
    const lane = async (): Promise<void> => {
      for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
        const created =
          perJob > 1
            ? await this.#addGroupsViaScript(chunk, requeue, perJob)
            : viaScript
              ? await this.#addViaScript(chunk, requeue)
              : await this.#addViaAddBulk(chunk, requeue);
        added += created.added;
        requeued += created.requeued;
        duplicates += chunk.length - created.added;
      }
    };
    const lanes = viaScript ? ENQUEUE_CHUNKS_IN_FLIGHT : ADD_BULK_CHUNKS_IN_FLIGHT;
    await Promise.all(Array.from({ length: Math.min(lanes, chunks.length) }, lane));
    return { added, requeued, duplicates };
  }

  /** Keys and ARGV head of the re-enqueue rule: the finished sets of both queues, and the prefixes. */
  #finishedKeys(): { keys: string[]; resultPrefix: string } {
    const results = this.#resultQueueKey;
    return {
      keys: [
        this.#queue.toKey('completed'),
        this.#queue.toKey('failed'),
        results('completed'),
        results('failed'),
      ],
      resultPrefix: results(''),
    };
  }

  /** One `cxrAddScreenJobs` call; returns how many of the ids it created, and re-created. */
  async #addViaScript(
    chunk: readonly [string, ScreenJobPayload][],
    requeue: boolean,
  ): Promise<{ added: number; requeued: number }> {
    const finished = this.#finishedKeys();
    const args: string[] = [
      this.#queue.toKey('wait'),
      this.#queue.toKey('meta'),
      this.#queue.toKey('id'),
      this.#queue.toKey('active'),
      this.#queue.toKey('events'),
      this.#queue.toKey('marker'),
      this.#queue.toKey('prioritized'),
      this.#queue.toKey('pc'),
      ...finished.keys,
      this.#queue.toKey(''),
      JobName.ScreenObject,
      String(Date.now()),
      this.#optsTail,
      finished.resultPrefix,
      this.#queue.toKey('obj:'),
    ];
    const flag = requeue ? '1' : '0';
    for (const [jobId, data] of chunk) {
      args.push(jobId, JSON.stringify(data), String(data.priority ?? 0), flag);
    }
    let created: number[];
    try {
      created = await this.#redis.cxrAddScreenJobs(...args);
    } catch (cause) {
      throw new Error(`enqueue of ${chunk.length} jobs on ${QueueName.Screen} failed`, { cause });
    }
    if (created.length !== chunk.length) {
      throw new Error(
        `enqueue on ${QueueName.Screen}: script answered ${created.length} of ${chunk.length} jobs`,
      );
    }
    let added = 0;
    let requeued = 0;
    for (const code of created) {
      if (code > 0) added += 1;
      if (code === 2) requeued += 1;
    }
    return { added, requeued };
  }

  /**
   * Objects of one chunk in `screen-objects` jobs (ADD_SCREEN_GROUPS_LUA): one call per set of
   * objects sharing run, model, time and force flag (one per ingest chunk); payloads with a
   * priority go through `#addViaScript`, one job each.
   */
  async #addGroupsViaScript(
    chunk: readonly [string, ScreenJobPayload][],
    requeue: boolean,
    perJob: number,
  ): Promise<{ added: number; requeued: number }> {
    const singles: [string, ScreenJobPayload][] = [];
    const byTail = new Map<string, [string, ScreenJobPayload][]>();
    for (const entry of chunk) {
      const [, data] = entry;
      if (data.priority !== undefined) {
        singles.push(entry);
        continue;
      }
      // The payload fields after `"objects":[...],`: the same for every object of an ingest chunk.
      const tail = JSON.stringify({
        runId: data.runId,
        modelId: data.modelId,
        modelVersion: data.modelVersion,
        enqueuedAt: data.enqueuedAt,
        ...(data.force === true ? { force: true } : {}),
      }).slice(1);
      const members = byTail.get(tail);
      if (members === undefined) byTail.set(tail, [entry]);
      else members.push(entry);
    }
    let added = 0;
    let requeued = 0;
    if (singles.length > 0) {
      const single = await this.#addViaScript(singles, requeue);
      added += single.added;
      requeued += single.requeued;
    }
    const finished = this.#finishedKeys();
    const flag = requeue ? '1' : '0';
    for (const [tail, members] of byTail) {
      const args: string[] = [
        this.#queue.toKey('wait'),
        this.#queue.toKey('meta'),
        this.#queue.toKey('id'),
        this.#queue.toKey('active'),
        this.#queue.toKey('events'),
        this.#queue.toKey('marker'),
        ...finished.keys,
        this.#queue.toKey('cxr-group-id'),
        this.#queue.toKey(''),
        JobName.ScreenObjects,
        String(Date.now()),
        this.#optsTail,
        finished.resultPrefix,
        this.#queue.toKey('obj:'),
        String(SCREEN_CLAIM_TTL_SECONDS),
        String(perJob),
        tail,
      ];
      for (const [id, data] of members) {
        const object = {
          id,
          uri: data.uri,
          ...(data.etag !== undefined ? { etag: data.etag } : {}),
          size: data.size,
        };
        args.push(id, JSON.stringify(object), flag);
      }
      let created: number[];
      try {
        created = await this.#redis.cxrAddScreenGroups(...args);
      } catch (cause) {
        throw new Error(`enqueue of ${members.length} objects on ${QueueName.Screen} failed`, { cause });
      }
      if (created.length !== members.length) {
        throw new Error(
          `enqueue on ${QueueName.Screen}: script answered ${created.length} of ${members.length} objects`,
        );
      }
      for (const code of created) {
        if (code > 0) added += 1;
        if (code === 2) requeued += 1;
      }
    }
    return { added, requeued };
  }

  /**
   * `enqueueVia: 'addBulk'`: BullMQ's addBulk; returns how many jobs it created.
   * addBulk returns a Job for every entry, also for ids that already existed, with client-side
   * fields, so the stored `timestamp` of each id is read back and compared with the Job's: equal
   * means this call created it (wrong only if an older add of the same id happened in the very
   * same millisecond); a job already gone by then (ours, finished very fast) counts as added.
   */
  async #addViaAddBulk(
    chunk: readonly [string, ScreenJobPayload][],
    requeue: boolean,
  ): Promise<{ added: number; requeued: number }> {
    try {
      let requeued = 0;
      if (requeue) {
        const finished = this.#finishedKeys();
        const removed = await this.#redis.cxrRemoveFinishedScreenJobs(
          ...finished.keys,
          this.#queue.toKey(''),
          finished.resultPrefix,
          ...chunk.map(([jobId]) => jobId),
        );
        for (const flag of removed) requeued += flag;
      }
      const jobs = await this.#queue.addBulk(
        chunk.map(([jobId, data]) => ({
          name: JobName.ScreenObject,
          data,
          opts: { jobId, ...(data.priority !== undefined ? { priority: data.priority } : {}) },
        })),
      );
      const pipeline = this.#redis.pipeline();
      for (const [jobId] of chunk) pipeline.hget(this.#queue.toKey(jobId), 'timestamp');
      const replies = (await pipeline.exec()) ?? [];
      let created = 0;
      replies.forEach(([error, stored], i) => {
        if (error !== null) throw error;
        if (stored === null || Number(stored) === jobs[i]?.timestamp) created += 1;
      });
      return { added: created, requeued };
    } catch (cause) {
      throw new Error(`enqueue of ${chunk.length} jobs on ${QueueName.Screen} failed`, { cause });
    }
  }

  /** Job counts per state. */
  async counts(): Promise<QueueCounts> {
    const counts = await this.#queue.getJobCounts(...COUNTED_STATES);
    return {
      waiting: counts.waiting ?? 0,
      prioritized: counts.prioritized ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  /**
   * Age of the oldest job waiting to start (wait list and prioritized set), 0 when none waits.
   * The wait list is FIFO with the oldest job at the tail, except that `/v1/predict` jobs are
   * added LIFO, also at the tail: so the last WAIT_TAIL_SCAN entries are read and the oldest of
   * them counts (exact while fewer predict jobs than that wait at once). In the prioritized set
   * the oldest job of each priority level is that level's first member, so the candidates are
   * the first member of the highest and of the lowest level: exact with up to two priority levels
   * in use, a lower bound with more.
   */
  async oldestWaitingAgeSeconds(now: number = Date.now()): Promise<number> {
    const client = this.#redis;
    const waitKey = this.#queue.toKey('wait');
    const prioritizedKey = this.#queue.toKey('prioritized');
    const [tail, highest, lowest] = await Promise.all([
      client.lrange(waitKey, -WAIT_TAIL_SCAN, -1),
      client.zrange(prioritizedKey, 0, 0),
      client.zrange(prioritizedKey, -1, -1, 'WITHSCORES'),
    ]);
    const candidates: (string | undefined)[] = [...tail, highest[0]];
    const lowestScore = lowest[1];
    if (lowestScore !== undefined) {
      const levelStart = Math.floor(Number(lowestScore) / PRIORITY_SCORE_BASE) * PRIORITY_SCORE_BASE;
      const [firstOfLowest] = await client.zrangebyscore(prioritizedKey, levelStart, '+inf', 'LIMIT', 0, 1);
      candidates.push(firstOfLowest);
    }
    const ids = candidates.filter((id): id is string => id !== undefined);
    if (ids.length === 0) return 0;
    const pipeline = client.pipeline();
    for (const id of ids) pipeline.hget(this.#queue.toKey(id), 'timestamp');
    let oldest = Infinity;
    for (const [error, stored] of (await pipeline.exec()) ?? []) {
      if (error === null && typeof stored === 'string') oldest = Math.min(oldest, Number(stored));
    }
    return oldest === Infinity ? 0 : Math.max(0, (now - oldest) / 1000);
  }

  /** Resolves once fewer than `highWater` jobs wait (waiting + prioritized): ingest backpressure. */
  async waitUntilBelow(
    highWater: number,
    options: { readonly pollMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<void> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      options.signal?.throwIfAborted();
      const { waiting = 0, prioritized = 0 } = await this.#queue.getJobCounts('waiting', 'prioritized');
      if (waiting + prioritized < highWater) return;
      await new Promise<void>((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Deletes the queue and all its jobs (tests, admin); without `force` refuses active jobs. */
  async obliterate(options: { readonly force?: boolean } = {}): Promise<void> {
    await this.#queue.obliterate({ force: options.force ?? false });
  }

  /** Closes the Redis connection. */
  async close(): Promise<void> {
    await this.#queue.close();
    await this.#redis.quit();
  }
}
