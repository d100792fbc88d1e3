/**
 * Preemption: a worker that drains (SIGTERM, or `ringmaster drain`) has its ranks write a
 * checkpoint at a step they agree on and stop; their job goes back to the queue without spending
 * a restart, resumes from that checkpoint on the next worker, and ends as an undisturbed run
 * does.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { LocalCluster, until } from './local-cluster.js';

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');
const sets = (extra: string[] = []) => ['--set', 'steps=1500', '--set', 'log.every=10', '--set', 'threads=1', '--set', `checkpoint.dir=${mkdtempSync(path.join(tmpdir(), 'ringmaster-drain-'))}`, ...extra.flatMap((s) => ['--set', s])];

interface Status {
  state: string;
  reason: string;
  restarts: number;
  progress?: { step: number; loss: number };
  metrics?: { val_loss: number };
  finalLoss?: number;
}

describe('draining a worker', () => {
  let cluster: LocalCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  /** Submits, waits for some progress, drains by `how`, and checks the job went back to the queue. */
  async function preempt(c: LocalCluster, extra: string[], how: () => Promise<void>): Promise<string> {
    const { id } = await c.json<{ id: string }>(['submit', SPEC, ...sets(extra)]);
    await until('progress past step 50', async () => ((await c.json<Status>(['status', id])).progress?.step ?? 0) >= 50 || undefined, 60_000);
    await how();
    await c.waitForState(id, ['queued'], 30_000);
    const log = (await c.cli(['logs', id])).stdout;
    expect(log).toMatch(/running → queued: preempted, resuming from step \d+: rank \d exited with code 1: stopped after step \d+ because its worker drains; checkpoint step \d+ written, the job resumes from it/);
    await until('the drained worker to leave', () => (c.workerExitCode === 0 ? true : undefined), 30_000);
    return id;
  }

  it('SIGTERM: checkpoint, requeue, resume on the next worker, and the same end as an undisturbed run', async () => {
    cluster = await LocalCluster.start('cpu:1');
    const c = cluster;
    const id = await preempt(c, [], async () => c.signalWorker('SIGTERM'));
    await c.startWorker('cpu:1');
    const done = await c.waitForState(id, ['succeeded'], 120_000) as unknown as Status;
    expect(done.restarts).toBe(0); // preemption spends no restart
    expect((await c.cli(['logs', id])).stdout).toMatch(/resumed from step \d+/);
    const { id: undisturbed } = await c.json<{ id: string }>(['submit', SPEC, ...sets()]);
    const whole = await c.waitForState(undisturbed, ['succeeded'], 120_000) as unknown as Status;
    expect(done.metrics?.val_loss).toBeGreaterThan(0);
    expect(done.metrics).toEqual(whole.metrics); // resumed bit for bit
  }, 300_000);

  it('ringmaster drain <worker>: the ranks of a 2-rank job stop at the same step, and the job resumes', async () => {
    cluster = await LocalCluster.start('cpu:2');
    const c = cluster;
    const [worker] = await c.json<{ id: string }[]>(['workers']);
    const id = await preempt(c, ['parallel.data=2'], async () => {
      const r = await c.cli(['drain', worker.id]);
      expect(r.stdout.trim()).toMatch(new RegExp(`^${worker.id}: draining; 2 rank\\(s\\) checkpoint at their next step and stop`));
    });
    const log = (await c.cli(['logs', id])).stdout;
    const stops = [...log.matchAll(/stopped after step (\d+) because its worker drains/g)].map((m) => m[1]);
    expect(new Set(stops).size).toBe(1); // one step for both ranks
    await c.startWorker('cpu:2');
    await c.waitForState(id, ['succeeded'], 120_000);
  }, 300_000);
});
