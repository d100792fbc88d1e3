import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Progress } from '../../common/progress.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../coordinator/store-schema.js';
import {
  Store,
  StoreError,
  type CheckpointRecord,
  type NewJob,
  type ReportRecord,
  type WorkerRecord,
} from '../../coordinator/store.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-store-'));
  store = Store.open(dir);
});

afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function newJob(id: string, submittedAt: number): NewJob {
  return { id, name: `job-${id}`, specJson: `{"name":"job-${id}"}`, priority: 0, slots: 2, device: 'cpu', submittedAt };
}

function progress(step: number, loss = 1 / step): Progress {
  return { step, totalSteps: 100, epoch: 0, loss, lr: 1e-3, samplesPerSec: 5000, elapsedSec: step / 10 };
}

const report: ReportRecord = { steps: 100, finalLoss: 0.25, metrics: { test_loss: 0.31, test_accuracy: 0.88 }, samplesPerSec: 5123.5, tokensPerSec: 0, wallSec: 42.5 };

function worker(id: string, firstSeen: number): WorkerRecord {
  return {
    id, hostname: `host-${id}`, address: `10.0.0.${firstSeen}:7000`,
    slots: [{ kind: 'cpu', index: 0 }, { kind: 'cuda', index: 1 }], firstSeen, lastSeen: firstSeen, connected: true,
  };
}

describe('jobs', () => {
  it('inserts queued at attempt 0, gets, and lists in submission order', () => {
    const inserted = store.insertJob(newJob('b', 2000));
    expect(inserted).toEqual({
      ...newJob('b', 2000), state: 'queued', reason: '', attempt: 0,
      startedAt: null, endedAt: null, progress: null, evaluation: null, result: null, resume: null,
      restarts: 0, restartedAfter: null,
    });
    store.insertJob(newJob('a', 1000));
    store.insertJob(newJob('c', 2000)); // same submittedAt as b: insertion order breaks the tie
    expect(store.getJob('b')).toEqual(inserted);
    expect(store.getJob('nope')).toBeUndefined();
    expect(store.listJobs().map((j) => j.id)).toEqual(['a', 'b', 'c']);
  });

  it('pages the jobs in the order they were submitted, with or without their specs', () => {
    for (const [i, id] of ['a', 'b', 'c', 'd', 'e'].entries()) store.insertJob(newJob(id, i));
    const first = store.jobsPage(0, 2, false);
    expect(first.jobs.map((j) => j.id)).toEqual(['a', 'b']);
    expect(first.jobs.every((j) => j.specJson === '')).toBe(true);
    const second = store.jobsPage(first.next!, 2, true);
    expect(second.jobs.map((j) => j.id)).toEqual(['c', 'd']);
    expect(second.jobs[0].specJson).toBe(newJob('c', 2).specJson);
    const last = store.jobsPage(second.next!, 2, false);
    expect(last.jobs.map((j) => j.id)).toEqual(['e']);
    expect(last.next).toBeNull();
  });

  it('rejects a duplicate id', () => {
    store.insertJob(newJob('a', 1));
    expect(() => store.insertJob(newJob('a', 2))).toThrow();
  });

  it.each([
    ['abc', ['abc']], // an exact match wins over the longer id it prefixes
    ['ab', ['abc', 'abd', 'abcd']],
    ['abcd', ['abcd']],
    ['x', []],
    ['', []],
    ['%', []], // no LIKE wildcards
  ])('findJobs(%j) → %j', (query, expected) => {
    for (const [i, id] of ['abc', 'abd', 'abcd', 'b'].entries()) store.insertJob(newJob(id, i));
    expect(store.findJobs(query).map((j) => j.id)).toEqual(expected);
  });

  it('jobsInStates filters by state, in submission order', () => {
    for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) store.insertJob(newJob(id, i));
    store.updateJob('b', { state: 'running' });
    store.updateJob('d', { state: 'starting' });
    expect(store.jobsInStates(['running', 'starting', 'cancelling']).map((j) => j.id)).toEqual(['b', 'd']);
    expect(store.jobsInStates(['queued']).map((j) => j.id)).toEqual(['a', 'c']);
    expect(store.jobsInStates([])).toEqual([]);
  });

  it('newestJobsInStates gives the last submitted of those states first, at most the limit', () => {
    for (const [i, id] of ['a', 'b', 'c', 'd', 'e'].entries()) store.insertJob(newJob(id, i));
    for (const id of ['a', 'c', 'd']) store.updateJob(id, { state: 'succeeded' });
    store.updateJob('e', { state: 'failed' });
    expect(store.newestJobsInStates(['succeeded', 'failed', 'cancelled'], 3).map((j) => j.id)).toEqual(['e', 'd', 'c']);
    expect(store.newestJobsInStates(['queued'], 10).map((j) => j.id)).toEqual(['b']);
  });

  it('updateJob changes only the given fields and round-trips the result', () => {
    const before = store.insertJob(newJob('a', 1));
    const started = store.updateJob('a', { state: 'running', attempt: 1, startedAt: 10 });
    expect(started).toEqual({ ...before, state: 'running', attempt: 1, startedAt: 10 });
    const ended = store.updateJob('a', { state: 'succeeded', endedAt: 20, result: report, reason: 'done' });
    expect(ended).toEqual({ ...started, state: 'succeeded', endedAt: 20, result: report, reason: 'done' });
    expect(store.getJob('a')).toEqual(ended);
    expect(store.updateJob('a', { startedAt: null, result: null })).toEqual({ ...ended, startedAt: null, result: null });
  });

  it.each([
    [{ root: '/ckpt/a' }],
    [{ root: '/ckpt/a', step: 150 }],
    [{ root: '/ckpt/a', step: 0 }],
    [null],
  ])('updateJob round-trips resume %j', (resume) => {
    store.insertJob(newJob('a', 1));
    store.updateJob('a', { resume: { root: '/elsewhere', step: 7 } });
    expect(store.updateJob('a', { resume }).resume).toEqual(resume);
    expect(store.getJob('a')?.resume).toEqual(resume);
    expect(store.updateJob('a', { reason: 'unrelated' }).resume).toEqual(resume); // left out: kept
  });

  it('updateJob round-trips the restarts and the failure before the latest one', () => {
    store.insertJob(newJob('a', 1));
    expect(store.updateJob('a', { restarts: 2, restartedAfter: 'rank 0 was killed by SIGKILL' })).toMatchObject({ restarts: 2, restartedAfter: 'rank 0 was killed by SIGKILL' });
    expect(store.updateJob('a', { reason: 'unrelated' })).toMatchObject({ restarts: 2, restartedAfter: 'rank 0 was killed by SIGKILL' }); // left out: kept
    expect(store.updateJob('a', { restarts: 0, restartedAfter: null })).toMatchObject({ restarts: 0, restartedAfter: null });
    expect(store.getJob('a')).toMatchObject({ restarts: 0, restartedAfter: null });
  });

  it('updateJob on an unknown id throws', () => {
    expect(() => store.updateJob('nope', { state: 'failed' })).toThrow(/no job nope/);
  });
});

describe('attempts', () => {
  it('round-trips placement and the outcome', () => {
    store.insertJob(newJob('a', 1));
    const placement = [
      { rank: 0, workerId: 'w1', kind: 'cuda', index: 0 },
      { rank: 1, workerId: 'w2', kind: 'cpu', index: 3 },
    ];
    store.startAttempt({ jobId: 'a', attempt: 2, startedAt: 200, placement: [placement[0]!], rendezvousTokenSha256: '' });
    store.startAttempt({ jobId: 'a', attempt: 1, startedAt: 100, placement, rendezvousTokenSha256: 't1' });
    store.setAttemptStartStep('a', 1, 40);
    store.endAttempt('a', 1, 150, 'failed', 'rank 1 exited with code 1');
    expect(store.listAttempts('a')).toEqual([
      { jobId: 'a', attempt: 1, startedAt: 100, endedAt: 150, outcome: 'failed', reason: 'rank 1 exited with code 1', placement, rendezvousTokenSha256: 't1', startStep: 40 },
      { jobId: 'a', attempt: 2, startedAt: 200, endedAt: null, outcome: null, reason: '', placement: [placement[0]], rendezvousTokenSha256: '', startStep: 0 },
    ]);
    expect(store.listAttempts('other')).toEqual([]);
  });

  it('stores the writes of one transaction together or not at all', () => {
    store.insertJob(newJob('a', 1));
    const attemptAndState = () => {
      store.startAttempt({ jobId: 'a', attempt: 1, startedAt: 1, placement: [], rendezvousTokenSha256: 't' });
      store.updateJob('a', { state: 'starting', attempt: 1 });
    };
    expect(() => store.atomically(() => {
      attemptAndState();
      throw new Error('the process died here');
    })).toThrow('the process died here');
    expect(store.listAttempts('a')).toEqual([]);
    expect(store.getJob('a')).toMatchObject({ state: 'queued', attempt: 0 });
    store.atomically(attemptAndState);
    expect(store.listAttempts('a')).toHaveLength(1);
    expect(store.getJob('a')).toMatchObject({ state: 'starting', attempt: 1 });
  });

  it('rejects an attempt of an unknown job, a repeated attempt, and ending one never started', () => {
    store.insertJob(newJob('a', 1));
    expect(() => store.startAttempt({ jobId: 'nope', attempt: 1, startedAt: 1, placement: [], rendezvousTokenSha256: '' })).toThrow();
    store.startAttempt({ jobId: 'a', attempt: 1, startedAt: 1, placement: [], rendezvousTokenSha256: '' });
    expect(() => store.startAttempt({ jobId: 'a', attempt: 1, startedAt: 2, placement: [], rendezvousTokenSha256: '' })).toThrow();
    expect(() => store.endAttempt('a', 9, 3, 'failed', '')).toThrow(/no attempt 9/);
  });
});

describe('metrics', () => {
  it('appends progress history in order and keeps the latest on the job', () => {
    store.insertJob(newJob('a', 1));
    store.recordProgress('a', 1, 1010, progress(10));
    store.recordProgress('a', 1, 1020, progress(20));
    store.recordProgress('a', 2, 2010, progress(10)); // restarted from a checkpoint: steps repeat
    expect(store.metricsHistory('a')).toEqual([
      { attempt: 1, step: 10, at: 1010, progress: progress(10) },
      { attempt: 1, step: 20, at: 1020, progress: progress(20) },
      { attempt: 2, step: 10, at: 2010, progress: progress(10) },
    ]);
    expect(store.getJob('a')?.progress).toEqual(progress(10));
  });

  it('keeps a diverged loss as NaN and infinities as themselves', () => {
    store.insertJob(newJob('a', 1));
    const p = { ...progress(5, NaN), samplesPerSec: Infinity, lr: -Infinity };
    store.recordProgress('a', 1, 1, p);
    expect(store.getJob('a')?.progress).toEqual(p);
    expect(store.metricsHistory('a')[0]?.progress).toEqual(p);
  });

  it('records evaluations: history and latest', () => {
    store.insertJob(newJob('a', 1));
    store.recordEvaluation('a', 1, 500, { step: 50, metrics: { test_loss: 0.5, test_accuracy: 0.8 } });
    store.recordEvaluation('a', 1, 900, { step: 100, metrics: { test_loss: 0.4, test_accuracy: 0.85 } });
    expect(store.getJob('a')?.evaluation).toEqual({ step: 100, metrics: { test_loss: 0.4, test_accuracy: 0.85 } });
    expect(store.evaluationHistory('a')).toEqual([
      { attempt: 1, step: 50, at: 500, evaluation: { step: 50, metrics: { test_loss: 0.5, test_accuracy: 0.8 } } },
      { attempt: 1, step: 100, at: 900, evaluation: { step: 100, metrics: { test_loss: 0.4, test_accuracy: 0.85 } } },
    ]);
  });

  it('rejects metrics of an unknown job', () => {
    expect(() => store.recordProgress('nope', 1, 1, progress(1))).toThrow();
    expect(store.metricsHistory('nope')).toEqual([]);
  });
});

describe('checkpoints', () => {
  const checkpoint = (step: number, attempt = 1, publishedAt = step * 10): CheckpointRecord => (
    { jobId: 'a', step, attempt, dir: `/ckpt/a/step-${String(step).padStart(8, '0')}`, publishedAt });

  it('records and lists by step; a step published again replaces its row', () => {
    store.insertJob(newJob('a', 1));
    store.insertJob(newJob('b', 2));
    store.recordCheckpoint(checkpoint(200), 3);
    store.recordCheckpoint(checkpoint(100), 3);
    store.recordCheckpoint({ ...checkpoint(100, 2, 5000) }, 3); // attempt 2 resumed from an earlier step
    store.recordCheckpoint({ ...checkpoint(50), jobId: 'b' }, 3);
    expect(store.listCheckpoints('a')).toEqual([checkpoint(100, 2, 5000), checkpoint(200)]);
    expect(store.listCheckpoints('b').map((c) => c.step)).toEqual([50]);
    expect(store.listCheckpoints('nope')).toEqual([]);
  });

  // As pruneCheckpoints leaves the newest `keep` steps on disk, whichever attempt wrote them.
  it.each([
    { keep: 1, published: [100, 200, 300], kept: [300] },
    { keep: 2, published: [100, 200, 300], kept: [200, 300] },
    { keep: 3, published: [100, 200], kept: [100, 200] },
    { keep: 2, published: [300, 100, 200], kept: [200, 300] }, // a resume from step 100 republished 200
  ])('keeps the newest $keep of $published', ({ keep, published, kept }) => {
    store.insertJob(newJob('a', 1));
    for (const step of published) store.recordCheckpoint(checkpoint(step), keep);
    expect(store.listCheckpoints('a').map((c) => c.step)).toEqual(kept);
  });

  it('rejects a checkpoint of an unknown job', () => {
    expect(() => store.recordCheckpoint({ ...checkpoint(1), jobId: 'nope' }, 3)).toThrow();
  });
});

describe('workers', () => {
  it('upserts, lists, and tracks connection', () => {
    store.upsertWorker(worker('w2', 2));
    store.upsertWorker(worker('w1', 1));
    expect(store.listWorkers()).toEqual([worker('w1', 1), worker('w2', 2)]);

    // A returning worker: new address and slots, same first sighting.
    const back = { ...worker('w1', 9), slots: [{ kind: 'cpu', index: 0 }] };
    store.upsertWorker(back);
    expect(store.listWorkers()[0]).toEqual({ ...back, firstSeen: 1 });

    store.setWorkerConnected('w2', false, 30);
    expect(store.listWorkers()[1]).toMatchObject({ id: 'w2', connected: false, lastSeen: 30 });
    expect(() => store.setWorkerConnected('nope', true, 1)).toThrow(/no worker nope/);

    store.markAllWorkersDisconnected();
    expect(store.listWorkers().map((w) => w.connected)).toEqual([false, false]);
  });

  it('forgets the workers that are gone and were last seen before a cutoff, and only those', () => {
    store.upsertWorker(worker('gone', 1));
    store.upsertWorker(worker('recent', 2));
    store.upsertWorker(worker('alive', 3));
    store.setWorkerConnected('gone', false, 10);
    store.setWorkerConnected('recent', false, 50);
    expect(store.forgetWorkersSeenBefore(40)).toBe(1);
    expect(store.listWorkers().map((w) => w.id)).toEqual(['recent', 'alive']);
    expect(store.forgetWorkersSeenBefore(1e12)).toBe(1); // a connected worker stays, however old its last sighting
    expect(store.listWorkers().map((w) => w.id)).toEqual(['alive']);
  });
});

describe('durability', () => {
  it('still has everything after close and reopen', () => {
    store.insertJob(newJob('a', 1));
    store.insertJob(newJob('b', 2));
    store.updateJob('a', { state: 'succeeded', attempt: 1, startedAt: 5, endedAt: 9, result: report });
    store.startAttempt({ jobId: 'a', attempt: 1, startedAt: 5, placement: [{ rank: 0, workerId: 'w1', kind: 'cpu', index: 0 }], rendezvousTokenSha256: '' });
    store.endAttempt('a', 1, 9, 'succeeded', '');
    store.recordProgress('a', 1, 7, progress(3));
    store.recordEvaluation('a', 1, 8, { step: 3, metrics: { test_loss: 0.2, test_accuracy: 0.9 } });
    store.recordCheckpoint({ jobId: 'a', step: 3, attempt: 1, dir: '/c/step-00000003', publishedAt: 8 }, 3);
    store.updateJob('b', { resume: { root: '/c', step: 3 } });
    store.upsertWorker(worker('w1', 1));
    const snapshot = () => ({
      jobs: store.listJobs(), attempts: store.listAttempts('a'), metrics: store.metricsHistory('a'),
      evaluations: store.evaluationHistory('a'), checkpoints: store.listCheckpoints('a'), workers: store.listWorkers(),
    });
    const before = snapshot();

    store.close();
    store = Store.open(dir);
    expect(snapshot()).toEqual(before);
  });

  it('sets user_version to the schema version, WAL and foreign keys', () => {
    store.close();
    const db = new Database(path.join(dir, 'coordinator.db'));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    store = Store.open(dir);
  });

  it('migrates a version 1 database: its jobs keep everything, resume null, no restarts, checkpoints empty', () => {
    const old = path.join(dir, 'v1');
    fs.mkdirSync(old);
    const db = new Database(path.join(old, 'coordinator.db'));
    db.exec(MIGRATIONS[0]!);
    db.pragma('user_version = 1');
    db.prepare(`INSERT INTO jobs (id, name, spec_json, state, reason, priority, slots, device, attempt, submitted_at)
      VALUES ('a', 'job-a', '{}', 'failed', 'rank 0 was killed by SIGKILL', 0, 1, 'cpu', 1, 5)`).run();
    db.close();
    const migrated = Store.open(old);
    try {
      expect(migrated.getJob('a')).toMatchObject({ id: 'a', state: 'failed', reason: 'rank 0 was killed by SIGKILL', attempt: 1, resume: null, restarts: 0, restartedAfter: null });
      expect(migrated.listCheckpoints('a')).toEqual([]);
      migrated.recordCheckpoint({ jobId: 'a', step: 10, attempt: 1, dir: '/c/step-00000010', publishedAt: 9 }, 3);
      expect(migrated.listCheckpoints('a')).toHaveLength(1);
    } finally {
      migrated.close();
    }
  });

  it('creates a missing state directory', () => {
    const nested = path.join(dir, 'a', 'b');
    Store.open(nested).close();
    expect(fs.existsSync(path.join(nested, 'coordinator.db'))).toBe(true);
  });
});

describe('opening bad state', () => {
  function openError(stateDir: string): StoreError {
    try {
      Store.open(stateDir).close();
    } catch (e) {
      expect(e).toBeInstanceOf(StoreError);
      return e as StoreError;
    }
    throw new Error('Store.open succeeded');
  }

  it('a garbage db file → STATE_CORRUPT, one line naming the file and the fix', () => {
    const bad = path.join(dir, 'bad');
    fs.mkdirSync(bad);
    const file = path.join(bad, 'coordinator.db');
    fs.writeFileSync(file, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 197 + 13) % 256)));
    const e = openError(bad);
    expect(e.code).toBe('STATE_CORRUPT');
    expect(e.path).toBe(file);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/move it aside/);
    expect(e.message).not.toContain('\n');
  });

  it('a db from a newer schema → STATE_CORRUPT naming the versions', () => {
    const newer = path.join(dir, 'newer');
    fs.mkdirSync(newer);
    const db = new Database(path.join(newer, 'coordinator.db'));
    db.pragma('user_version = 7');
    db.close();
    const e = openError(newer);
    expect(e.code).toBe('STATE_CORRUPT');
    expect(e.message).toMatch(new RegExp(`schema version 7 is newer than this coordinator's ${SCHEMA_VERSION}`));
  });

  it('a state dir that is a file → STATE_UNWRITABLE naming it', () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const e = openError(file);
    expect(e.code).toBe('STATE_UNWRITABLE');
    expect(e.message).toContain(file);
    expect(e.message).not.toContain('\n');
  });
});
