/**
 * Joins a job attempt's process group: the native group finds its peers through the
 * coordinator's rendezvous store, then talks to them directly, so the store client is closed
 * as soon as the join settles.
 */
import type { DistributedPlacement } from './rank-messages.js';
import { clientToken } from '../common/token.js';
import { clientTls } from '../proto/transport.js';
import { asNativeError, loadNative, NativeError, type ProcessGroup } from './native.js';
import { CoordinatorStore } from './rendezvous-client.js';

/** timeoutMs bounds every collective; joinTimeoutMs the wait for every rank to join. */
export async function joinProcessGroup(p: DistributedPlacement, timeoutMs: number, joinTimeoutMs = timeoutMs, backend: 'gloo' | 'nccl' = 'gloo'): Promise<ProcessGroup> {
  const store = new CoordinatorStore(p.coordinator, p.scope, p.token ?? clientToken(), p.tls ?? clientTls({}));
  try {
    return await loadNative().createProcessGroup({ rank: p.rank, size: p.worldSize, hostname: p.hostname, machine: p.machine, timeoutMs, joinTimeoutMs, store, backend });
  } finally {
    store.close();
  }
}

/** How long ranks that timed out at one collective wait for each other to say so. */
const ROLL_CALL_MS = 2_000;

/**
 * A collective that timed out over TCP cannot tell which peer is missing (within a machine the
 * shared-memory barrier can, and says so). This asks the coordinator: every rank whose
 * collective timed out records it there under the operation's name and sequence number, waits
 * briefly for the others to do the same, and names the ranks that did not: dead, hung, or stuck
 * elsewhere. Other errors, and timeouts that already name the missing ranks, pass unchanged.
 */
export async function nameMissingRanks(error: unknown, p: DistributedPlacement): Promise<unknown> {
  const e = asNativeError(error);
  if (!(e instanceof NativeError) || e.nativeCode !== 'COLLECTIVE_TIMEOUT' || e.missingRanks) return e;
  const operation = /^(\w+ #\d+)/.exec(e.message)?.[1];
  if (!operation) return e;
  const store = new CoordinatorStore(p.coordinator, p.scope, p.token ?? clientToken(), p.tls ?? clientTls({}));
  const key = (rank: number) => `timed-out/${operation}/${rank}`;
  try {
    await store.set(key(p.rank), Buffer.from('1'));
    const everyone = Array.from({ length: p.worldSize }, (_, r) => key(r));
    await store.wait(everyone, ROLL_CALL_MS).catch(() => undefined); // a missing rank never answers
    const missing: number[] = [];
    for (let r = 0; r < p.worldSize; r++) {
      if (!(await store.get(key(r)).then(() => true, () => false))) missing.push(r);
    }
    if (missing.length === 0) return e;
    return new NativeError(e.nativeCode, `${e.message}; rank(s) ${missing.join(', ')} never reached ${operation}`);
  } catch {
    return e; // the coordinator is gone too: the original error is all there is
  } finally {
    store.close();
  }
}
