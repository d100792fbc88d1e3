/**
 * The JobManager with a real state store and a fake worker directory: gang placement of a
 * multi-rank job, the lifecycle driven by rank events, cancellation, worker loss, checkpoints,
 * resume and automatic restarts. (A real 2-rank job needs the data-parallel trainer; these drive the
 * coordinator's side directly.)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Logger } from '../../common/log.js';
import { JobLogs } from '../../coordinator/job-logs.js';
import { JobManager, type WorkerDirectory } from '../../coordinator/job-manager.js';
import type { ErrorCode } from '../../common/errors.js';
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

const REPORT = { steps: 1, final_loss: 0.5, metrics: { test_loss: 0.4, test_accuracy: 0.9 }, samples_per_sec: 1, tokens_per_sec: 0, wall_sec: 1 };

function event(jobId: string, attempt: number, rank: number, e: Partial<RankEvent__Output>): RankEvent__Output {
  return { job_id: jobId, attempt, rank, ...e } as RankEvent__Output;
}

describe('JobManager', () => {
  let store: Store;
  let workers: FakeWorkers;
  let manager: JobManager;
  let logs: JobLogs;
  const lines: string[] = [];

  beforeEach(() => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-manager-'));
    store = Store.open(dir);
    logs = new JobLogs(dir);
    workers = new FakeWorkers([{ workerId: 'w1', slots: [{ kind: 'cpu', index: 0 }, { kind: 'cpu', index: 1 }] }]);
    manager = new JobManager(store, workers, logs, new RendezvousStore(), new Logger('test', undefined, (l) => lines.push(l)), { cancelGraceMs: 50, startTimeoutMs: 60_000, adoptTimeoutMs: 60_000 });
    lines.length = 0;
  });
  afterEach(() => {
    manager.close();
    store.close();
  });

  /** A job needing `slots` cpu slots, inserted as the coordinator's submit would. */
  function queue(id: string, slots: number, submittedAt: number, maxRestarts = 0): void {
    const specJson = JSON.stringify({ name: id, checkpoint: { every: 100, keep: 2, dir: '/ckpt' }, max_restarts: maxRestarts });
    store.insertJob({ id, name: id, specJson, priority: 0, slots, device: 'cpu', submittedAt });
  }

  function finish(jobId: string, attempt: number, ranks: number): void {
    for (let r = 0; r < ranks; r++) manager.onRankEvent('w1', event(jobId, attempt, r, { kind: 'started', started: { pid: 100 + r } }));
    for (let r = 0; r < ranks; r++) manager.onRankEvent('w1', event(jobId, attempt, r, { kind: 'exit', exit: { exit_code: 0, signal: '', error_code: '', error_message: '', report: REPORT } }));
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
    expect(store.getJob('two')!.result?.metrics.test_accuracy).toBe(0.9);
  });

  it('moves starting → running only when every rank has started', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('two', 1, 0, { kind: 'started', started: { pid: 1 } }));
    expect(store.getJob('two')!.state).toBe('starting');
    manager.onRankEvent('w1', event('two', 1, 1, { kind: 'started', started: { pid: 2 } }));
    expect(store.getJob('two')!.state).toBe('running');
  });

  it('fails the job when one rank fails, names the rank, and stops the others', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('two', 1, 1, { kind: 'exit', exit: { exit_code: 1, signal: '', error_code: 'DIVERGED', error_message: 'training diverged', report: null } }));
    const job = store.getJob('two')!;
    expect(job.state).toBe('failed');
    expect(job.reason).toBe('rank 1 exited with code 1: training diverged');
    expect(workers.sent.some((s) => s.message.cancel?.job_id === 'two')).toBe(true);
    expect(store.listAttempts('two')[0].outcome).toBe('failed');
  });

  it('hears a rank only through the worker its attempt placed it on: a forged success from another worker changes nothing', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    for (const rank of [0, 1]) {
      manager.onRankEvent('impostor', event('two', 1, rank, { kind: 'started', started: { pid: 9 } }));
      manager.onRankEvent('impostor', event('two', 1, rank, { kind: 'exit', exit: { exit_code: 0, signal: '', error_code: '', error_message: '', report: REPORT } }));
    }
    expect(store.getJob('two')!.state).toBe('starting');
    expect(store.getJob('two')!.result).toBeNull();
  });

  it('shows a rank\'s error message on one line, its control characters escaped', () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('two', 1, 0, { kind: 'exit', exit: { exit_code: 1, signal: '', error_code: 'DATA_CORRUPT', error_message: 'bad manifest \u0000\u0000\n\u001b[31m', report: null } }));
    expect(store.getJob('two')!.reason).toBe('rank 0 exited with code 1: bad manifest \\x00\\x00\\x0a\\x1b[31m');
  });

  it('takes back an attempt whose ranks do not all start within the start timeout and queues the job again, spending no restart', async () => {
    manager.close();
    manager = new JobManager(store, workers, logs, new RendezvousStore(), new Logger('test', undefined, (l) => lines.push(l)), { cancelGraceMs: 50, startTimeoutMs: 60, adoptTimeoutMs: 60_000 });
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('two', 1, 0, { kind: 'started', started: { pid: 1 } }));
    // Rank 1's worker sits on the assignment: no started event comes.
    for (let i = 0; i < 100 && store.listAttempts('two')[0]!.outcome !== 'failed'; i++) await new Promise((r) => setTimeout(r, 20));
    const [first, second] = store.listAttempts('two');
    expect(first!.reason).toBe('attempt 1 taken back: rank 1 on w1 did not start within 0.06s');
    expect(workers.sent.some((s) => s.message.cancel?.job_id === 'two' && s.message.cancel.attempt === 1)).toBe(true);
    // Queued again and, the slots being free, placed at once as attempt 2; no restart counted.
    expect(second).toMatchObject({ attempt: 2 });
    expect(store.getJob('two')).toMatchObject({ state: 'starting', attempt: 2, restarts: 0 });
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

  it("names, in a hung rank's failure, what the job's ranks on other workers last did (its agent knows only its own)", () => {
    workers.workers = [{ workerId: 'w1', slots: [{ kind: 'cpu', index: 0 }] }, { workerId: 'w2', slots: [{ kind: 'cpu', index: 0 }] }];
    queue('two', 2, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('two', 1, 0, { kind: 'started', started: { pid: 1 } }));
    manager.onRankEvent('w2', event('two', 1, 1, { kind: 'started', started: { pid: 2 } }));
    manager.onHeartbeat('w2', [{ job_id: 'two', attempt: 1, rank: 1, activity: 'step 57: all_reduce #112 (7.5 MB) on rank 1 of 2', idle_ms: 61_000 }]);
    const hung = 'made no progress for 61s (progress_timeout_s 60s); last activities: rank 0: step 57: stopped (unchanged for 61s)';
    manager.onRankEvent('w1', event('two', 1, 0, { kind: 'exit', exit: { exit_code: -1, signal: '', error_code: 'RANK_HUNG', error_message: hung, report: null } }));
    expect(store.getJob('two')!.reason).toBe(`rank 0 ${hung}; on other workers: rank 1 on w2: step 57: all_reduce #112 (7.5 MB) on rank 1 of 2 (unchanged for 61s)`);
  });

  it('refuses a bad spec at submit with BAD_SPEC', () => {
    expect(() => manager.submit(JSON.stringify({ name: 'x', model: { kind: 'mlp' }, batch: { micro: 0 } }), 0)).toThrow(
      expect.objectContaining({ code: 'BAD_SPEC' }),
    );
  });

  /** A 1-rank job started, running, that published checkpoints of `steps`, then failed. */
  function failedWithCheckpoints(id: string, steps: number[]): void {
    queue(id, 1, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event(id, 1, 0, { kind: 'started', started: { pid: 1 } }));
    for (const step of steps) manager.onRankEvent('w1', event(id, 1, 0, { kind: 'checkpoint', checkpoint: { step, dir: `/ckpt/${id}/step-${step}` } }));
    manager.onRankEvent('w1', event(id, 1, 0, { kind: 'exit', exit: { exit_code: -1, signal: 'SIGKILL', error_code: '', error_message: '', report: null } }));
  }

  /** A job resumed once and running its second attempt. */
  function runningAgain(id: string): void {
    failedWithCheckpoints(id, [100]);
    manager.resume(id);
    manager.onRankEvent('w1', event(id, 2, 0, { kind: 'started', started: { pid: 2 } }));
  }

  const logText = (jobId: string) => logs.read(jobId).map((l) => l.text);

  it('puts the checkpoint root and the attempt token in every assignment, and no resume on a first attempt', () => {
    queue('gpt.small-00ff', 2, 1);
    manager.scheduleJobs();
    const [{ message }] = workers.assignments('gpt.small-00ff');
    expect(message.assignment!.checkpoints).toEqual({ root: '/ckpt/gpt.small-00ff', token: 'gpt_small-00ff-a1' });
    expect(message.assignment!.resume).toBeNull();
  });

  it("records rank 0's checkpoints (the newest checkpoint.keep), logs them, ignores other ranks'", () => {
    queue('two', 2, 1);
    manager.scheduleJobs();
    for (const step of [100, 200, 300]) manager.onRankEvent('w1', event('two', 1, 0, { kind: 'checkpoint', checkpoint: { step, dir: `/ckpt/two/step-${step}` } }));
    manager.onRankEvent('w1', event('two', 1, 1, { kind: 'checkpoint', checkpoint: { step: 400, dir: '/elsewhere' } }));
    expect(manager.checkpoints('two').map((c) => [c.step, c.attempt, c.dir])).toEqual([[200, 1, '/ckpt/two/step-200'], [300, 1, '/ckpt/two/step-300']]);
    expect(logText('two')).toContain('checkpoint step 300 → /ckpt/two/step-300');
    expect(lines.some((l) => l.includes('[two] checkpoint step 100 → /ckpt/two/step-100'))).toBe(true);
  });

  it.each([
    { step: undefined, resume: { root: '/ckpt/one' }, reason: 'resume requested from the newest valid checkpoint (step 200 recorded)' },
    { step: 100, resume: { root: '/ckpt/one', step: 100 }, reason: 'resume requested from step 100' },
  ])('resumes a failed job (step $step): queued again, then attempt 2 carries $resume', ({ step, resume, reason }) => {
    failedWithCheckpoints('one', [100, 200]);
    expect(store.getJob('one')!.state).toBe('failed');
    workers.workers = []; // no slots: the resumed job stays queued where we can see it
    const queued = manager.resume('on', step); // a unique prefix works as everywhere
    expect(queued).toMatchObject({ id: 'one', state: 'queued', endedAt: null, resume });
    expect(logText('one')).toContain(`failed → queued: ${reason}`);

    workers.workers = [{ workerId: 'w1', slots: [{ kind: 'cpu', index: 0 }] }];
    manager.scheduleJobs();
    const assignments = workers.assignments('one');
    expect(assignments).toHaveLength(2);
    expect(assignments[1].message.assignment).toMatchObject({ attempt: 2, resume, checkpoints: { root: '/ckpt/one', token: 'one-a2' } });
    expect(store.getJob('one')).toMatchObject({ state: 'starting', attempt: 2 });
  });

  it('resumes a cancelled job', () => {
    queue('one', 1, 1);
    manager.scheduleJobs();
    manager.onRankEvent('w1', event('one', 1, 0, { kind: 'checkpoint', checkpoint: { step: 100, dir: '/ckpt/one/step-100' } }));
    manager.cancel('one');
    manager.onRankEvent('w1', event('one', 1, 0, { kind: 'exit', exit: { exit_code: -1, signal: 'SIGTERM', error_code: '', error_message: '', report: null } }));
    expect(store.getJob('one')!.state).toBe('cancelled');
    expect(manager.resume('one').state).toBe('starting');
  });

  it.each<{ what: string; setUp: () => void; step?: number; code: ErrorCode; says: string }>([
    { what: 'a running job', setUp: () => runningAgain('one'), code: 'WRONG_STATE', says: 'job one is running (attempt 2)' },
    { what: 'a queued job', setUp: () => queue('one', 3, 1), code: 'WRONG_STATE', says: 'job one is already queued' },
    { what: 'a job without checkpoints', setUp: () => failedWithCheckpoints('one', []), code: 'WRONG_STATE', says: 'job one has no checkpoints to resume from' },
    { what: 'a step never recorded', setUp: () => failedWithCheckpoints('one', [100, 200]), step: 150, code: 'BAD_ARGUMENT', says: 'no checkpoint of step 150 (its checkpoints: 100, 200;' },
  ])('refuses to resume $what with $code, changing nothing', ({ setUp, step, code, says }) => {
    setUp();
    const before = store.getJob('one');
    expect(() => manager.resume('one', step)).toThrow(expect.objectContaining({ code, message: expect.stringContaining(says) }));
    expect(store.getJob('one')).toEqual(before);
  });

  it('logs where a resumed attempt started and the checkpoints it passed over; its ETA counts from there', () => {
    failedWithCheckpoints('one', [100, 200]);
    manager.resume('one');
    const skipped = 'checkpoint file /ckpt/one/step-200/manifest.json is missing (…)';
    manager.onRankEvent('w1', event('one', 2, 0, { kind: 'resumed', resumed: { step: 100, dir: '/ckpt/one/step-100', skipped: [skipped] } }));
    expect(logText('one')).toEqual(expect.arrayContaining(['attempt 2 resumed from step 100 (/ckpt/one/step-100)', `skipped a newer checkpoint: ${skipped}`]));
    manager.onRankEvent('w1', event('one', 2, 0, { kind: 'progress', progress: { step: 150, total_steps: 250, epoch: 1, loss: 0.5, lr: 1e-3, samples_per_sec: 100, elapsed_sec: 10, start_step: 0, loss_scale: 65_536, skipped_steps: 2, tokens_per_sec: 0, mfu: 0, bubble: 0 } }));
    expect(store.getJob('one')!.progress).toMatchObject({ startStep: 100, lossScale: 65_536, skippedSteps: 2 }); // nothing lost on the way
    // the progress goes to the job's metrics file too, one JSON object per line
    const records = readFileSync(logs.metricsFile('one'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.at(-1)).toMatchObject({ kind: 'progress', attempt: 2, step: 150, loss: 0.5, startStep: 100 });
    expect(lines.at(-1)).toMatch(/\[one\] step 150\/250 60% .* elapsed 10s ETA 20s$/); // 50 steps in 10s, 100 to go
  });

  describe('restarts after a failed attempt (max_restarts)', () => {
    const killed = { exit_code: -1, signal: 'SIGKILL', error_code: '', error_message: '', report: null };
    const exit = (id: string, attempt: number, rank: number, e = killed) => manager.onRankEvent('w1', event(id, attempt, rank, { kind: 'exit', exit: e }));
    const start = (id: string, attempt: number, ranks: number) => {
      for (let r = 0; r < ranks; r++) manager.onRankEvent('w1', event(id, attempt, r, { kind: 'started', started: { pid: 10 * attempt + r } }));
    };
    const checkpoint = (id: string, attempt: number, step: number) => manager.onRankEvent('w1', event(id, attempt, 0, { kind: 'checkpoint', checkpoint: { step, dir: `/ckpt/${id}/step-${step}` } }));
    const cancels = (id: string) => workers.sent.flatMap((s) => (s.message.cancel?.job_id === id ? [s.message.cancel.attempt] : []));

    it('stops the other ranks and starts attempt 2 from the newest valid checkpoint; the failure stays visible', () => {
      queue('two', 2, 1, 2);
      manager.scheduleJobs();
      start('two', 1, 2);
      checkpoint('two', 1, 100);
      checkpoint('two', 1, 200);
      exit('two', 1, 1);
      expect(cancels('two')).toEqual([1]); // rank 0 of attempt 1 is stopped
      expect(logText('two')).toContain('running → queued: restarting after failure (restart 1 of 2, from the newest valid checkpoint, step 200 recorded): rank 1 was killed by SIGKILL');
      expect(store.listAttempts('two')[0]).toMatchObject({ outcome: 'failed', reason: 'rank 1 was killed by SIGKILL' });
      const assignments = workers.assignments('two');
      expect(assignments).toHaveLength(2); // gang-scheduled again at once: both slots are free
      expect(assignments[1].message.assignment).toMatchObject({ attempt: 2, resume: { root: '/ckpt/two' }, checkpoints: { token: 'two-a2' } });
      expect(store.getJob('two')).toMatchObject({ state: 'starting', attempt: 2, restarts: 1, restartedAfter: 'rank 1 was killed by SIGKILL' });

      exit('two', 1, 0, { ...killed, signal: 'SIGTERM' }); // the stopped rank's exit changes nothing
      start('two', 2, 2);
      expect(store.getJob('two')).toMatchObject({ state: 'running', attempt: 2, restarts: 1 });
      finish('two', 2, 2);
      expect(store.getJob('two')).toMatchObject({ state: 'succeeded', restarts: 1, restartedAfter: 'rank 1 was killed by SIGKILL' });
    });

    it('starts over from step 0 when the job has recorded no checkpoint', () => {
      queue('one', 1, 1, 1);
      manager.scheduleJobs();
      start('one', 1, 1);
      exit('one', 1, 0);
      expect(logText('one')).toContain('running → queued: restarting after failure (restart 1 of 1, from the start: no checkpoint recorded): rank 0 was killed by SIGKILL');
      expect(workers.assignments('one')[1].message.assignment).toMatchObject({ attempt: 2, resume: null });
    });

    it('gives up after max_restarts, saying so; a resume by a person grants a fresh budget', () => {
      queue('one', 1, 1, 1);
      manager.scheduleJobs();
      start('one', 1, 1);
      exit('one', 1, 0);
      start('one', 2, 1);
      checkpoint('one', 2, 100);
      exit('one', 2, 0);
      expect(store.getJob('one')).toMatchObject({ state: 'failed', reason: 'rank 0 was killed by SIGKILL (gave up after 1 restart)', attempt: 2, restarts: 1 });
      expect(workers.assignments('one')).toHaveLength(2);

      expect(manager.resume('one')).toMatchObject({ state: 'starting', attempt: 3, restarts: 0, restartedAfter: null });
      start('one', 3, 1);
      exit('one', 3, 0);
      expect(store.getJob('one')).toMatchObject({ state: 'starting', attempt: 4, restarts: 1 });
    });

    it.each(['DATA_MISSING', 'DIVERGED'])('does not restart after the rank error %s, which would recur', (code) => {
      queue('one', 1, 1, 3);
      manager.scheduleJobs();
      start('one', 1, 1);
      exit('one', 1, 0, { exit_code: 1, signal: '', error_code: code, error_message: 'it went wrong', report: null });
      expect(store.getJob('one')).toMatchObject({ state: 'failed', restarts: 0, reason: `rank 0 exited with code 1: it went wrong (not restarted: ${code} would fail a new attempt the same way)` });
      expect(workers.assignments('one')).toHaveLength(1);
    });

    it('restarts after the worker is lost, and waits in the queue for slots', () => {
      queue('one', 1, 1, 1);
      manager.scheduleJobs();
      start('one', 1, 1);
      workers.workers = [];
      manager.onWorkerLost('w1', 'no heartbeat for 10.0s');
      expect(store.getJob('one')).toMatchObject({ state: 'queued', reason: 'needs 1 cpu slot but no worker has cpu slots', restartedAfter: 'worker w1 lost: no heartbeat for 10.0s' });
      workers.workers = [{ workerId: 'w2', slots: [{ kind: 'cpu', index: 0 }] }];
      manager.scheduleJobs();
      expect(store.getJob('one')).toMatchObject({ state: 'starting', attempt: 2 });
    });

    it('never restarts a cancelled job, whether its ranks confirm or its worker goes away', () => {
      queue('a', 1, 1, 2);
      queue('b', 1, 2, 2);
      manager.scheduleJobs();
      start('a', 1, 1);
      start('b', 1, 1);
      manager.cancel('a');
      manager.cancel('b');
      exit('a', 1, 0, { ...killed, signal: 'SIGTERM' });
      manager.onWorkerLost('w1', 'its session ended');
      expect(store.getJob('a')).toMatchObject({ state: 'cancelled', restarts: 0 });
      expect(store.getJob('b')).toMatchObject({ state: 'cancelled', restarts: 0 });
      expect(workers.assignments('a')).toHaveLength(1);
      expect(workers.assignments('b')).toHaveLength(1);
    });
  });
});
