/** `checkpoints <job>` and `resume <job> [--step N]`: a job's checkpoints, and a new attempt from one. */
import type { Job__Output } from '../../proto/gen/ringmaster/v1/Job.js';
import type { ListCheckpointsResponse__Output } from '../../proto/gen/ringmaster/v1/ListCheckpointsResponse.js';
import { RingmasterError } from '../../common/errors.js';
import { call, connect } from '../client.js';
import { checkpointJson, checkpointsTable, jobJson, stateName } from '../format.js';
import { EXIT } from '../output.js';
import { followJob } from './jobs.js';

const print = (line: string) => process.stdout.write(`${line}\n`);

export async function checkpointsCommand(o: { address: string; job: string; json: boolean }): Promise<number> {
  const client = connect(o.address);
  const { checkpoints } = await call<ListCheckpointsResponse__Output>(o.address, (opts, cb) => client.ListCheckpoints({ job_id: o.job }, opts, cb));
  print(o.json ? JSON.stringify(checkpoints.map(checkpointJson)) : checkpoints.length ? checkpointsTable(checkpoints) : `no checkpoints of ${o.job}`);
  return EXIT.ok;
}

export interface ResumeOptions {
  address: string;
  job: string;
  step?: number;
  follow: boolean;
  json: boolean;
}

export async function resumeCommand(o: ResumeOptions): Promise<number> {
  if (o.step !== undefined && !(Number.isSafeInteger(o.step) && o.step >= 0)) {
    throw new RingmasterError('BAD_ARGUMENT', `--step must be the step of one of the job's checkpoints, an integer ≥ 0 (ringmaster checkpoints ${o.job} lists them)`);
  }
  const client = connect(o.address);
  const request = { job_id: o.job, ...(o.step === undefined ? {} : { step: o.step }) };
  const job = await call<Job__Output>(o.address, (opts, cb) => client.ResumeJob(request, opts, cb));
  if (o.json && !o.follow) {
    print(JSON.stringify(jobJson(job)));
  } else {
    const from = o.step === undefined ? 'its newest valid checkpoint' : `step ${o.step}`;
    print(`resumed ${job.id} from ${from} (${stateName(job.state)}${job.reason ? `: ${job.reason}` : ''})`);
  }
  return o.follow ? followJob(o.address, job.id, o.json) : EXIT.ok;
}
