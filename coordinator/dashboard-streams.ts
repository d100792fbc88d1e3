/**
 * The dashboard's live updates, as Server-Sent Events:
 *
 * | stream                 | events                                                            |
 * | ---------------------- | ----------------------------------------------------------------- |
 * | `/api/events`          | `queue` ({ jobs, workers }) on opening and whenever it changes    |
 * |                        | (read every `queuePollMs`: a job's state, step or reason, a       |
 * |                        | worker coming or going)                                           |
 * | `/api/jobs/:id/events` | `snapshot` (the job's detail) on opening, then as they happen:    |
 * |                        | `job`, `progress`, `evaluation`, `checkpoint` (from               |
 * |                        | JobManager.watch), `log` and `state` (from the job's log)         |
 *
 * A reconnecting client gets a fresh `queue` or `snapshot`, so nothing it missed matters. The
 * streams are bounded: at most `maxStreams` open at once (more are answered 503), one whose client
 * stops reading is dropped, and each carries a heartbeat comment so dead peers show.
 */
import type http from 'node:http';
import type { JobEvent } from './job-manager.js';
import { checkpointView, isJobId, jobDetail, jobsView, jobView, logLineView, progressPoint, stateChange, workersView, type DashboardSources } from './dashboard-views.js';

export interface StreamPolicy {
  maxStreams: number; // open streams, all clients together; more are answered 503
  heartbeatMs: number; // a comment on every stream this often
  queuePollMs: number; // how often the queue stream reads the jobs and workers for changes
  maxBufferedBytes: number; // a stream with this much its client has not read yet is dropped
  retryMs: number; // how long a browser waits before it reconnects a broken stream
}

export const DEFAULT_STREAM_POLICY: StreamPolicy = { maxStreams: 32, heartbeatMs: 15_000, queuePollMs: 1_000, maxBufferedBytes: 1 << 20, retryMs: 2_000 };

/** The sources of the views, and the job manager's live events. */
export interface StreamSources extends DashboardSources {
  watch(jobId: string, listener: (e: JobEvent) => void): () => void;
}

/** One open response in the text/event-stream format. */
class EventStream {
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly res: http.ServerResponse, private readonly maxBufferedBytes: number, retryMs: number) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`retry: ${retryMs}\n\n`);
    res.on('close', () => this.cleanups.splice(0).forEach((f) => f()));
  }

  /** Runs `f` once the stream closes, whichever side closed it. */
  onClose(f: () => void): void {
    this.cleanups.push(f);
  }

  send(event: string, data: unknown): void {
    this.sendJson(event, JSON.stringify(data));
  }

  /** One event whose data is JSON text already (which never holds a raw line break). */
  sendJson(event: string, json: string): void {
    this.write(`event: ${event}\ndata: ${json}\n\n`);
  }

  heartbeat(): void {
    this.write(': heartbeat\n\n');
  }

  end(): void {
    this.res.end();
  }

  private write(text: string): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (this.res.writableLength > this.maxBufferedBytes) return void this.res.destroy(); // its client stopped reading
    this.res.write(text);
  }
}

export class DashboardStreams {
  private readonly open = new Set<EventStream>();
  private readonly queueStreams = new Set<EventStream>();
  private lastQueue = '';
  private readonly timers: NodeJS.Timeout[];

  constructor(private readonly sources: StreamSources, private readonly policy: StreamPolicy = DEFAULT_STREAM_POLICY) {
    this.timers = [
      setInterval(() => this.open.forEach((s) => s.heartbeat()), policy.heartbeatMs),
      setInterval(() => this.pollQueue(), policy.queuePollMs),
    ];
    this.timers.forEach((t) => t.unref());
  }

  /** GET /api/events: the queue and the workers. */
  queue(res: http.ServerResponse): void {
    const stream = this.accept(res);
    if (!stream) return;
    this.queueStreams.add(stream);
    stream.onClose(() => this.queueStreams.delete(stream));
    this.pollQueue(stream);
  }

  /** GET /api/jobs/:id/events: one job, from a snapshot on; 404 for a job that does not exist. */
  job(res: http.ServerResponse, jobId: string): void {
    if (!isJobId(jobId) || !this.sources.store.getJob(jobId)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no job ${jobId}\n`);
      return;
    }
    const stream = this.accept(res);
    if (!stream) return;
    // Subscribed before the snapshot is read, in the same tick: no event falls between the two.
    stream.onClose(this.sources.watch(jobId, (e) => sendJobEvent(stream, e)));
    stream.onClose(this.sources.logs.subscribe(jobId, (line) => {
      stream.send('log', logLineView(line));
      const change = stateChange(line);
      if (change) stream.send('state', change);
    }));
    stream.send('snapshot', jobDetail(this.sources, jobId));
  }

  /** Ends every stream and stops the timers (the HTTP server is closing). */
  close(): void {
    this.timers.forEach((t) => clearInterval(t));
    this.open.forEach((s) => s.end());
  }

  private accept(res: http.ServerResponse): EventStream | undefined {
    if (this.open.size >= this.policy.maxStreams) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`too many open event streams (at most ${this.policy.maxStreams}); close another dashboard tab\n`);
      return undefined;
    }
    const stream = new EventStream(res, this.policy.maxBufferedBytes, this.policy.retryMs);
    this.open.add(stream);
    stream.onClose(() => this.open.delete(stream));
    return stream;
  }

  /** Reads the queue; sends it to every queue stream when it changed since the last read, and to a newcomer anyway. */
  private pollQueue(newcomer?: EventStream): void {
    if (this.queueStreams.size === 0) return;
    const json = JSON.stringify({ jobs: jobsView(this.sources), workers: workersView(this.sources) });
    const changed = json !== this.lastQueue;
    this.lastQueue = json;
    for (const s of this.queueStreams) if (changed || s === newcomer) s.sendJson('queue', json);
  }
}

function sendJobEvent(stream: EventStream, e: JobEvent): void {
  switch (e.kind) {
    case 'job':
      return stream.send('job', jobView(e.job));
    case 'progress':
      return stream.send('progress', progressPoint(e.progress.step, Date.now(), e.progress));
    case 'evaluation':
      return stream.send('evaluation', { step: e.evaluation.step, at: Date.now(), metrics: e.evaluation.metrics });
    case 'checkpoint':
      return stream.send('checkpoint', checkpointView(e.checkpoint));
    case 'resumed':
      return; // its log line tells it
  }
}
