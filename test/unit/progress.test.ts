import { describe, expect, it } from 'vitest';
import {
  formatCheckpoint,
  formatDuration,
  formatLr,
  formatProgressLine,
  formatRate,
  formatResume,
  formatSummaryLine,
  tagged,
} from '../../common/progress.js';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [45.4, '45s'],
    [59.6, '1m00s'],
    [92, '1m32s'],
    [3599, '59m59s'],
    [3600, '1h00m'],
    [2 * 3600 + 5 * 60 + 10, '2h05m'],
    [2 * 3600 + 5 * 60 + 40, '2h06m'],
    [100 * 3600, '100h00m'],
    [Infinity, '?'],
    [NaN, '?'],
    [-1, '?'],
  ])('%s s → %s', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });
});

describe('formatRate', () => {
  it.each([
    [0, '0'],
    [9.5, '9.50'],
    [950, '950'],
    [999.4, '999'],
    [999.6, '1.00k'],
    [11234, '11.2k'],
    [112_345, '112k'],
    [1_350_000, '1.35M'],
    [2.5e9, '2.50G'],
    [NaN, '?'],
  ])('%s → %s', (x, expected) => {
    expect(formatRate(x)).toBe(expected);
  });
});

describe('formatLr', () => {
  it.each([
    [9.6e-4, '9.6e-4'],
    [1e-3, '1.0e-3'],
    [0.000_123_4, '1.2e-4'],
    [3e-1, '3.0e-1'],
  ])('%s → %s', (x, expected) => {
    expect(formatLr(x)).toBe(expected);
  });
});

describe('formatProgressLine', () => {
  const base = {
    step: 400,
    totalSteps: 2340,
    epoch: 1,
    loss: 0.412_345,
    lr: 9.6e-4,
    samplesPerSec: 11_234,
    elapsedSec: 40,
  };

  it.each([
    {
      why: '10 steps/s, 1940 steps left: ETA 194s',
      line: base,
      expected:
        '[fashion-mnist-mlp] step 400/2340 17% epoch 1 loss 0.4123 lr 9.6e-4 11.2k samples/s elapsed 40s ETA 3m14s',
    },
    {
      why: 'resumed at step 300: 100 steps in 40s, 2.5 steps/s, ETA 776s',
      line: { ...base, startStep: 300 },
      expected:
        '[fashion-mnist-mlp] step 400/2340 17% epoch 1 loss 0.4123 lr 9.6e-4 11.2k samples/s elapsed 40s ETA 12m56s',
    },
    {
      why: 'no step done yet: ETA unknown',
      line: { ...base, step: 0, elapsedSec: 0, samplesPerSec: 0 },
      expected: '[fashion-mnist-mlp] step 0/2340 0% epoch 1 loss 0.4123 lr 9.6e-4 0 samples/s elapsed 0s ETA ?',
    },
    {
      why: 'a pipeline stage waited 17% of the interval for its neighbours',
      line: { ...base, bubble: 0.1749 },
      expected:
        '[fashion-mnist-mlp] step 400/2340 17% epoch 1 loss 0.4123 lr 9.6e-4 11.2k samples/s bubble 17% elapsed 40s ETA 3m14s',
    },
    {
      why: 'fp16: the loss scale, and the steps skipped for overflow',
      line: { ...base, lossScale: 32_768, skippedSteps: 3 },
      expected:
        '[fashion-mnist-mlp] step 400/2340 17% epoch 1 loss 0.4123 lr 9.6e-4 scale 32.8k (3 skipped) 11.2k samples/s elapsed 40s ETA 3m14s',
    },
    {
      why: 'the last step',
      line: { ...base, step: 2340, epoch: 5, elapsedSec: 3725 },
      expected:
        '[fashion-mnist-mlp] step 2340/2340 100% epoch 5 loss 0.4123 lr 9.6e-4 11.2k samples/s elapsed 1h02m ETA 0s',
    },
  ])('$why', ({ line, expected }) => {
    expect(formatProgressLine('fashion-mnist-mlp', line)).toBe(expected);
  });
});

describe('formatSummaryLine', () => {
  it('gives test loss, accuracy in percent, wall time and throughput', () => {
    const line = formatSummaryLine({
      name: 'fashion-mnist-mlp',
      metrics: { test_loss: 0.301_249, test_accuracy: 0.894_71 },
      wallSec: 211,
      samplesPerSec: 11_100,
    });
    expect(line).toBe('[fashion-mnist-mlp] done: test loss 0.3012 accuracy 89.47% wall 3m31s 11.1k samples/s');
  });

  it("gives a language model's validation loss, perplexity and tokens/s", () => {
    const line = formatSummaryLine({ name: 'shakespeare-char', metrics: { val_loss: 1.472_1, val_perplexity: 4.358 }, wallSec: 95, samplesPerSec: 150, tokensPerSec: 9_600 });
    expect(line).toBe('[shakespeare-char] done: val loss 1.4721 perplexity 4.36 wall 1m35s 9.60k tokens/s');
  });
});

describe('checkpoint and resume lines', () => {
  const dir = '/ckpt/mlp/local-20250301-170045/step-00000150';

  it('names the step and the directory of a checkpoint', () => {
    expect(tagged('mlp', formatCheckpoint(150, dir))).toBe(`[mlp] checkpoint step 150 → ${dir}`);
  });

  it.each([
    { resume: { step: 150, dir, skipped: [] }, lines: [`resumed from step 150 (${dir})`] },
    { resume: { step: 150, dir, skipped: [], attempt: 2 }, lines: [`attempt 2 resumed from step 150 (${dir})`] },
    {
      resume: { step: 150, dir, skipped: ['checkpoint file /c/step-00000200/manifest.json is missing (…)', 'checkpoint file /c/step-00000175/model.safetensors is corrupt: …'] },
      lines: [
        `resumed from step 150 (${dir})`,
        'skipped a newer checkpoint: checkpoint file /c/step-00000200/manifest.json is missing (…)',
        'skipped a newer checkpoint: checkpoint file /c/step-00000175/model.safetensors is corrupt: …',
      ],
    },
  ])('resume $resume.step attempt $resume.attempt with $resume.skipped.length skipped', ({ resume, lines }) => {
    expect(formatResume(resume)).toEqual(lines);
  });
});
