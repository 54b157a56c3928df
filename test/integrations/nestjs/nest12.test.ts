/**
 * decionis/nestjs on NestJS 12, which ships as ESM only: a real app over HTTP
 * (127.0.0.1:0) in a child process. Nest 12 lives in its own install
 * (test/integrations/nestjs/v12, `npm ci --prefix` it; .ci/run does), and the
 * adapter must resolve *that* copy, so the SDK's source is copied next to it
 * and the app is compiled here with legacy decorators and metadata (what
 * `tsc` does for a Nest user; tsx/esbuild emits no metadata).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { API_KEY, TENANT, expectProblem, request, startHarness, type Harness } from "../helpers.js";

const ROOT = path.resolve(__dirname, "../../..");
const V12 = path.join(__dirname, "v12");
const OUT = path.join(V12, ".tmp");
const TSX = require.resolve("tsx");

let h: Harness;
let child: ChildProcess;
let base: string;
let stderr = "";

beforeAll(async () => {
  if (!fs.existsSync(path.join(V12, "node_modules/@nestjs/core/package.json")))
    throw new Error("NestJS 12 is not installed: run `npm ci --prefix test/integrations/nestjs/v12`");
  h = await startHarness();
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.cpSync(path.join(ROOT, "src"), path.join(OUT, "src"), { recursive: true });
  const source = fs.readFileSync(path.join(V12, "app.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      rewriteRelativeImportExtensions: true,
    },
  });
  fs.writeFileSync(path.join(OUT, "app.mjs"), outputText);
  child = spawn(process.execPath, ["--import", TSX, path.join(OUT, "app.mjs")], {
    cwd: V12,
    env: { ...process.env, AUTHORITY_URL: h.authority.url, API_KEY, TENANT },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`the Nest 12 app did not start:\n${stderr}`));
    }, 20_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      const port = /listening (\d+)/.exec(chunk.toString())?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the Nest 12 app exited (${String(code)}):\n${stderr}`));
    });
  });
}, 30_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  await h?.close();
  fs.rmSync(OUT, { recursive: true, force: true });
});

const user = { "x-user": "dave" };

test("it is Nest 12, loaded as ESM", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(V12, "node_modules/@nestjs/core/package.json"), "utf8"));
  expect(pkg.version).toMatch(/^12\./);
  expect(pkg.type).toBe("module");
});

test("@Gate + @Post: ALLOW runs the handler after the guard (Reflector saw SetMetadata), with the ValidationPipe DTO", async () => {
  const reply = await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 5 }, user);
  expect(reply.status).toBe(201);
  expect(reply.json).toEqual({ placed: "EURUSD", dto: true, roles: ["trader"] });
  expect(h.authority.decisions().at(-1)?.request.actor.id).toBe("dave");
});

test("@Gate + @Get; BLOCK 403 and ESCALATE 202 problems; bad body 400 from the pipe", async () => {
  expect((await request(base, "GET", "/orders/EURUSD", undefined, user)).status).toBe(200);
  expectProblem(await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 5000 }, user), 403, "BLOCK");
  expectProblem(await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: 500 }, user), 202, "ESCALATE");
  expect((await request(base, "POST", "/orders/EURUSD", { symbol: "EURUSD", qty: "x" }, user)).status).toBe(400);
});

test("@gate on an injected service uses the module's client", async () => {
  const ok = await request(base, "POST", "/orders/EURUSD/service", { symbol: "EURUSD", qty: 3 }, user);
  expect(ok.status).toBe(201);
  expect(ok.text).toBe("service EURUSD true");
  expectProblem(
    await request(base, "POST", "/orders/EURUSD/service", { symbol: "EURUSD", qty: 5000 }, user),
    403,
    "BLOCK",
  );
});
