/**
 * Errors a user can cause end as one line: `ringmaster: <what>: <why> (<fix>)`. Every error
 * class carries a stable `code` so callers and tests branch on the code, never on the text.
 */
const ERROR_CODES = {
  BAD_SPEC: 'the job spec or a --set override is invalid',
  BAD_ARGUMENT: 'a command-line argument is invalid',
  DATA_MISSING: 'a data set file or directory is missing',
  DATA_CORRUPT: 'a data set file exists but cannot be parsed',
  FILE_UNREADABLE: 'a file exists but cannot be read',
  FILE_UNWRITABLE: 'a file or directory cannot be written (disk full, permissions)',
  DIVERGED: 'training produced a non-finite loss',
  RANK_HUNG: 'a rank made no progress for progress_timeout_s and was stopped',
  PREEMPTED: 'a rank checkpointed and stopped because its worker is draining; the job resumes elsewhere',
  NOT_FOUND: 'no job (or worker) with the given id',
  WRONG_STATE: "the job's state does not allow the request (resume a running job, or one without checkpoints)",
  UNAVAILABLE: 'the coordinator cannot be reached',
  UNAUTHENTICATED: "the coordinator refused a call without its token",
  NATIVE: 'the native addon reported an error (the native code is in `nativeCode`)',
  ADDON_MISSING: 'the native addon is not built',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `code` is one of ours, e.g. one that came over the wire. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

export class RingmasterError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'RingmasterError';
    this.code = code;
  }
}

export function isRingmasterError(e: unknown): e is RingmasterError {
  return e instanceof RingmasterError;
}
