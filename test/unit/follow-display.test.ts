/** A followed job's output: a progress bar redrawn in place on a terminal, plain lines elsewhere (cli/follow-display.ts). */
import { describe, expect, it } from 'vitest';
import { FollowDisplay, progressBar } from '../../cli/follow-display.js';

const progress = (step: number) => ({ step, totalSteps: 2000, epoch: 1, loss: 2.0595, lr: 6.6e-4, samplesPerSec: 100, elapsedSec: step / 30, tokensPerSec: 30_200 });
const stream = (isTTY: boolean) => {
  const written: string[] = [];
  return { written, isTTY, columns: 120, write: (t: string) => written.push(t) };
};

describe('progressBar', () => {
  it('draws the fraction done in 20 cells before the progress line', () => {
    expect(progressBar('job-1', progress(900), 200)).toBe('[job-1] █████████░░░░░░░░░░░ step 900/2000 45% epoch 1 loss 2.0595 lr 6.6e-4 30.2k tokens/s elapsed 30s ETA 37s');
  });

  it('cuts the line to the terminal\'s width', () => {
    const bar = progressBar('job-1', progress(900), 40);
    expect([...bar]).toHaveLength(40);
    expect(bar.endsWith('…')).toBe(true);
  });
});

describe('FollowDisplay', () => {
  it('on a terminal: redraws the progress in place and prints other lines above it', () => {
    const s = stream(true);
    const d = new FollowDisplay(s);
    d.line('[job-1] running');
    d.progress('job-1', progress(100));
    d.progress('job-1', progress(200));
    d.line('[job-1] eval at step 200: val loss 2.3');
    d.end();
    expect(s.written).toEqual([
      '[job-1] running\n',
      `\r\x1b[K${progressBar('job-1', progress(100), 120)}`,
      `\r\x1b[K${progressBar('job-1', progress(200), 120)}`,
      `\r\x1b[K[job-1] eval at step 200: val loss 2.3\n${progressBar('job-1', progress(200), 120)}`,
      '\n',
    ]);
  });

  it('elsewhere: one plain line each, as they come', () => {
    const s = stream(false);
    const d = new FollowDisplay(s);
    d.progress('job-1', progress(100));
    d.line('[job-1] succeeded');
    d.end();
    expect(s.written).toEqual(['[job-1] step 100/2000 5% epoch 1 loss 2.0595 lr 6.6e-4 30.2k tokens/s elapsed 3s ETA 1m03s\n', '[job-1] succeeded\n']);
  });
});
