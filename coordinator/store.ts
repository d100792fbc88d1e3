/**
 * The coordinator's durable state: jobs, their attempts, metrics history and checkpoints, and workers, in an
 * embedded SQLite database at `<stateDir>/coordinator.db`, so a restarted coordinator carries on
 * where the last one stopped. Everything is synchronous (better-sqlite3); statements are prepared
 * once in the constructor, and writes that belong together share a transaction.
 *
 * The store records; it does not judge. Which state may follow which is job-state.ts's business.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Evaluation, TrainingReport } from '../common/metrics.js';
import type { Progress } from '../common/progress.js';
import type { JobState } from './job-state.js';
import { migrate, SCHEMA_VERSION } from './store-schema.js';

export type EvaluationRecord = Evaluation;
export type ReportRecord = TrainingReport;
/** Where an attempt starts: from the checkpoint of `step` under `root`, or the newest valid one there. */
export interface ResumeRecord { root: string; step?: number }
export interface JobRecord {
  id: string; name: string; specJson: string; state: JobState; reason: string;
  priority: number; slots: number; device: string; attempt: number;
  submittedAt: number; startedAt: number | null; endedAt: number | null; // ms since epoch
  progress: Progress | null; evaluation: EvaluationRecord | null; result: ReportRecord | null;
  resume: ResumeRecord | null; // null: the next attempt starts at step 0
  restarts: number; // automatic restarts since submission or the latest resume by a person
  restartedAfter: string | null; // why the attempt before the latest restart failed; null: no restart
}
/** A job as submitted: it starts `queued`, at attempt 0. */
export type NewJob = Pick<JobRecord, 'id' | 'name' | 'specJson' | 'priority' | 'slots' | 'device' | 'submittedAt'>;
/** The fields updateJob may change; a field left out (or `undefined`) keeps its value. */
export type JobPatch = Partial<Pick<JobRecord, 'state' | 'reason' | 'attempt' | 'startedAt' | 'endedAt' | 'result' | 'resume' | 'restarts' | 'restartedAfter'>>;
export interface Placement { rank: number; workerId: string; kind: string; index: number }
export interface AttemptRecord {
  jobId: string; attempt: number; startedAt: number; endedAt: number | null; outcome: JobState | null; reason: string; placement: Placement[];
  rendezvousTokenSha256: string; // of the token that opens the attempt's rendezvous scope ('' in attempts from before it was kept)
  startStep: number; // the checkpoint step its ranks resumed from; 0: from the start
}
export interface MetricPoint { attempt: number; step: number; at: number; progress: Progress }
export interface EvaluationPoint { attempt: number; step: number; at: number; evaluation: EvaluationRecord }
export interface CheckpointRecord { jobId: string; step: number; attempt: number; dir: string; publishedAt: number }
export interface WorkerRecord { id: string; hostname: string; address: string; slots: { kind: string; index: number }[]; firstSeen: number; lastSeen: number; connected: boolean }

export type StoreErrorCode =
  | 'STATE_CORRUPT' // the database file exists but is not a database this coordinator can read
  | 'STATE_UNWRITABLE'; // the state directory or database file cannot be created or written

/** Opening the state failed; the message is one line naming the path and the fix. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly path: string;
  constructor(code: StoreErrorCode, filePath: string, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
    this.path = filePath;
  }
}

interface JobRow {
  id: string; name: string; spec_json: string; state: JobState; reason: string;
  priority: number; slots: number; device: string; attempt: number;
  submitted_at: number; started_at: number | null; ended_at: number | null;
  progress: string | null; evaluation: string | null; result: string | null; resume: string | null;
  restarts: number; restarted_after: string | null;
}
interface AttemptRow { job_id: string; attempt: number; started_at: number; ended_at: number | null; outcome: JobState | null; reason: string; placement: string; rendezvous_token: string; start_step: number }
interface ProgressRow { attempt: number; step: number; at: number; progress: string }
interface EvaluationRow { attempt: number; step: number; at: number; evaluation: string }
interface CheckpointRow { job_id: string; step: number; attempt: number; dir: string; published_at: number }
interface WorkerRow { id: string; hostname: string; address: string; slots: string; first_seen: number; last_seen: number; connected: number }

const DB_FILE = 'coordinator.db';
const JOB_COLUMNS = `id, name, spec_json, state, reason, priority, slots, device, attempt,
  submitted_at, started_at, ended_at, progress, evaluation, result, resume, restarts, restarted_after`;
const SUBMISSION_ORDER = 'ORDER BY submitted_at, seq';

/**
 * JSON for records made only of numbers. Plain JSON turns NaN and ±Infinity into null (a loss
 * that diverged is NaN), so they travel as the strings "NaN", "Infinity", "-Infinity".
 */
const numbersJson = {
  stringify: (value: object): string =>
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)),
  parse: <T>(text: string): T =>
    JSON.parse(text, (_key, v: unknown) => (typeof v === 'string' ? Number(v) : v)) as T,
};

function nullableNumbersJson<T>(text: string | null): T | null {
  return text === null ? null : numbersJson.parse<T>(text);
}

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id, name: r.name, specJson: r.spec_json, state: r.state, reason: r.reason,
    priority: r.priority, slots: r.slots, device: r.device, attempt: r.attempt,
    submittedAt: r.submitted_at, startedAt: r.started_at, endedAt: r.ended_at,
    progress: nullableNumbersJson<Progress>(r.progress),
    evaluation: nullableNumbersJson<EvaluationRecord>(r.evaluation),
    result: nullableNumbersJson<ReportRecord>(r.result),
    resume: r.resume === null ? null : (JSON.parse(r.resume) as ResumeRecord),
    restarts: r.restarts, restartedAfter: r.restarted_after,
  };
}

function toAttempt(r: AttemptRow): AttemptRecord {
  return {
    jobId: r.job_id, attempt: r.attempt, startedAt: r.started_at, endedAt: r.ended_at,
    outcome: r.outcome, reason: r.reason, placement: JSON.parse(r.placement) as Placement[],
    rendezvousTokenSha256: r.rendezvous_token, startStep: r.start_step,
  };
}

function toCheckpoint(r: CheckpointRow): CheckpointRecord {
  return { jobId: r.job_id, step: r.step, attempt: r.attempt, dir: r.dir, publishedAt: r.published_at };
}

function toWorker(r: WorkerRow): WorkerRecord {
  return {
    id: r.id, hostname: r.hostname, address: r.address,
    slots: JSON.parse(r.slots) as WorkerRecord['slots'],
    firstSeen: r.first_seen, lastSeen: r.last_seen, connected: r.connected === 1,
  };
}

/** SQLite result codes that mean the file's contents, not the disk or its permissions, are the problem. */
function isCorruption(code: string): boolean {
  return code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT');
}

function openDatabase(stateDir: string): Database.Database {
  const file = path.join(stateDir, DB_FILE);
  try {
    fs.mkdirSync(stateDir, { recursive: true });
  } catch (e) {
    throw new StoreError('STATE_UNWRITABLE', stateDir,
      `state directory ${stateDir}: ${(e as Error).message} (create it or choose a writable state directory)`);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    const found = migrate(db);
    if (found > SCHEMA_VERSION) {
      throw new StoreError('STATE_CORRUPT', file,
        `state database ${file}: schema version ${found} is newer than this coordinator's ${SCHEMA_VERSION} ` +
        `(run a newer ringmaster, or move the file aside to start with empty state)`);
    }
    return db;
  } catch (e) {
    db?.close();
    if (e instanceof StoreError) throw e;
    const code = (e as { code?: unknown }).code;
    const why = (e as Error).message.replace(/\s+/g, ' ');
    if (typeof code === 'string' && isCorruption(code)) {
      throw new StoreError('STATE_CORRUPT', file,
        `state database ${file}: ${why} (move it aside to start with empty state)`);
    }
    throw new StoreError('STATE_UNWRITABLE', file,
      `state database ${file}: ${why} (check the permissions and free space of ${stateDir})`);
  }
}

/** Every statement the store runs, prepared once. */
function prepareStatements(db: Database.Database) {
  return {
    insertJob: db.prepare(`INSERT INTO jobs (${JOB_COLUMNS}) VALUES (@id, @name, @specJson, 'queued', '',
      @priority, @slots, @device, 0, @submittedAt, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL)`),
    getJob: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`),
    jobsWithPrefix: db.prepare<{ prefix: string }, JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs
      WHERE substr(id, 1, length(@prefix)) = @prefix ${SUBMISSION_ORDER}`),
    listJobs: db.prepare<[], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs ${SUBMISSION_ORDER}`),
    // A page in insertion order (seq, the order submissions came in), after a given seq.
    jobsPage: db.prepare<[number, number], JobRow & { seq: number }>(`SELECT seq, ${JOB_COLUMNS} FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?`),
    jobsPageWithoutSpec: db.prepare<[number, number], JobRow & { seq: number }>(`SELECT seq, ${JOB_COLUMNS.replace('spec_json', "'' AS spec_json")} FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?`),
    jobsInStates: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs
      WHERE state IN (SELECT value FROM json_each(?)) ${SUBMISSION_ORDER}`),
    newestInStates: db.prepare<[string, number], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs
      WHERE state IN (SELECT value FROM json_each(?)) ORDER BY seq DESC LIMIT ?`),
    updateJob: db.prepare(`UPDATE jobs SET state = @state, reason = @reason, attempt = @attempt,
      started_at = @startedAt, ended_at = @endedAt, result = @result, resume = @resume,
      restarts = @restarts, restarted_after = @restartedAfter WHERE id = @id`),
    setProgress: db.prepare('UPDATE jobs SET progress = ? WHERE id = ?'),
    setEvaluation: db.prepare('UPDATE jobs SET evaluation = ? WHERE id = ?'),
    insertAttempt: db.prepare(`INSERT INTO attempts (job_id, attempt, started_at, ended_at, outcome, reason, placement, rendezvous_token, start_step)
      VALUES (@jobId, @attempt, @startedAt, NULL, NULL, '', @placement, @rendezvousTokenSha256, 0)`),
    setStartStep: db.prepare('UPDATE attempts SET start_step = @startStep WHERE job_id = @jobId AND attempt = @attempt'),
    endAttempt: db.prepare(`UPDATE attempts SET ended_at = @endedAt, outcome = @outcome, reason = @reason
      WHERE job_id = @jobId AND attempt = @attempt`),
    listAttempts: db.prepare<[string], AttemptRow>(`SELECT job_id, attempt, started_at, ended_at, outcome, reason, placement, rendezvous_token, start_step
      FROM attempts WHERE job_id = ? ORDER BY attempt`),
    insertProgress: db.prepare('INSERT INTO progress_history (job_id, attempt, step, at, progress) VALUES (?, ?, ?, ?, ?)'),
    progressHistory: db.prepare<[string], ProgressRow>(`SELECT attempt, step, at, progress
      FROM progress_history WHERE job_id = ? ORDER BY seq`),
    insertEvaluation: db.prepare('INSERT INTO evaluation_history (job_id, attempt, step, at, evaluation) VALUES (?, ?, ?, ?, ?)'),
    evaluationHistory: db.prepare<[string], EvaluationRow>(`SELECT attempt, step, at, evaluation
      FROM evaluation_history WHERE job_id = ? ORDER BY seq`),
    upsertCheckpoint: db.prepare(`INSERT INTO checkpoints (job_id, step, attempt, dir, published_at)
      VALUES (@jobId, @step, @attempt, @dir, @publishedAt)
      ON CONFLICT (job_id, step) DO UPDATE SET attempt = excluded.attempt, dir = excluded.dir,
        published_at = excluded.published_at`),
    pruneCheckpoints: db.prepare(`DELETE FROM checkpoints WHERE job_id = @jobId AND step NOT IN
      (SELECT step FROM checkpoints WHERE job_id = @jobId ORDER BY step DESC LIMIT @keep)`),
    listCheckpoints: db.prepare<[string], CheckpointRow>(`SELECT job_id, step, attempt, dir, published_at
      FROM checkpoints WHERE job_id = ? ORDER BY step`),
    // A returning worker keeps the first_seen of its first registration.
    upsertWorker: db.prepare(`INSERT INTO workers (id, hostname, address, slots, first_seen, last_seen, connected)
      VALUES (@id, @hostname, @address, @slots, @firstSeen, @lastSeen, @connected)
      ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, address = excluded.address,
        slots = excluded.slots, last_seen = excluded.last_seen, connected = excluded.connected`),
    listWorkers: db.prepare<[], WorkerRow>(`SELECT id, hostname, address, slots, first_seen, last_seen, connected
      FROM workers ORDER BY first_seen, id`),
    setWorkerConnected: db.prepare('UPDATE workers SET connected = ?, last_seen = ? WHERE id = ?'),
    disconnectAllWorkers: db.prepare('UPDATE workers SET connected = 0'),
    forgetWorkers: db.prepare('DELETE FROM workers WHERE connected = 0 AND last_seen < ?'),
    workerSecret: db.prepare<[string], { secret_sha256: string }>('SELECT secret_sha256 FROM workers WHERE id = ?'),
    setWorkerSecret: db.prepare('UPDATE workers SET secret_sha256 = ? WHERE id = ?'),
  };
}

export class Store {
  /** Opens (creating if needed) the database under `stateDir` and brings its schema up to date. */
  static open(stateDir: string): Store {
    return new Store(openDatabase(stateDir));
  }

  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  private constructor(db: Database.Database) {
    this.db = db;
    this.sql = prepareStatements(db);
  }

  close(): void {
    this.db.close();
  }

  /** Records a new job, `queued` at attempt 0. A duplicate id throws. */
  insertJob(job: NewJob): JobRecord {
    this.sql.insertJob.run({
      id: job.id, name: job.name, specJson: job.specJson, priority: job.priority,
      slots: job.slots, device: job.device, submittedAt: job.submittedAt,
    });
    return this.mustGetJob(job.id);
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.sql.getJob.get(id);
    return row && toJob(row);
  }

  /** The job whose id is exactly `idOrPrefix`; failing that, every job whose id starts with it. */
  findJobs(idOrPrefix: string): JobRecord[] {
    if (idOrPrefix === '') return [];
    const exact = this.getJob(idOrPrefix);
    if (exact) return [exact];
    return this.sql.jobsWithPrefix.all({ prefix: idOrPrefix }).map(toJob);
  }

  /** Every job, in submission order. */
  listJobs(): JobRecord[] {
    return this.sql.listJobs.all().map(toJob);
  }

  /**
   * Up to `limit` jobs after the one `after` names (0: from the first), in the order they were
   * submitted, without their specs unless `withSpec`; `next` names the last of them when more may follow.
   */
  jobsPage(after: number, limit: number, withSpec: boolean): { jobs: JobRecord[]; next: number | null } {
    const rows = (withSpec ? this.sql.jobsPage : this.sql.jobsPageWithoutSpec).all(after, limit);
    return { jobs: rows.map(toJob), next: rows.length === limit ? rows[rows.length - 1].seq : null };
  }

  /** The jobs in any of `states`, in submission order. */
  jobsInStates(states: readonly JobState[]): JobRecord[] {
    return this.sql.jobsInStates.all(JSON.stringify(states)).map(toJob);
  }

  /** The `limit` jobs submitted last of those in any of `states`, newest first. */
  newestJobsInStates(states: readonly JobState[], limit: number): JobRecord[] {
    return this.sql.newestInStates.all(JSON.stringify(states), limit).map(toJob);
  }

  /** Changes the fields present in `patch` and returns the job as it now is. An unknown id throws. */
  updateJob(id: string, patch: JobPatch): JobRecord {
    return this.db.transaction((): JobRecord => {
      const current = this.mustGetJob(id);
      const next: JobRecord = {
        ...current,
        state: patch.state ?? current.state,
        reason: patch.reason ?? current.reason,
        attempt: patch.attempt ?? current.attempt,
        startedAt: patch.startedAt === undefined ? current.startedAt : patch.startedAt,
        endedAt: patch.endedAt === undefined ? current.endedAt : patch.endedAt,
        result: patch.result === undefined ? current.result : patch.result,
        resume: patch.resume === undefined ? current.resume : patch.resume,
        restarts: patch.restarts ?? current.restarts,
        restartedAfter: patch.restartedAfter === undefined ? current.restartedAfter : patch.restartedAfter,
      };
      this.sql.updateJob.run({
        id, state: next.state, reason: next.reason, attempt: next.attempt,
        startedAt: next.startedAt, endedAt: next.endedAt,
        result: next.result && numbersJson.stringify(next.result),
        resume: next.resume && JSON.stringify(next.resume),
        restarts: next.restarts, restartedAfter: next.restartedAfter,
      });
      return next;
    })();
  }

  /**
   * Runs `writes` in one transaction: all of them are stored, or (when one throws, or the
   * process dies before the commit) none. Nested calls join the outer transaction.
   */
  atomically<T>(writes: () => T): T {
    return this.db.transaction(writes)();
  }

  /** Opens attempt `a.attempt` of a job. The job must exist; an attempt number used before throws. */
  startAttempt(a: Omit<AttemptRecord, 'endedAt' | 'outcome' | 'reason' | 'startStep'>): void {
    this.sql.insertAttempt.run({
      jobId: a.jobId, attempt: a.attempt, startedAt: a.startedAt, placement: JSON.stringify(a.placement), rendezvousTokenSha256: a.rendezvousTokenSha256,
    });
  }

  /** Records the checkpoint step an attempt's ranks resumed from. */
  setAttemptStartStep(jobId: string, attempt: number, startStep: number): void {
    this.sql.setStartStep.run({ jobId, attempt, startStep });
  }

  /** Closes an attempt with its outcome. An attempt never started throws. */
  endAttempt(jobId: string, attempt: number, endedAt: number, outcome: JobState, reason: string): void {
    const { changes } = this.sql.endAttempt.run({ jobId, attempt, endedAt, outcome, reason });
    if (changes === 0) throw new Error(`store: job ${jobId} has no attempt ${attempt}`);
  }

  /** A job's attempts, oldest first. */
  listAttempts(jobId: string): AttemptRecord[] {
    return this.sql.listAttempts.all(jobId).map(toAttempt);
  }

  /** Appends `p` to the job's metrics history and makes it the job's latest progress. */
  recordProgress(jobId: string, attempt: number, at: number, p: Progress): void {
    const text = numbersJson.stringify(p);
    this.db.transaction(() => {
      this.sql.insertProgress.run(jobId, attempt, p.step, at, text);
      this.sql.setProgress.run(text, jobId);
    })();
  }

  /** Appends `e` to the job's evaluation history and makes it the job's latest evaluation. */
  recordEvaluation(jobId: string, attempt: number, at: number, e: EvaluationRecord): void {
    const text = numbersJson.stringify(e);
    this.db.transaction(() => {
      this.sql.insertEvaluation.run(jobId, attempt, e.step, at, text);
      this.sql.setEvaluation.run(text, jobId);
    })();
  }

  /** Every progress point of a job, across attempts, in the order recorded. */
  metricsHistory(jobId: string): MetricPoint[] {
    return this.sql.progressHistory.all(jobId).map((r) => ({
      attempt: r.attempt, step: r.step, at: r.at, progress: numbersJson.parse<Progress>(r.progress),
    }));
  }

  /** Every evaluation of a job, across attempts, in the order recorded. */
  evaluationHistory(jobId: string): EvaluationPoint[] {
    return this.sql.evaluationHistory.all(jobId).map((r) => ({
      attempt: r.attempt, step: r.step, at: r.at, evaluation: numbersJson.parse<EvaluationRecord>(r.evaluation),
    }));
  }

  /**
   * Records a published checkpoint (replacing the row of a step published again) and forgets
   * all but the newest `keep` steps of the job, the ones its ranks leave on disk.
   */
  recordCheckpoint(c: CheckpointRecord, keep: number): void {
    this.db.transaction(() => {
      this.sql.upsertCheckpoint.run(c);
      this.sql.pruneCheckpoints.run({ jobId: c.jobId, keep });
    })();
  }

  /** A job's recorded checkpoints, by step ascending. */
  listCheckpoints(jobId: string): CheckpointRecord[] {
    return this.sql.listCheckpoints.all(jobId).map(toCheckpoint);
  }

  /** Records a worker, or refreshes one seen before (keeping its original firstSeen). */
  upsertWorker(w: WorkerRecord): void {
    this.sql.upsertWorker.run({
      id: w.id, hostname: w.hostname, address: w.address, slots: JSON.stringify(w.slots),
      firstSeen: w.firstSeen, lastSeen: w.lastSeen, connected: w.connected ? 1 : 0,
    });
  }

  /** Every worker ever seen, oldest first. */
  listWorkers(): WorkerRecord[] {
    return this.sql.listWorkers.all().map(toWorker);
  }

  /** The sha256 (hex) of a worker's secret: undefined for an unknown worker, '' for one from before secrets. */
  workerSecretSha256(id: string): string | undefined {
    return this.sql.workerSecret.get(id)?.secret_sha256;
  }

  setWorkerSecretSha256(id: string, sha256: string): void {
    this.sql.setWorkerSecret.run(sha256, id);
  }

  /** Drops the workers that are gone and were last seen before `cutoff`; returns their number. */
  forgetWorkersSeenBefore(cutoff: number): number {
    return this.sql.forgetWorkers.run(cutoff).changes;
  }

  /** An unknown worker id throws. */
  setWorkerConnected(id: string, connected: boolean, lastSeen: number): void {
    const { changes } = this.sql.setWorkerConnected.run(connected ? 1 : 0, lastSeen, id);
    if (changes === 0) throw new Error(`store: no worker ${id}`);
  }

  /** A coordinator that starts has no sessions yet, whatever the last one recorded. */
  markAllWorkersDisconnected(): void {
    this.sql.disconnectAllWorkers.run();
  }

  private mustGetJob(id: string): JobRecord {
    const job = this.getJob(id);
    if (!job) throw new Error(`store: no job ${id}`);
    return job;
  }
}
