/**
 * Per-job log files under `<state dir>/logs/<job id>.log`: every line a job's ranks write to
 * stderr, prefixed with the rank, plus the coordinator's own lines about the job. Live readers
 * subscribe for new lines instead of polling the file. Beside each, `<job id>.metrics.jsonl`: one
 * JSON object per progress report and evaluation, for plotting and for other tools.
 */
import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface JobLogLine {
  rank: number; // -1 for the coordinator's own lines
  text: string;
  at: number;
}

export class JobLogs {
  private readonly dir: string;
  private readonly live = new EventEmitter();

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'logs');
    mkdirSync(this.dir, { recursive: true });
    this.live.setMaxListeners(0);
  }

  file(jobId: string): string {
    return path.join(this.dir, `${jobId}.log`);
  }

  append(jobId: string, line: JobLogLine): void {
    const who = line.rank < 0 ? 'coordinator' : `rank ${line.rank}`;
    appendFileSync(this.file(jobId), `${new Date(line.at).toISOString()} [${who}] ${line.text}\n`);
    this.live.emit(jobId, line);
  }

  metricsFile(jobId: string): string {
    return path.join(this.dir, `${jobId}.metrics.jsonl`);
  }

  /** Appends one record to the job's metrics: `kind` (progress or evaluation), its attempt and time, and its fields. */
  appendMetrics(jobId: string, record: { kind: 'progress' | 'evaluation'; attempt: number; at: number } & Record<string, unknown>): void {
    appendFileSync(this.metricsFile(jobId), `${JSON.stringify(record)}\n`);
  }

  /** Every line written so far, parsed back. */
  read(jobId: string): JobLogLine[] {
    const file = this.file(jobId);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(parseLine);
  }

  /** Calls `onLine` for each new line of the job until the returned function is called. */
  subscribe(jobId: string, onLine: (line: JobLogLine) => void): () => void {
    this.live.on(jobId, onLine);
    return () => this.live.off(jobId, onLine);
  }
}

function parseLine(raw: string): JobLogLine {
  const m = /^(\S+) \[(coordinator|rank (\d+))\] (.*)$/.exec(raw);
  if (!m) return { rank: -1, text: raw, at: 0 };
  return { rank: m[3] === undefined ? -1 : Number(m[3]), text: m[4], at: Date.parse(m[1]) };
}
