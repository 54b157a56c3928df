/**
 * A bare `node:http` server on 127.0.0.1:0 whose handler owns the socket: for
 * answers a well-behaved authority never gives (a dripping body, a body cut
 * short, a dropped answer). Every request is recorded; `close()` destroys
 * whatever is still open.
 */
import http from "node:http";
import net from "node:net";
import { listenLoopback } from "./listen.js";

export interface RawRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RawServer {
  url: string;
  requests: RawRequest[];
  close(): Promise<void>;
}

export type RawHandler = (req: RawRequest, res: http.ServerResponse, socket: net.Socket) => void;

export async function startRawServer(handler: RawHandler): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      handler(recorded, res, req.socket);
    });
  });
  const { url, close } = await listenLoopback(server);
  return { url, requests, close };
}

/**
 * Writes a 200 head announcing `length` bytes, then one byte every `everyMs`
 * until the socket closes: a body that never ends in time.
 */
export function drip(res: http.ServerResponse, everyMs: number, length = 100_000): void {
  res.writeHead(200, { "content-type": "application/json", "content-length": String(length) });
  res.write("{");
  const timer = setInterval(() => {
    if (res.destroyed || res.socket === null || res.socket.destroyed) clearInterval(timer);
    else res.write(" ");
  }, everyMs);
  res.on("close", () => {
    clearInterval(timer);
  });
}

/** A server that records the raw bytes of each request and answers `answer` (a complete HTTP response). */
export async function startByteServer(answer: string): Promise<{ url: string; raw: string[]; close(): Promise<void> }> {
  const raw: string[] = [];
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const text = buffer.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      raw.push(text.slice(0, end + 4 + length));
      buffer = Buffer.alloc(0);
      socket.write(answer);
    });
  });
  const { url, close } = await listenLoopback(server);
  return { url, raw, close };
}
