/**
 * Pipeline parallelism on the GPT job (jobs/shakespeare-char.yaml, 1 thread per rank): for m =
 * 4, 8 and 16 micro-batches of 4 windows a step, fp32 and bf16, the tokens/s and ms per step of
 * 1 rank, 2 data-parallel ranks (2 windows each), 2 pipeline stages (1F1B) and 2 interleaved
 * stages of 2 chunks, all with the same global batch of 4m windows; and each stage's time waiting
 * for the other (the measured bubble, with any transfer that did not overlap compute) against
 * the schedule's (P − 1) / (v·m + P − 1).
 *   npm run bench:pipeline [-- steps]
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from './coordinator.js';
import { runBenchRank, type BenchRankResult } from './rank-run.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'); // bench/ compiles to dist/bench/
const SPEC = path.join(repo, 'jobs', 'shakespeare-char.yaml');
const steps = Number(process.argv[2] ?? 60);
const BLOCK = 64; // the job's context: tokens per window

async function main(): Promise<void> {
  const coordinator = await startCoordinator();
  console.log(`ringmaster bench: pipeline parallelism, GPT (shakespeare-char), 1 thread per rank, ${steps} steps (20 warm-up), ${os.cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString().slice(0, 10)}`);
  console.log('precision  m  config        tokens/s  step ms  compute  waiting (stage 0, 1)  bubble (stage 0, 1)  (P−1)/(v·m+P−1)');
  const group = async (name: string, size: number, micro: number, sets: string[]): Promise<BenchRankResult[]> => {
    const scope = `bench-pipeline-${name}-${Date.now()}/1`;
    const args = (rank: number) => [SPEC, String(steps), String(micro), '25', 'auto', coordinator.address, scope, String(rank), String(size), ...sets.flatMap((s) => ['--set', s])];
    return Promise.all(Array.from({ length: size }, (_, rank) => runBenchRank(args(rank))));
  };
  for (const precision of ['fp32', 'bf16']) {
    for (const m of [4, 8, 16]) {
      const sets = [`batch.accumulate=${m}`, `precision=${precision}`];
      const one = await runBenchRank([SPEC, String(steps), '4', '25', 'auto', ...sets.flatMap((s) => ['--set', s])]);
      const [dp] = await group('dp', 2, 2, sets);
      const line = (config: string, r: BenchRankResult, extra = '') =>
        `${precision.padEnd(9)} ${String(m).padStart(2)}  ${config.padEnd(12)} ${(r.samplesPerSec * BLOCK).toFixed(0).padStart(9)} ${r.stepMs.toFixed(1).padStart(8)} ${r.computeMs.toFixed(1).padStart(8)}${extra}`;
      console.log(line('1 rank', one));
      console.log(line('2 data', dp));
      for (const v of [1, 2]) {
        const schedule = v === 1 ? [] : ['parallel.schedule=interleaved', `parallel.virtual=${v}`];
        const stages = await group(`pp${v}`, 2, 4, [...sets, 'parallel.pipeline=2', ...schedule]);
        const waits = stages.map((s) => s.pipelineWaitMs.toFixed(1)).join(', ');
        const bubbles = stages.map((s) => `${((100 * s.pipelineWaitMs) / s.stepMs).toFixed(0)}%`).join(', ');
        const theory = (100 * 1) / (v * m + 1);
        console.log(line(v === 1 ? '2 stages' : `2 × ${v} chunks`, stages[0], `  ${waits.padStart(20)}  ${bubbles.padStart(19)}  ${theory.toFixed(0).padStart(15)}%`));
      }
    }
  }
  coordinator.stop();
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
