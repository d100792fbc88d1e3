/** Deterministic test inputs and the plain optimizer the native tests share. */
import type { EngineConfig } from '../../worker/native.js';

/** SGD without momentum or weight decay: a step is exactly p − lr·g. */
export const PLAIN_SGD: EngineConfig['optimizer'] = {
  kind: 'sgd', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false,
};

/** A deterministic stream of uniforms in [0, 1): a 32-bit LCG (Numerical Recipes constants). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** n floats uniform in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = lcg(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}
