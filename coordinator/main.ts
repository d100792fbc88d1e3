/**
 * Entry point of the coordinator process (`ringmaster coordinator` and `ringmaster up` start it):
 *   node dist/coordinator/main.js --host H --port P --state-dir DIR [--heartbeat-timeout-ms N] [--http-port N]
 *     [--forget-worker-ms N] [--tls-cert F --tls-key F [--tls-ca F]] [--insecure]
 */
import { parseArgs } from 'node:util';
import { isRingmasterError, RingmasterError } from '../common/errors.js';
import { announceReady } from '../common/readiness.js';
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
      'forget-worker-ms': { type: 'string', default: String(DEFAULT_HEARTBEAT.forgetMs) },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'http-port': { type: 'string' },
    },
  });
  const cert = values['tls-cert'], key = values['tls-key'], ca = values['tls-ca'];
  if (!cert !== !key || (ca && !cert)) throw new RingmasterError('BAD_ARGUMENT', 'TLS needs both --tls-cert and --tls-key (and --tls-ca only beside them, for mutual TLS)');
  const timeoutMs = Number(values['heartbeat-timeout-ms']);
  const coordinator = await startCoordinator({
    host: values.host,
    port: Number(values.port),
    stateDir: values['state-dir'],
    heartbeat: { intervalMs: Math.min(DEFAULT_HEARTBEAT.intervalMs, timeoutMs / 3), timeoutMs, forgetMs: Number(values['forget-worker-ms']) },
    ...(cert && key ? { tls: { cert, key, ...(ca ? { ca } : {}) } } : {}),
    insecure: values.insecure,
    ...(values['http-port'] !== undefined ? { httpPort: Number(values['http-port']) } : {}),
  });
  announceReady({ type: 'listening', port: coordinator.port, ...(coordinator.httpPort !== undefined ? { httpPort: coordinator.httpPort } : {}) });
  const stop = () => void coordinator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  const known = isRingmasterError(e) || e instanceof StoreError;
  process.stderr.write(`ringmaster: ${known ? (e as Error).message : `coordinator failed: ${e instanceof Error ? e.message : String(e)}`}\n`);
  process.exit(known ? 2 : 1);
});
