/**
 * fp16 loss scaling across ranks: one rank's overflowing step makes every rank skip it (they
 * hold the same averaged gradients, so they agree without another collective), the scale
 * halves on all of them, and training goes on with identical replicas.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { LocalCluster } from './local-cluster.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'dp-train.mjs');

interface Result {
  outcomes: { skipped: boolean; lossScale: number }[];
  losses: Record<string, number>;
  params: number[];
}

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
    const results = await Promise.all([0, 1].map((rank) => new Promise<Result>((resolve, reject) => {
      const out = path.join(dir, `r${rank}.json`);
      const options = {
        out, micro: 64, steps: 30, overrides: ['precision=fp16', 'loss_scale.init=256'],
        group: { address: cluster.address, scope, rank, size: 2 }, poison: { rank: 1, step: 10 },
      };
      const child = spawn(process.execPath, [FIXTURE, JSON.stringify(options)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(readFileSync(out, 'utf8'))) : reject(new Error(`rank ${rank}: ${stderr}`))));
    })));
    for (const r of results) {
      const skippedSteps = r.outcomes.flatMap((o, i) => (o.skipped ? [i + 1] : []));
      expect(skippedSteps).toEqual([10]);
      expect(r.outcomes[9].lossScale).toBe(256);
      expect(r.outcomes[10].lossScale).toBe(128);
      expect(r.outcomes.slice(10).every((o) => o.lossScale === 128)).toBe(true);
      for (const step of [11, 30]) expect(Number.isFinite(r.losses[step])).toBe(true);
    }
    expect(results[1].params).toEqual(results[0].params);
    expect(results[0].losses[30]).toBeLessThan(results[0].losses[1]);
  }, 120_000);
});
