import { describe, expect, it } from 'vitest';
import { RingmasterError } from '../../common/errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  type Dtype,
  type Tensor,
  type TensorArray,
} from '../../worker/checkpoint/safetensors.js';

const FILE = '/ckpt/step-00000150/stage-0.safetensors';

function bytesOf(data: TensorArray): number[] {
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** A file from a header given as text (or an object to stringify) and a data section, as a writer that may be wrong would produce it. */
function rawFile(header: Buffer | string | object, data: Uint8Array | number[] = [], headerLength?: bigint): Buffer {
  const json = Buffer.isBuffer(header)
    ? header
    : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([length, json, Buffer.from(data)]);
}

function expectCorrupt(bytes: Uint8Array, fragment: string): void {
  let error: unknown;
  try {
    decodeSafetensors(bytes, FILE);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RingmasterError);
  expect((error as RingmasterError).code).toBe('DATA_CORRUPT');
  const message = (error as RingmasterError).message;
  expect(message).toContain(FILE);
  expect(message).toContain(fragment);
  expect(message).toContain('resume from an older checkpoint');
  expect(message).not.toContain('\n');
}

describe('safetensors round trip', () => {
  const cases: { dtype: Dtype; shape: number[]; data: TensorArray }[] = [
    { dtype: 'F64', shape: [2, 2], data: Float64Array.of(1.5, -0, Infinity, Number.MIN_VALUE) },
    { dtype: 'F32', shape: [3], data: Float32Array.of(1, -2.5, NaN) },
    { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0xfc00) }, // 1.0, -inf
    { dtype: 'BF16', shape: [1, 2], data: Uint16Array.of(0x3f80, 0x7fc0) }, // 1.0, NaN
    { dtype: 'I64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 62n) },
    { dtype: 'I32', shape: [2, 1], data: Int32Array.of(-2147483648, 7) },
    { dtype: 'U8', shape: [4], data: Uint8Array.of(0, 1, 128, 255) },
    { dtype: 'F32', shape: [], data: Float32Array.of(42) }, // a scalar holds one value
  ];

  it.each(cases)('keeps $dtype of shape $shape bit for bit', ({ dtype, shape, data }) => {
    const file = decodeSafetensors(encodeSafetensors([['t', { dtype, shape, data }]], { note: 'x' }), FILE);
    const tensor = file.tensors.get('t');
    expect(tensor?.dtype).toBe(dtype);
    expect(tensor?.shape).toEqual(shape);
    expect(tensor?.data.constructor).toBe(data.constructor);
    expect(bytesOf(tensor!.data)).toEqual(bytesOf(data));
    expect(file.metadata).toEqual({ note: 'x' });
  });

  it.each(cases.map((c) => ({ dtype: c.dtype })))('keeps an empty $dtype tensor', ({ dtype }) => {
    const data = cases.find((c) => c.dtype === dtype)!.data.subarray(0, 0);
    const file = decodeSafetensors(encodeSafetensors([['empty', { dtype, shape: [2, 0], data }]]), FILE);
    expect(file.tensors.get('empty')).toMatchObject({ dtype, shape: [2, 0] });
    expect(file.tensors.get('empty')!.data.length).toBe(0);
    expect(file.metadata).toEqual({});
  });

  it('keeps every dtype in one file, in the given order, including integer-like names', () => {
    const names = cases.map((_, i) => (i % 2 === 0 ? String(10 - i) : `n${i}`));
    const encoded = encodeSafetensors(cases.map((c, i) => [names[i]!, c]));
    const file = decodeSafetensors(encoded, FILE);
    expect([...file.tensors.keys()]).toEqual(names);
    cases.forEach((c, i) => expect(bytesOf(file.tensors.get(names[i]!)!.data)).toEqual(bytesOf(c.data)));
  });

  it('pads the header with spaces to a multiple of 8, so aligned tensors are views, not copies', () => {
    const encoded = encodeSafetensors([['w', { dtype: 'F64', shape: [1], data: Float64Array.of(3) }]]);
    const headerLength = Number(encoded.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    expect(encoded.toString('utf8', 8, 8 + headerLength)).toMatch(/^\{.*\} *$/);
    const data = decodeSafetensors(encoded, FILE).tensors.get('w')!.data;
    expect(data.buffer).toBe(encoded.buffer);
  });

  it('copies tensors that are misaligned for their type', () => {
    const encoded = encodeSafetensors([
      ['odd', { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }],
      ['w', { dtype: 'F32', shape: [2], data: Float32Array.of(0.5, -1) }], // starts at data offset 3
    ]);
    const shifted = new Uint8Array(encoded.length + 1).subarray(1); // the whole file misaligned too
    shifted.set(encoded);
    for (const bytes of [encoded, shifted]) {
      const w = decodeSafetensors(bytes, FILE).tensors.get('w')!.data;
      expect(w).toBeInstanceOf(Float32Array);
      expect(Array.from(w as Float32Array)).toEqual([0.5, -1]);
    }
  });

  it('accepts raw little-endian bytes for any dtype', () => {
    const values = Float32Array.of(1, 2, 3);
    const raw = Buffer.from(values.buffer);
    const file = decodeSafetensors(encodeSafetensors([['w', { dtype: 'F32', shape: [3], data: raw }]]), FILE);
    expect(Array.from(file.tensors.get('w')!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it.each<{ what: string; name: string; tensor: Tensor; error: typeof TypeError | typeof RangeError }>([
    { what: 'too few values', name: 'w', tensor: { dtype: 'F32', shape: [3], data: Float32Array.of(1, 2) }, error: RangeError },
    { what: 'the wrong array type', name: 'w', tensor: { dtype: 'F32', shape: [1], data: Int32Array.of(1) }, error: TypeError },
    { what: 'a negative dimension', name: 'w', tensor: { dtype: 'U8', shape: [-1], data: Uint8Array.of() }, error: RangeError },
    { what: 'the reserved name', name: '__metadata__', tensor: { dtype: 'U8', shape: [0], data: Uint8Array.of() }, error: RangeError },
  ])('encode refuses $what', ({ name, tensor, error }) => {
    expect(() => encodeSafetensors([[name, tensor]])).toThrow(error);
  });
});

describe('safetensors bytes', () => {
  it('encodes exactly the hand-built golden file', () => {
    // The file by hand, following the format's definition:
    //   [0, 8)     u64 LE header length: the JSON below is 132 bytes, padded with 4 spaces to
    //              136 (a multiple of 8) = 0x88
    //   [8, 144)   the JSON, metadata first, then the tensors in the order given
    //   [144, 152) "a": F32 [1.0, -2.0] little-endian: 00 00 80 3f, 00 00 00 c0
    //   [152, 155) "b": U8 [1, 2, 3]
    // The reference implementation writes the same 155 bytes: Python safetensors 0.8.0,
    // safetensors.serialize({'a': TensorSpec(dtype='float32', shape=[2], …), 'b':
    // TensorSpec(dtype='uint8', shape=[3], …)}, metadata={'k': 'v'}).
    const json =
      '{"__metadata__":{"k":"v"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    expect(json.length).toBe(132);
    const golden = Buffer.concat([
      Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from(`${json}    `, 'ascii'),
      Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]),
      Buffer.from([1, 2, 3]),
    ]);
    const encoded = encodeSafetensors(
      [
        ['a', { dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) }],
        ['b', { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }],
      ],
      { k: 'v' },
    );
    expect(encoded.length).toBe(155);
    expect(encoded.equals(golden)).toBe(true);
  });
});

describe('safetensors decode refuses invalid files', () => {
  const f32 = (offsets: [number, number], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  const valid = encodeSafetensors([['w', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }]]);

  it.each<{ what: string; bytes: Uint8Array; fragment: string }>([
    { what: 'a file shorter than the length field', bytes: valid.subarray(0, 5), fragment: 'shorter than its 8-byte header length' },
    { what: 'a file truncated in its data', bytes: valid.subarray(0, valid.length - 1), fragment: 'run past the end of the data' },
    { what: 'a file truncated in its header', bytes: valid.subarray(0, 20), fragment: 'runs past the end of the file' },
    { what: 'a huge header length', bytes: rawFile({}, [], 2n ** 63n), fragment: 'header length 9223372036854775808' },
    { what: 'a header that is not JSON', bytes: rawFile('{"w": {'), fragment: 'header is not valid JSON' },
    { what: 'a header that is not UTF-8', bytes: rawFile(Buffer.from([0x7b, 0xff, 0x7d])), fragment: 'header is not valid UTF-8' },
    { what: 'a header that is an array', bytes: rawFile([]), fragment: 'header is not a JSON object' },
    { what: 'an unknown dtype', bytes: rawFile({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, [0]), fragment: 'unknown dtype "F8"' },
    { what: 'a negative dimension', bytes: rawFile({ w: f32([0, 0], [-1]) }), fragment: 'invalid shape [-1]' },
    { what: 'reversed offsets', bytes: rawFile({ w: f32([8, 0]) }, new Uint8Array(8)), fragment: 'invalid data_offsets [8,0]' },
    { what: 'out-of-range offsets', bytes: rawFile({ w: f32([0, 8]) }, new Uint8Array(4)), fragment: 'run past the end of the data (4 bytes)' },
    { what: 'a wrong byte count', bytes: rawFile({ w: f32([0, 8], [3]) }, new Uint8Array(8)), fragment: 'holds 8 bytes, shape [3] of F32 needs 12' },
    {
      what: 'overlapping tensors',
      bytes: rawFile({ a: f32([0, 8]), b: f32([4, 12]) }, new Uint8Array(12)),
      fragment: 'tensor "b" overlaps tensor "a"',
    },
    { what: 'a gap between tensors', bytes: rawFile({ a: f32([0, 8]), b: f32([12, 20]) }, new Uint8Array(20)), fragment: '4 unused bytes before tensor "b"' },
    { what: 'trailing bytes', bytes: rawFile({ a: f32([0, 8]) }, new Uint8Array(11)), fragment: '3 trailing bytes' },
    { what: 'non-string metadata', bytes: rawFile({ __metadata__: { k: 1 } }), fragment: '__metadata__ value "k" is not a string' },
  ])('$what', ({ bytes, fragment }) => {
    expectCorrupt(bytes, fragment);
  });
});
