/**
 * The names of a published checkpoint, shared by the ranks that write and read checkpoints
 * (worker/checkpoint/layout.ts) and the CLI that points `ringmaster train --resume` at them:
 *
 *   step-00000150/manifest.json    the checkpoint of step 150 and its manifest
 *
 * Only the canonical spelling (8 digits or more, zero-padded, no extra leading zeros) names a
 * checkpoint, so one step never has two directories.
 */

export const MANIFEST_NAME = 'manifest.json';

const STEP_DIGITS = 8;
const PUBLISHED = /^step-(\d+)$/;

/** `step-00000150`: zero-padded so a plain sort of names is a sort by step. */
export function stepDirName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`invalid checkpoint step ${step}`);
  return `step-${String(step).padStart(STEP_DIGITS, '0')}`;
}

/** The step a published checkpoint directory name stands for; undefined for any other name. */
export function parseStepDirName(name: string): number | undefined {
  const match = PUBLISHED.exec(name);
  if (match === null) return undefined;
  const step = Number(match[1]);
  return Number.isSafeInteger(step) && stepDirName(step) === name ? step : undefined;
}

/** Where an attempt publishes its checkpoints (see worker/checkpoint/write.ts). */
export interface CheckpointTarget {
  root: string; // <spec checkpoint.dir>/<job id> on a cluster; a directory per run for `ringmaster train`
  token: string; // unique per attempt, [A-Za-z0-9_-]: names its staging directories
}

/** Start from a checkpoint: the newest valid one under `root`, or exactly `step` (no fallback). */
export interface ResumeFrom {
  root: string;
  step?: number;
}
