/**
 * Writing checkpoints, by several ranks into one directory:
 *
 *   1. every rank:   dir = await stageCheckpoint(root, step, token)       (idempotent)
 *   2. every rank:   await writeDurable(join(dir, 'stage-0.safetensors'), bytes)
 *   3. all ranks:    a barrier, so every file is durable before step 4
 *   4. one rank:     await publishCheckpoint(root, step, token, fields)
 *   5. that rank:    await pruneCheckpoints(root, { keep, token })
 *
 * Until step 4 renames it, the checkpoint lives in a hidden staging directory that nothing
 * lists, so a crash at any point leaves either the previous set of checkpoints or the new
 * one, never a directory that looks whole but is not. The token names the attempt (it must be
 * unique per attempt): staging directories with another token are a dead attempt's leftovers.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RingmasterError } from '../../common/errors.js';
import { digestFile, syncDir, writeDurable, writeError, type FileDigest } from './durable.js';
import { hiddenDirName, listCheckpoints, MANIFEST_NAME, parseHiddenDirName, readRoot, stepDirName } from './layout.js';
import { manifestText, type ManifestFields } from './manifest.js';

/** Creates (if needed) and returns the staging directory of `step` for this attempt. */
export async function stageCheckpoint(root: string, step: number, token: string): Promise<string> {
  const dir = join(root, hiddenDirName(step, 'tmp', token));
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw writeError(dir, e);
  }
  return dir;
}

/**
 * Publishes the staging directory of `step`: records the sha256 and size of every file in it
 * in manifest.json next to `fields`, makes all of it durable and renames it to
 * `<root>/step-NNNNNNNN`, replacing a checkpoint of the same step if there is one. Call it once,
 * after every rank's writeDurable has resolved. Returns the published directory.
 */
export async function publishCheckpoint(
  root: string,
  step: number,
  token: string,
  fields: ManifestFields,
): Promise<string> {
  const staging = join(root, hiddenDirName(step, 'tmp', token));
  const files = await digestStaged(staging);
  await writeDurable(join(staging, MANIFEST_NAME), Buffer.from(manifestText(step, fields, files), 'utf8'));
  await syncDir(staging);
  const published = join(root, stepDirName(step));
  await moveInto(staging, published, join(root, hiddenDirName(step, 'old', token)));
  await syncDir(root);
  await syncDir(dirname(root)); // the root itself may have been created by this checkpoint's stage
  return published;
}

/** The digest of every file in the staging directory but a manifest left by an earlier try. */
async function digestStaged(staging: string): Promise<Record<string, FileDigest>> {
  let entries;
  try {
    entries = await readdir(staging, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (code !== 'ENOENT') {
      throw new RingmasterError('FILE_UNREADABLE', `checkpoint staging directory ${staging} cannot be read: ${code}`);
    }
    throw new RingmasterError('DATA_MISSING', `checkpoint staging directory ${staging} does not exist (stage it before writing)`);
  }
  const files: Record<string, FileDigest> = {};
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name === MANIFEST_NAME) continue;
    const path = join(staging, entry.name);
    // Only files are covered by the manifest's digests, so nothing else may be published.
    if (!entry.isFile()) throw new RingmasterError('DATA_CORRUPT', `checkpoint staging entry ${path} is not a file`);
    try {
      files[entry.name] = await digestFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new RingmasterError('FILE_UNREADABLE', `checkpoint file ${path} cannot be read: ${code}`);
    }
  }
  if (Object.keys(files).length === 0) {
    throw new RingmasterError('DATA_MISSING', `checkpoint staging directory ${staging} holds no files to publish`);
  }
  return files;
}

/**
 * Renames `from` to `to`. When `to` already holds a checkpoint (a step written again after a
 * restart), it is moved to `aside` first and removed only once `from` has taken its name, so
 * there is never a moment with no copy of the step on disk.
 */
async function moveInto(from: string, to: string, aside: string): Promise<void> {
  try {
    try {
      await rename(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    await rm(aside, { recursive: true, force: true }); // an older try's leftover; `to` still exists
    await rename(to, aside);
    await rename(from, to);
    await syncDir(dirname(to));
    await rm(aside, { recursive: true, force: true });
  } catch (e) {
    throw writeError(to, e);
  }
}

export interface PruneOptions {
  /** How many published checkpoints to keep, newest first; at least 1. */
  keep: number;
  /** The current attempt's token: its staging directories are left alone. */
  token: string;
}

/**
 * Removes all but the newest `keep` published checkpoints, and the hidden directories left by
 * other attempts. A checkpoint is first renamed to a hidden name, so a crash while removing it
 * never leaves a partial checkpoint visible. Returns the removed checkpoints' paths.
 */
export async function pruneCheckpoints(root: string, options: PruneOptions): Promise<string[]> {
  const { keep, token } = options;
  if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be an integer ≥ 1, got ${keep}`);
  const removed: string[] = [];
  for (const old of (await listCheckpoints(root)).slice(keep)) {
    const doomed = join(root, hiddenDirName(old.step, 'del', token));
    try {
      await rename(old.path, doomed);
    } catch (e) {
      throw writeError(old.path, e);
    }
    removed.push(old.path);
  }
  if (removed.length > 0) await syncDir(root);
  for (const entry of await readRoot(root)) {
    const hidden = entry.isDirectory() ? parseHiddenDirName(entry.name) : undefined;
    if (hidden === undefined || (hidden.token === token && hidden.kind !== 'del')) continue;
    const path = join(root, entry.name);
    try {
      await rm(path, { recursive: true, force: true });
    } catch (e) {
      throw writeError(path, e);
    }
  }
  return removed;
}
