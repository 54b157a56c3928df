/**
 * The journal: an append-only JSONL file, one entry per line, each chained to
 * the one before by hash and signed with the authority's Ed25519 key when it
 * is written. Lines look like
 *
 * ```json
 * {"seq":1,"at":"2026-…Z","type":"decision","prev":"sha256:000…","data":{…},"hash":"sha256:…","kid":"…","sig":"…"}
 * ```
 *
 * where `hash` is the SHA-256 of the line's own bytes without its
 * `,"hash":…` suffix (closed with `}`), `prev` is the `hash` of the line
 * before (zeros for the first), and `sig` is the base64url Ed25519 signature,
 * by the key `kid` of the key file, of `decionis-journal/1\n<hash>`. Reading
 * it back streams the file line by line and checks every line: a torn last
 * line (a crash mid-write), a broken chain or a bad signature (an edited,
 * lost or reordered line, even with the hashes recomputed) stops the
 * authority with the line number and the reason; nothing is skipped in
 * silence.
 *
 * Beside it, `<journal>.head` holds the last sequence number and hash, signed
 * the same way and rewritten in place after each append, so a tail removed
 * while the authority was stopped is found at the next start.
 *
 * A compacted journal starts with a `compacted` line (its `seq` follows the
 * last one dropped, its `prev` is zeros), then one `snapshot` line per
 * retained dossier, then the entries written since.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
  readFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { sha256Tagged } from "../intent/canonical.js";
import { LocalAuthorityError } from "./errors.js";
import type { KeyRing } from "./keys.js";

export const GENESIS = "sha256:" + "0".repeat(64);
const SUFFIX = /,"hash":"(sha256:[0-9a-f]{64})","kid":"([^"\\]{1,200})","sig":"([A-Za-z0-9_-]{1,200})"\}$/;
const HEAD_BYTES = 512;
/** A line longer than this is not one the authority wrote (a decision entry is at most a few hundred KiB). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

/** One journal entry. */
export interface JournalEntry {
  seq: number;
  at: string;
  type: string;
  prev: string;
  data: unknown;
}

export interface JournalOptions {
  /** Signs new lines and checks every line read. */
  keys: KeyRing;
  /** Cut a torn last line off (kept in `<file>.torn`) instead of refusing to start. */
  repair?: boolean;
  /** Told of repairs and of a missing head. */
  warn?: (message: string) => void;
  /** Called for each checked entry, in order, as the file streams; `line` is 1-based, `bytes` read so far. */
  onEntry: (entry: JournalEntry, line: number, bytes: number) => void;
}

/** What loading found. */
export interface JournalLoad {
  entries: number;
  bytes: number;
  ms: number;
}

function broken(path: string, line: number, reason: string): LocalAuthorityError {
  return new LocalAuthorityError(
    "JOURNAL_BROKEN",
    `Journal ${path} is broken at line ${line}: ${reason}. It was changed after it was written; ` +
      `restore it from a copy, or move it aside to start a new one (its decisions are then forgotten).`,
    { file: path, line },
  );
}

const lineSigned = (hash: string): Buffer => Buffer.from(`decionis-journal/1\n${hash}`);
const headSigned = (seq: number, hash: string): Buffer => Buffer.from(`decionis-journal-head/1\n${seq}\n${hash}`);

/** A line for `entry`, hashed and signed. */
export function formatLine(entry: JournalEntry, keys: KeyRing): { line: string; hash: string } {
  const body = JSON.stringify(entry);
  const hash = sha256Tagged(body);
  const { kid, signature } = keys.sign(lineSigned(hash));
  return {
    line: `${body.slice(0, -1)},"hash":"${hash}","kid":${JSON.stringify(kid)},"sig":"${signature.toString("base64url")}"}\n`,
    hash,
  };
}

/** Checks one complete line against the chain and its signature; returns its entry and hash. */
function readLine(
  path: string,
  keys: KeyRing,
  line: string,
  number: number,
  seq: number | undefined,
  prev: string,
): [JournalEntry, string] {
  const match = SUFFIX.exec(line);
  if (match === null) throw broken(path, number, "it does not end with a hash and a signature");
  const [, hash, kid, sig] = match as unknown as [string, string, string, string];
  const body = line.slice(0, match.index) + "}";
  if (sha256Tagged(body) !== hash) throw broken(path, number, "its hash does not match its content");
  if (!keys.verify(kid, lineSigned(hash), Buffer.from(sig, "base64url")))
    throw broken(
      path,
      number,
      `its signature does not verify with key "${kid}" of the key file (edited and re-hashed, or another key file)`,
    );
  let entry: JournalEntry;
  try {
    entry = JSON.parse(body) as JournalEntry;
  } catch {
    throw broken(path, number, "it is not JSON");
  }
  if (entry.prev !== prev)
    throw broken(path, number, "its prev is not the hash of the line before (a line is missing or moved)");
  if (seq === undefined ? !(Number.isSafeInteger(entry.seq) && entry.seq >= 1) : entry.seq !== seq)
    throw broken(path, number, `its seq is ${String(entry.seq)}, expected ${String(seq)}`);
  if (seq === undefined && entry.seq !== 1 && entry.type !== "compacted")
    throw broken(path, number, "the first line starts after seq 1 but is not a compaction mark (lines removed)");
  return [entry, hash];
}

interface Head {
  seq: number;
  hash: string;
}

function readHead(path: string, keys: KeyRing): Head | undefined {
  const file = `${path}.head`;
  if (!existsSync(file)) return undefined;
  let head: { seq?: unknown; hash?: unknown; kid?: unknown; sig?: unknown };
  try {
    head = JSON.parse(readFileSync(file, "utf8")) as typeof head;
  } catch {
    throw new LocalAuthorityError("JOURNAL_BROKEN", `Journal head ${file} is not JSON: it was changed or damaged`, {
      file,
    });
  }
  const { seq, hash, kid, sig } = head;
  if (
    typeof seq !== "number" ||
    typeof hash !== "string" ||
    typeof kid !== "string" ||
    typeof sig !== "string" ||
    !keys.verify(kid, headSigned(seq, hash), Buffer.from(sig, "base64url"))
  )
    throw new LocalAuthorityError(
      "JOURNAL_BROKEN",
      `Journal head ${file} does not verify with the key file: it was changed after it was written`,
      { file },
    );
  return { seq, hash };
}

/** An open journal: appends chained, signed entries, synchronously, one line each. */
export class Journal {
  readonly path: string;
  readonly #keys: KeyRing;
  #fd: number;
  #headFd: number;
  #seq: number;
  #last: string;

  private constructor(path: string, keys: KeyRing, fd: number, seq: number, last: string) {
    this.path = path;
    this.#keys = keys;
    this.#fd = fd;
    const head = `${path}.head`;
    // Not O_APPEND: the head is rewritten in place at offset 0.
    this.#headFd = openSync(head, existsSync(head) ? "r+" : "w+", 0o600);
    this.#seq = seq;
    this.#last = last;
  }

  /** Sequence number of the last entry written. */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Opens (or creates) the journal at `path`, streaming its entries, checked,
   * to `options.onEntry`; memory holds one line at a time.
   * @throws {@link LocalAuthorityError} `JOURNAL_TORN` / `JOURNAL_BROKEN` / `JOURNAL_TRUNCATED` naming the line.
   */
  static open(path: string, options: JournalOptions): { journal: Journal; load: JournalLoad } {
    const started = performance.now();
    const { keys } = options;
    const head = readHead(path, keys);
    let fd: number;
    try {
      fd = openSync(path, existsSync(path) ? "r+" : "w+", 0o600);
    } catch (error) {
      throw new LocalAuthorityError("JOURNAL_INVALID", `Cannot open the journal ${path}: ${(error as Error).message}`);
    }
    let last = GENESIS;
    let seq: number | undefined;
    let number = 0;
    let offset = 0; // bytes read
    let complete = 0; // bytes up to the end of the last complete line
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let headHash: string | undefined;
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    const take = (bytes: Buffer) => {
      number++;
      const [entry, hash] = readLine(path, keys, bytes.toString("utf8"), number, seq, last);
      if (head !== undefined && entry.seq === head.seq) headHash = hash;
      options.onEntry(entry, number, complete + bytes.length + 1);
      last = hash;
      seq = entry.seq + 1;
    };
    try {
      for (;;) {
        const read = readSync(fd, chunk, 0, CHUNK_BYTES, offset);
        if (read === 0) break;
        let start = 0;
        for (;;) {
          const nl = chunk.indexOf(0x0a, start);
          if (nl === -1 || nl >= read) break;
          const piece = chunk.subarray(start, nl);
          const line = pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]);
          pending = [];
          pendingBytes = 0;
          take(line);
          start = nl + 1;
          complete = offset + start;
        }
        if (start < read) {
          pending.push(Buffer.from(chunk.subarray(start, read)));
          pendingBytes += read - start;
          if (pendingBytes > MAX_LINE_BYTES)
            throw broken(
              path,
              number + 1,
              `it is over ${MAX_LINE_BYTES / 1024 / 1024} MiB, not a line the authority wrote`,
            );
        }
        offset += read;
      }
      if (pendingBytes > 0) {
        const tail = Buffer.concat(pending);
        const torn = number + 1;
        if (options.repair !== true)
          throw new LocalAuthorityError(
            "JOURNAL_TORN",
            `Journal ${path} ends with a torn line ${torn} (${tail.length} bytes, no newline): the ` +
              `authority stopped while writing it, so that one entry is incomplete. Start with --repair-journal ` +
              `(repairJournal: true) to move it to ${path}.torn and go on from line ${torn - 1}.`,
            { file: path, line: torn },
          );
        writeFileSync(`${path}.torn`, tail, { mode: 0o600 });
        ftruncateSync(fd, complete);
        options.warn?.(`Journal ${path}: torn line ${torn} cut off; its bytes are in ${path}.torn`);
      }
      const lastSeq = seq === undefined ? 0 : seq - 1;
      if (head !== undefined) {
        if (head.seq > lastSeq)
          throw new LocalAuthorityError(
            "JOURNAL_TRUNCATED",
            `Journal ${path} ends at entry ${lastSeq}, but its signed head says entry ${head.seq} was written: ` +
              `lines were removed after they were written (an older copy restored?). Restore the full journal, ` +
              `or move the journal and ${path}.head aside to start a new one.`,
            { file: path, seq: lastSeq, head: head.seq },
          );
        if (headHash !== undefined && headHash !== head.hash)
          throw broken(path, head.seq, "its hash is not the one the signed head recorded (the line was replaced)");
      } else if (lastSeq > 0)
        options.warn?.(
          `Journal ${path}: no head file (${path}.head); a tail removed before this start could not be detected. A new head is written now.`,
        );
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    closeSync(fd);
    // Appends go through O_APPEND: each line lands at the end, whole or torn, never over another.
    const journal = new Journal(path, keys, openSync(path, "a", 0o600), seq === undefined ? 0 : seq - 1, last);
    journal.#writeHead();
    return { journal, load: { entries: number, bytes: complete, ms: performance.now() - started } };
  }

  /** Appends one entry and returns it; the line (and then the head) is written before this returns. */
  append(type: string, data: unknown, at: string): JournalEntry {
    const entry: JournalEntry = { seq: this.#seq + 1, at, type, prev: this.#last, data };
    const { line, hash } = formatLine(entry, this.#keys);
    const bytes = Buffer.from(line);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.#fd, bytes, written);
    this.#seq = entry.seq;
    this.#last = hash;
    this.#writeHead();
    return entry;
  }

  #writeHead(): void {
    const { kid, signature } = this.#keys.sign(headSigned(this.#seq, this.#last));
    const json = JSON.stringify({ seq: this.#seq, hash: this.#last, kid, sig: signature.toString("base64url") });
    const bytes = Buffer.alloc(HEAD_BYTES, " ");
    bytes.write(json, 0, "utf8");
    bytes[HEAD_BYTES - 1] = 0x0a;
    writeSync(this.#headFd, bytes, 0, HEAD_BYTES, 0);
    ftruncateSync(this.#headFd, HEAD_BYTES);
  }

  /**
   * Replaces the journal by `entries` (a compaction mark, then the snapshot),
   * atomically: written to a temporary file, fsynced, renamed over the
   * journal, the directory fsynced. A crash at any point leaves either the
   * old journal or the new one, whole.
   */
  rewrite(entries: readonly { type: string; data: unknown; at: string }[]): void {
    const tmp = `${this.path}.compact-${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    let seq = this.#seq;
    let last = GENESIS;
    try {
      for (const { type, data, at } of entries) {
        seq++;
        const { line, hash } = formatLine({ seq, at, type, prev: last, data }, this.#keys);
        const bytes = Buffer.from(line);
        let written = 0;
        while (written < bytes.length) written += writeSync(fd, bytes, written);
        last = hash;
      }
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw error;
    }
    closeSync(fd);
    renameSync(tmp, this.path);
    syncDirectory(dirname(this.path));
    closeSync(this.#fd);
    this.#fd = openSync(this.path, "a", 0o600);
    this.#seq = seq;
    this.#last = last;
    this.#writeHead();
  }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    closeSync(this.#headFd);
    this.#fd = -1;
  }
}

function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
