/**
 * Entry point of the coordinator process (`ringmaster coordinator` and `ringmaster up` start it):
 *   node dist/coordinator/main.js --host H --port P --state-dir DIR [--heartbeat-timeout-ms N]
 */
import { parseArgs } from 'node:util';
import { isRingmasterError } from '../common/errors.js';
import { DEFAULT_HEARTBEAT } from './worker-sessions.js';
import { startCoordinator } from './server.js';
import { StoreError } from './store.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: 'localhost' },
      port: { type: 'string', default: '7470' },
      'state-dir': { type: 'string', default: '.ringmaster' },
      'heartbeat-timeout-ms': { type: 'string', default: String(DEFAULT_HEARTBEAT.timeoutMs) },
    },
  });
  const timeoutMs = Number(values['heartbeat-timeout-ms']);
  const coordinator = await startCoordinator({
    host: values.host,
    port: Number(values.port),
    stateDir: values['state-dir'],
    heartbeat: { intervalMs: Math.min(DEFAULT_HEARTBEAT.intervalMs, timeoutMs / 3), timeoutMs },
  });
  const stop = () => void coordinator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  const known = isRingmasterError(e) || e instanceof StoreError;
  process.stderr.write(`ringmaster: ${known ? (e as Error).message : `coordinator failed: ${e instanceof Error ? e.message : String(e)}`}\n`);
  process.exit(known ? 2 : 1);
});
