/**
 * The learning-rate schedule: a linear warmup, then nanoGPT's `get_lr` cosine decay, a constant
 * rate, or cosine decays with warm restarts (SGDR, torch's CosineAnnealingWarmRestarts). The
 * rate is a pure function of the step, so a resumed run needs no schedule state beyond the step.
 */
import type { JobSpec } from '../jobs/types.js';

interface Warmup {
  lr: number; // peak rate, reached at step `warmup`
  warmup: number; // optimizer steps of linear warmup
}

export type ScheduleParams =
  | (Warmup & { kind: 'constant' })
  | (Warmup & {
      kind: 'cosine';
      minLr: number; // the floor of the cosine decay
      total: number; // the step at which the cosine decay reaches minLr
    })
  | (Warmup & {
      kind: 'cosine_restarts';
      minLr: number; // the floor of every cycle
      t0: number; // steps of the first cycle, an integer ≥ 1 (torch's T_0)
      tMult: number; // cycle i lasts t0 · tMult^i steps, an integer ≥ 1 (torch's T_mult)
    });

/** The schedule of a validated spec for a run of `totalSteps` optimizer steps. */
export function scheduleParams(spec: Pick<JobSpec, 'optimizer' | 'schedule'>, totalSteps: number): ScheduleParams {
  const s = spec.schedule;
  const lr = spec.optimizer.lr;
  switch (s.kind) {
    case 'constant':
      return { kind: 'constant', lr, warmup: s.warmup };
    case 'cosine':
      return { kind: 'cosine', lr, warmup: s.warmup, minLr: s.min_lr, total: totalSteps };
    case 'cosine_restarts':
      return { kind: 'cosine_restarts', lr, warmup: s.warmup, minLr: s.min_lr, t0: s.t0, tMult: s.t_mult };
  }
}

/**
 * The learning rate of optimizer step `step` (counted from 0):
 *
 *   step < warmup            lr · (step + 1) / (warmup + 1)
 *   'constant', otherwise    lr
 *   'cosine':
 *     step ≥ total           minLr
 *     otherwise              minLr + ½ (1 + cos(π · (step − warmup) / (total − warmup))) · (lr − minLr)
 *   'cosine_restarts':       minLr + ½ (1 + cos(π · tCur / T)) · (lr − minLr)
 *     where step − warmup lies tCur steps into a cycle of T steps (see restartCycle); no end.
 *
 * nanoGPT switches to minLr only after `total`; at `total` the cosine is already exactly minLr,
 * and taking minLr from `total` on also covers total ≤ warmup, where the cosine is undefined.
 */
export function learningRate(step: number, s: ScheduleParams): number {
  if (step < s.warmup) return (s.lr * (step + 1)) / (s.warmup + 1);
  switch (s.kind) {
    case 'constant':
      return s.lr;
    case 'cosine':
      if (step >= s.total) return s.minLr;
      return cosineBetween(s.minLr, s.lr, (step - s.warmup) / (s.total - s.warmup));
    case 'cosine_restarts': {
      const { tCur, length } = restartCycle(step - s.warmup, s.t0, s.tMult);
      return cosineBetween(s.minLr, s.lr, tCur / length);
    }
  }
}

/**
 * Where step `s` (≥ 0, counted from the end of warmup) falls among cycles of t0, t0·tMult,
 * t0·tMult², … steps: `tCur` steps into the cycle `index`, which lasts `length` steps.
 *
 * torch finds the cycle with a floating-point log (n = ⌊log_tMult(s/t0 · (tMult − 1) + 1)⌋),
 * which can land one cycle off at a boundary; walking the cycles in integers is exact and takes
 * log_tMult(s/t0) iterations.
 */
export function restartCycle(s: number, t0: number, tMult: number): { index: number; tCur: number; length: number } {
  if (!Number.isInteger(t0) || t0 < 1 || !Number.isInteger(tMult) || tMult < 1) {
    throw new RangeError(`schedule: t0 = ${t0} and t_mult = ${tMult} must be integers ≥ 1`);
  }
  if (tMult === 1) return { index: Math.floor(s / t0), tCur: s % t0, length: t0 };
  let index = 0;
  let start = 0; // first step of cycle `index`: t0 · (tMult^index − 1) / (tMult − 1)
  let length = t0;
  while (s - start >= length) {
    start += length;
    length *= tMult;
    index++;
  }
  return { index, tCur: s - start, length };
}

/** hi at progress 0, lo at progress 1, following half a cosine. */
function cosineBetween(lo: number, hi: number, progress: number): number {
  return lo + 0.5 * (1 + Math.cos(Math.PI * progress)) * (hi - lo);
}
