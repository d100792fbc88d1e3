/** gRPC handlers of JobService (the CLI's API): thin translations to and from the JobManager. */
import * as grpc from '@grpc/grpc-js';
import { isRingmasterError, RingmasterError, type ErrorCode } from '../common/errors.js';
import type { Job } from '../proto/gen/ringmaster/v1/Job.js';
import type { JobEvent } from '../proto/gen/ringmaster/v1/JobEvent.js';
import type { JobServiceHandlers } from '../proto/gen/ringmaster/v1/JobService.js';
import { ERROR_CODE_METADATA } from '../proto/load.js';
import { evaluationToWire, progressToWire, reportToWire } from '../proto/records.js';
import type { JobLogs } from './job-logs.js';
import type { JobEvent as ManagerEvent, JobManager } from './job-manager.js';
import { isTerminal, toWireState } from './job-state.js';
import type { CheckpointRecord, JobRecord, Store } from './store.js';
import type { WorkerSessions } from './worker-sessions.js';

const toWireCheckpoint = (c: CheckpointRecord) => ({ step: c.step, attempt: c.attempt, dir: c.dir, published_at_ms: c.publishedAt });

export function toWireJob(j: JobRecord): Job {
  return {
    id: j.id, name: j.name, state: toWireState(j.state), reason: j.reason, priority: j.priority,
    slots: j.slots, device: j.device, attempt: j.attempt, submitted_at_ms: j.submittedAt,
    started_at_ms: j.startedAt ?? 0, ended_at_ms: j.endedAt ?? 0, spec_json: j.specJson,
    progress: j.progress && progressToWire(j.progress),
    evaluation: j.evaluation && evaluationToWire(j.evaluation),
    result: j.result && reportToWire(j.result),
    restarts: j.restarts, restarted_after: j.restartedAfter ?? '',
  };
}

/** The gRPC status of each error code that has one other than INVALID_ARGUMENT. */
const GRPC_STATUS: Partial<Record<ErrorCode, grpc.status>> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  DATA_MISSING: grpc.status.FAILED_PRECONDITION,
  WRONG_STATE: grpc.status.FAILED_PRECONDITION,
};

/**
 * A user error becomes a status the CLI prints as one line, its code in the trailing metadata
 * so the CLI raises the same RingmasterError; anything else is INTERNAL.
 */
function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (isRingmasterError(e)) {
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_CODE_METADATA, e.code);
    return { code: GRPC_STATUS[e.code] ?? grpc.status.INVALID_ARGUMENT, details: e.message, metadata };
  }
  return { code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) };
}

function toWireEvent(e: ManagerEvent): JobEvent {
  switch (e.kind) {
    case 'job':
      return { job: toWireJob(e.job) };
    case 'progress':
      return { progress: progressToWire(e.progress) };
    case 'evaluation':
      return { evaluation: evaluationToWire(e.evaluation) };
    case 'checkpoint':
      return { checkpoint: { step: e.checkpoint.step, dir: e.checkpoint.dir } };
    case 'resumed':
      return { resumed: e.resumed };
  }
}

/** The job a stream asks for, or undefined after ending the stream with the error. */
function findForStream(manager: JobManager, call: grpc.ServerWritableStream<{ job_id: string }, unknown>): JobRecord | undefined {
  try {
    return manager.find(call.request.job_id);
  } catch (e) {
    // grpc-js sends a server stream's status from its 'error' handler; destroy() would drop it
    // and leave the client waiting for a status that never comes.
    call.emit('error', toStatus(e));
    return undefined;
  }
}

function unary<Req, Res>(fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    try {
      callback(null, fn(call.request));
    } catch (e) {
      callback(toStatus(e));
    }
  };
}

export function jobServiceHandlers(manager: JobManager, store: Store, logs: JobLogs, sessions: WorkerSessions): JobServiceHandlers {
  return {
    SubmitJob: unary((req) => toWireJob(manager.submit(req.spec_json, req.priority))),
    ListJobs: unary((req) => {
      const size = req.page_size === 0 ? 100 : req.page_size;
      if (!Number.isInteger(size) || size < 1 || size > 1000) throw new RingmasterError('BAD_ARGUMENT', `page_size ${req.page_size}: expected 1 to 1000 (0: 100)`);
      const after = req.page_token === '' ? 0 : Number(req.page_token);
      if (!Number.isSafeInteger(after) || after < 0) throw new RingmasterError('BAD_ARGUMENT', `page_token ${JSON.stringify(req.page_token)} is not one ListJobs gave`);
      const page = store.jobsPage(after, size, req.with_spec);
      return { jobs: page.jobs.map(toWireJob), next_page_token: page.next === null ? '' : String(page.next) };
    }),
    GetJob: unary((req) => toWireJob(manager.find(req.job_id))),
    CancelJob: unary((req) => toWireJob(manager.cancel(req.job_id))),
    ListCheckpoints: unary((req) => ({ checkpoints: manager.checkpoints(req.job_id).map(toWireCheckpoint) })),
    ResumeJob: unary((req) => toWireJob(manager.resume(req.job_id, req.step))),
    ListWorkers: unary(() => ({
      workers: store.listWorkers().map((w) => ({
        id: w.id, hostname: w.hostname, address: w.address, slots: w.slots, busy_slots: manager.busySlots(w.id),
        connected: sessions.isConnected(w.id), last_seen_ms: w.lastSeen,
      })),
    })),
    DrainWorker: unary((req) => ({ running_ranks: sessions.drain(req.worker_id) })),
    WatchJob: (call) => {
      const job = findForStream(manager, call);
      if (!job) return;
      call.write({ job: toWireJob(job) });
      if (isTerminal(job.state)) return call.end();
      const stop = manager.watch(job.id, (e) => {
        call.write(toWireEvent(e));
        if (e.kind === 'job' && isTerminal(e.job.state)) {
          stop();
          call.end();
        }
      });
      call.on('cancelled', stop);
    },
    StreamLogs: (call) => {
      const job = findForStream(manager, call);
      if (!job) return;
      const follow = call.request.follow && !isTerminal(job.state);
      const stopLines = follow ? logs.subscribe(job.id, (l) => call.write({ rank: l.rank, text: l.text, at_ms: l.at })) : () => {};
      for (const l of logs.read(job.id)) call.write({ rank: l.rank, text: l.text, at_ms: l.at });
      if (!follow) return call.end();
      const stopJob = manager.watch(job.id, (e) => {
        if (e.kind === 'job' && isTerminal(e.job.state)) {
          stopLines();
          stopJob();
          call.end();
        }
      });
      call.on('cancelled', () => {
        stopLines();
        stopJob();
      });
    },
  };
}
