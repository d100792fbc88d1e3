/**
 * The coordinator database's schema. `PRAGMA user_version` holds the number of migrations
 * applied; `MIGRATIONS[i]` takes a database from version i to i + 1. Migrations are only ever
 * appended: a released one is never edited, since databases in the field already ran it.
 *
 * Structured values with no query of their own (latest progress, evaluation, result; a
 * placement; a worker's slots) are JSON text. Timestamps are integer milliseconds since the epoch.
 */
import type Database from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  // v1: jobs, their attempts and metrics history, workers.
  `
  CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,  -- insertion order; breaks submitted_at ties
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    slots        INTEGER NOT NULL,
    device       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    submitted_at INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    progress     TEXT,                 -- latest ProgressRecord
    evaluation   TEXT,                 -- latest EvaluationRecord
    result       TEXT                  -- ReportRecord
  );
  CREATE INDEX jobs_by_state ON jobs (state);

  CREATE TABLE attempts (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    outcome    TEXT,
    reason     TEXT NOT NULL,
    placement  TEXT NOT NULL,           -- [{ rank, workerId, kind, index }]
    PRIMARY KEY (job_id, attempt)
  );

  CREATE TABLE progress_history (
    seq      INTEGER PRIMARY KEY,
    job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt  INTEGER NOT NULL,
    step     INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    progress TEXT NOT NULL
  );
  CREATE INDEX progress_history_by_job ON progress_history (job_id);

  CREATE TABLE evaluation_history (
    seq        INTEGER PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    evaluation TEXT NOT NULL
  );
  CREATE INDEX evaluation_history_by_job ON evaluation_history (job_id);

  CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    hostname   TEXT NOT NULL,
    address    TEXT NOT NULL,
    slots      TEXT NOT NULL,           -- [{ kind, index }]
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    connected  INTEGER NOT NULL         -- 0 or 1
  );
  `,
  // v2: checkpoints and resume.
  `
  ALTER TABLE jobs ADD COLUMN resume TEXT;  -- ResumeRecord the next (or latest) attempt starts from; NULL: step 0

  -- The published checkpoints still on disk: a step published again replaces its row, and rows
  -- beyond the newest checkpoint.keep steps go, as the ranks prune their directories.
  CREATE TABLE checkpoints (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,      -- the attempt that published it
    dir          TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, step)
  );
  `,
  // v3: automatic restarts after a failed attempt.
  `
  ALTER TABLE jobs ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;  -- since submission or the latest resume by a person
  ALTER TABLE jobs ADD COLUMN restarted_after TEXT;                 -- why the attempt before the latest restart failed
  `,
  // v4: evaluations and results carry a metrics map (common/metrics.ts) in place of testLoss and
  // testAccuracy.
  `
  UPDATE jobs SET evaluation = json_object('step', json_extract(evaluation, '$.step'), 'metrics',
      json_object('test_loss', json_extract(evaluation, '$.testLoss'), 'test_accuracy', json_extract(evaluation, '$.testAccuracy')))
    WHERE evaluation IS NOT NULL AND json_extract(evaluation, '$.metrics') IS NULL;
  UPDATE evaluation_history SET evaluation = json_object('step', json_extract(evaluation, '$.step'), 'metrics',
      json_object('test_loss', json_extract(evaluation, '$.testLoss'), 'test_accuracy', json_extract(evaluation, '$.testAccuracy')))
    WHERE json_extract(evaluation, '$.metrics') IS NULL;
  UPDATE jobs SET result = json_object('steps', json_extract(result, '$.steps'), 'finalLoss', json_extract(result, '$.finalLoss'),
      'metrics', json_object('test_loss', json_extract(result, '$.testLoss'), 'test_accuracy', json_extract(result, '$.testAccuracy')),
      'samplesPerSec', json_extract(result, '$.samplesPerSec'), 'tokensPerSec', 0, 'wallSec', json_extract(result, '$.wallSec'))
    WHERE result IS NOT NULL AND json_extract(result, '$.metrics') IS NULL;
  `,
  // v5: a worker proves its id with the secret it was given at its first registration.
  `
  ALTER TABLE workers ADD COLUMN secret_sha256 TEXT NOT NULL DEFAULT '';  -- hex; '' for rows from before v5
  `,
  // v6: a restarted coordinator adopts the attempts its workers still run: it reopens their
  // rendezvous scope and knows the step they started from.
  `
  ALTER TABLE attempts ADD COLUMN rendezvous_token TEXT NOT NULL DEFAULT '';  -- '' for rows from before v6
  ALTER TABLE attempts ADD COLUMN start_step INTEGER NOT NULL DEFAULT 0;      -- the checkpoint step its ranks resumed from
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `db` up to SCHEMA_VERSION, one transaction per migration, and returns the version it
 * found. A version above SCHEMA_VERSION (a newer Ringmaster wrote the file) is left untouched;
 * the caller decides what to say.
 */
export function migrate(db: Database.Database): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  for (let v = found; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return found;
}
