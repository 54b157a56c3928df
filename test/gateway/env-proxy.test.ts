/**
 * A proxy named in the environment (`HTTP_PROXY`) is used by both transports,
 * and `NO_PROXY` is honoured: against a real forward proxy on 127.0.0.1:0 that
 * speaks both forms (absolute-URI requests and CONNECT tunnels).
 */
import http from "node:http";
import net from "node:net";
import { listenLoopback } from "../helpers/listen.js";
import { DecionisClient } from "../../src/index.js";
import { sampleIntent, startTestAuthority, type TestAuthority } from "../helpers/test-authority.js";
import { TRANSPORTS } from "./transports.js";

interface ForwardProxy {
  url: string;
  /** What went through it: `CONNECT host:port`, or `METHOD absolute-url`. */
  seen: string[];
  close(): Promise<void>;
}

async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
    const upstream = http.request(req.url ?? "", { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url ?? ""}`);
    const [host, port] = (req.url ?? "").split(":");
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    listening.track(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  const listening = await listenLoopback(server);
  return { url: listening.url, seen, close: listening.close };
}

describe.each(TRANSPORTS)("%s transport", (transport) => {
  let authority: TestAuthority;
  let proxy: ForwardProxy;
  const saved = { HTTP_PROXY: process.env["HTTP_PROXY"], NO_PROXY: process.env["NO_PROXY"] };
  beforeEach(async () => {
    authority = await startTestAuthority();
    proxy = await startForwardProxy();
  });
  afterEach(async () => {
    for (const [name, value] of Object.entries(saved))
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    await proxy.close();
    await authority.close();
  });

  const call = async (): Promise<unknown> => {
    const client = new DecionisClient({
      apiKey: "sk_test",
      baseUrl: authority.url,
      tenantId: "acme",
      transport,
      verify: "none",
    });
    try {
      return await client.enforce(sampleIntent);
    } finally {
      await client.close();
    }
  };

  it("HTTP_PROXY carries the request", async () => {
    process.env["HTTP_PROXY"] = proxy.url;
    Reflect.deleteProperty(process.env, "NO_PROXY");
    await expect(call()).resolves.toMatchObject({ status: "ALLOW" });
    const port = new URL(authority.url).port;
    expect(proxy.seen.some((s) => s.includes(`127.0.0.1:${port}`))).toBe(true);
    expect(authority.requests).toHaveLength(1);
  });

  it("NO_PROXY naming the authority's host bypasses it", async () => {
    process.env["HTTP_PROXY"] = proxy.url;
    process.env["NO_PROXY"] = "127.0.0.1";
    await expect(call()).resolves.toMatchObject({ status: "ALLOW" });
    expect(proxy.seen).toEqual([]);
  });
});
