/**
 * A seeded pseudo-random generator: xoshiro128** 1.1 (Blackman & Vigna, 2018), 128 bits of state,
 * written in 32-bit integer arithmetic (Math.imul, >>> 0) so every machine produces the same
 * stream. The state is four uint32s: a checkpoint stores `state()` and `Rng.fromState` resumes
 * the stream exactly where it was.
 */

export type RngState = readonly [number, number, number, number];

const UINT32_RANGE = 0x1_0000_0000;
const GOLDEN = 0x9e3779b9; // 2^32 / φ, the usual odd constant for spreading seeds

export class Rng {
  private readonly s: Uint32Array;

  private constructor(state: ArrayLike<number>) {
    this.s = Uint32Array.from(state);
    if (this.s.every((w) => w === 0)) throw new RangeError('xoshiro128** state must not be all zero');
  }

  /**
   * A generator seeded from a list of non-negative safe integers, e.g. [seed, epoch]. Each state
   * word is a chain of murmur3 finalisers over the values (each split into two 32-bit halves),
   * with its own starting constant. Each chain is a bijection of any one value when the others
   * are fixed, so lists such as [seed, 0] and [seed, 1] never share a state word.
   */
  static fromSeed(values: readonly number[]): Rng {
    const words = values.flatMap(splitWords);
    const state = [1, 2, 3, 4].map((lane) => words.reduce((h, w) => fmix32(h ^ w), fmix32(Math.imul(GOLDEN, lane))));
    return new Rng(state);
  }

  /** Resumes the stream of a generator whose `state()` was saved. */
  static fromState(state: RngState): Rng {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w < UINT32_RANGE)) {
      throw new RangeError(`RNG state must be four uint32 values, got ${JSON.stringify(state)}`);
    }
    return new Rng(state);
  }

  state(): RngState {
    const [a, b, c, d] = this.s;
    return [a, b, c, d];
  }

  /** The next uniform value in [0, 2^32). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /**
   * A uniform integer in [0, n) for an integer 1 ≤ n ≤ 2^32, without modulo bias: draws below
   * 2^32 mod n are rejected, leaving a range whose size is a multiple of n (the method of
   * OpenBSD's arc4random_uniform; at most half the draws are rejected, usually almost none).
   */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > UINT32_RANGE) {
      throw new RangeError(`below(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    const threshold = (UINT32_RANGE - n) % n; // = 2^32 mod n
    for (;;) {
      const x = this.nextU32();
      if (x >= threshold) return x % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** murmur3's 32-bit finaliser: a bijection on uint32 in which every input bit affects every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The low and high 32-bit halves of a non-negative safe integer. */
function splitWords(value: number): [number, number] {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`RNG seed values must be non-negative safe integers, got ${value}`);
  }
  return [value >>> 0, Math.floor(value / UINT32_RANGE)];
}
