/**
 * The person-readable lines a training run prints: one per logging interval, one per checkpoint
 * and resume, one at the end.
 *
 *   [fashion-mnist-mlp] resumed from step 150 (/ckpt/fashion-mnist-mlp/local-20250301-170045/step-00000150)
 *   [fashion-mnist-mlp] step 400/2340 17% epoch 1 loss 0.4123 lr 9.6e-4 11.2k samples/s elapsed 36s ETA 2m55s
 *   [fashion-mnist-mlp] checkpoint step 500 → /ckpt/fashion-mnist-mlp/local-20250301-170045/step-00000500
 *   [fashion-mnist-mlp] done: test loss 0.3012 accuracy 89.47% wall 3m31s 11.1k samples/s
 *   [shakespeare-char] step 500/2000 25% epoch 1 loss 1.6012 lr 9.1e-4 9.52k tokens/s MFU 31.2% elapsed 41s ETA 2m03s
 *   [shakespeare-char] eval at step 500: val loss 1.7020 perplexity 5.48
 *
 * The checkpoint and resume texts come without the `[name]` tag, because a job's own log holds
 * them bare; whoever prints them to a shared stream tags them with `tagged`.
 */
import { formatMetrics, type Evaluation, type Metrics } from './metrics.js';

/**
 * Training progress over the last logging interval: the one record a rank reports (over IPC),
 * its agent forwards (the wire's Progress, proto/records.ts maps it), the coordinator stores and
 * serves, and every display formats.
 */
export interface Progress {
  step: number; // optimizer steps done
  totalSteps: number; // optimizer steps in the whole run
  epoch: number; // the epoch in progress, counted from 1
  loss: number; // mean training loss over the interval
  lr: number; // learning rate of the last step
  samplesPerSec: number; // over the interval
  elapsedSec: number; // wall time of this run (since its start or its resume)
  startStep?: number; // the step this run started from: 0, or the checkpoint's step on resume
  lossScale?: number; // fp16: the loss scale the next step runs with
  skippedSteps?: number; // fp16: steps skipped for inf/NaN gradients since the run started
  tokensPerSec?: number; // a language model: training tokens per second, shown with its MFU in place of samples/s
  mfu?: number; // a language model: model FLOPs per second over the matmul peak measured at start
  bubble?: number; // pipeline parallel: the fraction of the interval a stage waited for its neighbours
}

export interface SummaryLine {
  name: string;
  metrics: Metrics;
  wallSec: number;
  samplesPerSec: number;
  tokensPerSec?: number; // a language model's, shown in place of samples/s when > 0
}

const RATE_UNITS = ['', 'k', 'M', 'G', 'T'];

/** "45s", "1m32s", "2h05m"; "?" for a duration that is not known (negative, NaN, infinite). */
export function formatDuration(seconds: number): string {
  if (!(seconds >= 0 && Number.isFinite(seconds))) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`;
}

/** Three significant digits with a k/M/G/T suffix: "950", "11.2k", "1.35M"; "?" if not finite. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return '?';
  if (x === 0) return '0';
  for (let unit = 0; ; unit++) {
    const text = (x / 1000 ** unit).toPrecision(3);
    // toPrecision turns to exponent form at 1000, so "1.00e+3" moves on to the next unit.
    if (Math.abs(Number(text)) < 1000 || unit === RATE_UNITS.length - 1) return text + RATE_UNITS[unit];
  }
}

/** Two significant digits in exponent form: "9.6e-4", "1.0e-3". */
export function formatLr(x: number): string {
  return x.toExponential(1);
}

/** One progress line of job `name`; the ETA extrapolates the steps per second observed in this run. */
export function formatProgressLine(name: string, p: Progress): string {
  const percent = p.totalSteps > 0 ? Math.floor((100 * p.step) / p.totalSteps) : 0;
  const stepsPerSec = (p.step - (p.startStep ?? 0)) / p.elapsedSec;
  const eta = stepsPerSec > 0 ? (p.totalSteps - p.step) / stepsPerSec : NaN;
  return (
    `[${name}] step ${p.step}/${p.totalSteps} ${percent}% epoch ${p.epoch} loss ${p.loss.toFixed(4)} ` +
    `lr ${formatLr(p.lr)} ` +
    (p.lossScale !== undefined ? `scale ${formatRate(p.lossScale)}${p.skippedSteps ? ` (${p.skippedSteps} skipped)` : ''} ` : '') +
    `${throughput(p)} ` +
    (p.bubble !== undefined ? `bubble ${(100 * p.bubble).toFixed(0)}% ` : '') +
    `elapsed ${formatDuration(p.elapsedSec)} ETA ${formatDuration(eta)}`
  );
}

function throughput(p: { samplesPerSec: number; tokensPerSec?: number; mfu?: number }): string {
  if (!p.tokensPerSec) return `${formatRate(p.samplesPerSec)} samples/s`;
  return `${formatRate(p.tokensPerSec)} tokens/s` + (p.mfu !== undefined ? ` MFU ${(100 * p.mfu).toFixed(1)}%` : '');
}

/** The line printed when a run ends. */
export function formatSummaryLine(s: SummaryLine): string {
  return `[${s.name}] done: ${formatMetrics(s.metrics)} wall ${formatDuration(s.wallSec)} ${throughput(s)}`;
}

/** `[name] eval at step 500: val loss 1.7020 perplexity 5.48` */
export function formatEvalLine(name: string, e: Evaluation): string {
  return `[${name}] eval at step ${e.step}: ${formatMetrics(e.metrics)}`;
}

export interface ResumeLines {
  step: number; // the checkpoint's step
  dir: string; // the checkpoint's directory
  skipped: string[]; // one line per newer checkpoint passed over as invalid
  attempt?: number; // the job attempt that resumed, on a cluster
}

/** `checkpoint step 500 → <dir>` */
export function formatCheckpoint(step: number, dir: string): string {
  return `checkpoint step ${step} → ${dir}`;
}

/** `[attempt 2 ]resumed from step 150 (<dir>)`, then one line per checkpoint passed over. */
export function formatResume(r: ResumeLines): string[] {
  const who = r.attempt === undefined ? '' : `attempt ${r.attempt} `;
  return [`${who}resumed from step ${r.step} (${r.dir})`, ...r.skipped.map((why) => `skipped a newer checkpoint: ${why}`)];
}

/** `[name] text`: a line of one job among others. */
export function tagged(name: string, text: string): string {
  return `[${name}] ${text}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
