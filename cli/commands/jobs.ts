/** `submit`, `jobs`, `status`, `cancel`, `workers`: one call each to the coordinator, then print. */
import type { ClientReadableStream } from '@grpc/grpc-js';
import { formatCheckpoint, formatEvalLine, formatResume, tagged } from '../../common/progress.js';
import { checkPriority, loadSpecFile } from '../../jobs/load.js';
import type { JobEvent__Output } from '../../proto/gen/ringmaster/v1/JobEvent.js';
import { progressFromWire } from '../../proto/records.js';
import type { Job__Output } from '../../proto/gen/ringmaster/v1/Job.js';
import type { ListJobsResponse__Output } from '../../proto/gen/ringmaster/v1/ListJobsResponse.js';
import type { ListWorkersResponse__Output } from '../../proto/gen/ringmaster/v1/ListWorkersResponse.js';
import { call, connect, describeCallError } from '../client.js';
import { jobDetail, jobJson, jobsTable, stateName, workersTable } from '../format.js';
import { EXIT } from '../output.js';
import { FollowDisplay, type FollowOutput } from '../follow-display.js';

/** Exit codes of `submit --follow` by how the job ended. */
export const FOLLOW_EXIT: Record<string, number> = { succeeded: EXIT.ok, failed: EXIT.failed, cancelled: 3 };

const print = (line: string) => process.stdout.write(`${line}\n`);

/** Validates the spec here (the same one-line errors as `ringmaster train`) and submits it. */
export async function submitJob(o: { address: string; spec: string; set: string[]; priority: number }): Promise<Job__Output> {
  checkPriority(o.priority);
  const spec = loadSpecFile(o.spec, o.set);
  const client = connect(o.address);
  return call<Job__Output>(o.address, (opts, cb) => client.SubmitJob({ spec_json: JSON.stringify(spec), priority: o.priority }, opts, cb));
}

export async function submitCommand(o: { address: string; spec: string; set: string[]; priority: number; follow: boolean; json: boolean }): Promise<number> {
  const job = await submitJob(o);
  if (o.json && !o.follow) print(JSON.stringify(jobJson(job)));
  else print(`submitted ${job.id} (${stateName(job.state)}${job.reason ? `: ${job.reason}` : ''})`);
  return o.follow ? followJob(o.address, job.id, o.json) : EXIT.ok;
}

/** Streams a job's progress until it ends; resolves with the exit code for how it ended. */
export function followJob(address: string, jobId: string, json: boolean, display: FollowOutput = new FollowDisplay(process.stdout)): Promise<number> {
  const out = (line: string) => display.line(line);
  const client = connect(address);
  return new Promise((resolve, reject) => {
    const stream: ClientReadableStream<JobEvent__Output> = client.WatchJob({ job_id: jobId });
    let last: Job__Output | undefined;
    let lastState = '';
    stream.on('data', (e: JobEvent__Output) => {
      if (e.kind === 'job' && e.job) {
        last = e.job;
        const state = stateName(e.job.state);
        if (state !== lastState) out(`[${jobId}] ${state}${e.job.reason ? `: ${e.job.reason}` : ''}`);
        lastState = state;
      } else if (e.kind === 'progress' && e.progress) {
        display.progress(jobId, progressFromWire(e.progress));
      } else if (e.kind === 'evaluation' && e.evaluation) {
        out(formatEvalLine(jobId, e.evaluation));
      } else if (e.kind === 'checkpoint' && e.checkpoint) {
        out(tagged(jobId, formatCheckpoint(e.checkpoint.step, e.checkpoint.dir)));
      } else if (e.kind === 'resumed' && e.resumed) {
        for (const line of formatResume({ ...e.resumed, attempt: last?.attempt })) out(tagged(jobId, line));
      }
    });
    stream.on('error', (e) => reject(describeCallError(e, address)));
    stream.on('end', () => {
      display.end();
      if (!last) return reject(describeCallError({ code: 14 }, address));
      if (json) print(JSON.stringify(jobJson(last)));
      resolve(FOLLOW_EXIT[stateName(last.state)] ?? EXIT.failed);
    });
  });
}

/** Every job, in submission order, a page at a time (without their specs: the list does not show them). */
export async function listAllJobs(address: string, client = connect(address)): Promise<Job__Output[]> {
  const jobs: Job__Output[] = [];
  for (let token = ''; ; ) {
    const page = await call<ListJobsResponse__Output>(address, (opts, cb) => client.ListJobs({ page_size: 500, page_token: token }, opts, cb));
    jobs.push(...page.jobs);
    if (!page.next_page_token) return jobs;
    token = page.next_page_token;
  }
}

export async function jobsCommand(o: { address: string; json: boolean }): Promise<number> {
  const jobs = await listAllJobs(o.address);
  print(o.json ? JSON.stringify(jobs.map(jobJson)) : jobs.length ? jobsTable(jobs) : 'no jobs');
  return EXIT.ok;
}

export async function statusCommand(o: { address: string; job: string; json: boolean }): Promise<number> {
  const client = connect(o.address);
  const job = await call<Job__Output>(o.address, (opts, cb) => client.GetJob({ job_id: o.job }, opts, cb));
  print(o.json ? JSON.stringify(jobJson(job)) : jobDetail(job));
  return EXIT.ok;
}

export async function cancelCommand(o: { address: string; job: string }): Promise<number> {
  const client = connect(o.address);
  const job = await call<Job__Output>(o.address, (opts, cb) => client.CancelJob({ job_id: o.job }, opts, cb));
  print(`${job.id}: ${stateName(job.state)}${job.reason ? ` (${job.reason})` : ''}`);
  return EXIT.ok;
}

export async function workersCommand(o: { address: string; json: boolean }): Promise<number> {
  const client = connect(o.address);
  const { workers } = await call<ListWorkersResponse__Output>(o.address, (opts, cb) => client.ListWorkers({}, opts, cb));
  print(o.json ? JSON.stringify(workers) : workers.length ? workersTable(workers) : 'no workers');
  return EXIT.ok;
}

export async function drainCommand(o: { address: string; worker: string }): Promise<number> {
  const client = connect(o.address);
  const r = await call<{ running_ranks: number }>(o.address, (opts, cb) => client.DrainWorker({ worker_id: o.worker }, opts, cb));
  print(`${o.worker}: draining; ${r.running_ranks} rank(s) checkpoint at their next step and stop, their jobs go back to the queue, and the worker leaves`);
  return EXIT.ok;
}

/**
 * Prints a job's log; with `follow`, goes on until the job ends, its progress shown as with
 * `submit --follow` (a bar redrawn below the log on a terminal, plain lines elsewhere).
 */
export function logsCommand(o: { address: string; job: string; follow: boolean }, display: FollowOutput = new FollowDisplay(process.stdout)): Promise<number> {
  const client = connect(o.address);
  return new Promise((resolve, reject) => {
    const stream = client.StreamLogs({ job_id: o.job, follow: o.follow });
    const watch = o.follow ? client.WatchJob({ job_id: o.job }) : undefined;
    let name = ''; // the job's id, once its first event names it (o.job may be a prefix)
    watch?.on('data', (e: JobEvent__Output) => {
      const progress = e.kind === 'job' ? (name ? null : e.job?.progress) : e.progress; // its latest when the watch begins, then each report
      if (e.kind === 'job' && e.job) name = e.job.id;
      if (progress) display.progress(name || o.job, progressFromWire(progress));
    });
    watch?.on('error', () => {}); // the log stream says what went wrong; this one is cancelled at its end
    stream.on('data', (l: { rank: number; text: string }) => display.line(`${l.rank < 0 ? '[coordinator]' : `[rank ${l.rank}]`} ${l.text}`));
    stream.on('error', (e) => {
      watch?.cancel();
      reject(describeCallError(e, o.address));
    });
    stream.on('end', () => {
      watch?.cancel();
      display.end();
      resolve(EXIT.ok);
    });
  });
}
