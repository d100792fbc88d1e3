/**
 * `ringmaster sample <checkpoint-or-job> [--prompt TEXT] [--tokens N] [--temperature T]
 * [--top-k K] [--seed S]`: prints text a trained language model writes. The argument is a
 * checkpoint directory (a run's root: its newest valid checkpoint; or one step directory), or
 * a job on the coordinator (its newest checkpoint, read from the shared storage the job wrote
 * to). The engine runs in a child process, as training does.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { RingmasterError } from '../../common/errors.js';
import type { SampleRequest } from '../../common/one-shot.js';
import type { ListCheckpointsResponse__Output } from '../../proto/gen/ringmaster/v1/ListCheckpointsResponse.js';
import { call, connect } from '../client.js';
import { resolveCheckpointDir } from '../local-checkpoints.js';
import { EXIT } from '../output.js';
import { askWorkerProcess } from '../worker-process.js';

export interface SampleOptions {
  source: string; // a checkpoint directory or a job id
  address: string;
  prompt: string;
  tokens: number;
  temperature: number;
  topK: number;
  seed: number;
  threads: number;
}

/** A path names checkpoints on disk; a bare name is a job whose newest checkpoint the coordinator knows. */
async function checkpointOf(o: SampleOptions): Promise<{ root: string; step?: number }> {
  if (existsSync(o.source) || o.source.includes(path.sep)) return resolveCheckpointDir(o.source, 'sample', 'checkpoints/<job>/local-YYYYMMDD-HHMMSS-PID');
  const client = connect(o.address);
  const { checkpoints } = await call<ListCheckpointsResponse__Output>(o.address, (opts, cb) => client.ListCheckpoints({ job_id: o.source }, opts, cb));
  const newest = checkpoints.reduce<(typeof checkpoints)[number] | undefined>((a, c) => (!a || c.step > a.step ? c : a), undefined);
  if (!newest) throw new RingmasterError('DATA_MISSING', `job ${o.source} has no checkpoints yet (sample it once one is published, or pass a checkpoint directory)`);
  return resolveCheckpointDir(newest.dir, 'sample', newest.dir);
}

function check(o: SampleOptions): void {
  const bad = (what: string) => new RingmasterError('BAD_ARGUMENT', what);
  if (!(Number.isSafeInteger(o.tokens) && o.tokens >= 1)) throw bad(`--tokens must be an integer ≥ 1, got ${o.tokens}`);
  if (!(o.temperature >= 0 && Number.isFinite(o.temperature))) throw bad(`--temperature must be a number ≥ 0 (0 picks the likeliest token), got ${o.temperature}`);
  if (!(Number.isSafeInteger(o.topK) && o.topK >= 0)) throw bad(`--top-k must be an integer ≥ 0 (0 keeps every token), got ${o.topK}`);
  if (!(Number.isSafeInteger(o.seed) && o.seed >= 0)) throw bad(`--seed must be an integer ≥ 0, got ${o.seed}`);
}

export async function sampleCommand(o: SampleOptions): Promise<number> {
  check(o);
  const from = await checkpointOf(o);
  const request: SampleRequest = { ...from, prompt: o.prompt, tokens: o.tokens, temperature: o.temperature, topK: o.topK, seed: o.seed, threads: o.threads };
  const text = await askWorkerProcess<SampleRequest, string>('sample-main.js', request);
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return EXIT.ok;
}
