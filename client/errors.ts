/** A failed call: the server's `{statusCode, error, message}`, or statusCode 0 with error `offline` or `timeout` when no reply came. */
export class FolioError extends Error {
  override readonly name = 'FolioError';

  constructor(
    readonly statusCode: number,
    /** A stable code: the server's (`invalid_credentials`, `username_taken`, `session_expired`, …), or `offline`, `timeout`. */
    readonly error: string,
    message: string,
    /** For 429: how long the server asked to wait, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
