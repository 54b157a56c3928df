/**
 * A real `redis-server` for tests: on a free loopback port, persistence off,
 * started and awaited before use, stopped (and reaped) after. Also a tiny
 * scripted RESP server for replies a real Redis never sends.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import net, { type AddressInfo } from "node:net";
import { listenLoopback } from "./listen.js";

export interface RedisServer {
  port: number;
  url: string;
  /** Runs one command with redis-cli (admin work outside the clients under test). */
  cli(...args: string[]): string;
  /** Stops the server and waits for the process to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Whether `redis-server` is on PATH (scripts/ensure-tools.sh installs Debian's package). */
export function hasRedisServer(): boolean {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on right now (the OS's pick, released at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Starts redis-server on a free port and resolves once it answers PING (at most 10 s). */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      "redis-server",
      ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1", ...extraArgs],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      await ready(child, port);
    } catch (error) {
      await kill(child);
      // Another process took the port between our pick and redis binding it: pick again.
      if (attempt < 3 && /in use/i.test(String(error))) continue;
      throw error;
    }
    const cli = (...args: string[]) =>
      execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8", timeout: 5000 }).trim();
    return { port, url: `redis://127.0.0.1:${port}`, cli, stop: () => kill(child) };
  }
}

function ready(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} did not start: ${why}\n${log.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      fail("no 'Ready to accept connections' within 10 s");
    }, 10_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.on("exit", (code) => {
      fail(`exited with ${String(code)}`);
    });
    child.on("error", (error) => {
      fail(`${error.message} (install Debian's redis-server: bash scripts/ensure-tools.sh)`);
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  child.kill("SIGKILL");
  await exited;
}

/** A RESP server that answers the clients' handshake and then `SET` with whatever `onSet` says (raw RESP). */
export interface FakeRedis {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startFakeRedis(onSet: () => string | undefined): Promise<FakeRedis> {
  const server = net.createServer((socket) => {
    let buffer = "";
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (;;) {
        const parsed = parseCommand(buffer);
        if (parsed === undefined) return;
        buffer = buffer.slice(parsed.length);
        const name = (parsed.args[0] ?? "").toUpperCase();
        if (name === "SET") {
          const reply = onSet();
          if (reply !== undefined) socket.write(reply); // undefined: never answer (a stall)
        } else if (name === "INFO") {
          const info = "# Server\r\nredis_version:7.0.15\r\nloading:0\r\n";
          socket.write(`$${info.length}\r\n${info}\r\n`);
        } else if (name === "PING") socket.write("+PONG\r\n");
        else socket.write("+OK\r\n"); // CLIENT SETINFO, SELECT, ...
      }
    });
    socket.on("error", () => undefined);
  });
  const { port, close } = await listenLoopback(server);
  return { port, url: `redis://127.0.0.1:${port}`, close };
}

/** One RESP array of bulk strings from the front of `input`, or undefined when incomplete. */
function parseCommand(input: string): { args: string[]; length: number } | undefined {
  if (!input.startsWith("*")) {
    // An inline command (redis-cli style): up to the line end.
    const end = input.indexOf("\r\n");
    return end < 0 ? undefined : { args: input.slice(0, end).split(" "), length: end + 2 };
  }
  let at = input.indexOf("\r\n");
  if (at < 0) return undefined;
  const count = Number(input.slice(1, at));
  at += 2;
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const lineEnd = input.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const size = Number(input.slice(at + 1, lineEnd));
    const start = lineEnd + 2;
    if (input.length < start + size + 2) return undefined;
    args.push(input.slice(start, start + size));
    at = start + size + 2;
  }
  return { args, length: at };
}
