/**
 * The example jobs, run in full as `npm start` and the README run them, reach the accuracy the
 * foundation issue promises: MLP ≥ 88%, CNN ≥ 90% on the Fashion-MNIST test set.
 */
import { describe, expect, it } from 'vitest';
import { ringmaster, summary } from './cli.js';

const TEN_MINUTES = 600_000;

describe('example jobs reach their accuracy', () => {
  it.each([
    ['jobs/fashion-mnist-mlp.yaml', 0.88],
    ['jobs/fashion-mnist-cnn.yaml', 0.9],
  ])('%s reaches test accuracy ≥ %f', async (spec, floor) => {
    const r = await ringmaster(['train', spec, '--json'], TEN_MINUTES);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).testAccuracy).toBeGreaterThanOrEqual(floor);
  }, TEN_MINUTES);
});
