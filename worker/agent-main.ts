/**
 * Entry point of the worker agent process (`ringmaster worker` and `ringmaster up` start it):
 *   node dist/worker/agent-main.js --coordinator host:port --slots cpu:2 [--address A] [--token-file F]
 *     [--tls-ca F [--tls-cert F --tls-key F]]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { isRingmasterError } from '../common/errors.js';
import { Logger } from '../common/log.js';
import { clientToken } from '../common/token.js';
import { clientTls, type ClientTls } from '../proto/transport.js';
import { WorkerAgent } from './agent.js';

/** "cpu:2" → two cpu slots (0, 1); "cuda:4" → CUDA devices 0..3. */
export function parseSlots(text: string): { kind: string; index: number }[] {
  const m = /^(cpu|cuda):([1-9]\d*)$/.exec(text.trim());
  if (!m) throw new Error(`--slots ${text}: expected cpu:N or cuda:N with N ≥ 1, e.g. cpu:2`);
  return Array.from({ length: Number(m[2]) }, (_, index) => ({ kind: m[1], index }));
}

function main(): void {
  const { values } = parseArgs({
    options: {
      coordinator: { type: 'string', default: 'localhost:7470' },
      slots: { type: 'string', default: `cpu:${Math.max(1, Math.floor(os.availableParallelism() / 2))}` },
      address: { type: 'string', default: os.hostname() },
      'token-file': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
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
  const agent = new WorkerAgent({ coordinator: values.coordinator, slots, address: values.address, token, tls, log: new Logger('worker', undefined) });
  agent.start();
  const stop = () => {
    agent.shutdown();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
