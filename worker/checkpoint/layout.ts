/**
 * Names inside a checkpoint root directory:
 *
 *   step-00000150/                 a published checkpoint: manifest.json and its files
 *   .step-00000150.tmp-<token>     a staging directory, filled by the ranks of one attempt
 *   .step-00000150.old-<token>     a published step moved aside while it is replaced
 *   .step-00000150.del-<token>     a published step being removed by prune
 *
 * Only `step-<8+ digits>` directories are checkpoints; the hidden names are never listed as
 * checkpoints, so a crash while writing, replacing or pruning never leaves a half-written
 * directory that looks whole. Anything else in the root is left alone.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseStepDirName, stepDirName } from '../../common/checkpoint-names.js';
import { RingmasterError } from '../../common/errors.js';

export { MANIFEST_NAME, parseStepDirName, stepDirName } from '../../common/checkpoint-names.js';

export interface PublishedCheckpoint {
  step: number;
  /** The checkpoint's directory. */
  path: string;
}

/** What a hidden directory is doing; see the table above. */
export type HiddenKind = 'tmp' | 'old' | 'del';

const HIDDEN = /^\.step-(\d+)\.(tmp|old|del)-([A-Za-z0-9_-]+)$/;
const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * The hidden directory of `kind` for a step. The token (e.g. the job attempt id) must be unique
 * per attempt, so a crashed attempt's leftovers are never mixed with the current one's files.
 */
export function hiddenDirName(step: number, kind: HiddenKind, token: string): string {
  if (!TOKEN.test(token)) throw new RangeError(`invalid checkpoint token ${JSON.stringify(token)} (use [A-Za-z0-9_-])`);
  return `.${stepDirName(step)}.${kind}-${token}`;
}

/** The parts of a hidden directory's name; undefined for any other name. */
export function parseHiddenDirName(name: string): { step: number; kind: HiddenKind; token: string } | undefined {
  const match = HIDDEN.exec(name);
  if (match === null) return undefined;
  const step = Number(match[1]);
  const kind = match[2] as HiddenKind;
  const token = match[3] as string;
  return Number.isSafeInteger(step) && hiddenDirName(step, kind, token) === name ? { step, kind, token } : undefined;
}

/**
 * The published checkpoints under `root`, newest first. Staging and other hidden directories,
 * files and unrelated names are ignored; a missing root has none.
 */
export async function listCheckpoints(root: string): Promise<PublishedCheckpoint[]> {
  const found: PublishedCheckpoint[] = [];
  for (const entry of await readRoot(root)) {
    const step = entry.isDirectory() ? parseStepDirName(entry.name) : undefined;
    if (step !== undefined) found.push({ step, path: join(root, entry.name) });
  }
  return found.sort((a, b) => b.step - a.step);
}

/** The entries of the root directory; [] when it does not exist. */
export async function readRoot(root: string): Promise<Dirent[]> {
  try {
    return await readdir(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new RingmasterError('FILE_UNREADABLE', `checkpoint directory ${root} cannot be read: ${code ?? String(e)}`);
  }
}
