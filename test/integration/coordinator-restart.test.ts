/**
 * A coordinator killed mid-job loses no work: its worker keeps the rank training, registers
 * again with the new coordinator, which adopts the attempt; the job ends as an undisturbed run
 * does, to the bit. Then fault injection: the coordinator is killed (common/failpoints.ts) at each
 * point where a job's state and its attempt record are stored, and restarted; every job still
 * succeeds with the same loss, and the store's job and attempt records agree.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store.js';
import { LocalCluster, until } from './local-cluster.js';

const JOB = ['submit', 'jobs/fashion-mnist-mlp.yaml', '--set', 'model.hidden=[32]', '--set', 'threads=1', '--set', 'steps=400', '--set', 'log.every=20',
  '--set', `checkpoint.dir=${mkdtempSync(path.join(tmpdir(), 'ringmaster-restart-checkpoints-'))}`];
const LONG_JOB = [...JOB, '--set', 'steps=5000', '--set', 'log.every=100']; // about 5 s: long enough to restart the coordinator under it

interface Status { state: string; attempt: number; restarts: number; progress: { step: number } | null; metrics: Record<string, number> | null }

describe('a coordinator restart', () => {
  let cluster: LocalCluster;
  const undisturbed = { short: {}, long: {} }; // the final evaluations of the jobs run without a restart
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
    const ids = await Promise.all([JOB, LONG_JOB].map((args) => cluster.json<{ id: string }>(args)));
    const [short, long] = await Promise.all(ids.map(async ({ id }) => (await cluster.waitForState(id, ['succeeded'])).metrics as Record<string, number>));
    Object.assign(undisturbed, { short, long });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('mid-job (SIGKILL): the job keeps its attempt and progress and ends with the undisturbed test loss and accuracy', async () => {
    const { id } = await cluster.json<{ id: string }>(LONG_JOB);
    const before = await until('some progress', async () => {
      const s = await cluster.json<Status>(['status', id]);
      return (s.progress?.step ?? 0) >= 500 ? s.progress!.step : undefined;
    });
    await cluster.restartCoordinator();
    const done = await cluster.waitForState(id, ['succeeded', 'failed']);
    expect(done).toMatchObject({ state: 'succeeded', attempt: 1, restarts: 0, metrics: undisturbed.long });
    const log = (await cluster.cli(['logs', id])).stdout;
    expect(log).toContain('the coordinator restarted while attempt 1 was running');
    expect(log).toMatch(/registered again: rank 0 running/);
    expect((done.progress as { step: number }).step).toBeGreaterThan(before); // it carried on from where it was
  });

  it('mid-job, a 2-rank job across two workers: both register again with their rank, and the attempt carries on to its end', async () => {
    const two = await LocalCluster.start('cpu:1');
    const other = await two.addWorker('cpu:1');
    try {
      const { id } = await two.json<{ id: string }>([...LONG_JOB, '--set', 'parallel.data=2', '--set', 'batch.micro=64']);
      await until('some progress', async () => ((await two.json<Status>(['status', id])).progress?.step ?? 0) >= 300 ? true : undefined);
      await two.restartCoordinator();
      const done = await two.waitForState(id, ['succeeded', 'failed']);
      expect(done).toMatchObject({ state: 'succeeded', attempt: 1, restarts: 0 });
      const log = (await two.cli(['logs', id])).stdout;
      expect(log.match(/registered again: rank [01] (running|exited)/g)).toHaveLength(2);
    } finally {
      await other.stop();
      await two.stop();
    }
  });

  // Where a job's state and the attempt record it implies are stored: killed before the commit,
  // the change is not in the store; after it, everything that follows it is not.
  const FAILPOINTS = ['starting:uncommitted', 'starting:committed', 'running:committed', 'succeeded:uncommitted'];
  it.each(FAILPOINTS)('killed at %s, restarted: the job succeeds with the same test loss, its records agree', async (failpoint) => {
    await cluster.restartCoordinator(failpoint);
    const submitted = cluster.json<{ id: string }>(JOB).catch(() => undefined); // the submission may race the kill
    await cluster.coordinatorExit();
    await cluster.restartCoordinator();
    const id = (await submitted)?.id ?? (await cluster.json<{ id: string }[]>(['jobs'])).at(-1)!.id;
    const done = await cluster.waitForState(id, ['succeeded', 'failed']);
    expect(done).toMatchObject({ state: 'succeeded', restarts: 0, metrics: undisturbed.short });
    const store = Store.open(cluster.stateDir);
    const attempts = store.listAttempts(id);
    store.close();
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
    expect(attempts.at(-1)).toMatchObject({ attempt: done.attempt, outcome: 'succeeded' });
    expect(attempts.slice(0, -1).every((a) => a.outcome === 'failed')).toBe(true); // only an attempt taken back before it started
  });
});
