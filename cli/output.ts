/** How the CLI reports failures: one line on stderr and an exit code that says what went wrong. */
import { isRingmasterError, type ErrorCode } from '../common/errors.js';

export const EXIT = {
  ok: 0,
  failed: 1, // the work ran and failed (diverged, native error, a rank died)
  usage: 2, // the user's input was wrong (arguments, spec, data files)
} as const;

const USER_ERRORS: ReadonlySet<string> = new Set<ErrorCode>(['BAD_SPEC', 'BAD_ARGUMENT', 'DATA_MISSING', 'DATA_CORRUPT', 'FILE_UNREADABLE', 'NOT_FOUND', 'WRONG_STATE', 'UNAUTHENTICATED']);

export function exitCodeFor(code: string): number {
  return USER_ERRORS.has(code) ? EXIT.usage : EXIT.failed;
}

/** Prints one line for any error; the stack only with RINGMASTER_DEBUG=1. Returns the exit code. */
export function reportError(e: unknown): number {
  if (isRingmasterError(e)) {
    process.stderr.write(`ringmaster: ${e.message}\n`);
    return exitCodeFor(e.code);
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ringmaster: internal error: ${message} (rerun with RINGMASTER_DEBUG=1 for details)\n`);
  if (process.env.RINGMASTER_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return EXIT.failed;
}
