/**
 * The learning-rate schedule: nanoGPT's `get_lr`, a linear warmup then a cosine decay.
 */

export interface ScheduleParams {
  kind: 'cosine' | 'constant';
  lr: number; // peak rate, reached at step `warmup`
  warmup: number; // optimizer steps of linear warmup
  minLr: number; // the floor of the cosine decay
  total: number; // the step at which the cosine decay reaches minLr
}

/**
 * The learning rate of optimizer step `step` (counted from 0):
 *
 *   step < warmup            lr · (step + 1) / (warmup + 1)
 *   'constant', otherwise    lr
 *   step ≥ total             minLr
 *   otherwise                minLr + ½ (1 + cos(π · (step − warmup) / (total − warmup))) · (lr − minLr)
 *
 * nanoGPT switches to minLr only after `total`; at `total` the cosine is already exactly minLr,
 * and taking minLr from `total` on also covers total ≤ warmup, where the cosine is undefined.
 */
export function learningRate(step: number, s: ScheduleParams): number {
  if (step < s.warmup) return (s.lr * (step + 1)) / (s.warmup + 1);
  if (s.kind === 'constant') return s.lr;
  if (step >= s.total) return s.minLr;
  const progress = (step - s.warmup) / (s.total - s.warmup);
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - s.minLr);
}
