/**
 * A coordinator restart, on the coordinator's side: a new JobManager on the same store takes back
 * the attempts the last one left active, and adopts them when their workers register again with
 * the ranks they still run and the exits they saw; ranks or workers that do not come back fail
 * the attempt (or take it back, when it never started training).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Logger } from '../../common/log.js';
import { JobLogs } from '../../coordinator/job-logs.js';
import { JobManager, type JobManagerPolicy, type WorkerDirectory } from '../../coordinator/job-manager.js';
import { RendezvousStore } from '../../coordinator/rendezvous.js';
import { Store } from '../../coordinator/store.js';
import type { CoordinatorMessage } from '../../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { RankEvent__Output } from '../../proto/gen/ringmaster/v1/RankEvent.js';

class FakeWorkers implements WorkerDirectory {
  sent: { workerId: string; message: CoordinatorMessage }[] = [];
  workers = [
    { workerId: 'w1', slots: [{ kind: 'cpu', index: 0 }] },
    { workerId: 'w2', slots: [{ kind: 'cpu', index: 0 }] },
  ];
  connected() {
    return this.workers;
  }
  send(workerId: string, message: CoordinatorMessage): boolean {
    this.sent.push({ workerId, message });
    return true;
  }
  cancels(workerId: string) {
    return this.sent.flatMap((s) => (s.workerId === workerId && s.message.cancel ? [`${s.message.cancel.job_id}/${s.message.cancel.attempt}`] : []));
  }
}

const REPORT = { steps: 1, final_loss: 0.5, metrics: {}, samples_per_sec: 1, tokens_per_sec: 0, wall_sec: 1 };
const POLICY: JobManagerPolicy = { cancelGraceMs: 50, startTimeoutMs: 60_000, adoptTimeoutMs: 60_000 };

const started = (jobId: string, rank: number) => ({ job_id: jobId, attempt: 1, rank, kind: 'started', started: { pid: 100 + rank } }) as RankEvent__Output;
const exited = (jobId: string, rank: number, exitCode = 0) =>
  ({ job_id: jobId, attempt: 1, rank, kind: 'exit', exit: { exit_code: exitCode, signal: '', error_code: '', error_message: '', report: exitCode === 0 ? REPORT : null } }) as RankEvent__Output;
const running = (jobId: string, ...ranks: number[]) => ranks.map((rank) => ({ job_id: jobId, attempt: 1, rank, activity: 'step 7: forward', idle_ms: 0 }));

describe('a coordinator restart', () => {
  let dir: string;
  let store: Store;
  let workers: FakeWorkers;
  let before: JobManager; // the coordinator that stopped
  let after: JobManager; // the one that took over
  const managers: JobManager[] = [];

  const manager = (policy = POLICY) => {
    const m = new JobManager(store, workers, new JobLogs(dir), new RendezvousStore(), new Logger('test', undefined, () => {}), policy);
    managers.push(m);
    return m;
  };

  /** A 2-rank job placed on w1 and w2, its ranks started; the coordinator then stops and another recovers. */
  function restartWhileRunning(id: string, maxRestarts = 0, policy = POLICY): void {
    const specJson = JSON.stringify({ name: id, checkpoint: { every: 100, keep: 2, dir: '/ckpt' }, max_restarts: maxRestarts });
    store.insertJob({ id, name: id, specJson, priority: 0, slots: 2, device: 'cpu', submittedAt: 1 });
    before.scheduleJobs();
    before.onRankEvent('w1', started(id, 0));
    before.onRankEvent('w2', started(id, 1));
    before.close();
    after = manager(policy);
    after.recover();
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-adoption-'));
    store = Store.open(dir);
    workers = new FakeWorkers();
    before = manager();
  });
  afterEach(() => {
    for (const m of managers.splice(0)) m.close();
    store.close();
  });

  it('keeps the job running while its workers return, adopts their ranks, and finishes the same attempt', () => {
    restartWhileRunning('job');
    expect(store.getJob('job')).toMatchObject({ state: 'running', attempt: 1 });
    after.onWorkerReturned('w1', running('job', 0), []);
    after.onWorkerReturned('w2', running('job', 1), []);
    after.onRankEvent('w1', exited('job', 0));
    after.onRankEvent('w2', exited('job', 1));
    expect(store.getJob('job')).toMatchObject({ state: 'succeeded', attempt: 1, restarts: 0 });
    expect(store.listAttempts('job')).toEqual([expect.objectContaining({ attempt: 1, outcome: 'succeeded' })]);
    expect(workers.cancels('w1')).toEqual([]);
  });

  it('takes in exits the last coordinator never recorded, told again at registration', () => {
    restartWhileRunning('job');
    after.onWorkerReturned('w1', [], [exited('job', 0)]);
    after.onWorkerReturned('w2', [], [exited('job', 1)]);
    expect(store.getJob('job')).toMatchObject({ state: 'succeeded', attempt: 1 });
  });

  it('fails the attempt when a worker returns without one of its ranks, naming it', () => {
    restartWhileRunning('job');
    after.onWorkerReturned('w1', running('job', 0), []);
    after.onWorkerReturned('w2', [], []);
    expect(store.getJob('job')).toMatchObject({ state: 'failed', reason: 'rank 1 was not running on w2 when it registered again after the coordinator restarted' });
    expect(workers.cancels('w1')).toEqual(['job/1']); // the rank that was adopted is stopped
  });

  it('restarts (max_restarts) or takes back, spending no restart, a job whose workers do not come back in time', async () => {
    restartWhileRunning('job', 1, { ...POLICY, adoptTimeoutMs: 30 });
    after.onWorkerReturned('w1', running('job', 0), []);
    await new Promise((r) => setTimeout(r, 80));
    expect(store.getJob('job')).toMatchObject({ state: 'starting', attempt: 2, restarts: 1, restartedAfter: 'w2 did not register again within 0.03s of the coordinator restart' });
    expect(store.listAttempts('job')[0]).toMatchObject({ outcome: 'failed' });
  });

  it('takes a starting attempt back when its ranks never started, spending no restart', () => {
    store.insertJob({ id: 'new', name: 'new', specJson: JSON.stringify({ name: 'new', checkpoint: { every: 1, keep: 1, dir: '/c' }, max_restarts: 0 }), priority: 0, slots: 2, device: 'cpu', submittedAt: 1 });
    before.scheduleJobs(); // the assignments never reached the workers
    before.close();
    after = manager();
    after.recover();
    after.onWorkerReturned('w1', [], []);
    expect(store.getJob('new')).toMatchObject({ attempt: 2, restarts: 0 });
    expect(store.listAttempts('new')[0]!.reason).toBe('attempt 1 taken back: rank 0 was not running on w1 when it registered again after the coordinator restarted');
  });

  it('stops ranks a returning worker runs of attempts that are over', () => {
    restartWhileRunning('job');
    after.onWorkerReturned('w1', [...running('job', 0), { job_id: 'gone', attempt: 3, rank: 0, activity: 'step 9: forward', idle_ms: 0 }], []);
    expect(workers.cancels('w1')).toEqual(['gone/3']);
  });

  it('finishes cancelling a job that was cancelling: its returning ranks are stopped, it ends cancelled', () => {
    restartWhileRunning('job');
    after.cancel('job');
    after.close();
    const third = manager();
    third.recover();
    third.onWorkerReturned('w1', running('job', 0), []);
    third.onWorkerReturned('w2', [], []);
    expect(workers.cancels('w1').at(-1)).toBe('job/1');
    third.onRankEvent('w1', exited('job', 0, 143));
    expect(store.getJob('job')).toMatchObject({ state: 'cancelled', reason: 'cancelled by request' });
  });

  it('commits a state change and the attempt it opens together', () => {
    restartWhileRunning('job');
    const job = store.getJob('job')!;
    expect(store.listAttempts('job')).toEqual([expect.objectContaining({ attempt: job.attempt, endedAt: null })]);
    expect(store.listAttempts('job')[0]!.rendezvousTokenSha256).toMatch(/^[0-9a-f]{64}$/); // the token itself is the ranks' alone
  });
});
