/**
 * The one mapping between a record of the code (common/) and its wire message, per record that
 * crosses the wire: proto3 has no absent numbers, so an optional field travels as 0 and comes
 * back absent.
 */
import type { Evaluation, TrainingReport } from '../common/metrics.js';
import type { Progress } from '../common/progress.js';
import type { Evaluation as WireEvaluation, Evaluation__Output } from './gen/ringmaster/v1/Evaluation.js';
import type { Progress as WireProgress, Progress__Output } from './gen/ringmaster/v1/Progress.js';
import type { TrainingReport as WireTrainingReport, TrainingReport__Output } from './gen/ringmaster/v1/TrainingReport.js';

export function progressToWire(p: Progress): WireProgress {
  return {
    step: p.step, total_steps: p.totalSteps, epoch: p.epoch, loss: p.loss, lr: p.lr, samples_per_sec: p.samplesPerSec, elapsed_sec: p.elapsedSec,
    start_step: p.startStep ?? 0, loss_scale: p.lossScale ?? 0, skipped_steps: p.skippedSteps ?? 0,
    tokens_per_sec: p.tokensPerSec ?? 0, mfu: p.mfu ?? 0, bubble: p.bubble ?? 0,
  };
}

export function progressFromWire(w: Progress__Output): Progress {
  return {
    step: w.step, totalSteps: w.total_steps, epoch: w.epoch, loss: w.loss, lr: w.lr, samplesPerSec: w.samples_per_sec, elapsedSec: w.elapsed_sec,
    ...(w.start_step > 0 ? { startStep: w.start_step } : {}),
    ...(w.loss_scale > 0 ? { lossScale: w.loss_scale, skippedSteps: w.skipped_steps } : {}),
    ...(w.tokens_per_sec > 0 ? { tokensPerSec: w.tokens_per_sec, mfu: w.mfu } : {}),
    ...(w.bubble > 0 ? { bubble: w.bubble } : {}),
  };
}

export function evaluationToWire(e: Evaluation): WireEvaluation {
  return { step: e.step, metrics: e.metrics };
}

export function evaluationFromWire(w: Evaluation__Output): Evaluation {
  return { step: w.step, metrics: { ...w.metrics } };
}

export function reportToWire(r: TrainingReport): WireTrainingReport {
  return { steps: r.steps, final_loss: r.finalLoss, metrics: r.metrics, samples_per_sec: r.samplesPerSec, tokens_per_sec: r.tokensPerSec, wall_sec: r.wallSec };
}

export function reportFromWire(w: TrainingReport__Output): TrainingReport {
  return { steps: w.steps, finalLoss: w.final_loss, metrics: { ...w.metrics }, samplesPerSec: w.samples_per_sec, tokensPerSec: w.tokens_per_sec, wallSec: w.wall_sec };
}
