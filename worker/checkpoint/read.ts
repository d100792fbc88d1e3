/**
 * Opening checkpoints. A checkpoint is valid when its manifest parses and every file it lists
 * exists with the recorded size and sha256; files the manifest does not list are ignored.
 * Reading a file verifies it again, so what is decoded is exactly what the manifest vouches for
 * even if the file changed after opening.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isRingmasterError, RingmasterError, type ErrorCode } from '../../common/errors.js';
import { digestBytes, digestFile, type FileDigest } from './durable.js';
import { listCheckpoints, MANIFEST_NAME, parseStepDirName } from './layout.js';
import {
  checkpointCorrupt,
  checkpointMissing,
  checkpointUnreadable,
  parseManifest,
  type Manifest,
} from './manifest.js';
import { decodeSafetensors, type SafetensorsFile } from './safetensors.js';

/** A checkpoint whose manifest and files were found valid when it was opened. */
export class Checkpoint {
  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  get step(): number {
    return this.manifest.step;
  }

  /** The files the manifest lists, sorted by name. */
  get fileNames(): string[] {
    return Object.keys(this.manifest.files).sort();
  }

  /** The bytes of one listed file, verified against the manifest again. */
  async read(name: string): Promise<Buffer> {
    const expected = this.manifest.files[name];
    if (expected === undefined || !Object.hasOwn(this.manifest.files, name)) {
      throw new RingmasterError(
        'DATA_MISSING',
        `checkpoint ${this.dir} has no file ${name} (it has ${this.fileNames.join(', ')})`,
      );
    }
    const path = join(this.dir, name);
    const bytes = await readOrExplain(path);
    checkDigest(path, digestBytes(bytes), expected);
    return bytes;
  }

  /** One listed safetensors file, verified and decoded. */
  async readTensors(name: string): Promise<SafetensorsFile> {
    return decodeSafetensors(await this.read(name), join(this.dir, name));
  }
}

/**
 * Opens the checkpoint in `dir`, reading its manifest and verifying every file it lists.
 * Throws RingmasterError DATA_MISSING (manifest or file missing), DATA_CORRUPT (manifest
 * invalid, a size or sha256 differs) or FILE_UNREADABLE, each naming the file.
 */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const manifestPath = join(dir, MANIFEST_NAME);
  const text = (await readOrExplain(manifestPath)).toString('utf8');
  const manifest = parseManifest(text, manifestPath, parseStepDirName(basename(dir)));
  for (const [name, expected] of Object.entries(manifest.files)) {
    await verifyFile(join(dir, name), expected);
  }
  return new Checkpoint(dir, manifest);
}

async function verifyFile(path: string, expected: FileDigest): Promise<void> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) checkpointCorrupt(path, 'it is not a regular file');
    size = info.size;
  } catch (e) {
    return explainReadFailure(path, e);
  }
  // Checked before hashing: cheaper, and a wrong length says more than a differing hash.
  checkSize(path, size, expected);
  let actual: FileDigest;
  try {
    actual = await digestFile(path);
  } catch (e) {
    return explainReadFailure(path, e);
  }
  checkDigest(path, actual, expected);
}

function checkSize(path: string, bytes: number, expected: FileDigest): void {
  if (bytes !== expected.bytes) checkpointCorrupt(path, `it is ${bytes} bytes long, the manifest records ${expected.bytes}`);
}

function checkDigest(path: string, actual: FileDigest, expected: FileDigest): void {
  checkSize(path, actual.bytes, expected);
  if (actual.sha256 !== expected.sha256) {
    checkpointCorrupt(path, `sha256 differs from the manifest (${actual.sha256}, expected ${expected.sha256})`);
  }
}

async function readOrExplain(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    return explainReadFailure(path, e);
  }
}

function explainReadFailure(path: string, e: unknown): never {
  if (isRingmasterError(e)) throw e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') checkpointMissing(path);
  return checkpointUnreadable(path, code === 'EISDIR' ? 'is a directory, expected a file' : (code ?? String(e)));
}

export interface OpenNewestOptions {
  /** Open exactly this step: no fallback, its absence or invalidity is an error. */
  step?: number;
  /** Told about each invalid checkpoint passed over, newest first; `reason` is one line. */
  onSkip?: (path: string, reason: string, error: RingmasterError) => void;
}

/** The errors that make a checkpoint invalid rather than the reading of checkpoints impossible. */
const INVALID: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['DATA_MISSING', 'DATA_CORRUPT', 'FILE_UNREADABLE']);

/**
 * Opens the newest valid checkpoint under `root`, passing over invalid ones (reported through
 * onSkip); null when there is none. With `step`, opens that step's checkpoint or throws.
 */
export async function openNewestValidCheckpoint(
  root: string,
  options: OpenNewestOptions = {},
): Promise<Checkpoint | null> {
  const published = await listCheckpoints(root);
  if (options.step !== undefined) {
    const wanted = published.find((c) => c.step === options.step);
    if (wanted === undefined) {
      const steps = published.map((c) => c.step).join(', ') || 'none';
      throw new RingmasterError('DATA_MISSING', `no checkpoint of step ${options.step} in ${root} (steps there: ${steps})`);
    }
    return openCheckpoint(wanted.path);
  }
  for (const candidate of published) {
    try {
      return await openCheckpoint(candidate.path);
    } catch (e) {
      if (!isRingmasterError(e) || !INVALID.has(e.code)) throw e;
      options.onSkip?.(candidate.path, e.message, e);
    }
  }
  return null;
}
