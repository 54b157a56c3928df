/**
 * The batched grant verifier under worker faults injected at precise moments
 * (a worker that cannot start, dies booting, errs before a batch is flushed,
 * cannot be sent a job, answers the wrong shape or for no batch, comes online
 * after it was dropped), and the worker's hold on the process: every grant is
 * still checked, each fault counts once, and an idle worker keeps nothing alive.
 */
import { once } from "node:events";
import { generateKeyPairSync, sign, type KeyPairKeyObjectResult } from "node:crypto";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { BatchVerifier } from "../../src/grants/verifier.js";
import { nextTurn, signedCases, submit, type Case } from "../helpers/grant-cases.js";

const cases = (n: number, tag = "c") => signedCases(n, tag, false);
const validity = (all: readonly Case[]) => all.map((c) => c.valid);

/** Resolves with `"done"` when `promise` settles within `ms`, else with `"pending"`. */
async function within(promise: Promise<unknown>, ms: number): Promise<"done" | "pending"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => {
      resolve("pending");
    }, ms);
  });
  try {
    return await Promise.race([promise.then(() => "done" as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Message ports keeping this process alive (a worker's port while it is ref'd). */
const aliveHandles = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;

/** A verifier whose workers are real, counted, and handed the options they were started with. */
function counted(options: { batchDeadlineMs?: number } = {}) {
  const started: { worker: Worker; options: WorkerOptions }[] = [];
  const verifier = new BatchVerifier({
    ...options,
    newWorker: (source, workerOptions) => {
      const worker = new Worker(source, workerOptions);
      started.push({ worker, options: workerOptions });
      return worker;
    },
  });
  return { verifier, started };
}

function current(verifier: BatchVerifier): Worker {
  const worker = verifier.workerForTest();
  if (worker === undefined) throw new Error("no worker");
  return worker;
}

/** The worker stops being sent batches; the test answers them itself (seq and job count of each). */
function playWorker(worker: Worker): { seq: number; jobs: number }[] {
  const posted: { seq: number; jobs: number }[] = [];
  jest.spyOn(worker, "postMessage").mockImplementation((message: unknown) => {
    const batch = message as { seq: number; jobs: unknown[] };
    posted.push({ seq: batch.seq, jobs: batch.jobs.length / 3 });
  });
  return posted;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe("a worker that cannot start", () => {
  it("leaves every grant checked inline, is tried three times, then given up on", async () => {
    const tried: WorkerOptions[] = [];
    const verifier = new BatchVerifier({
      newWorker: (_source, options) => {
        tried.push(options);
        throw new Error("ERR_WORKER_INIT_FAILED");
      },
    });
    const all = cases(3);
    for (let i = 0; i < 3; i++) {
      expect(verifier.disabled).toBe(false);
      await expect(submit(verifier, all.slice(i, i + 1))).resolves.toEqual(validity(all.slice(i, i + 1)));
    }
    expect(tried).toHaveLength(3);
    expect(tried[0]).toEqual({ eval: true, name: "decionis grant verifier" });
    expect(verifier.disabled).toBe(true);
    // Given up: no fourth try, boot() has nothing to wait for, checks stay inline.
    await expect(verifier.boot()).resolves.toBeUndefined();
    await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    expect(tried).toHaveLength(3);
    expect(verifier.pending).toBe(0);
    await expect(verifier.crashForTest()).resolves.toBe(0);
  });
});

describe("booting", () => {
  it("starts one worker however many checks arrive while it boots", async () => {
    const { verifier, started } = counted();
    const all = cases(6);
    await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    expect(started).toHaveLength(1);
    await verifier.boot();
    const again = submit(verifier, all);
    await nextTurn();
    expect(verifier.pending).toBe(1);
    await expect(again).resolves.toEqual(validity(all));
    expect(started).toHaveLength(1);
    await verifier.crashForTest();
  });

  it("boot() returns for a worker that dies before it is online; the next check starts another", async () => {
    let n = 0;
    const verifier = new BatchVerifier({
      newWorker: (source, options) => {
        const worker = new Worker(source, options);
        if (n++ === 0) void worker.terminate(); // never online: only "exit"
        return worker;
      },
    });
    await expect(within(verifier.boot(), 3_000)).resolves.toBe("done");
    expect(verifier.workerForTest()).toBeUndefined();
    expect(verifier.disabled).toBe(false);
    const all = cases(3);
    await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    expect(n).toBe(2);
    await verifier.boot();
    await verifier.crashForTest();
  });

  it("a dropped worker that comes online late is not sent a batch", async () => {
    const { verifier, started } = counted();
    const all = cases(3);
    await submit(verifier, all); // boots the first worker
    const dropped = current(verifier);
    dropped.emit("error", new Error("worker crashed while booting"));
    expect(verifier.workerForTest()).toBeUndefined();
    dropped.emit("online");
    const later = submit(verifier, all); // checked inline; starts a second worker
    await nextTurn();
    expect(verifier.pending).toBe(0);
    await expect(later).resolves.toEqual(validity(all));
    expect(started).toHaveLength(2);
    await verifier.boot();
    await verifier.crashForTest();
  });
});

describe("a lost worker", () => {
  it("counts once: its own exit afterwards neither counts again nor touches its successor", async () => {
    const { verifier } = counted();
    for (let round = 0; round < 2; round++) {
      await verifier.boot();
      const lost = current(verifier);
      const exited = once(lost, "exit");
      lost.emit("messageerror", new Error("could not deserialize the answer"));
      expect(verifier.workerForTest()).toBeUndefined(); // dropped at once...
      await expect(within(exited, 3_000)).resolves.toBe("done"); // ...and terminated
      expect(verifier.disabled).toBe(false);
    }
    await verifier.boot();
    const all = cases(6);
    const results = submit(verifier, all);
    await nextTurn();
    expect(verifier.pending).toBe(1);
    await expect(results).resolves.toEqual(validity(all));
    await verifier.crashForTest();
  });

  it("between a check's arrival and the flush: the queued checks run inline, the fault counts once", async () => {
    const { verifier } = counted();
    for (let round = 0; round < 2; round++) {
      await verifier.boot();
      const all = cases(4, `r${round}`);
      const results = submit(verifier, all); // queued for this turn's flush
      current(verifier).emit("error", new Error("worker crashed"));
      await expect(results).resolves.toEqual(validity(all));
      expect(verifier.pending).toBe(0);
    }
    expect(verifier.disabled).toBe(false);
  });

  it("a batch the worker cannot be sent is checked inline, and the worker is dropped", async () => {
    const { verifier } = counted();
    await verifier.boot();
    const worker = current(verifier);
    jest.spyOn(worker, "postMessage").mockImplementation(() => {
      throw new DOMException("could not be cloned", "DataCloneError");
    });
    const all = cases(6);
    const results = submit(verifier, all);
    await nextTurn();
    expect(verifier.pending).toBe(0);
    expect(verifier.workerForTest()).toBeUndefined();
    await expect(results).resolves.toEqual(validity(all));
  });

  it("a worker that stops answering is given up on at the batch deadline", async () => {
    const { verifier } = counted({ batchDeadlineMs: 100 });
    await verifier.boot();
    playWorker(current(verifier)); // the batch goes nowhere
    const all = cases(6);
    const started = Date.now();
    await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(verifier.workerForTest()).toBeUndefined();
  });
});

describe("the worker's answers", () => {
  it("an answer for no batch, of the wrong shape or length, is not trusted: those grants are checked here", async () => {
    const { verifier } = counted();
    await verifier.boot();
    const worker = current(verifier);
    const posted = playWorker(worker);
    const all = cases(6);
    const results = submit(verifier, all);
    await nextTurn();
    expect(posted).toEqual([{ seq: expect.any(Number) as number, jobs: 6 }]);
    const { seq } = posted[0]!;
    // Every answer below says "all valid": only 2 of the 6 are.
    worker.emit("message", { seq: seq + 1, valid: new Uint8Array(6).fill(1) });
    expect(verifier.pending).toBe(1);
    worker.emit("message", { seq, valid: [1, 1, 1, 1, 1, 1] });
    await expect(results).resolves.toEqual(validity(all));
    expect(verifier.pending).toBe(0);
    worker.emit("message", { seq, valid: new Uint8Array(6).fill(1) }); // a second answer: nothing to settle

    const longer = submit(verifier, all);
    await nextTurn();
    worker.emit("message", { seq: posted[1]!.seq, valid: new Uint8Array(7).fill(1) });
    await expect(longer).resolves.toEqual(validity(all));
    const shorter = submit(verifier, all);
    await nextTurn();
    worker.emit("message", { seq: posted[2]!.seq, valid: new Uint8Array(5).fill(1) });
    await expect(shorter).resolves.toEqual(validity(all));
    expect(verifier.workerForTest()).toBe(worker); // wrong answers are not a lost worker
    jest.restoreAllMocks();
    await verifier.crashForTest();
  });

  it("the worker's key map starts over at 32 keys and re-learns a key it forgot", async () => {
    const { verifier } = counted();
    await verifier.boot();
    const held: number[] = [];
    current(verifier).on("message", (answer: { keys: number }) => held.push(answer.keys));
    const round = (pairs: KeyPairKeyObjectResult[], tag: string) => {
      // Two grants per key: one signed by it, one by another key.
      const jobs = pairs.flatMap((pair, i) => {
        const input = `${tag}.k${i}`;
        const forger = pairs[(i + 1) % pairs.length]!.privateKey;
        return [pair.privateKey, forger].map((signer, j) => ({
          input,
          signature: sign(null, Buffer.from(input), signer).toString("base64url"),
          key: pair.publicKey,
          valid: j === 0,
        }));
      });
      return expect(Promise.all(jobs.map((j) => verifier.verify(j.input, j.signature, j.key)))).resolves.toEqual(
        jobs.map((j) => j.valid),
      );
    };
    const fresh = () => Array.from({ length: 16 }, () => generateKeyPairSync("ed25519"));
    const first = fresh();
    await round(first, "r1");
    await round(fresh(), "r2");
    await round(first, "r3"); // 32 keys sent: the worker starts over, first's keys are sent again
    await round(fresh(), "r4");
    expect(held).toEqual([16, 32, 16, 32]);
    await verifier.crashForTest();
  });
});

describe("the worker's hold on the process", () => {
  it("held while someone waits for it to boot or a batch is out, released when idle", async () => {
    const before = aliveHandles();
    const { verifier } = counted();
    const booting = verifier.boot();
    expect(aliveHandles()).toBe(before + 1);
    await booting;
    expect(aliveHandles()).toBe(before);
    void verifier.boot(); // already online: nothing to wait for, nothing held
    expect(aliveHandles()).toBe(before);

    const worker = current(verifier);
    const posted = playWorker(worker);
    const first = cases(3, "a");
    const second = cases(3, "b");
    const answers = [submit(verifier, first)];
    await nextTurn();
    answers.push(submit(verifier, second));
    await nextTurn();
    expect(posted).toHaveLength(2);
    expect(aliveHandles()).toBe(before + 1);
    worker.emit("message", { seq: posted[0]!.seq, valid: Uint8Array.from(validity(first), Number) });
    expect(aliveHandles()).toBe(before + 1); // the second batch is still out
    worker.emit("message", { seq: posted[1]!.seq, valid: Uint8Array.from(validity(second), Number) });
    expect(aliveHandles()).toBe(before);
    await expect(Promise.all(answers)).resolves.toEqual([validity(first), validity(second)]);
    jest.restoreAllMocks();
    await verifier.crashForTest();
  });
});
