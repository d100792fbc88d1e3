/**
 * Joins a job attempt's process group: the native group finds its peers through the
 * coordinator's rendezvous store, then talks to them directly, so the store client is closed
 * as soon as the join settles.
 */
import type { DistributedPlacement } from '../common/rank-messages.js';
import { loadNative, type ProcessGroup } from './native.js';
import { CoordinatorStore } from './rendezvous-client.js';

export async function joinProcessGroup(p: DistributedPlacement, timeoutMs: number): Promise<ProcessGroup> {
  const store = new CoordinatorStore(p.coordinator, p.scope);
  try {
    return await loadNative().createProcessGroup({ rank: p.rank, size: p.worldSize, hostname: p.hostname, machine: p.machine, timeoutMs, store });
  } finally {
    store.close();
  }
}
