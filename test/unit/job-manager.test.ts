/**
 * The JobManager with a real state store and a fake worker directory: gang placement of a
 * multi-rank job, the lifecycle driven by rank events, cancellation, and worker loss. (A real
 * 2-rank job needs the data-parallel trainer; these drive the coordinator's side directly.)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Logger } from '../../common/log.js';
import { JobLogs } from '../../coordinator/job-logs.js';
import { JobManager, type WorkerDirectory } from '../../coordinator/job-manager.js';
import { RendezvousStore } from '../../coordinator/rendezvous.js';
import { Store } from '../../coordinator/store.js';
import type { CoordinatorMessage } from '../../proto/gen/ringmaster/v1/CoordinatorMessage.js';
import type { RankEvent__Output } from '../../proto/gen/ringmaster/v1/RankEvent.js';

class FakeWorkers implements WorkerDirectory {
  sent: { workerId: string; message: CoordinatorMessage }[] = [];
  constructor(public workers: { workerId: string; slots: { kind: string; index: number }[] }[]) {}
  connected() {
    return this.workers;
  }
  send(workerId: string, message: CoordinatorMessage): boolean {
    this.sent.push({ workerId, message });
    return this.workers.some((w) => w.workerId === workerId);
  }
  assignments(jobId: string) {
    return this.sent.filter((s) => s.message.assignment?.job_id === jobId);
  }
}

const REPORT = { steps: 1, final_loss: 0.5, test_loss: 0.4, test_accuracy: 0.9, samples_per_sec: 1, wall_sec: 1 };

function event(jobId: string, attempt: number, rank: number, e: Partial<RankEvent__Output>): RankEvent__Output {
  return { job_id: jobId, attempt, rank, ...e } as RankEvent__Output;
}

describe('JobManager', () => {
  let store: Store;
  let workers: FakeWorkers;
  let manager: JobManager;
  const lines: string[] = [];

  beforeEach(() => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-manager-'));
    store = Store.open(dir);
    workers = new FakeWorkers([{ workerId: 'w1', slots: [{ kind: 'cpu', index: 0 }, { kind: 'cpu', index: 1 }] }]);
    manager = new JobManager(store, workers, new JobLogs(dir), new RendezvousStore(), new Logger('test', undefined, (l) => lines.push(l)), { cancelGraceMs: 50 });
  });
  afterEach(() => store.close());

  /** A job needing `slots` cpu slots, inserted as the coordinator's submit would. */
  function queue(id: string, slots: number, submittedAt: number): void {
    store.insertJob({ id, name: id, specJson: '{}', priority: 0, slots, device: 'cpu', submittedAt });
  }

  function finish(jobId: string, attempt: number, ranks: number): void {
    for (let r = 0; r < ranks; r++) manager.onRankEvent(event(jobId, attempt, r, { kind: 'started', started: { pid: 100 + r } }));
    for (let r = 0; r < ranks; r++) manager.onRankEvent(event(jobId, attempt, r, { kind: 'exit', exit: { exit_code: 0, signal: '', error_code: '', error_message: '', report: REPORT } }));
  }

  it('gang-schedules: a 2-slot job waits while a 1-slot job holds a slot, then runs; both finish', () => {
    queue('one', 1, 1);
    manager.scheduleJobs();
    queue('two', 2, 2);
    manager.scheduleJobs();
    expect(store.getJob('one')!.state).toBe('starting');
    expect(store.getJob('two')!.state).toBe('queued');
    expect(store.getJob('two')!.reason).toBe('waiting for 2 free cpu slots (1 free)');
    expect(workers.assignments('two')).toHaveLength(0);

    finish('one', 1, 1);
    expect(store.getJob('one')!.state).toBe('succeeded');
    const [assignment] = workers.assignments('two');
    expect(assignment.message.assignment!.ranks!.map((r) => r.rank)).toEqual([0, 1]); // all at once, on one message
    expect(store.getJob('two')!.state).toBe('starting');

    finish('two', 1, 2);
    expect(store.getJob('two')!.state).toBe('succeeded');
    expect(store.getJob('two')!.result?.testAccuracy).toBe(0.9);
  });

  it('moves starting → running only when every rank has started', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent(event('two', 1, 0, { kind: 'started', started: { pid: 1 } }));
    expect(store.getJob('two')!.state).toBe('starting');
    manager.onRankEvent(event('two', 1, 1, { kind: 'started', started: { pid: 2 } }));
    expect(store.getJob('two')!.state).toBe('running');
  });

  it('fails the job when one rank fails, names the rank, and stops the others', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent(event('two', 1, 1, { kind: 'exit', exit: { exit_code: 1, signal: '', error_code: 'DIVERGED', error_message: 'training diverged', report: null } }));
    const job = store.getJob('two')!;
    expect(job.state).toBe('failed');
    expect(job.reason).toBe('rank 1 exited with code 1: training diverged');
    expect(workers.sent.some((s) => s.message.cancel?.job_id === 'two')).toBe(true);
    expect(store.listAttempts('two')[0].outcome).toBe('failed');
  });

  it('cancels: queued at once; running after the ranks confirm, or after the grace period', async () => {
    queue('a', 2, 1);
    queue('b', 1, 2);
    manager.scheduleJobs();
    expect(manager.cancel('b').state).toBe('cancelled'); // still queued behind a
    expect(manager.cancel('a').state).toBe('cancelling');
    await new Promise((r) => setTimeout(r, 120));
    expect(store.getJob('a')!.state).toBe('cancelled');
  });

  it('fails the jobs of a lost worker with the reason, and ignores its late events', () => {
    queue('one', 1, 1);
    manager.scheduleJobs();
    manager.onWorkerLost('w1', 'no heartbeat for 10.0s');
    expect(store.getJob('one')!.reason).toBe('worker w1 lost: no heartbeat for 10.0s');
    finish('one', 1, 1); // stragglers from the dead attempt change nothing
    expect(store.getJob('one')!.state).toBe('failed');
  });

  it('on recovery fails the jobs a previous coordinator left active', () => {
    queue('one', 1, 1);
    manager.scheduleJobs();
    manager.recover();
    expect(store.getJob('one')!.state).toBe('failed');
    expect(store.getJob('one')!.reason).toBe('the coordinator restarted while the job was starting');
  });

  it('refuses a bad spec at submit with BAD_SPEC', () => {
    expect(() => manager.submit(JSON.stringify({ name: 'x', model: { kind: 'mlp' }, batch: { micro: 0 } }), 0)).toThrow(
      expect.objectContaining({ code: 'BAD_SPEC' }),
    );
  });
});
