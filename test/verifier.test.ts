/**
 * The grant signature check off the event loop: batches to the verifier
 * thread must answer each grant for itself, and a lost worker must leave no
 * grant unchecked.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BatchVerifier, verifyInline } from "../src/grants/verifier.js";
import { alice, nextTurn, signedCases as cases, submit, type Case } from "./helpers/grant-cases.js";

const validity = (all: readonly Case[]) => all.map((c) => c.valid);

/** Boots `verifier`, hands it `n` grants and checks that they went to the worker as one batch. */
async function batchOf(verifier: BatchVerifier, n: number): Promise<{ all: Case[]; results: Promise<boolean[]> }> {
  await verifier.boot();
  const all = cases(n);
  const results = submit(verifier, all);
  await nextTurn();
  expect(verifier.pending).toBe(1);
  return { all, results };
}

describe("the batched grant verifier", () => {
  it("answers every grant of a batch for itself", async () => {
    const verifier = new BatchVerifier();
    const { all, results } = await batchOf(verifier, 60);
    await expect(results).resolves.toEqual(validity(all));
    expect(all.filter((c) => c.valid).length).toBe(20);
    await verifier.crashForTest();
  });

  it("the worker itself answers batch after batch (it is not lost and replaced by inline checks)", async () => {
    const verifier = new BatchVerifier();
    for (let round = 0; round < 4; round++) {
      const { all, results } = await batchOf(verifier, 6);
      await expect(results).resolves.toEqual(validity(all));
      expect(verifier.disabled).toBe(false);
    }
    await verifier.crashForTest();
  });

  it("a check alone starts the worker: later checks go to it without anyone calling boot()", async () => {
    const verifier = new BatchVerifier();
    const [first] = cases(1);
    await expect(verifier.verify(first!.signingInput, first!.signature, first!.key)).resolves.toBe(true);
    expect(verifier.pending).toBe(0); // checked inline while the worker boots
    let batched = false;
    for (const deadline = Date.now() + 3_000; !batched && Date.now() < deadline;) {
      const answer = verifier.verify(first!.signingInput, first!.signature, first!.key);
      await nextTurn();
      batched = verifier.pending === 1;
      await expect(answer).resolves.toBe(true);
      if (!batched) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(batched).toBe(true);
    await verifier.crashForTest();
  });

  it("agrees with the inline check", () => {
    for (const c of cases(12)) expect(verifyInline(c.signingInput, c.signature, c.key)).toBe(c.valid);
    expect(verifyInline("a.b", "not base64url!", alice.publicKey)).toBe(false);
  });

  it("checks inline what a lost worker held, and starts a new one for later batches", async () => {
    const verifier = new BatchVerifier();
    const { all, results } = await batchOf(verifier, 300);
    await verifier.crashForTest();
    await expect(results).resolves.toEqual(validity(all));
    expect(verifier.pending).toBe(0);

    const again = await batchOf(verifier, 9); // a new worker takes it
    await expect(again.results).resolves.toEqual(validity(again.all));
    await verifier.crashForTest();
  });

  it("a worker that answers clears earlier failures", async () => {
    const verifier = new BatchVerifier();
    for (let i = 0; i < 2; i++) {
      const lost = await batchOf(verifier, 3);
      verifier.stallForTest();
      await verifier.crashForTest();
      await lost.results;
    }
    const answered = await batchOf(verifier, 3);
    await expect(answered.results).resolves.toEqual(validity(answered.all));
    const lost = await batchOf(verifier, 3);
    verifier.stallForTest();
    await verifier.crashForTest();
    await lost.results;
    expect(verifier.disabled).toBe(false);
    await verifier.boot();
    await verifier.crashForTest();
  });

  it("after three workers lost in a row, checks every grant inline", async () => {
    const verifier = new BatchVerifier();
    for (let i = 0; i < 3; i++) {
      const { all, results } = await batchOf(verifier, 6);
      verifier.stallForTest(); // its answer, if any, is not seen: the batch is lost with the worker
      await verifier.crashForTest();
      await expect(results).resolves.toEqual(validity(all));
      expect(verifier.disabled).toBe(i === 2);
    }
    const all = cases(6);
    await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    expect(verifier.pending).toBe(0);
  });

  it("checks inline while the worker boots, then batches", async () => {
    const verifier = new BatchVerifier();
    const first = cases(4);
    const early = submit(verifier, first);
    expect(verifier.pending).toBe(0);
    await expect(early).resolves.toEqual(validity(first));
    const later = await batchOf(verifier, 4);
    await expect(later.results).resolves.toEqual(validity(later.all));
    await verifier.crashForTest();
  });

  it("gives up on a worker that stops answering and checks its batch inline", async () => {
    const verifier = new BatchVerifier({ batchDeadlineMs: 200 });
    await verifier.boot();
    verifier.stallForTest();
    const all = cases(10);
    const started = Date.now();
    const results = submit(verifier, all);
    await expect(results).resolves.toEqual(validity(all));
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(verifier.pending).toBe(0);
  });

  it("keeps working under the caller's fake timers", async () => {
    const verifier = new BatchVerifier();
    await verifier.boot();
    jest.useFakeTimers();
    try {
      const all = cases(8);
      const results = submit(verifier, all);
      await expect(results).resolves.toEqual(validity(all));
    } finally {
      jest.useRealTimers();
      await verifier.crashForTest();
    }
  });

  it("keeps working when fake timers replace node:timers' exports too (sinon, vitest)", async () => {
    const verifier = new BatchVerifier();
    await verifier.boot();
    const nodeTimers = jest.requireActual<Record<string, unknown>>("node:timers");
    const saved = { setImmediate: nodeTimers["setImmediate"], setTimeout: nodeTimers["setTimeout"] };
    nodeTimers["setImmediate"] = () => undefined;
    nodeTimers["setTimeout"] = () => undefined;
    try {
      const all = cases(8);
      await expect(submit(verifier, all)).resolves.toEqual(validity(all));
    } finally {
      Object.assign(nodeTimers, saved);
      await verifier.crashForTest();
    }
  }, 10_000);

  it("starts the worker's key map over past 32 keys, without mixing keys up", async () => {
    const verifier = new BatchVerifier();
    await verifier.boot();
    for (let round = 0; round < 3; round++) {
      const pairs = Array.from({ length: 20 }, () => generateKeyPairSync("ed25519"));
      const jobs = pairs.map((pair, i) => {
        const input = `r${round}.k${i}`;
        const signer = i % 4 === 0 ? pairs[(i + 1) % pairs.length]!.privateKey : pair.privateKey;
        return {
          input,
          signature: sign(null, Buffer.from(input), signer).toString("base64url"),
          key: pair.publicKey,
          valid: i % 4 !== 0,
        };
      });
      const results = jobs.map((j) => verifier.verify(j.input, j.signature, j.key));
      await expect(Promise.all(results)).resolves.toEqual(jobs.map((j) => j.valid));
    }
    await verifier.crashForTest();
  });

  const module = path.resolve(__dirname, "../src/grants/verifier.ts");
  const prelude = `import { generateKeyPairSync, sign } from "node:crypto";
import { batchVerifier } from ${JSON.stringify(module)};
const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const signature = sign(null, Buffer.from("a.b"), privateKey).toString("base64url");
await batchVerifier.boot();
`;

  /** Runs `body` after the prelude in a child process; its output, or a timeout if it does not exit. */
  async function runScript(body: string): Promise<{ out: string; code: number | null }> {
    const dir = mkdtempSync(path.join(tmpdir(), "decionis-verifier-"));
    const script = path.join(dir, "exit.mts");
    writeFileSync(script, prelude + body);
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    clearTimeout(timer);
    return { out: out.trim(), code };
  }

  it("does not keep the process alive once its batches are answered", async () => {
    const run = await runScript(`
const all = Promise.all(Array.from({ length: 10 }, () => batchVerifier.verify("a.b", signature, publicKey)));
await new Promise((resolve) => setImmediate(resolve));
const inWorker = batchVerifier.pending;
console.log((await all).filter(Boolean).length, inWorker);
`);
    expect(run).toEqual({ out: "10 1", code: 0 });
  }, 30_000);

  it("does not keep the process alive when it booted and was never sent a batch", async () => {
    const run = await runScript(`console.log("booted");
`);
    expect(run).toEqual({ out: "booted", code: 0 });
  }, 30_000);
});
