/**
 * `ringmaster train <spec> [--set key=value ...] [--threads N] [--json]`: trains the job in one
 * rank process on this machine, printing progress lines, and a JSON summary last with --json.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatProgressLine, formatSummaryLine } from '../../common/progress.js';
import type { RankMessage, StartMessage, TrainingReport } from '../../common/rank-messages.js';
import { loadSpecFile } from '../../jobs/load.js';
import type { JobSpec } from '../../jobs/types.js';
import { RingmasterError } from '../../common/errors.js';
import { EXIT, exitCodeFor } from '../output.js';

export interface TrainOptions {
  spec: string;
  set: string[];
  threads?: number;
  json: boolean;
}

const RANK_ENTRY = fileURLToPath(new URL('../../worker/rank.js', import.meta.url));

export async function trainCommand(opts: TrainOptions): Promise<number> {
  const overrides = [...opts.set, ...(opts.threads === undefined ? [] : [`threads=${opts.threads}`])];
  const spec = loadSpecFile(opts.spec, overrides);
  if (spec.parallel.data > 1) {
    throw new RingmasterError('BAD_ARGUMENT', `ringmaster train runs one rank, but parallel.data = ${spec.parallel.data} (run it on a cluster: ringmaster up --slots cpu:${spec.parallel.data} --submit ${opts.spec})`);
  }
  const report = await runRank(spec, (line) => process.stdout.write(`${line}\n`));
  if (typeof report === 'number') return report;
  if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return EXIT.ok;
}

/** Runs one rank process to the end; resolves with its report, or with an exit code on failure. */
function runRank(spec: JobSpec, print: (line: string) => void): Promise<TrainingReport | number> {
  return new Promise((resolve) => {
    const child = fork(RANK_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let outcome: TrainingReport | number | undefined;
    const start = Date.now();
    const hello: StartMessage = { type: 'start', spec };
    child.send(hello);
    child.on('message', (m: RankMessage) => {
      if (m.type === 'progress') {
        print(formatProgressLine({ name: spec.name, step: m.step, total: m.totalSteps, epoch: m.epoch, loss: m.loss, lr: m.lr, samplesPerSec: m.samplesPerSec, elapsedSec: m.elapsedSec }));
      } else if (m.type === 'eval') {
        print(`[${spec.name}] eval at step ${m.step}: test loss ${m.testLoss.toFixed(4)} accuracy ${(100 * m.testAccuracy).toFixed(2)}%`);
      } else if (m.type === 'done') {
        print(formatSummaryLine({ name: spec.name, testLoss: m.report.testLoss, testAccuracy: m.report.testAccuracy, wallSec: m.report.wallSec, samplesPerSec: m.report.samplesPerSec }));
        outcome = m.report;
      } else {
        process.stderr.write(`ringmaster: ${m.message}\n`);
        outcome = exitCodeFor(m.code);
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
