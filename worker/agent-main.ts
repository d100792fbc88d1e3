/**
 * Entry point of the worker agent process (`ringmaster worker` and `ringmaster up` start it):
 *   node dist/worker/agent-main.js --coordinator host:port [--slots auto|cpu:N|cuda:N] [--address A] [--token-file F]
 *     [--data-root DIR]… [--checkpoint-root DIR]… [--drain-timeout-s S] [--orphan-grace-s S]
 *     [--tls-ca F [--tls-cert F --tls-key F]]
 * SIGTERM drains it: its ranks checkpoint at their next step and stop, their jobs are queued again.
 * Its ranks train on for --orphan-grace-s while the coordinator is unreachable (it may be restarting).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { isRingmasterError } from '../common/errors.js';
import { announceReady } from '../common/readiness.js';
import { Logger } from '../common/log.js';
import { clientToken } from '../common/token.js';
import { clientTls, type ClientTls } from '../proto/transport.js';
import { WorkerAgent } from './agent.js';
import { loadNative } from './native.js';
import { parseSlots } from './slots.js';
import { defaultRoots } from '../jobs/roots.js';

function main(): void {
  const { values } = parseArgs({
    options: {
      coordinator: { type: 'string', default: 'localhost:7470' },
      slots: { type: 'string', default: 'auto' },
      address: { type: 'string', default: os.hostname() },
      'token-file': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'data-root': { type: 'string', multiple: true },
      'checkpoint-root': { type: 'string', multiple: true },
      'drain-timeout-s': { type: 'string', default: '120' },
      'orphan-grace-s': { type: 'string', default: '300' },
    },
  });
  let slots: { kind: string; index: number }[];
  let token: string | undefined;
  let tls: ClientTls | undefined;
  try {
    slots = parseSlots(values.slots);
    token = clientToken(values['token-file']);
    tls = clientTls({ ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] });
  } catch (e) {
    process.stderr.write(`ringmaster: ${isRingmasterError(e) ? e.message : (e as Error).message}\n`);
    process.exit(2);
  }
  const log = new Logger('worker', undefined);
  if (slots[0].kind === 'cuda') {
    for (const g of loadNative().cudaDevices()) log.info(`GPU ${g.index}: ${g.name}, ${(g.memoryBytes / 2 ** 30).toFixed(0)} GiB, compute capability ${g.capability}`);
  }
  // Where its jobs may read and write (jobs/roots.ts): the flags, else the working directory.
  const defaults = defaultRoots(process.cwd());
  const roots = { data: values['data-root'] ?? defaults.data, checkpoints: values['checkpoint-root'] ?? defaults.checkpoints };
  log.info(`jobs may read data under ${roots.data.join(', ')} and write checkpoints under ${roots.checkpoints.join(', ')}`);
  const exit = () => setTimeout(() => process.exit(0), 200).unref();
  const seconds = (flag: 'drain-timeout-s' | 'orphan-grace-s') => {
    const ms = Number(values[flag]) * 1000;
    if (ms > 0 && Number.isFinite(ms)) return ms;
    process.stderr.write(`ringmaster: --${flag} ${values[flag]}: expected a number of seconds > 0\n`);
    process.exit(2);
  };
  const agent = new WorkerAgent({ coordinator: values.coordinator, slots, address: values.address, token, tls, roots, log, drainTimeoutMs: seconds('drain-timeout-s'), orphanGraceMs: seconds('orphan-grace-s'), onDrained: exit,
    onRegistered: (workerId) => announceReady({ type: 'registered', workerId }) });
  agent.start();
  // SIGTERM drains (checkpoint, requeue: preemption); SIGINT, or a second signal, stops at once.
  const stop = () => {
    agent.shutdown();
    exit();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', () => {
    process.once('SIGTERM', stop);
    void agent.drain().then(exit);
  });
}

main();
