/**
 * The journal: an append-only JSONL file, one entry per line, each chained to
 * the one before by hash. Lines look like
 *
 * ```json
 * {"seq":1,"at":"2026-…Z","type":"decision","prev":"sha256:000…","data":{…},"hash":"sha256:…"}
 * ```
 *
 * where `hash` is the SHA-256 of the line's own bytes without its `,"hash":…`
 * member, and `prev` is the `hash` of the line before (zeros for the first).
 * Reading it back checks every line: a torn last line (a crash mid-write) or a
 * broken chain (an edited, lost or reordered line) stops the authority with
 * the line number and the reason; it is never skipped in silence.
 */
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { sha256Tagged } from "../intent/canonical.js";
import { LocalAuthorityError } from "./errors.js";

export const GENESIS = "sha256:" + "0".repeat(64);
const HASH_SUFFIX = /,"hash":"(sha256:[0-9a-f]{64})"\}$/;

/** One journal entry. */
export interface JournalEntry {
  seq: number;
  at: string;
  type: string;
  prev: string;
  data: unknown;
}

export interface JournalOptions {
  /** Cut a torn last line off (kept in `<file>.torn`) instead of refusing to start. */
  repair?: boolean;
  /** Told of repairs. */
  warn?: (message: string) => void;
}

function broken(path: string, line: number, reason: string): LocalAuthorityError {
  return new LocalAuthorityError(
    "JOURNAL_BROKEN",
    `Journal ${path} is broken at line ${line}: ${reason}. It was changed after it was written; ` +
      `restore it from a copy, or move it aside to start a new one (its decisions are then forgotten).`,
    { file: path, line },
  );
}

/** Checks one complete line against the chain and returns its entry. */
function readLine(path: string, line: string, number: number, seq: number, prev: string): [JournalEntry, string] {
  const match = HASH_SUFFIX.exec(line);
  if (match === null) throw broken(path, number, "it does not end with a hash member");
  const hash = match[1]!;
  const body = line.slice(0, match.index) + "}";
  if (sha256Tagged(body) !== hash) throw broken(path, number, "its hash does not match its content");
  let entry: JournalEntry;
  try {
    entry = JSON.parse(body) as JournalEntry;
  } catch {
    throw broken(path, number, "it is not JSON");
  }
  if (entry.prev !== prev)
    throw broken(path, number, "its prev is not the hash of the line before (a line is missing or moved)");
  if (entry.seq !== seq) throw broken(path, number, `its seq is ${String(entry.seq)}, expected ${seq}`);
  return [entry, hash];
}

/** An open journal: appends chained entries, synchronously, one line each. */
export class Journal {
  readonly path: string;
  #fd: number;
  #seq: number;
  #last: string;

  private constructor(path: string, fd: number, seq: number, last: string) {
    this.path = path;
    this.#fd = fd;
    this.#seq = seq;
    this.#last = last;
  }

  /**
   * Opens (or creates) the journal at `path` and returns its entries, checked.
   * @throws {@link LocalAuthorityError} `JOURNAL_TORN` / `JOURNAL_BROKEN` naming the line.
   */
  static open(path: string, options: JournalOptions = {}): { journal: Journal; entries: JournalEntry[] } {
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT")
        throw new LocalAuthorityError(
          "JOURNAL_INVALID",
          `Cannot read the journal ${path}: ${(error as Error).message}`,
        );
    }
    const lines = text.split("\n");
    const tail = lines.pop()!; // after the last newline: "" unless the last write was torn
    if (tail !== "") {
      const number = lines.length + 1;
      if (!options.repair)
        throw new LocalAuthorityError(
          "JOURNAL_TORN",
          `Journal ${path} ends with a torn line ${number} (${Buffer.byteLength(tail)} bytes, no newline): the ` +
            `authority stopped while writing it, so that one entry is incomplete. Start with --repair-journal ` +
            `(repairJournal: true) to move it to ${path}.torn and go on from line ${number - 1}.`,
          { file: path, line: number },
        );
      copyFileSync(path, `${path}.torn`);
      truncateSync(path, Buffer.byteLength(text) - Buffer.byteLength(tail));
      options.warn?.(`Journal ${path}: torn line ${number} cut off; the whole file before repair is in ${path}.torn`);
    }
    const entries: JournalEntry[] = [];
    let last = GENESIS;
    lines.forEach((line, i) => {
      const [entry, hash] = readLine(path, line, i + 1, i + 1, last);
      entries.push(entry);
      last = hash;
    });
    const fd = openSync(path, "a", 0o600);
    return { journal: new Journal(path, fd, entries.length, last), entries };
  }

  /** Appends one entry and returns it; the line is written before this returns. */
  append(type: string, data: unknown, at: string): JournalEntry {
    const entry: JournalEntry = { seq: this.#seq + 1, at, type, prev: this.#last, data };
    const body = JSON.stringify(entry);
    const hash = sha256Tagged(body);
    const bytes = Buffer.from(`${body.slice(0, -1)},"hash":"${hash}"}\n`);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.#fd, bytes, written);
    this.#seq = entry.seq;
    this.#last = hash;
    return entry;
  }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
