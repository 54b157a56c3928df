/**
 * Outcome receipts (protocol 6): after an allowed call finishes, what happened
 * is posted for the dossier — in the background, through a bounded queue, so
 * it never delays or fails the caller. `flush()` waits for what is queued.
 */
import type { WireOutcome } from "./gateway/wire.js";

/** @internal */
export interface OutcomeJob {
  decisionId: string;
  outcome: WireOutcome;
}

/** @internal */
export class OutcomeQueue {
  readonly #pending: OutcomeJob[] = [];
  #running = 0;
  readonly #idle: (() => void)[] = [];

  constructor(
    private readonly send: (job: OutcomeJob) => Promise<unknown>,
    private readonly onError: (error: unknown, job: OutcomeJob) => void,
    private readonly limits = { maxQueued: 1_000, concurrency: 4 },
  ) {}

  /** Queues a report; when the queue is full the report is dropped and `onError` told. */
  push(job: OutcomeJob): void {
    if (this.#pending.length >= this.limits.maxQueued) {
      this.onError(
        new Error(`outcome queue full (${this.limits.maxQueued}); report for ${job.decisionId} dropped`),
        job,
      );
      return;
    }
    this.#pending.push(job);
    this.#pump();
  }

  /** Resolves when every queued report has been sent or has failed. */
  flush(): Promise<void> {
    if (this.#running === 0 && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#running < this.limits.concurrency && this.#pending.length > 0) {
      const job = this.#pending.shift()!;
      this.#running++;
      this.send(job)
        .catch((error: unknown) => {
          this.onError(error, job);
        })
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.#running === 0 && this.#pending.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}

/** @internal The protocol's outcome body for a finished call. */
export function outcomeOf(startedAt: number, error: unknown, failed: boolean): WireOutcome {
  const outcome: WireOutcome = {
    status: failed ? "FAILED" : "SUCCEEDED",
    started_at: new Date(startedAt).toISOString(),
    finished_at: new Date().toISOString(),
  };
  if (failed)
    outcome.error = {
      name: (error instanceof Error ? error.name : typeof error).slice(0, 200),
      message: (error instanceof Error ? error.message : String(error)).slice(0, 2000),
    };
  return outcome;
}
