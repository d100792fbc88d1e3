/**
 * A pure gang scheduler: given the queue and the workers' slots, decide which jobs start now.
 *
 * - Order: priority descending, then submittedAt ascending, then id.
 * - Gang: a job is placed only when all its slots of its device kind are free at once; the
 *   slots it takes are reserved for the rest of the call.
 * - Strict FIFO per device kind: the first job of a kind that could fit the cluster but not now
 *   waits, and every later job of that kind waits behind it, so large jobs are never starved.
 *   Jobs of other kinds are unaffected. A job that can never fit waits without blocking anyone.
 * - Packing: ranks go onto as few workers as possible — workers by most free slots of the kind
 *   (ties by workerId), each filled in slot-index order, so ranks on one worker are consecutive.
 *
 * Every job of the queue appears exactly once, in `placements` or in `waiting`.
 */

export interface SlotRef {
  workerId: string;
  kind: string;
  index: number;
}

export interface WorkerCapacity {
  workerId: string;
  slots: { kind: string; index: number }[];
  /** Slot keys (`slotKey`) in use by active jobs. */
  busy: ReadonlySet<string>;
}

export interface PendingJob {
  id: string;
  priority: number;
  submittedAt: number;
  /** How many slots (ranks) the job needs. */
  slots: number;
  /** The slot kind it runs on: `cpu` or `cuda`. */
  device: string;
}

export interface Placement {
  jobId: string;
  /** ranks[i] is where rank i runs. */
  ranks: SlotRef[];
}

export interface Waiting {
  jobId: string;
  reason: string;
}

export function slotKey(s: { kind: string; index: number }): string {
  return `${s.kind}:${s.index}`;
}

/** The free slot indices of one kind, per worker, ascending; placing a job removes them. */
type FreeSlots = Map<string, number[]>;

interface Cluster {
  /** All slots of a kind, busy or not. */
  capacity: Map<string, number>;
  free: Map<string, FreeSlots>;
}

export function schedule(
  queue: readonly PendingJob[],
  workers: readonly WorkerCapacity[],
): { placements: Placement[]; waiting: Waiting[] } {
  const cluster = describeCluster(workers);
  const blockedBy = new Map<string, string>(); // kind → id of the job the kind waits behind
  const placements: Placement[] = [];
  const waiting: Waiting[] = [];
  for (const job of [...queue].sort(byQueueOrder)) {
    const reason = waitReason(job, cluster, blockedBy);
    if (reason === undefined) {
      placements.push({ jobId: job.id, ranks: place(job, freeOf(cluster, job.device)) });
    } else {
      waiting.push({ jobId: job.id, reason });
    }
  }
  return { placements, waiting };
}

function byQueueOrder(a: PendingJob, b: PendingJob): number {
  return b.priority - a.priority || a.submittedAt - b.submittedAt || compareStrings(a.id, b.id);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeCluster(workers: readonly WorkerCapacity[]): Cluster {
  const cluster: Cluster = { capacity: new Map(), free: new Map() };
  for (const w of workers) {
    for (const slot of w.slots) {
      cluster.capacity.set(slot.kind, (cluster.capacity.get(slot.kind) ?? 0) + 1);
      if (w.busy.has(slotKey(slot))) continue;
      const free = freeOf(cluster, slot.kind);
      free.set(w.workerId, [...(free.get(w.workerId) ?? []), slot.index]);
    }
  }
  for (const free of cluster.free.values()) {
    for (const indices of free.values()) indices.sort((a, b) => a - b);
  }
  return cluster;
}

function freeOf(cluster: Cluster, kind: string): FreeSlots {
  let free = cluster.free.get(kind);
  if (free === undefined) {
    free = new Map();
    cluster.free.set(kind, free);
  }
  return free;
}

/** Why the job cannot be placed now, or undefined when it can. Records a new FIFO blocker. */
function waitReason(
  job: PendingJob,
  cluster: Cluster,
  blockedBy: Map<string, string>,
): string | undefined {
  const kind = job.device;
  const capacity = cluster.capacity.get(kind) ?? 0;
  if (capacity === 0) {
    return `needs ${count(job.slots, `${kind} slot`)} but no worker has ${kind} slots`;
  }
  if (job.slots > capacity) {
    return `needs ${count(job.slots, `${kind} slot`)} but the cluster has ${capacity}`;
  }
  const blocker = blockedBy.get(kind);
  if (blocker !== undefined) return `queued behind ${blocker} (FIFO)`;
  const free = countFree(freeOf(cluster, kind));
  if (free >= job.slots) return undefined;
  blockedBy.set(kind, job.id);
  return `waiting for ${count(job.slots, `free ${kind} slot`)} (${free} free)`;
}

/** `1 cpu slot`, `2 cpu slots`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function countFree(free: FreeSlots): number {
  let n = 0;
  for (const indices of free.values()) n += indices.length;
  return n;
}

/** Takes the job's slots out of `free`, packing ranks onto as few workers as possible. */
function place(job: PendingJob, free: FreeSlots): SlotRef[] {
  const workers = [...free.entries()]
    .filter(([, indices]) => indices.length > 0)
    .sort(([a, ia], [b, ib]) => ib.length - ia.length || compareStrings(a, b));
  const ranks: SlotRef[] = [];
  for (const [workerId, indices] of workers) {
    const taken = indices.splice(0, job.slots - ranks.length);
    ranks.push(...taken.map((index) => ({ workerId, kind: job.device, index })));
    if (ranks.length === job.slots) break;
  }
  return ranks;
}
