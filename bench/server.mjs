// The loopback authority of the benchmark. Runs in its own child process (forked by
// bench/run.mjs) so that its CPU is not counted against the clients being measured.
//
// One handler for every client: POST /v1/authority/enforce-and-bind parses the JSON body and
// answers a well-formed ALLOW (protocol 2.4) bound to the request's intent_hash, with an
// execution grant signed as protocol 5 says (EdDSA compact JWS; the SDK verifies it by default),
// and GET /.well-known/jwks.json serves the key. Decision, dossier and grant ids are fixed-width,
// so every answer has the same size whichever client asked.
//
// IPC (process.send): "ready" {port} once listening; answers "cpu" with its process.cpuUsage()
// and request count, and "last" with the headers and body of the last request it received
// (the runner uses it to capture one real SDK request for the baselines).
import http from "node:http";
import { allowAnswer, JWKS as KEYS } from "./authority.mjs";

const PATH = "/v1/authority/enforce-and-bind";
const JWKS = JSON.stringify(KEYS);

let requests = 0;
let last = { headers: {}, body: "" };

function fail(res, status, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function answer(req, res, body) {
  requests++;
  last = { headers: req.headers, body };
  let intent;
  try {
    intent = JSON.parse(body);
  } catch {
    return fail(res, 400, "BAD_JSON", "body is not JSON");
  }
  const hash = intent?.intent_hash;
  if (typeof hash !== "string" || hash === "") return fail(res, 400, "BAD_REQUEST", "intent_hash missing");
  const out = JSON.stringify(
    allowAnswer({ hash, tenantId: String(intent.tenant_id), expiresAt: intent.expires_at, issuer: "bench-authority" }),
  );
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
  res.end(out);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
    req.resume();
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(JWKS) });
    return res.end(JWKS);
  }
  if (req.method !== "POST" || req.url !== PATH) {
    req.resume();
    return fail(res, 404, "NOT_FOUND", "not found");
  }
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => answer(req, res, body));
});
// Keep every client's sockets open for the whole run: no reconnects between cells.
server.keepAliveTimeout = 600_000;
server.headersTimeout = 601_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

process.on("message", (msg) => {
  if (msg?.type === "cpu") process.send({ type: "cpu", id: msg.id, cpu: process.cpuUsage(), requests });
  else if (msg?.type === "last") process.send({ type: "last", id: msg.id, last });
  else if (msg?.type === "stop") process.exit(0);
});
// Never outlive the runner.
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => process.send({ type: "ready", port: server.address().port }));
