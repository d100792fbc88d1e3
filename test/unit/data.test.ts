import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RingmasterError, type ErrorCode } from '../../common/errors.js';
import { loadFashionMnist, type Split } from '../../worker/data/fashion-mnist.js';
import { parseIdx, readIdxFile, type IdxKind } from '../../worker/data/idx.js';
import { Rng } from '../../worker/data/rng.js';
import { EpochSampler, gather, sequentialBatches } from '../../worker/data/sampler.js';

const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
const MISSING_FIX = 'install it';

/** An IDX file: big-endian magic and dims, then `payload` (by default product(dims) bytes 0, 1, 2, …). */
function idx(magic: number, dims: number[], payload?: Uint8Array): Uint8Array {
  const values = payload ?? Uint8Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => i % 256);
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

const IMAGES = 0x00000803;
const LABELS = 0x00000801;

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<RingmasterError> {
  const error = await promise.then(
    () => expect.unreachable('expected a RingmasterError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RingmasterError);
  expect((error as RingmasterError).code).toBe(code);
  return error as RingmasterError;
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ringmaster-data-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('parseIdx', () => {
  it.each([
    { compression: 'plain', wrap: (b: Uint8Array) => b },
    { compression: 'gzip', wrap: (b: Uint8Array) => new Uint8Array(gzipSync(b)) },
  ])('parses $compression images and labels', ({ wrap }) => {
    const images = parseIdx(wrap(idx(IMAGES, [2, 3, 4])), 'images', 'x');
    expect(images.dims).toEqual([2, 3, 4]);
    expect(Array.from(images.data)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    const labels = parseIdx(wrap(idx(LABELS, [5], Uint8Array.of(9, 0, 3, 3, 1))), 'labels', 'y');
    expect(labels.dims).toEqual([5]);
    expect(Array.from(labels.data)).toEqual([9, 0, 3, 3, 1]);
  });

  const valid = idx(IMAGES, [2, 3, 4]);
  const gzipped = gzipSync(valid);
  it.each<{ what: string; bytes: Uint8Array; kind: IdxKind }>([
    { what: 'gzip magic then garbage', bytes: Uint8Array.of(0x1f, 0x8b, 1, 2, 3, 4, 5, 6), kind: 'images' },
    { what: 'truncated gzip', bytes: gzipped.subarray(0, gzipped.length - 10), kind: 'images' },
    { what: 'empty file', bytes: new Uint8Array(0), kind: 'images' },
    { what: 'header cut inside the dims', bytes: valid.subarray(0, 10), kind: 'images' },
    { what: 'little-endian magic', bytes: idx(0x03080000, [2, 3, 4]), kind: 'images' },
    { what: 'float32 value type', bytes: idx(0x00000d03, [2, 3, 4]), kind: 'images' },
    { what: 'labels where images are expected', bytes: idx(LABELS, [24, 0, 0]), kind: 'images' },
    { what: 'images where labels are expected', bytes: idx(IMAGES, [1, 1, 1]), kind: 'labels' },
    { what: 'one byte of data missing', bytes: valid.subarray(0, valid.length - 1), kind: 'images' },
    { what: 'one byte of data too many', bytes: idx(IMAGES, [2, 3, 4], new Uint8Array(25)), kind: 'images' },
  ])('rejects $what as DATA_CORRUPT', ({ bytes, kind }) => {
    let error: unknown;
    try {
      parseIdx(bytes, kind, '/data/file.gz');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RingmasterError);
    expect((error as RingmasterError).code).toBe('DATA_CORRUPT');
    expect((error as RingmasterError).message).toMatch(/^\/data\/file\.gz: /);
  });
});

describe('readIdxFile', () => {
  it('reads a gzip file', async () => {
    const file = join(scratch, 'labels.gz');
    await writeFile(file, gzipSync(idx(LABELS, [3], Uint8Array.of(1, 2, 3))));
    const labels = await readIdxFile(file, { kind: 'labels', missingFix: MISSING_FIX });
    expect(Array.from(labels.data)).toEqual([1, 2, 3]);
  });

  it('reports a missing file as DATA_MISSING, with the fix', async () => {
    const file = join(scratch, 'nope', 'labels.gz');
    const error = await expectCode(readIdxFile(file, { kind: 'labels', missingFix: MISSING_FIX }), 'DATA_MISSING');
    expect(error.message).toBe(`${file}: no such file (${MISSING_FIX})`);
  });

  it('reports a directory as FILE_UNREADABLE', async () => {
    const read = readIdxFile(scratch, { kind: 'labels', missingFix: MISSING_FIX });
    const error = await expectCode(read, 'FILE_UNREADABLE');
    expect(error.message).toContain(scratch);
  });
});

describe('loadFashionMnist on synthetic files', () => {
  async function writeSplits(dir: string, counts: { images: number; labels: number }, label = 7): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const prefix of ['train', 't10k']) {
      const pixels = Uint8Array.from({ length: counts.images * 784 }, (_, i) => (i % 2 ? 255 : 0));
      const images = idx(IMAGES, [counts.images, 28, 28], pixels);
      await writeFile(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(images));
      const labels = new Uint8Array(counts.labels).fill(label);
      await writeFile(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idx(LABELS, [counts.labels], labels)));
    }
  }

  it('normalises pixels and widens labels', async () => {
    const dir = join(scratch, 'small');
    await writeSplits(dir, { images: 3, labels: 3 });
    const { train, test } = await loadFashionMnist(dir);
    for (const split of [train, test]) {
      expect(split).toMatchObject({ count: 3, sampleShape: [1, 28, 28], classes: 10 });
      expect(split.pixels).toHaveLength(3 * 784);
      expect(split.pixelValues[split.pixels[0]]).toBe(Math.fround((0 - 0.286) / 0.353));
      expect(split.pixelValues[split.pixels[1]]).toBe(Math.fround((1 - 0.286) / 0.353));
      expect(Array.from(split.labels)).toEqual([7, 7, 7]);
    }
  });

  it('rejects different image and label counts as DATA_CORRUPT', async () => {
    const dir = join(scratch, 'mismatch');
    await writeSplits(dir, { images: 3, labels: 2 });
    await expectCode(loadFashionMnist(dir), 'DATA_CORRUPT');
  });

  it('rejects a label outside 0..9 as DATA_CORRUPT', async () => {
    const dir = join(scratch, 'bad-label');
    await writeSplits(dir, { images: 2, labels: 2 }, 10);
    await expectCode(loadFashionMnist(dir), 'DATA_CORRUPT');
  });

  it('reports a missing directory as DATA_MISSING', async () => {
    const error = await expectCode(loadFashionMnist(join(scratch, 'absent')), 'DATA_MISSING');
    expect(error.message).toContain('install the Debian package dataset-fashion-mnist or set data.dir');
  });

  it('reports a file that cannot be read (a directory in its place) as FILE_UNREADABLE', async () => {
    const dir = join(scratch, 'locked');
    await writeSplits(dir, { images: 1, labels: 1 });
    const labels = join(dir, 'train-labels-idx1-ubyte.gz');
    await rm(labels);
    await mkdir(labels);
    await expectCode(loadFashionMnist(dir), 'FILE_UNREADABLE');
  });
});

// The data set is a system package that npm install puts in place, so this never skips.
describe(`Fashion-MNIST from ${FASHION_MNIST_DIR}`, () => {
  it('loads 60000 + 10000 samples, normalised to mean ≈ 0 and std ≈ 1', async () => {
    const { train, test } = await loadFashionMnist(FASHION_MNIST_DIR);
    expect(train.count).toBe(60000);
    expect(test.count).toBe(10000);
    expect(train.pixels).toHaveLength(60000 * 784);
    expect(train.labels).toHaveLength(60000);
    let sum = 0;
    let sumSquares = 0;
    for (const p of train.pixels) {
      const x = train.pixelValues[p];
      sum += x;
      sumSquares += x * x;
    }
    const mean = sum / train.pixels.length;
    const std = Math.sqrt(sumSquares / train.pixels.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    // The training set is balanced: 6000 samples of each class.
    const perClass = new Array<number>(10).fill(0);
    for (const label of train.labels) perClass[label]++;
    expect(perClass).toEqual(new Array(10).fill(6000));
  });
});

describe('Rng', () => {
  it('matches the reference xoshiro128** stream', () => {
    // Produced by the reference C code (prng.di.unimi.it/xoshiro128starstar.c) built with
    // gcc 12.2, from the state {1, 2, 3, 4}: the first ten outputs, then the state.
    const rng = Rng.fromState([1, 2, 3, 4]);
    const outputs = Array.from({ length: 10 }, () => rng.nextU32());
    expect(outputs).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
    expect(rng.state()).toEqual([939045227, 1864939416, 1451579149, 2199351389]);
  });

  it('resumes exactly from a saved state', () => {
    const rng = Rng.fromSeed([1337, 4]);
    for (let i = 0; i < 100; i++) rng.below(1000);
    const saved = JSON.parse(JSON.stringify(rng.state())) as [number, number, number, number];
    const resumed = Rng.fromState(saved);
    const expected = Array.from({ length: 50 }, () => rng.nextU32());
    expect(Array.from({ length: 50 }, () => resumed.nextU32())).toEqual(expected);
  });

  it('gives different streams for different seeds, the same for the same', () => {
    const first = (values: number[]): number => Rng.fromSeed(values).nextU32();
    expect(first([1337, 0])).toBe(first([1337, 0]));
    expect(first([1337, 0])).not.toBe(first([1337, 1]));
    expect(first([1337, 0])).not.toBe(first([1338, 0]));
    expect(first([2 ** 40, 0])).not.toBe(first([0, 0]));
  });

  it('draws below(n) uniformly in [0, n)', () => {
    const rng = Rng.fromSeed([7]);
    const counts = new Array<number>(6).fill(0);
    const draws = 60000;
    for (let i = 0; i < draws; i++) counts[rng.below(6)]++;
    // Each count is Binomial(60000, 1/6): std ≈ 91, so ±500 is more than 5 std.
    for (const c of counts) expect(Math.abs(c - draws / 6)).toBeLessThan(500);
    expect(rng.below(1)).toBe(0);
    expect(rng.below(2 ** 32)).toBeLessThan(2 ** 32);
  });

  it.each([[[0, 0, 0, 0]], [[1, 2, 3]], [[1, 2, 3, 2 ** 32]], [[1, 2, 3, -1]]])('rejects the state %j', (state) => {
    expect(() => Rng.fromState(state as unknown as [number, number, number, number])).toThrow(RangeError);
  });
});

describe('EpochSampler', () => {
  const options = { count: 1000, batch: 25, seed: 1337, dropLast: true } as const;

  it('visits every sample exactly once per epoch', () => {
    const sampler = new EpochSampler(options);
    expect(sampler.batchesPerEpoch).toBe(40);
    const order = sampler.order(3);
    const seen = new Uint8Array(options.count);
    for (let b = 0; b < sampler.batchesPerEpoch; b++) for (const i of sampler.shard(order, b)) seen[i]++;
    expect(seen.every((n) => n === 1)).toBe(true);
  });

  it('shuffles each epoch differently, the same way for the same seed', () => {
    const a = new EpochSampler(options);
    const b = new EpochSampler(options);
    expect(a.order(0)).toEqual(b.order(0));
    expect(a.order(5)).toEqual(b.order(5));
    expect(a.order(0)).not.toEqual(a.order(1));
    expect(new EpochSampler({ ...options, seed: 1338 }).order(0)).not.toEqual(a.order(0));
    expect(Array.from(a.order(0))).not.toEqual(Array.from({ length: options.count }, (_, i) => i));
  });

  it('drops the partial last global batch', () => {
    const sampler = new EpochSampler({ ...options, count: 1010 });
    expect(sampler.batchesPerEpoch).toBe(40);
    expect(() => sampler.shard(sampler.order(0), 40)).toThrow(RangeError);
  });

  it('splits each global batch into disjoint contiguous shards, one per rank', () => {
    const ranks = [0, 1].map((rank) => new EpochSampler({ ...options, rank, ranks: 2 }));
    expect(ranks[0].batchesPerEpoch).toBe(20);
    const order = ranks[0].order(2);
    expect(ranks[1].order(2)).toEqual(order);
    for (let b = 0; b < 20; b++) {
      const [first, second] = ranks.map((s) => Array.from(s.shard(order, b)));
      expect(first).toHaveLength(25);
      expect(new Set([...first, ...second]).size).toBe(50);
      expect([...first, ...second]).toEqual(Array.from(order.subarray(b * 50, (b + 1) * 50)));
    }
  });

  it('rejects a global batch larger than the data set as BAD_SPEC', () => {
    let error: unknown;
    try {
      new EpochSampler({ ...options, batch: 600, ranks: 2 });
    } catch (e) {
      error = e;
    }
    expect((error as RingmasterError).code).toBe('BAD_SPEC');
  });
});

describe('sequentialBatches', () => {
  it('covers 0..count−1 in order, the last batch partial', () => {
    const batches = Array.from(sequentialBatches(10, 4), (b) => Array.from(b));
    expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });
});

describe('gather', () => {
  const split: Pick<Split, 'count' | 'sampleShape' | 'pixels' | 'pixelValues' | 'labels'> = {
    count: 3,
    sampleShape: [1, 28, 28],
    pixels: Uint8Array.from({ length: 3 * 784 }, (_, i) => (Math.floor(i / 784) * 80 + i) % 256),
    pixelValues: Float32Array.from({ length: 256 }, (_, p) => p / 4 - 1),
    labels: Int32Array.of(4, 5, 6),
  };
  const valuesOf = (sample: number) => Float32Array.from(split.pixels.subarray(sample * 784, (sample + 1) * 784), (p) => split.pixelValues[p]);

  it('copies the chosen rows, as values, and labels in index order', () => {
    const images = new Float32Array(2 * 784);
    const labels = new Int32Array(2);
    gather(split, Uint32Array.of(2, 0), images, labels);
    expect(images.subarray(0, 784)).toEqual(valuesOf(2));
    expect(images.subarray(784)).toEqual(valuesOf(0));
    expect(Array.from(labels)).toEqual([6, 4]);
  });

  it('rejects an index past the split and buffers too small', () => {
    expect(() => gather(split, Uint32Array.of(3), new Float32Array(784), new Int32Array(1))).toThrow(RangeError);
    expect(() => gather(split, Uint32Array.of(0, 1), new Float32Array(784), new Int32Array(2))).toThrow(RangeError);
  });
});
