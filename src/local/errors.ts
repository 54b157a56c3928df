import { DecionisError } from "../errors/base.js";

/** Why the local authority could not start or act. */
export type LocalAuthorityErrorCode =
  | "POLICIES_INVALID"
  | "KEY_FILE_INVALID"
  | "JOURNAL_TORN"
  | "JOURNAL_BROKEN"
  | "JOURNAL_INVALID"
  | "JOURNAL_TRUNCATED"
  | "JOURNAL_LOCKED"
  | "OPTIONS_INVALID"
  | "ESCALATION_NOT_FOUND"
  | "ESCALATION_NOT_PENDING";

/**
 * The local authority refused to start (a bad policies file, key file or
 * journal) or refused an admin action. `code` says which; the message names
 * the file, the line or field, and the fix.
 */
export class LocalAuthorityError extends DecionisError {
  static override readonly errorName: string = "LocalAuthorityError";
  declare readonly code: LocalAuthorityErrorCode;
  constructor(code: LocalAuthorityErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { code, details });
  }
}

/**
 * A request the authority refuses, as the protocol's error body
 * `{"error":{"code","message","details"}}` with an HTTP status.
 * @internal
 */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
