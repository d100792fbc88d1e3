/**
 * fp16 loss scaling across ranks: one rank's overflowing step makes every rank skip it (they
 * hold the same averaged gradients, so they agree without another collective), the scale
 * halves on all of them, and training goes on with identical replicas.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFixture, sameBytes } from './dp-train.js';
import { LocalCluster } from './local-cluster.js';

describe('fp16 on 2 ranks', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('an inf gradient on one rank: every rank skips that step, the scale halves, training continues', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-fp16-'));
    const scope = `fp16-${Date.now()}/1`;
    const results = await Promise.all([0, 1].map((rank) => runFixture({
      out: path.join(dir, `r${rank}.json`), micro: 64, steps: 30, overrides: ['precision=fp16', 'loss_scale.init=256'],
      group: { address: cluster.address, scope, rank, size: 2 }, poison: { rank: 1, step: 10 },
    })));
    for (const r of results) {
      const skippedSteps = r.outcomes.flatMap((o, i) => (o.skipped ? [i + 1] : []));
      expect(skippedSteps).toEqual([10]);
      expect(r.outcomes[9].lossScale).toBe(256);
      expect(r.outcomes[10].lossScale).toBe(128);
      expect(r.outcomes.slice(10).every((o) => o.lossScale === 128)).toBe(true);
      for (const step of [11, 30]) expect(Number.isFinite(r.losses[step])).toBe(true);
    }
    expect(sameBytes(results[1].params, results[0].params), 'identical replicas').toBe(true);
    expect(results[0].losses[30]).toBeLessThan(results[0].losses[1]);
  }, 120_000);
});
