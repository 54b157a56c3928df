#!/usr/bin/env node
/**
 * The `decionis` command. `decionis local` runs the local decision authority
 * until SIGINT or SIGTERM; `decionis rotate-key` adds a signing key to a key
 * file. See docs/local-authority.md.
 */
import { parseArgs } from "node:util";
import { KeyRing } from "./local/keys.js";
import { LocalAuthorityError, startLocalAuthority, type LocalAuthorityOptions } from "./local/index.js";
import { VERSION } from "./version.js";

const USAGE = `decionis ${VERSION}

Usage:
  decionis local --policies <file> [options]     run the local decision authority
  decionis rotate-key --key <file>               add a new signing key to a key file and make it active

Options of local:
  --policies <file>        policies file (JSON), required
  --port <n>               port to listen on (default 8787; 0 picks a free one)
  --host <addr>            address to listen on (default 127.0.0.1)
  --journal <file>         JSONL journal: decisions survive restarts
  --repair-journal         cut a torn last journal line off instead of refusing to start
  --retain <duration>      keep decisions (dossiers, idempotency keys, journal lines) this long after their
                           last change, e.g. 7d, 12h, 30m (default 7d, at least 30m)
  --key <file>             signing keys (JWK Set); created when missing
  --api-key <key>          an agent key to accept (repeatable; default: $DECIONIS_API_KEY, else one generated)
  --approver-key <key>     an approver key: approve/reject only (repeatable; default: $DECIONIS_APPROVER_KEY,
                           else one generated and printed on its own line)
  --grant-ttl <ms>         lifetime of execution grants (default 30000)
  --escalation-ttl <ms>    lifetime of escalations (default: the intent's)
  --public-url <url>       base URL for dossier links, when clients reach the server by another name
  -h, --help               this text
`;

class UsageError extends Error {}

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got "${value}"`);
  return Number(value);
}

async function local(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      policies: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      journal: { type: "string" },
      "repair-journal": { type: "boolean" },
      retain: { type: "string" },
      key: { type: "string" },
      "api-key": { type: "string", multiple: true },
      "approver-key": { type: "string", multiple: true },
      "grant-ttl": { type: "string" },
      "escalation-ttl": { type: "string" },
      "public-url": { type: "string" },
    },
    strict: true,
  });
  if (values.policies === undefined) throw new UsageError("--policies <file> is required");
  const envKey = process.env["DECIONIS_API_KEY"]?.trim();
  const apiKeys = values["api-key"] ?? (envKey ? [envKey] : undefined);
  const envApprover = process.env["DECIONIS_APPROVER_KEY"]?.trim();
  const approverKeys = values["approver-key"] ?? (envApprover ? [envApprover] : undefined);
  const options: LocalAuthorityOptions = { policies: values.policies, port: integer(values.port, "--port") ?? 8787 };
  if (values.host !== undefined) options.host = values.host;
  if (values.journal !== undefined) options.journal = values.journal;
  if (values["repair-journal"] === true) options.repairJournal = true;
  if (values.retain !== undefined) options.retention = values.retain;
  if (values.key !== undefined) options.keyFile = values.key;
  if (apiKeys !== undefined) options.apiKeys = apiKeys;
  if (approverKeys !== undefined) options.approverKeys = approverKeys;
  const grantTtl = integer(values["grant-ttl"], "--grant-ttl");
  if (grantTtl !== undefined) options.grantTtlMs = grantTtl;
  const escalationTtl = integer(values["escalation-ttl"], "--escalation-ttl");
  if (escalationTtl !== undefined) options.escalationTtlMs = escalationTtl;
  if (values["public-url"] !== undefined) options.publicUrl = values["public-url"];

  const authority = await startLocalAuthority(options);
  const keyShown = apiKeys === undefined ? authority.apiKey : "<the key you passed>";
  const approverShown = approverKeys === undefined ? authority.approverKey : "<the approver key you passed>";
  const load = authority.journalLoad;
  const loaded =
    load === undefined
      ? ""
      : `${load.decisions} decision${load.decisions === 1 ? "" : "s"} loaded from ${load.entries} entries, ` +
        `${(load.bytes / 1024 / 1024).toFixed(1)} MiB in ${(load.ms / 1000).toFixed(2)} s`;
  console.log(
    [
      `Decionis local authority ${VERSION} listening on ${authority.url}`,
      `  JWKS:      ${authority.jwksUrl}`,
      `  Policies:  ${values.policies}`,
      `  Journal:   ${values.journal === undefined ? "none (decisions are kept in memory)" : `${values.journal} (${loaded})`}`,
      `  Keys:      ${values.key ?? (values.journal === undefined ? "generated for this run (pass --key <file> to keep them)" : `${values.journal}.keys.json (signs the journal; keep it with the journal)`)}`,
      ``,
      `Point the SDK at it:`,
      `  export DECIONIS_BASE_URL=${authority.url} DECIONIS_API_KEY=${keyShown}`,
      ``,
      `Approver key (approve/reject escalations; never give it to a gated program):`,
      approverShown,
      ``,
      `Ctrl-C stops it.`,
    ].join("\n"),
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.log(`\n${signal}: stopping…`);
      authority.stop().then(resolve, resolve);
    };
    process.once("SIGINT", () => {
      stop("SIGINT");
    });
    process.once("SIGTERM", () => {
      stop("SIGTERM");
    });
  });
  console.log("Stopped.");
}

function rotateKey(args: string[]): void {
  const { values } = parseArgs({ args, options: { key: { type: "string" } }, strict: true });
  if (values.key === undefined) throw new UsageError("--key <file> is required");
  const kid = KeyRing.load(values.key).rotate();
  console.log(`${values.key}: new signing key ${kid}; older keys stay published until you remove them.`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || argv.includes("-h") || argv.includes("--help")) {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    if (command === "local") await local(rest);
    else if (command === "rotate-key") rotateKey(rest);
    else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: unknown }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      console.error(`decionis: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof LocalAuthorityError) {
      console.error(`decionis: ${error.message}`);
      return 1;
    }
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      console.error(
        `decionis: ${(error as Error).message}: another process uses that port; pass --port <n> (0 picks a free one)`,
      );
      return 1;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
