/**
 * The coordinator's Prometheus metrics (prom-client), served at /metrics on its HTTP port: jobs
 * by state, how long jobs waited in the queue, slots used and free, each running job's step,
 * loss, throughput and restarts, and the latency of every RPC. Gauges are read from the store
 * and the worker sessions when scraped, so they cannot drift from what `ringmaster jobs` shows.
 */
import * as grpc from '@grpc/grpc-js';
import { Gauge, Histogram, Registry } from 'prom-client';
import { TRANSITIONS, type JobState } from './job-state.js';
import type { Store } from './store.js';
import type { WorkerSessions } from './worker-sessions.js';

const STATES = Object.keys(TRANSITIONS) as JobState[];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly queueWait: Histogram;
  private readonly rpc: Histogram<'method' | 'code'>;

  constructor(store: Store, sessions: WorkerSessions) {
    const registers = [this.registry];
    new Gauge({
      name: 'ringmaster_jobs', help: 'Jobs by state', labelNames: ['state'], registers,
      collect() {
        const jobs = store.listJobs();
        for (const state of STATES) this.set({ state }, jobs.filter((j) => j.state === state).length);
      },
    });
    new Gauge({
      name: 'ringmaster_slots', help: 'Slots of the connected workers, used by an attempt or free', labelNames: ['kind', 'use'], registers,
      collect() {
        const slots = sessions.connected().flatMap((w) => w.slots.map((s) => s.kind));
        const used = new Map<string, number>();
        for (const j of store.jobsInStates(['starting', 'running', 'cancelling'])) used.set(j.device, (used.get(j.device) ?? 0) + j.slots);
        for (const kind of new Set([...slots, ...used.keys()])) {
          const total = slots.filter((k) => k === kind).length;
          const busy = Math.min(total, used.get(kind) ?? 0);
          this.set({ kind, use: 'used' }, busy);
          this.set({ kind, use: 'free' }, total - busy);
        }
      },
    });
    const running = (name: string, help: string, value: (j: ReturnType<Store['listJobs']>[number]) => number | undefined) =>
      new Gauge({
        name, help, labelNames: ['job', 'name'], registers,
        collect() {
          this.reset();
          for (const j of store.jobsInStates(['running'])) {
            const v = value(j);
            if (v !== undefined) this.set({ job: j.id, name: j.name }, v);
          }
        },
      });
    running('ringmaster_job_step', "A running job's last reported optimizer step", (j) => j.progress?.step);
    running('ringmaster_job_loss', "A running job's mean training loss over its last logging interval", (j) => j.progress?.loss);
    running('ringmaster_job_samples_per_second', "A running job's training samples per second", (j) => j.progress?.samplesPerSec);
    running('ringmaster_job_tokens_per_second', "A running language model's training tokens per second", (j) => j.progress?.tokensPerSec);
    running('ringmaster_job_restarts', "A running job's automatic restarts so far", (j) => j.restarts);
    this.queueWait = new Histogram({
      name: 'ringmaster_queue_wait_seconds', help: "From a job's submission to the start of its first attempt", registers,
      buckets: [0.1, 1, 5, 30, 120, 600, 3600, 6 * 3600],
    });
    this.rpc = new Histogram({
      name: 'ringmaster_rpc_duration_seconds', help: 'gRPC calls by method and status code, from their metadata to their status', labelNames: ['method', 'code'], registers,
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    });
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
