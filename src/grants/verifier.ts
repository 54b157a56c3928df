/**
 * The Ed25519 check of execution grants (protocol 5), placed by load:
 *
 * - **One call at a time**: checked inline. The check is about 95 µs of CPU;
 *   handing it to another thread costs more than that in wake-ups.
 * - **Calls overlapping**: queued, and the queue goes once per event-loop turn
 *   as one message to a worker thread shared by every client of the process,
 *   which answers with one message per batch. The event loop stays free for
 *   other calls, and the thread hops are paid per batch, not per grant.
 *
 * Either way the answer is `crypto.verify` on the same bytes and key. If the
 * worker cannot start, crashes or cannot be sent a job, the checks it held run
 * inline: a grant is never taken as verified without a check.
 */
import { verify, type KeyObject } from "node:crypto";
import { Worker } from "node:worker_threads";

/** One grant to check: the signing input (`header.payload`, ASCII) and the base64url signature. */
interface Job {
  keyId: number;
  key: KeyObject;
  signingInput: string;
  signature: string;
  resolve: (valid: boolean) => void;
}

/** Runs in the worker: CommonJS source, so it needs no file of its own in either build. */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { verify } = require("node:crypto");
const keys = new Map();
parentPort.on("message", (batch) => {
  if (batch.keys !== undefined) for (const [id, key] of batch.keys) keys.set(id, key);
  const jobs = batch.jobs;
  const valid = new Uint8Array(jobs.length / 3);
  for (let i = 0; i < valid.length; i++) {
    const key = keys.get(jobs[3 * i]);
    try {
      valid[i] = key !== undefined &&
        verify(null, Buffer.from(jobs[3 * i + 1], "latin1"), key, Buffer.from(jobs[3 * i + 2], "base64url")) ? 1 : 0;
    } catch {
      valid[i] = 0;
    }
  }
  parentPort.postMessage({ seq: batch.seq, valid });
});
`;

/** Checks one signature on this thread. */
export function verifyInline(signingInput: string, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(signingInput, "latin1"), key, Buffer.from(signature, "base64url"));
  } catch {
    return false;
  }
}

/** After this many worker failures the process checks every grant inline. */
const MAX_WORKER_FAILURES = 3;

/**
 * The shared worker and its queue. Exported for tests only.
 * @internal
 */
export class BatchVerifier {
  #worker: Worker | undefined;
  #failures = 0;
  #queue: Job[] = [];
  #flushScheduled = false;
  readonly #sent = new Map<number, Job[]>();
  #seq = 0;
  /** Key ids as this worker knows them; a new worker starts a new map. */
  #keyIds = new WeakMap<KeyObject, number>();
  #nextKeyId = 1;

  /** Batches in the worker now. */
  get pending(): number {
    return this.#sent.size;
  }

  /** Whether the worker is given up on (checks run inline). */
  get disabled(): boolean {
    return this.#failures >= MAX_WORKER_FAILURES;
  }

  verify(signingInput: string, signature: string, key: KeyObject): Promise<boolean> {
    if (this.disabled) return Promise.resolve(verifyInline(signingInput, signature, key));
    return new Promise((resolve) => {
      this.#queue.push({ keyId: 0, key, signingInput, signature, resolve });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    let worker: Worker;
    try {
      worker = this.#start();
    } catch {
      this.#fail();
      runInline(jobs);
      return;
    }
    const newKeys: [number, KeyObject][] = [];
    const flat: (number | string)[] = [];
    for (const job of jobs) {
      let id = this.#keyIds.get(job.key);
      if (id === undefined) {
        id = this.#nextKeyId++;
        this.#keyIds.set(job.key, id);
        newKeys.push([id, job.key]);
      }
      job.keyId = id;
      flat.push(id, job.signingInput, job.signature);
    }
    const seq = ++this.#seq;
    try {
      worker.postMessage(newKeys.length === 0 ? { seq, jobs: flat } : { seq, jobs: flat, keys: newKeys });
    } catch {
      // The keys may not have reached the worker: forget them with it.
      this.#fail();
      runInline(jobs);
      return;
    }
    if (this.#sent.size === 0) worker.ref();
    this.#sent.set(seq, jobs);
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: "decionis grant verifier" });
    // Idle, it must not keep the process alive; it is ref'd while it holds a batch.
    worker.unref();
    worker.on("message", (message: { seq: number; valid: Uint8Array }) => {
      this.#settle(worker, message);
    });
    const lost = (): void => {
      if (this.#worker !== worker) return;
      this.#fail();
    };
    worker.on("error", lost);
    worker.on("messageerror", lost);
    worker.on("exit", lost);
    this.#worker = worker;
    this.#keyIds = new WeakMap();
    this.#nextKeyId = 1;
    return worker;
  }

  #settle(worker: Worker, message: { seq: number; valid: Uint8Array }): void {
    const jobs = this.#sent.get(message.seq);
    if (jobs === undefined || this.#worker !== worker) return;
    this.#sent.delete(message.seq);
    if (this.#sent.size === 0) worker.unref();
    const valid = message.valid;
    // An answer of the wrong shape is no answer: check those grants here.
    if (!(valid instanceof Uint8Array) || valid.length !== jobs.length) {
      runInline(jobs);
      return;
    }
    for (let i = 0; i < jobs.length; i++) jobs[i]!.resolve(valid[i] === 1);
  }

  /** The worker is gone or unusable: what it held is checked inline; a later batch starts a new one. */
  #fail(): void {
    this.#failures++;
    const worker = this.#worker;
    this.#worker = undefined;
    const held = [...this.#sent.values()];
    this.#sent.clear();
    if (worker !== undefined) {
      worker.removeAllListeners("message");
      void worker.terminate().catch(() => undefined);
    }
    for (const jobs of held) runInline(jobs);
  }

  /** Tests: stop the worker as if it had crashed. */
  crashForTest(): Promise<number> {
    return this.#worker?.terminate() ?? Promise.resolve(0);
  }
}

function runInline(jobs: readonly Job[]): void {
  for (const job of jobs) job.resolve(verifyInline(job.signingInput, job.signature, job.key));
}

/** One per copy of the library (ESM and CommonJS each have theirs). */
export const batchVerifier = new BatchVerifier();
