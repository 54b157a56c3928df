/**
 * The Ed25519 check of execution grants (protocol 5), placed by load:
 *
 * - **A few calls in flight**: checked inline. The check is about 0.1 ms of
 *   CPU; handing it to another thread would cost more than that in wake-ups.
 * - **Many calls in flight** ({@link BATCH_FROM_IN_FLIGHT} or more): queued,
 *   and the queue goes once per event-loop turn as one message to a worker
 *   thread shared by every client of the process, which answers with one
 *   message per batch. The event loop stays free for the other calls, and the
 *   thread hops are paid per batch, not per grant. While the worker boots,
 *   checks run inline.
 *
 * Either way the answer is the same Ed25519 check (ed25519.ts: libsodium or
 * node:crypto, whichever is in use) on the same bytes and key. If the
 * worker cannot start, crashes, stops answering or cannot be sent a job, the
 * checks it held run inline: a grant is never taken as verified without a check.
 */
import type { KeyObject } from "node:crypto";
import * as timers from "node:timers";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { GROUP_ORDER_HEX, SMALL_ORDER_KEYS, sodiumModulePath, verifyEd25519 } from "./ed25519.js";

/** One grant to check: the signing input (`header.payload`, ASCII) and the base64url signature. */
interface Job {
  key: KeyObject;
  signingInput: string;
  signature: string;
  resolve: (valid: boolean) => void;
}

/** Runs in the worker: CommonJS source, so it needs no file of its own in either build. */
// The same rules as verifyEd25519 (ed25519.ts): 64 bytes, S < L, then libsodium when
// the batch names it, else node:crypto with the small-order keys refused.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { verify } = require("node:crypto");
const L = Buffer.from("${GROUP_ORDER_HEX}", "hex");
const SMALL = new Set(${JSON.stringify([...SMALL_ORDER_KEYS])});
const keys = new Map();
let sodium;
function canonicalS(sig) {
  for (let i = 31; i >= 0; i--) if (sig[32 + i] !== L[i]) return sig[32 + i] < L[i];
  return false;
}
function check(key, message, signature) {
  const sig = Buffer.from(signature, "base64url");
  if (sig.length !== 64 || !canonicalS(sig)) return false;
  const raw = key.raw;
  if (raw.length !== 32) return false;
  const data = Buffer.from(message, "latin1");
  if (sodium !== undefined) return sodium.crypto_sign_verify_detached(sig, data, raw);
  if (SMALL.has(raw.toString("hex"))) return false;
  return verify(null, data, key.key, sig);
}
parentPort.on("message", (batch) => {
  if (batch.reset === true) keys.clear();
  if (batch.keys !== undefined)
    for (const [id, key] of batch.keys) keys.set(id, { key, raw: Buffer.from(key.export({ format: "jwk" }).x || "", "base64url") });
  if (typeof batch.sodium === "string" && sodium === undefined) sodium = require(batch.sodium);
  if (batch.sodium === null) sodium = undefined;
  const jobs = batch.jobs;
  const valid = new Uint8Array(jobs.length / 3);
  for (let i = 0; i < valid.length; i++) {
    const key = keys.get(jobs[3 * i]);
    try {
      valid[i] = key !== undefined && check(key, jobs[3 * i + 1], jobs[3 * i + 2]) ? 1 : 0;
    } catch {
      valid[i] = 0;
    }
  }
  // keys and sodium: what the worker holds and runs on, read by tests only.
  parentPort.postMessage({ seq: batch.seq, valid, keys: keys.size, sodium: sodium !== undefined });
});
`;

/** Checks one signature on this thread. */
export function verifyInline(signingInput: string, signature: string, key: KeyObject): boolean {
  return verifyEd25519(signingInput, signature, key);
}

// Taken once, at load: fake timers installed later by the caller's tests (jest, sinon,
// vitest) replace the global functions and even node:timers' exports, and must not
// stall grant checks.
const { setImmediate, setTimeout, clearTimeout } = timers;

/** After this many worker failures in a row (no batch answered between them) the process checks every grant inline. */
const MAX_WORKER_FAILURES = 3;
/** A batch unanswered this long means the worker is stuck: it is dropped and the batch checked inline. */
const BATCH_DEADLINE_MS = 5_000;
/** Keys one worker may hold; past it the worker's key map starts over (keys are re-sent as needed). */
const MAX_WORKER_KEYS = 32;

/** @internal */
export interface BatchVerifierOptions {
  /** @default 5_000 */
  batchDeadlineMs?: number;
  /**
   * Tests: starts the worker thread, so that a test can make it fail to start or
   * hand it faults at a chosen moment.
   * @default (source, options) => new Worker(source, options)
   */
  newWorker?: (source: string, options: WorkerOptions) => Worker;
}

/**
 * Calls in flight from which a grant check is batched to the worker rather than
 * run inline: below it the event loop is not busy enough for a 0.1 ms check to
 * matter, and a round trip to the worker would only add latency.
 */
export const BATCH_FROM_IN_FLIGHT = 4;

interface Batch {
  jobs: Job[];
  deadline: NodeJS.Timeout;
}

/**
 * The shared worker and its queue. Exported for tests only.
 * @internal
 */
export class BatchVerifier {
  /** The worker, booting or online. */
  #worker: Worker | undefined;
  /** The same worker once it runs: jobs wait for it only then; while it boots, checks run inline. */
  #online: Worker | undefined;
  #failures = 0;
  #queue: Job[] = [];
  #flushScheduled = false;
  readonly #sent = new Map<number, Batch>();
  #seq = 0;
  /** Key ids as this worker knows them; a new worker (or a reset) starts a new map. */
  #keyIds = new WeakMap<KeyObject, number>();
  #keysSent = 0;
  #nextKeyId = 1;
  /** Settles once #worker is online or gone. */
  #whenOnline: Promise<void> = Promise.resolve();
  readonly #deadlineMs: number;
  readonly #newWorker: (source: string, options: WorkerOptions) => Worker;

  constructor(options: BatchVerifierOptions = {}) {
    this.#deadlineMs = options.batchDeadlineMs ?? BATCH_DEADLINE_MS;
    this.#newWorker = options.newWorker ?? ((source, workerOptions) => new Worker(source, workerOptions));
  }

  /** Batches in the worker now. */
  get pending(): number {
    return this.#sent.size;
  }

  /** Whether the worker is given up on (checks run inline). */
  get disabled(): boolean {
    return this.#failures >= MAX_WORKER_FAILURES;
  }

  /**
   * Checks one signature: in the worker with the other checks of this
   * event-loop turn, or inline while the worker boots or if it is given up on.
   */
  verify(signingInput: string, signature: string, key: KeyObject): Promise<boolean> {
    if (this.#online === undefined) {
      this.#boot();
      return Promise.resolve(verifyInline(signingInput, signature, key));
    }
    return new Promise((resolve) => {
      this.#queue.push({ key, signingInput, signature, resolve });
      if (!this.#flushScheduled) {
        setImmediate(() => {
          this.#flush();
        });
        this.#flushScheduled = true;
      }
    });
  }

  /** Starts the worker if none runs; resolves once it is online (tests, and warm-up). */
  boot(): Promise<void> {
    this.#boot();
    const worker = this.#worker;
    if (worker === undefined || this.#online === worker) return Promise.resolve();
    // Someone waits for it: the process stays up until it is online. No batch can be
    // out by then (jobs wait for the worker only once it is online), so it goes idle.
    worker.ref();
    return this.#whenOnline.then(() => {
      worker.unref();
    });
  }

  #boot(): void {
    if (this.#worker !== undefined || this.disabled) return;
    try {
      this.#start();
    } catch {
      this.#fail();
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const jobs = this.#queue;
    this.#queue = [];
    // A flush is scheduled by a job's arrival, so it always has jobs.
    const worker = this.#online;
    if (worker === undefined) {
      runInline(jobs);
      return;
    }
    let reset = false;
    if (this.#keysSent >= MAX_WORKER_KEYS) {
      // Earlier batches were posted first and are checked with the old keys.
      this.#keyIds = new WeakMap();
      this.#keysSent = 0;
      reset = true;
    }
    const newKeys: [number, KeyObject][] = [];
    const flat: (number | string)[] = [];
    for (const job of jobs) {
      let id = this.#keyIds.get(job.key);
      if (id === undefined) {
        id = this.#nextKeyId++;
        this.#keyIds.set(job.key, id);
        this.#keysSent++;
        newKeys.push([id, job.key]);
      }
      flat.push(id, job.signingInput, job.signature);
    }
    const seq = ++this.#seq;
    try {
      worker.postMessage({
        seq,
        jobs: flat,
        // The backend of this moment: a path to require once, or null for node:crypto.
        sodium: sodiumModulePath() ?? null,
        ...(newKeys.length === 0 ? {} : { keys: newKeys }),
        ...(reset ? { reset } : {}),
      });
    } catch {
      // The keys may not have reached the worker: forget them with it.
      this.#fail();
      runInline(jobs);
      return;
    }
    // Cleared when the batch is answered or the worker is dropped: if it fires, the batch is still out.
    const deadline = setTimeout(() => {
      this.#fail();
    }, this.#deadlineMs);
    deadline.unref();
    // While it holds a batch, the worker keeps the process alive (ref() is idempotent).
    worker.ref();
    this.#sent.set(seq, { jobs, deadline });
  }

  #start(): void {
    const worker = this.#newWorker(WORKER_SOURCE, { eval: true, name: "decionis grant verifier" });
    this.#worker = worker;
    this.#keyIds = new WeakMap();
    this.#keysSent = 0;
    this.#whenOnline = new Promise((resolve) => {
      worker.once("online", () => {
        if (this.#worker === worker) this.#online = worker;
        resolve();
      });
      // A worker that dies booting must not leave boot() waiting.
      worker.once("exit", () => {
        resolve();
      });
    });
    worker.on("message", (message: { seq: number; valid: Uint8Array }) => {
      this.#settle(worker, message);
    });
    const lost = (): void => {
      if (this.#worker === worker) this.#fail();
    };
    worker.on("error", lost);
    worker.on("messageerror", lost);
    worker.on("exit", lost);
    // Idle, it must not keep the process alive; it is ref'd while it holds a batch. Last:
    // a "message" listener added after unref() would ref its port again.
    worker.unref();
  }

  #settle(worker: Worker, message: { seq: number; valid: Uint8Array }): void {
    // Only the current worker's batches are out (#fail clears them) and seq is never reused,
    // so a dropped worker's late answer finds nothing here. This is where an answer becomes
    // "valid": the worker is compared as well, so that neither rule alone stands between a
    // stale answer and another batch's grants (its mutants are equivalent by design).
    const batch = this.#sent.get(message.seq);
    if (batch === undefined || this.#worker !== worker) return;
    this.#sent.delete(message.seq);
    clearTimeout(batch.deadline);
    if (this.#sent.size === 0) worker.unref();
    const { jobs } = batch;
    const valid = message.valid;
    // An answer of the wrong shape is no answer: check those grants here.
    if (!(valid instanceof Uint8Array) || valid.length !== jobs.length) {
      runInline(jobs);
      return;
    }
    for (let i = 0; i < jobs.length; i++) jobs[i]!.resolve(valid[i] === 1);
    this.#failures = 0;
  }

  /** The worker is gone or unusable: what it held is checked inline; a later call starts a new one. */
  #fail(): void {
    this.#failures++;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#online = undefined;
    const held = [...this.#sent.values()];
    this.#sent.clear();
    if (worker !== undefined) void worker.terminate().catch(() => undefined);
    for (const batch of held) {
      clearTimeout(batch.deadline);
      runInline(batch.jobs);
    }
  }

  /** Tests: stop the worker as if it had crashed. */
  crashForTest(): Promise<number> {
    return this.#worker?.terminate() ?? Promise.resolve(0);
  }

  /** Tests: make the worker stop answering (it keeps running). */
  stallForTest(): void {
    this.#worker?.removeAllListeners("message");
  }

  /** Tests: the worker, booting or online, to hand it faults (emit its events, break its postMessage). */
  workerForTest(): Worker | undefined {
    return this.#worker;
  }
}

function runInline(jobs: readonly Job[]): void {
  for (const job of jobs) job.resolve(verifyInline(job.signingInput, job.signature, job.key));
}

/** One per copy of the library (ESM and CommonJS each have theirs). */
export const batchVerifier = new BatchVerifier();
