/**
 * manifest.json: what a checkpoint directory holds. On disk one flat JSON object:
 *
 *   { "format": 1, "step": 150,
 *     ...the caller's fields (spec hash, layout, RNG and data-loader state, loss scaler, schedule),
 *     "files": { "<name>": { "sha256": "<64 hex>", "bytes": 1234 }, ... } }
 *
 * `format`, `step` and `files` are ours; every other key belongs to the caller, which validates
 * its own fields. The manifest is written last, so a directory with a manifest whose files all
 * match it is a whole checkpoint.
 */
import { dirname } from 'node:path';
import { RingmasterError } from '../../common/errors.js';
import type { FileDigest } from './durable.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The caller's part of the manifest. */
export type ManifestFields = { [key: string]: JsonValue };

/** Bumped when the meaning of the manifest changes; readers refuse formats they do not know. */
export const MANIFEST_FORMAT = 1;

export interface Manifest {
  format: number;
  step: number;
  /** Every file of the checkpoint but the manifest, by name within the directory. */
  files: Record<string, FileDigest>;
  fields: ManifestFields;
}

const RESERVED = new Set(['format', 'step', 'files']);
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The manifest's text. Throws RangeError when `fields` uses one of the reserved keys. */
export function manifestText(step: number, fields: ManifestFields, files: Record<string, FileDigest>): string {
  for (const key of Object.keys(fields)) {
    if (RESERVED.has(key)) throw new RangeError(`manifest field ${key} is reserved`);
  }
  return `${JSON.stringify({ format: MANIFEST_FORMAT, step, ...fields, files }, null, 2)}\n`;
}

/**
 * Parses and validates a manifest read from `file`. `step` is the step its directory's name
 * stands for, when it has such a name; the manifest must agree with it. DATA_CORRUPT on any defect.
 */
export function parseManifest(text: string, file: string, step: number | undefined): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return checkpointCorrupt(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(parsed)) return checkpointCorrupt(file, 'not a JSON object');
  const { format, step: recorded, files, ...fields } = parsed;
  if (format !== MANIFEST_FORMAT) {
    checkpointCorrupt(file, `format ${JSON.stringify(format)} is not ${MANIFEST_FORMAT} (written by another Ringmaster version?)`);
  }
  if (typeof recorded !== 'number' || !Number.isSafeInteger(recorded) || recorded < 0) {
    return checkpointCorrupt(file, `step ${JSON.stringify(recorded)} is not a non-negative integer`);
  }
  if (step !== undefined && recorded !== step) {
    checkpointCorrupt(file, `records step ${recorded}, its directory is for step ${step}`);
  }
  return { format, step: recorded, files: parseFiles(files, file), fields: fields as ManifestFields };
}

function parseFiles(files: unknown, file: string): Record<string, FileDigest> {
  if (!isRecord(files)) return checkpointCorrupt(file, '"files" is not a JSON object');
  // No prototype, so a file named "__proto__" or "toString" is just a name.
  const out: Record<string, FileDigest> = Object.create(null) as Record<string, FileDigest>;
  for (const [name, entry] of Object.entries(files)) {
    // Names stay inside the checkpoint directory, whatever the manifest says.
    if (!isPlainName(name)) checkpointCorrupt(file, `file name ${JSON.stringify(name)} is not a plain file name`);
    const digest = isRecord(entry) ? entry : {};
    const { sha256, bytes } = digest;
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
      checkpointCorrupt(file, `file ${name} has no valid sha256`);
    }
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
      checkpointCorrupt(file, `file ${name} has no valid byte count`);
    }
    out[name] = { sha256, bytes };
  }
  if (Object.keys(out).length === 0) checkpointCorrupt(file, 'lists no files');
  return out;
}

export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fix(file: string): string {
  return `delete ${dirname(file)} or resume from an older checkpoint`;
}

/** DATA_CORRUPT: `file` of a checkpoint exists but its contents are wrong. */
export function checkpointCorrupt(file: string, why: string): never {
  throw new RingmasterError('DATA_CORRUPT', `checkpoint file ${file} is corrupt: ${why} (${fix(file)})`);
}

/** DATA_MISSING: `file` of a checkpoint does not exist. */
export function checkpointMissing(file: string): never {
  throw new RingmasterError('DATA_MISSING', `checkpoint file ${file} is missing (${fix(file)})`);
}

/** FILE_UNREADABLE: `file` of a checkpoint exists but cannot be read. */
export function checkpointUnreadable(file: string, reason: string): never {
  throw new RingmasterError('FILE_UNREADABLE', `checkpoint file ${file} cannot be read: ${reason} (${fix(file)})`);
}
