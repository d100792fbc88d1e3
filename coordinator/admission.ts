/**
 * What a submitted job must pass before it is queued: a priority in range, a spec within its size
 * limit that validates (its schema only: the data is on the workers' machines, which check it
 * before a rank starts), a rank that fits some connected worker's slot, and paths inside the
 * allowed roots of some worker that could run it. Each refusal is one line, as BAD_SPEC.
 */
import { RingmasterError } from '../common/errors.js';
import { checkPriority, checkSpecSize } from '../jobs/load.js';
import { estimateMemory, formatBytes } from '../jobs/memory.js';
import { outsideRoots, type AllowedRoots } from '../jobs/roots.js';
import type { JobSpec } from '../jobs/types.js';
import { validateSpec } from '../jobs/validate.js';

/** A connected worker, as far as admission needs it. */
export interface AdmittingWorker {
  workerId: string;
  slots: { kind: string; index: number }[];
  memoryBytes?: number; // the machine's, shared by its slots; absent or 0: not known
  roots?: AllowedRoots; // absent: it did not say
}

/** The validated spec of a job that may be queued; throws the refusal otherwise. */
export function admit(specJson: string, priority: number, workers: AdmittingWorker[]): JobSpec {
  checkPriority(priority);
  checkSpecSize(Buffer.byteLength(specJson), 'the submitted spec');
  let raw: unknown;
  try {
    raw = JSON.parse(specJson);
  } catch {
    throw new RingmasterError('BAD_SPEC', 'spec: not valid JSON');
  }
  const spec = validateSpec(raw, { specDir: '/', checkFiles: false });
  checkFits(spec, workers);
  checkRoots(spec, workers);
  return spec;
}

/**
 * Refuses a job whose rank needs more memory (estimated from the spec: jobs/memory.ts) than any
 * connected worker's slot of its kind has, the machine's memory shared by its slots. With no
 * such worker connected, or none that says its memory, the job waits for one.
 */
function checkFits(spec: JobSpec, workers: AdmittingWorker[]): void {
  const shares = workers.flatMap((w) => {
    const mine = w.slots.filter((s) => s.kind === spec.device).length;
    return mine > 0 && w.memoryBytes ? [{ workerId: w.workerId, share: w.memoryBytes / w.slots.length, memory: w.memoryBytes, slots: w.slots.length }] : [];
  });
  if (shares.length === 0) return;
  const best = shares.reduce((a, b) => (b.share > a.share ? b : a));
  const need = estimateMemory(spec);
  if (need.bytes <= best.share) return;
  throw new RingmasterError('BAD_SPEC', `spec: a rank of this job needs about ${formatBytes(need.bytes)} (parameters, gradients and optimizer state ${formatBytes(need.parameters)}, activations ${formatBytes(need.activations)}), more than a ${spec.device} slot has (${formatBytes(best.share)}: worker ${best.workerId}'s ${formatBytes(best.memory)} over its ${best.slots} slot${best.slots === 1 ? '' : 's'}) (lower batch.micro or the model's size, or split it with parallel.pipeline)`);
}

/**
 * Refuses a job whose data or checkpoint path leaves the allowed roots (jobs/roots.ts) of every
 * connected worker with slots of its kind. With no such worker that says its roots, the job
 * waits; the worker that gets it checks again before it starts a rank.
 */
function checkRoots(spec: JobSpec, workers: AdmittingWorker[]): void {
  const candidates = workers.filter((w) => w.roots && w.slots.some((s) => s.kind === spec.device));
  const refusals = candidates.map((w) => outsideRoots(spec, w.roots!, `worker ${w.workerId}`));
  if (refusals.length === 0 || refusals.some((r) => r === undefined)) return;
  throw new RingmasterError('BAD_SPEC', refusals[0]!);
}
