/**
 * `ringmaster train <spec> [--set key=value ...] [--threads N] [--resume DIR] [--json]`: trains
 * the job in one rank process on this machine, printing progress, checkpoint and resume lines,
 * and a JSON summary last with --json.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatCheckpoint, formatEvalLine, formatProgressLine, formatResume, formatSummaryLine, tagged } from '../../common/progress.js';
import type { RankMessage, StartMessage, TrainingReport } from '../../common/rank-messages.js';
import { loadSpecFile } from '../../jobs/load.js';
import { RingmasterError } from '../../common/errors.js';
import { localCheckpointTarget, resolveResumeDir } from '../local-checkpoints.js';
import { EXIT, exitCodeFor } from '../output.js';

export interface TrainOptions {
  spec: string;
  set: string[];
  threads?: number;
  resume?: string; // a checkpoint root or step directory
  json: boolean;
}

const RANK_ENTRY = fileURLToPath(new URL('../../worker/rank.js', import.meta.url));

export async function trainCommand(opts: TrainOptions): Promise<number> {
  const overrides = [...opts.set, ...(opts.threads === undefined ? [] : [`threads=${opts.threads}`])];
  const spec = loadSpecFile(opts.spec, overrides);
  const ranks = spec.parallel.data * spec.parallel.pipeline;
  if (ranks > 1) {
    const key = spec.parallel.data > 1 ? `parallel.data = ${spec.parallel.data}` : `parallel.pipeline = ${spec.parallel.pipeline}`;
    throw new RingmasterError('BAD_ARGUMENT', `ringmaster train runs one rank, but ${key} (run it on a cluster: ringmaster up --slots cpu:${ranks} --submit ${opts.spec})`);
  }
  const resume = opts.resume === undefined ? undefined : resolveResumeDir(opts.resume, spec);
  const start: StartMessage = { type: 'start', spec, checkpoints: localCheckpointTarget(spec, new Date(), resume), ...(resume ? { resume } : {}) };
  const report = await runRank(start, (line) => process.stdout.write(`${line}\n`));
  if (typeof report === 'number') return report;
  if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return EXIT.ok;
}

/** Runs one rank process to the end; resolves with its report, or with an exit code on failure. */
function runRank(hello: StartMessage, print: (line: string) => void): Promise<TrainingReport | number> {
  const { name } = hello.spec;
  return new Promise((resolve) => {
    const child = fork(RANK_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let outcome: TrainingReport | number | undefined;
    let startStep = 0; // the ETA counts only the steps this run did
    const start = Date.now();
    child.send(hello);
    child.on('message', (m: RankMessage) => {
      switch (m.type) {
        case 'progress':
          print(formatProgressLine({ name, step: m.step, total: m.totalSteps, epoch: m.epoch, loss: m.loss, lr: m.lr, samplesPerSec: m.samplesPerSec, elapsedSec: m.elapsedSec, startStep, tokensPerSec: m.tokensPerSec, mfu: m.mfu, bubble: m.bubble }));
          break;
        case 'eval':
          print(formatEvalLine(name, m));
          break;
        case 'checkpoint':
          print(tagged(name, formatCheckpoint(m.step, m.dir)));
          break;
        case 'resumed':
          startStep = m.step;
          for (const line of formatResume(m)) print(tagged(name, line));
          break;
        case 'done':
          print(formatSummaryLine({ name, metrics: m.report.metrics, wallSec: m.report.wallSec, samplesPerSec: m.report.samplesPerSec, tokensPerSec: m.report.tokensPerSec }));
          outcome = m.report;
          break;
        case 'error':
          process.stderr.write(`ringmaster: ${m.message}\n`);
          outcome = exitCodeFor(m.code);
          break;
      }
    });
    child.on('error', (e) => {
      process.stderr.write(`ringmaster: cannot start the rank process: ${e.message}\n`);
      outcome ??= EXIT.failed;
    });
    child.on('exit', (code, signal) => {
      if (outcome === undefined) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        process.stderr.write(`ringmaster: the rank process ${how} after ${((Date.now() - start) / 1000).toFixed(0)}s without reporting (see the output above)\n`);
        outcome = EXIT.failed;
      }
      resolve(outcome);
    });
  });
}
