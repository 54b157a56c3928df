/**
 * One authority per journal: `<journal>.lock`, created exclusively (O_EXCL)
 * and holding who took it (`{"pid","host","started_at"}`). A second start
 * finds it and is refused with `JOURNAL_LOCKED`, naming the holder. A lock
 * whose process is gone (a kill -9, a crash) on this host is taken over: it is
 * renamed aside (only one contender's rename can succeed), checked to be the
 * one found stale, and replaced. A lock from another host is never taken over
 * (its process cannot be checked from here); it names the host to go and look.
 *
 * Runtime dependencies are fixed (axios, axios-retry, zod, reflect-metadata,
 * json-rules-engine), so `proper-lockfile` is not an option; this needs ~60
 * lines of node:fs.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { LocalAuthorityError } from "./errors.js";

interface Holder {
  pid: number;
  host: string;
  started_at: string;
}

function read(file: string): Holder | undefined {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>;
    return typeof value.pid === "number" && typeof value.host === "string"
      ? { pid: value.pid, host: value.host, started_at: String(value.started_at) }
      : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryCreate(file: string, holder: Holder): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  writeSync(fd, JSON.stringify(holder) + "\n");
  closeSync(fd);
  return true;
}

/** A held journal lock; `release()` removes it. */
export interface JournalLock {
  readonly file: string;
  release(): void;
}

/**
 * Takes the lock of `journal`, or throws `JOURNAL_LOCKED` naming its holder.
 * @param log told when a stale lock is taken over
 */
export function lockJournal(journal: string, log: (message: string) => void): JournalLock {
  const file = `${journal}.lock`;
  const me: Holder = { pid: process.pid, host: hostname(), started_at: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, me))
      return {
        file,
        release: () => {
          if (read(file)?.pid === me.pid) rmSync(file, { force: true });
        },
      };
    const holder = read(file);
    if (holder !== undefined && (holder.host !== me.host || alive(holder.pid)))
      throw new LocalAuthorityError(
        "JOURNAL_LOCKED",
        `Journal ${journal} is in use by process ${holder.pid} on ${holder.host} (since ${holder.started_at}): ` +
          `one authority per journal. Stop that one, or use another --journal.` +
          (holder.host === me.host ? "" : ` If that host is gone for good, remove ${file}.`),
        { file, pid: holder.pid, host: holder.host },
      );
    // Stale (its process is gone) or unreadable (a crash mid-write of the lock): set it aside and try again.
    const aside = `${file}.stale-${process.pid}`;
    try {
      renameSync(file, aside);
    } catch {
      continue; // another contender moved it first
    }
    const moved = read(aside);
    if (holder !== undefined && moved?.pid !== holder.pid) {
      // We moved a lock someone took meanwhile: put it back (link fails if a third took the name) and retry.
      try {
        linkSync(aside, file);
      } catch {
        /* the name is taken again; the loop reads the new holder */
      }
      rmSync(aside, { force: true });
      continue;
    }
    rmSync(aside, { force: true });
    log(
      `decionis local: journal ${journal}: took over the lock of process ${holder?.pid ?? "?"}, which is no longer running`,
    );
  }
  throw new LocalAuthorityError("JOURNAL_LOCKED", `Journal ${journal}: could not take ${file} after 5 attempts`, {
    file,
  });
}
