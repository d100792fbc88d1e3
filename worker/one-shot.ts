/** The worker side of common/one-shot.ts: answers the first request with `handle`, then leaves. */
import { isRingmasterError } from '../common/errors.js';
import type { OneShotReply } from '../common/one-shot.js';
import { asNativeError } from './native.js';

export function serveOneRequest<Req, Res>(what: string, handle: (request: Req) => Promise<Res>): void {
  if (!process.send) {
    process.stderr.write(`ringmaster: the ${what} process is started by ringmaster ${what}, not by hand\n`);
    process.exit(2);
  }
  const reply = (m: OneShotReply<Res>) => new Promise<void>((resolve) => process.send!(m, undefined, {}, () => resolve()));
  process.once('message', (request: Req) => {
    handle(request)
      .then((result) => reply({ type: 'result', result }))
      .catch((e: unknown) => {
        const err = asNativeError(e);
        return reply(isRingmasterError(err) ? { type: 'error', code: err.code, message: err.message } : { type: 'error', code: 'INTERNAL', message: `internal error: ${String(err)}` });
      })
      .finally(() => process.disconnect());
  });
}
