/**
 * Errors from the addon arrive with a stable native code. Construction errors come out of
 * createEngine as NativeError; argument errors on a method are thrown synchronously as the raw
 * addon error (name "NativeError", `code` set) and errors found while the work runs reject the
 * promise with the same kind of error, so both are passed through asNativeError here, as the
 * worker does. The tests assert on codes, never on message text.
 */
import { describe, expect, it } from 'vitest';
import {
  asNativeError, createEngine, loadNative, NativeError, type Engine, type EngineConfig, type EngineOptions, type LayerConfig,
} from '../../worker/native.js';
import { PLAIN_SGD as SGD, uniform } from '../helpers/random.js';


/** A linear 6 → 4 classifier with maxBatch 3, unless overridden. */
function config(overrides: Partial<EngineOptions & { input: [number, number, number]; layers: LayerConfig[] }> = {}): EngineConfig {
  return {
    input: [6, 1, 1], layers: [{ kind: 'linear', out: 4 }], maxBatch: 3, impl: 'fast', seed: 1,
    threads: 1, optimizer: SGD, ...overrides,
  };
}


/** How a call failed: thrown before it returned, or as a rejected promise. */
type Failure = { how: 'thrown' | 'rejected'; error: NativeError };

/** Runs `call` expecting a native failure; returns how it arrived, as a NativeError. */
async function failure(call: () => unknown): Promise<Failure> {
  let pending: unknown;
  try {
    pending = call();
  } catch (e) {
    return { how: 'thrown', error: toNative(e) };
  }
  try {
    await pending;
  } catch (e) {
    return { how: 'rejected', error: toNative(e) };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

function toNative(e: unknown): NativeError {
  // createEngine has converted already; asNativeError would re-wrap that one with code 'NATIVE'.
  const converted = e instanceof NativeError ? e : asNativeError(e);
  expect(converted, `not a native error: ${String(e)}`).toBeInstanceOf(NativeError);
  return converted as NativeError;
}

async function expectCode(call: () => unknown, code: string, how: Failure['how']): Promise<void> {
  const f = await failure(call);
  expect({ how: f.how, code: f.error.nativeCode }).toEqual({ how, code });
  expect(f.error.code).toBe('NATIVE');
}

describe('construction errors', () => {
  it('unknown layer kind → INVALID_ARGUMENT, as a NativeError from createEngine', async () => {
    const layers = [{ kind: 'softmax' }] as unknown as LayerConfig[];
    await expectCode(() => createEngine(config({ layers })), 'INVALID_ARGUMENT', 'thrown');
  });

  it('maxpool2d on an odd height → INVALID_ARGUMENT', async () => {
    const layers: LayerConfig[] = [{ kind: 'maxpool2d' }];
    await expectCode(() => createEngine(config({ input: [2, 5, 4], layers })), 'INVALID_ARGUMENT', 'thrown');
    expect(createEngine(config({ input: [2, 6, 4], layers })).outputSize).toBe(2 * 3 * 2);
  });

  it('createEngine throws the NativeError class itself', () => {
    const layers = [{ kind: 'softmax' }] as unknown as LayerConfig[];
    expect(() => createEngine(config({ layers }))).toThrow(NativeError);
  });
});

describe('call errors', () => {
  let e: Engine;
  const x = uniform(3 * 6, 1);
  const labels = Int32Array.from([0, 1, 2]);
  const fresh = () => (e = createEngine(config()));

  it('a label outside [0, classes) in trainStep → INVALID_ARGUMENT, and the engine stays usable', async () => {
    fresh();
    const before = e.getParams();
    for (const bad of [4, -1]) {
      await expectCode(() => e.trainStep(x, Int32Array.from([0, bad, 2]), 3, 0.1, 0), 'INVALID_ARGUMENT', 'rejected');
    }
    expect(e.getParams()).toEqual(before); // no update from a failed step
    const ok = await e.trainStep(x, labels, 3, 0.1, 0);
    expect(Number.isFinite(ok.loss)).toBe(true);
  });

  it('batch 0 or above maxBatch → INVALID_ARGUMENT', async () => {
    fresh();
    const big = uniform(4 * 6, 1);
    await expectCode(() => e.forward(x, 0), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.forward(big, 4), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.trainStep(x, labels, 0, 0.1, 0), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.trainStep(big, Int32Array.from([0, 1, 2, 3]), 4, 0.1, 0), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.evaluate(x, labels, 0), 'INVALID_ARGUMENT', 'thrown');
  });

  it('an inputs Float32Array shorter than batch × input size → INVALID_ARGUMENT', async () => {
    fresh();
    const short = uniform(3 * 6 - 1, 1);
    await expectCode(() => e.forward(short, 3), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.trainStep(short, labels, 3, 0.1, 0), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.evaluate(short, labels, 3), 'INVALID_ARGUMENT', 'thrown');
    await expectCode(() => e.trainStep(x, Int32Array.from([0, 1]), 3, 0.1, 0), 'INVALID_ARGUMENT', 'thrown');
  });

  it('a call while another is in flight → BUSY; the first call still completes', async () => {
    fresh();
    const pending = e.trainStep(x, labels, 3, 0.1, 0);
    await expectCode(() => e.getParams(), 'BUSY', 'thrown');
    await expectCode(() => e.trainStep(x, labels, 3, 0.1, 0), 'BUSY', 'thrown');
    await expectCode(() => e.forward(x, 3), 'BUSY', 'thrown');
    await expectCode(() => e.setParams(new Float32Array(e.paramCount)), 'BUSY', 'thrown');
    const step = await pending;
    expect(Number.isFinite(step.loss)).toBe(true);
    expect(e.getParams().length).toBe(e.paramCount); // idle again
  });

  it('backward before any forward → STATE', async () => {
    fresh();
    await expectCode(() => e.backward(uniform(3 * 4, 1), { accumulate: false, inputGrad: true }), 'STATE', 'rejected');
    await e.forward(x, 3); // and the engine is usable afterwards
    expect(await e.backward(uniform(3 * 4, 1), { accumulate: false, inputGrad: false })).toBeNull();
  });

  it('backward follows the batch the model last ran, whichever call ran it: evaluate of 2 after forward of 3 → a dout of 3 rows is INVALID_ARGUMENT', async () => {
    fresh();
    await e.forward(x, 3);
    await e.evaluate(x, labels, 2);
    await expectCode(() => e.backward(uniform(3 * 4, 1), { accumulate: false, inputGrad: true }), 'INVALID_ARGUMENT', 'thrown');
    const din = await e.backward(uniform(2 * 4, 1), { accumulate: false, inputGrad: true });
    expect(din).toHaveLength(2 * 6);
  });

  it('a GPT that generated text has no activations for backward → STATE', async () => {
    const gpt = createEngine({ gpt: { vocab: 5, block: 4, layers: 1, heads: 1, channels: 8, bias: true }, maxBatch: 1, impl: 'fast', seed: 1, threads: 1, optimizer: SGD });
    const tokens = Int32Array.from([1, 2, 3, 4]);
    await gpt.forward(tokens, 1);
    await gpt.generate({ prompt: Int32Array.from([1]), tokens: 3, temperature: 0, topK: 0, seed: 1 });
    await expectCode(() => gpt.backward(new Float32Array(4 * 5), { accumulate: false, inputGrad: false }), 'STATE', 'rejected');
  });

  it('backward with a dout that does not match the batch of the last forward → INVALID_ARGUMENT', async () => {
    fresh();
    await e.forward(x, 3);
    for (const samples of [1, 2, 4]) {
      await expectCode(() => e.backward(uniform(samples * 4, 1), { accumulate: false, inputGrad: true }), 'INVALID_ARGUMENT', 'thrown');
    }
    const din = await e.backward(uniform(3 * 4, 1), { accumulate: false, inputGrad: true });
    expect(din).toHaveLength(3 * 6);
  });

  it('setParams or setGrads with the wrong length → INVALID_ARGUMENT', async () => {
    fresh();
    const n = e.paramCount;
    expect(n).toBe(6 * 4 + 4);
    const before = e.getParams();
    for (const length of [n - 1, n + 1, 0]) {
      await expectCode(() => e.setParams(new Float32Array(length)), 'INVALID_ARGUMENT', 'thrown');
      await expectCode(() => e.setGrads(new Float32Array(length)), 'INVALID_ARGUMENT', 'thrown');
    }
    expect(e.getParams()).toEqual(before); // the failed calls wrote nothing
    e.setParams(new Float32Array(n).fill(0.5));
    expect(e.getParams().every((v) => v === 0.5)).toBe(true);
  });
});

describe('buildInfo', () => {
  it('names the oneDNN version and the ISA it dispatches to', () => {
    const info = loadNative().buildInfo();
    expect(info.dnnlVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(typeof info.isa).toBe('string');
    expect(info.isa.length).toBeGreaterThan(0);
    expect(typeof info.cuda).toBe('boolean');
    expect(Number.isInteger(info.cudaDevices) && info.cudaDevices >= 0).toBe(true);
  });
});
