/**
 * A man in the middle on 127.0.0.1:0: forwards every request to a real
 * authority, and lets a test block a route or rewrite an answer — the faults a
 * real network or a compromised hop can produce, in front of a real server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Proxy {
  url: string;
  /** Answer this request here instead of forwarding it (return undefined to forward). */
  intercept: (method: string, path: string) => { status: number; body: unknown } | undefined;
  /** Rewrite a forwarded JSON answer. */
  rewrite: (path: string, body: any) => unknown;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const proxy: Proxy = {
    url: "",
    intercept: () => undefined,
    rewrite: (_path, body: unknown) => body,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    const local = proxy.intercept(req.method ?? "GET", path);
    if (local !== undefined) {
      res.writeHead(local.status, { "content-type": "application/json" });
      res.end(JSON.stringify(local.body));
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          let text = Buffer.concat(chunks).toString("utf8");
          if ((answer.headers["content-type"] ?? "").includes("json") && text !== "")
            text = JSON.stringify(proxy.rewrite(path, JSON.parse(text)));
          const { "transfer-encoding": _chunked, ...rest } = answer.headers;
          const headers = { ...rest, "content-length": String(Buffer.byteLength(text)) };
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(text);
        });
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
