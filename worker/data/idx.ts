/**
 * Reader for the IDX files of (Fashion-)MNIST: a big-endian header, then the values row-major.
 *
 *   bytes 0..3   magic: 0x00 0x00 <value type, 0x08 = uint8> <number of dimensions>
 *   bytes 4..    one uint32 per dimension
 *   then         product(dims) values
 *
 * Only uint8 payloads exist in these data sets, so only they are accepted. A file may be gzip
 * compressed (as the Debian package ships them); that is detected by the gzip magic 1f 8b.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { RingmasterError } from '../../common/errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array; // product(dims) values, row-major
}

/** What the caller expects a file to hold; the kind fixes the magic and so the number of dims. */
export type IdxKind = 'images' | 'labels';

const MAGIC: Record<IdxKind, number> = {
  images: 0x00000803, // uint8, 3 dimensions: count × rows × columns
  labels: 0x00000801, // uint8, 1 dimension: count
};

export interface ReadIdxOptions {
  kind: IdxKind;
  /** How a person gets the file; ends the DATA_MISSING message. */
  missingFix: string;
}

/** Why a read can fail even though the path exists, as a person should read it. */
const UNREADABLE_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, expected a file',
};

/**
 * Reads and parses one IDX file. Throws RingmasterError: DATA_MISSING when the file does not
 * exist, FILE_UNREADABLE when it cannot be read, DATA_CORRUPT when its contents are invalid.
 */
export async function readIdxFile(file: string, options: ReadIdxOptions): Promise<IdxArray> {
  return parseIdx(await readBytes(file, options.missingFix), options.kind, file);
}

/**
 * Parses the bytes of an IDX file (gzip compressed or not). `file` only names the source in
 * errors. For an uncompressed input, the returned data is a view into `bytes`, not a copy.
 */
export function parseIdx(bytes: Uint8Array, kind: IdxKind, file: string): IdxArray {
  const raw = isGzip(bytes) ? gunzip(bytes, file) : bytes;
  const dims = readHeader(raw, kind, file);
  const headerBytes = 4 + 4 * dims.length;
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerBytes;
  if (actual !== expected) {
    corrupt(file, `holds ${actual} bytes of data, expected ${expected} for dimensions ${dims.join('×')}`);
  }
  return { dims, data: raw.subarray(headerBytes) };
}

async function readBytes(file: string, missingFix: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new RingmasterError('DATA_MISSING', `${file}: no such file (${missingFix})`);
    }
    const reason = (code && UNREADABLE_REASONS[code]) ?? code ?? String(e);
    throw new RingmasterError('FILE_UNREADABLE', `${file}: cannot be read: ${reason}`);
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function gunzip(bytes: Uint8Array, file: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    return corrupt(file, `is not valid gzip (${(e as Error).message})`);
  }
}

function readHeader(raw: Uint8Array, kind: IdxKind, file: string): number[] {
  const magic = MAGIC[kind];
  const rank = magic & 0xff;
  const headerBytes = 4 + 4 * rank;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const found = raw.length >= 4 ? view.getUint32(0) : undefined;
  if (found !== magic) {
    const what = found === undefined ? `is ${raw.length} bytes long` : `starts with magic ${hex(found)}`;
    corrupt(file, `${what}, expected magic ${hex(magic)} (IDX ${kind}: uint8, ${rank} dimensions)`);
  }
  if (raw.length < headerBytes) corrupt(file, `ends inside its ${headerBytes}-byte header`);
  return Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
}

function hex(word: number): string {
  return `0x${word.toString(16).padStart(8, '0')}`;
}

function corrupt(file: string, why: string): never {
  throw new RingmasterError('DATA_CORRUPT', `${file}: not a valid IDX file: ${why}`);
}
