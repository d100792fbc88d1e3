/**
 * The coordinator's Prometheus metrics (prom-client), served at /metrics on its HTTP port: jobs
 * by state, how long jobs waited in the queue, slots used and free, each running job's step,
 * loss, throughput and restarts, and the latency of every RPC. Gauges are read from the store
 * (one listing per scrape) and the worker sessions when scraped, so they cannot drift from what
 * `ringmaster jobs` shows.
 */
import * as grpc from '@grpc/grpc-js';
import { Gauge, Histogram, Registry } from 'prom-client';
import { TRANSITIONS, type JobState } from './job-state.js';
import type { Store } from './store.js';
import type { WorkerSessions } from './worker-sessions.js';

const STATES = Object.keys(TRANSITIONS) as JobState[];

type JobRecord = ReturnType<Store['listJobs']>[number];

/** A running job's gauges: name, help, and its value (undefined: not reported yet). */
const RUNNING: [string, string, (j: JobRecord) => number | undefined][] = [
  ['ringmaster_job_step', "A running job's last reported optimizer step", (j) => j.progress?.step],
  ['ringmaster_job_loss', "A running job's mean training loss over its last logging interval", (j) => j.progress?.loss],
  ['ringmaster_job_samples_per_second', "A running job's training samples per second", (j) => j.progress?.samplesPerSec],
  ['ringmaster_job_tokens_per_second', "A running language model's training tokens per second", (j) => j.progress?.tokensPerSec],
  ['ringmaster_job_restarts', "A running job's automatic restarts so far", (j) => j.restarts],
];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly jobs: Gauge<'state'>;
  private readonly slots: Gauge<'kind' | 'use'>;
  private readonly running: [Gauge<'job' | 'name'>, (j: JobRecord) => number | undefined][];
  private readonly queueWait: Histogram;
  private readonly rpc: Histogram<'method' | 'code'>;

  constructor(private readonly store: Store, private readonly sessions: WorkerSessions) {
    const registers = [this.registry];
    this.jobs = new Gauge({ name: 'ringmaster_jobs', help: 'Jobs by state', labelNames: ['state'], registers });
    this.slots = new Gauge({ name: 'ringmaster_slots', help: 'Slots of the connected workers, used by an attempt or free', labelNames: ['kind', 'use'], registers });
    this.running = RUNNING.map(([name, help, value]) => [new Gauge({ name, help, labelNames: ['job', 'name'], registers }), value]);
    this.queueWait = new Histogram({
      name: 'ringmaster_queue_wait_seconds', help: "From a job's submission to the start of its first attempt", registers,
      buckets: [0.1, 1, 5, 30, 120, 600, 3600, 6 * 3600],
    });
    this.rpc = new Histogram({
      name: 'ringmaster_rpc_duration_seconds', help: 'gRPC calls by method and status code, from their metadata to their status', labelNames: ['method', 'code'], registers,
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    });
  }

  /** The metrics in Prometheus' text format, the gauges read from one listing of the store's jobs. */
  async scrape(): Promise<string> {
    const jobs = this.store.listJobs();
    for (const state of STATES) this.jobs.set({ state }, jobs.filter((j) => j.state === state).length);
    const slots = this.sessions.connected().flatMap((w) => w.slots.map((s) => s.kind));
    const used = new Map<string, number>();
    for (const j of jobs) if (j.state === 'starting' || j.state === 'running' || j.state === 'cancelling') used.set(j.device, (used.get(j.device) ?? 0) + j.slots);
    for (const kind of new Set([...slots, ...used.keys()])) {
      const total = slots.filter((k) => k === kind).length;
      const busy = Math.min(total, used.get(kind) ?? 0);
      this.slots.set({ kind, use: 'used' }, busy);
      this.slots.set({ kind, use: 'free' }, total - busy);
    }
    for (const [gauge, value] of this.running) {
      gauge.reset();
      for (const j of jobs) {
        const v = j.state === 'running' ? value(j) : undefined;
        if (v !== undefined) gauge.set({ job: j.id, name: j.name }, v);
      }
    }
    return this.registry.metrics();
  }

  /** A job's first attempt started, `queuedSeconds` after its submission. */
  started(queuedSeconds: number): void {
    this.queueWait.observe(queuedSeconds);
  }

  /** A server interceptor timing every unary call (streams last as long as their sessions: not timed). */
  interceptor(): grpc.ServerInterceptor {
    return (method, call) => {
      if (method.requestStream || method.responseStream) return new grpc.ServerInterceptingCall(call);
      const t0 = process.hrtime.bigint();
      const responder = new grpc.ResponderBuilder()
        .withSendStatus((status, next) => {
          this.rpc.observe({ method: method.path, code: grpc.status[status.code] ?? String(status.code) }, Number(process.hrtime.bigint() - t0) / 1e9);
          next(status);
        })
        .build();
      return new grpc.ServerInterceptingCall(call, responder);
    };
  }
}
