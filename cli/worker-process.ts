/** The CLI side of common/one-shot.ts: forks a worker entry, sends one request, awaits its reply. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RingmasterError, isErrorCode } from '../common/errors.js';
import type { OneShotReply } from '../common/one-shot.js';

/** `entry` is relative to dist/worker/, e.g. 'sample-main.js'. Rejects with the worker's error. */
export function askWorkerProcess<Req, Res>(entry: string, request: Req): Promise<Res> {
  const file = fileURLToPath(new URL(`../worker/${entry}`, import.meta.url));
  const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send(request as object);
  return new Promise((resolve, reject) => {
    let reply: OneShotReply<Res> | undefined;
    child.on('message', (m: OneShotReply<Res>) => void (reply = m));
    child.on('error', (e) => reject(new Error(`cannot start the ${entry} process: ${e.message}`)));
    child.on('close', (code, signal) => { // after 'exit' and the last message
      if (reply?.type === 'result') return resolve(reply.result);
      if (reply?.type === 'error') return reject(isErrorCode(reply.code) ? new RingmasterError(reply.code, reply.message) : new Error(reply.message));
      reject(new Error(`the ${entry} process ended without an answer (${signal ?? `exit code ${code}`})`));
    });
  });
}
