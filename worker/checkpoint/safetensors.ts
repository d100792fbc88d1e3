/**
 * Encoder and decoder of the safetensors format, so a checkpoint stage file can be read by any
 * safetensors reader (Python `safetensors`, candle, …):
 *
 *   bytes 0..7        N, the header length, an unsigned 64-bit little-endian integer
 *   bytes 8..8+N      the header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
 *                       { "__metadata__": { string: string },            (optional)
 *                         "<name>": { "dtype": "F32", "shape": [2, 3],
 *                                     "data_offsets": [begin, end] }, … }
 *   bytes 8+N..       the data: every tensor's bytes, little-endian, row-major, packed without
 *                     gaps; data_offsets are relative to the start of the data
 *
 * Invariants checked by the decoder (the reference implementation's rules): the tensors' byte
 * ranges tile the data exactly (no overlap, no gap, no trailing bytes), and every range holds
 * product(shape) × itemsize bytes. BF16 and F16 values travel as their raw 16-bit patterns
 * (Uint16Array); no conversion happens here.
 */
import { RingmasterError } from '../../common/errors.js';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

export type TensorArray = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface Tensor {
  dtype: Dtype;
  /** Dimensions, outermost first; [] is a scalar (one element), any 0 makes the tensor empty. */
  shape: readonly number[];
  /**
   * The values: the dtype's typed array (see DTYPES), or for any dtype its raw little-endian
   * bytes as a Uint8Array/Buffer. The decoder always returns the dtype's typed array.
   */
  data: TensorArray;
}

export interface SafetensorsFile {
  /** In the order of their bytes in the file (which is the order they were given to encode). */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

type ArrayConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorArray;

interface DtypeInfo {
  itemsize: number;
  array: ArrayConstructor & { prototype: TensorArray };
}

const DTYPES: Record<Dtype, DtypeInfo> = {
  F64: { itemsize: 8, array: Float64Array },
  F32: { itemsize: 4, array: Float32Array },
  F16: { itemsize: 2, array: Uint16Array },
  BF16: { itemsize: 2, array: Uint16Array },
  I64: { itemsize: 8, array: BigInt64Array },
  I32: { itemsize: 4, array: Int32Array },
  U8: { itemsize: 1, array: Uint8Array },
};

const METADATA_KEY = '__metadata__';
const HEADER_ALIGN = 8; // the data then starts 8-aligned, so F64/I64 views need no copy
const LENGTH_BYTES = 8;

/** Typed arrays use the host's byte order; the format is little-endian. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/**
 * Encodes tensors (laid out in the given order) and string metadata into a safetensors file.
 * Arguments that do not describe a valid file (wrong data length or array type, a tensor named
 * `__metadata__`) are programming errors and throw TypeError/RangeError.
 */
export function encodeSafetensors(
  tensors: Iterable<readonly [string, Tensor]>,
  metadata: Readonly<Record<string, string>> = {},
): Buffer {
  requireLittleEndian();
  const entries: string[] = [];
  if (Object.keys(metadata).length > 0) entries.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson(metadata)}`);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === METADATA_KEY) throw new RangeError(`a tensor cannot be named ${METADATA_KEY}`);
    const bytes = tensorBytes(name, tensor);
    const header = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes.length] };
    // Built by hand rather than from one object: JS objects list integer-like keys ("0", "1")
    // first, which would reorder the header against the data.
    entries.push(`${JSON.stringify(name)}:${JSON.stringify(header)}`);
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const headerLength = Math.ceil(json.length / HEADER_ALIGN) * HEADER_ALIGN;
  // Buffer.alloc never hands out a slice of the shared pool, so the result starts 8-aligned.
  const out = Buffer.alloc(LENGTH_BYTES + headerLength + offset);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, LENGTH_BYTES);
  out.fill(0x20, LENGTH_BYTES + json.length, LENGTH_BYTES + headerLength);
  let at = LENGTH_BYTES + headerLength;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function metadataJson(metadata: Readonly<Record<string, string>>): string {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new TypeError(`metadata ${key} must be a string, got ${typeof value}`);
  }
  return JSON.stringify(metadata);
}

/** The tensor's bytes as a view (no copy), after checking they match dtype and shape. */
function tensorBytes(name: string, tensor: Tensor): Uint8Array {
  const info = DTYPES[tensor.dtype];
  if (info === undefined) throw new TypeError(`tensor ${name}: unknown dtype ${String(tensor.dtype)}`);
  const count = elementCount(tensor.shape);
  if (count === undefined) throw new RangeError(`tensor ${name}: invalid shape [${tensor.shape.join(', ')}]`);
  const { data } = tensor;
  if (!(data instanceof info.array) && !(data instanceof Uint8Array)) {
    throw new TypeError(`tensor ${name}: ${tensor.dtype} data must be a ${info.array.name} or raw bytes`);
  }
  const expected = count * info.itemsize;
  if (data.byteLength !== expected) {
    throw new RangeError(
      `tensor ${name}: holds ${data.byteLength} bytes, shape [${tensor.shape.join(', ')}] of ${tensor.dtype} needs ${expected}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** product(shape), or undefined when a dimension is not a non-negative integer or it overflows. */
function elementCount(shape: readonly unknown[]): number | undefined {
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return undefined;
    count *= d;
  }
  return Number.isSafeInteger(count) ? count : undefined;
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

/**
 * Decodes and validates a safetensors file. `file` only names the source in errors; every
 * defect throws RingmasterError DATA_CORRUPT. Returned arrays are views into `bytes` where the
 * tensor is aligned for its type, copies where it is not: writing to them may write to `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  requireLittleEndian();
  if (bytes.length < LENGTH_BYTES) corrupt(file, `is ${bytes.length} bytes long, shorter than its 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - LENGTH_BYTES)) {
    corrupt(file, `header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);
  }
  const dataStart = LENGTH_BYTES + Number(headerLength);
  const header = parseHeader(bytes.subarray(LENGTH_BYTES, dataStart), file);
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, file);
    else entries.push(parseEntry(name, value, dataLength, file));
  }
  checkTiling(entries, dataLength, file);
  const tensors = new Map<string, Tensor>();
  for (const entry of entries) {
    const data = tensorView(bytes, dataStart + entry.begin, entry);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data });
  }
  return { tensors, metadata };
}

function parseHeader(raw: Uint8Array, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return corrupt(file, 'header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return corrupt(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(parsed)) corrupt(file, 'header is not a JSON object');
  return parsed;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isRecord(value)) return corrupt(file, `${METADATA_KEY} is not a JSON object`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') corrupt(file, `${METADATA_KEY} value ${JSON.stringify(key)} is not a string`);
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, value: unknown, dataLength: number, file: string): Entry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isRecord(value)) return corrupt(file, `${what} is not a JSON object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDtype(dtype)) return corrupt(file, `${what} has unknown dtype ${JSON.stringify(dtype)}`);
  const count = Array.isArray(shape) ? elementCount(shape) : undefined;
  if (!Array.isArray(shape) || count === undefined) {
    return corrupt(file, `${what} has invalid shape ${JSON.stringify(shape)}`);
  }
  if (!isOffsetPair(offsets)) return corrupt(file, `${what} has invalid data_offsets ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets;
  if (end > dataLength) {
    corrupt(file, `${what} data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes)`);
  }
  const expected = count * DTYPES[dtype].itemsize;
  if (end - begin !== expected) {
    corrupt(file, `${what} holds ${end - begin} bytes, shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
  }
  return { name, dtype, shape: shape as number[], count, begin, end };
}

function isOffsetPair(value: unknown): value is [number, number] {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) &&
    value[0] <= value[1]
  );
}

/** Sorts `entries` by position and checks they cover [0, dataLength) exactly once. */
function checkTiling(entries: Entry[], dataLength: number, file: string): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    const what = `tensor ${JSON.stringify(entry.name)}`;
    if (entry.begin < position) {
      corrupt(file, `${what} overlaps tensor ${JSON.stringify(previous?.name)} (bytes ${entry.begin}..${position})`);
    }
    if (entry.begin > position) corrupt(file, `${entry.begin - position} unused bytes before ${what}`);
    position = entry.end;
    previous = entry;
  }
  if (position !== dataLength) corrupt(file, `${dataLength - position} trailing bytes after the last tensor`);
}

/** A typed-array view of the tensor at bytes[start..], copied first when misaligned for its type. */
function tensorView(bytes: Uint8Array, start: number, entry: Entry): TensorArray {
  const info = DTYPES[entry.dtype];
  const length = entry.end - entry.begin;
  const absolute = bytes.byteOffset + start;
  if (absolute % info.itemsize === 0) return new info.array(bytes.buffer as ArrayBuffer, absolute, entry.count);
  const copy = new Uint8Array(length);
  copy.set(bytes.subarray(start, start + length));
  return new info.array(copy.buffer, 0, entry.count);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireLittleEndian(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('safetensors: big-endian hosts are not supported');
}

function corrupt(file: string, why: string): never {
  throw new RingmasterError(
    'DATA_CORRUPT',
    `${file}: not a valid safetensors file: ${why} (delete it or resume from an older checkpoint)`,
  );
}
