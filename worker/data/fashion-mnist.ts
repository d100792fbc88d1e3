/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 28×28 grey images of clothes in 10 classes,
 * 60,000 for training and 10,000 for testing, read from the gzip'd IDX files that the Debian
 * package dataset-fashion-mnist installs (or the same four files in any directory).
 */
import { join } from 'node:path';
import { RingmasterError } from '../../common/errors.js';
import { readIdxFile, type IdxArray } from './idx.js';

const SIDE = 28;
const CLASSES = 10;

/** Mean and standard deviation of the training pixels scaled to [0, 1], the usual constants. */
const PIXEL_MEAN = 0.286;
const PIXEL_STD = 0.353;

const MISSING_FIX = 'install the Debian package dataset-fashion-mnist or set data.dir';

/**
 * One split. The pixels stay bytes, a quarter of their floats' memory (60,000 images: 47 MB, not
 * 188 MB, in every rank), and become values only as a batch is gathered (data/sampler.ts).
 */
export interface Split {
  count: number;
  sampleShape: [1, 28, 28]; // channels, height, width
  pixels: Uint8Array; // count × 784 pixel bytes, as the file holds them
  pixelValues: Float32Array; // the value of each of the 256 bytes: (p/255 − PIXEL_MEAN) / PIXEL_STD
  labels: Int32Array; // count class ids in [0, classes)
  classes: 10;
}

/** Normalised value of each of the 256 pixel values; a lookup beats arithmetic per pixel. */
const NORMALISED = Float32Array.from({ length: 256 }, (_, p) => (p / 255 - PIXEL_MEAN) / PIXEL_STD);

/**
 * Loads both splits from `dir`, reading the four files concurrently. Throws RingmasterError
 * (DATA_MISSING, FILE_UNREADABLE or DATA_CORRUPT) naming the file at fault.
 */
export async function loadFashionMnist(dir: string): Promise<{ train: Split; test: Split }> {
  const [train, test] = await Promise.all([loadSplit(dir, 'train'), loadSplit(dir, 't10k')]);
  return { train, test };
}

async function loadSplit(dir: string, prefix: 'train' | 't10k'): Promise<Split> {
  const imagesFile = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  const labelsFile = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  const [images, labels] = await Promise.all([
    readIdxFile(imagesFile, { kind: 'images', missingFix: MISSING_FIX }),
    readIdxFile(labelsFile, { kind: 'labels', missingFix: MISSING_FIX }),
  ]);
  checkImageSize(images, imagesFile);
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw new RingmasterError(
      'DATA_CORRUPT',
      `${labelsFile}: holds ${labels.dims[0]} labels but ${imagesFile} holds ${count} images`,
    );
  }
  return {
    count,
    sampleShape: [1, SIDE, SIDE],
    pixels: images.data,
    pixelValues: NORMALISED,
    labels: checkedLabels(labels.data, labelsFile),
    classes: CLASSES,
  };
}

function checkImageSize(images: IdxArray, file: string): void {
  const [, rows, columns] = images.dims;
  if (rows !== SIDE || columns !== SIDE) {
    throw new RingmasterError('DATA_CORRUPT', `${file}: holds ${rows}×${columns} images, expected ${SIDE}×${SIDE}`);
  }
}

/** Widens the labels to int32, rejecting any outside [0, CLASSES): a kernel would index with it. */
function checkedLabels(raw: Uint8Array, file: string): Int32Array {
  const labels = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] >= CLASSES) {
      const why = `label ${raw[i]} at index ${i} is not a class in 0..${CLASSES - 1}`;
      throw new RingmasterError('DATA_CORRUPT', `${file}: ${why}`);
    }
    labels[i] = raw[i];
  }
  return labels;
}
