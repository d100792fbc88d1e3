/**
 * `ringmaster train <spec> [--set key=value ...] [--threads N] [--resume DIR] [--json]`: trains
 * the job in one rank process on this machine, printing progress, checkpoint and resume lines,
 * and a JSON summary last with --json.
 */
import { formatCheckpoint, formatEvalLine, formatProgressLine, formatResume, formatSummaryLine, tagged } from '../../common/progress.js';
import type { StartMessage, TrainingReport } from '../../worker/rank-messages.js';
import { loadSpecFile } from '../../jobs/load.js';
import { RingmasterError } from '../../common/errors.js';
import { localCheckpointTarget, resolveResumeDir } from '../local-checkpoints.js';
import { EXIT, exitCodeFor } from '../output.js';
import { findHung } from '../../worker/hang-watch.js';
import { RankProcess } from '../../worker/rank-process.js';

export interface TrainOptions {
  spec: string;
  set: string[];
  threads?: number;
  resume?: string; // a checkpoint root or step directory
  json: boolean;
}


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

/**
 * Runs one rank process to the end under the agent's supervisor (worker/rank-process.ts) and hang
 * watch; resolves with its report, or with an exit code on failure.
 */
function runRank(hello: StartMessage, print: (line: string) => void): Promise<TrainingReport | number> {
  const { name } = hello.spec;
  return new Promise((resolve) => {
    let startStep = 0; // the ETA counts only the steps this run did
    const start = Date.now();
    const rank: RankProcess = new RankProcess(hello, {
      onEvent: (m) => {
        if (m.type === 'progress') {
          print(formatProgressLine(name, { ...m, startStep }));
        } else if (m.type === 'eval') {
          print(formatEvalLine(name, m));
        } else if (m.type === 'checkpoint') {
          print(tagged(name, formatCheckpoint(m.step, m.dir)));
        } else {
          startStep = m.step;
          for (const line of formatResume(m)) print(tagged(name, line));
        }
      },
      onStderr: (line) => process.stderr.write(`${line}\n`),
      onExit: (x) => {
        clearInterval(watch);
        if (x.report && x.exitCode === 0) {
          print(formatSummaryLine({ name, metrics: x.report.metrics, wallSec: x.report.wallSec, samplesPerSec: x.report.samplesPerSec, tokensPerSec: x.report.tokensPerSec }));
          return resolve(x.report);
        }
        if (x.errorCode) {
          process.stderr.write(`ringmaster: ${x.errorCode === 'RANK_HUNG' ? `the rank ${x.errorMessage}` : x.errorMessage}\n`);
          return resolve(exitCodeFor(x.errorCode));
        }
        const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.exitCode}`;
        process.stderr.write(`ringmaster: the rank process ${how} after ${((Date.now() - start) / 1000).toFixed(0)}s without reporting (see the output above)\n`);
        resolve(EXIT.failed);
      },
    });
    // A rank whose activity stops changing is stopped, as an agent stops a hung rank.
    const watch = setInterval(() => {
      const hung = findHung([{ key: 'local', jobId: name, rank: 0, activity: rank.activity, idleMs: rank.idleMs(), timeoutMs: hello.spec.progress_timeout_s * 1000 }]);
      if (hung) rank.stopHung(hung.reasons.get('local')!);
    }, 1000);
  });
}
