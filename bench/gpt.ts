/**
 * The GPT training step of jobs/shakespeare-char.yaml (4 layers, 4 heads, 128 channels, block
 * 64, batch 12): fp32 and bf16 on 1 and 2 threads, tokens/s, ms per step (the median step) and
 * achieved GFLOP/s against the matmul peak of that dtype measured in the same run; with --torch PYTHON, the same
 * model and recipe in PyTorch (bench/gpt_torch.py) right after each of ours; 2 data-parallel
 * ranks (1 thread, batch 6 each) against 1 rank (1 thread, batch 12); and where one fp32 step's
 * time goes, module by module (ringmaster profile's table).
 *   npm run bench:gpt [-- --seconds 3] [-- --torch /tmp/torch/bin/python]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProfile } from '../cli/commands/profile.js';
import { loadSpecFile } from '../jobs/load.js';
import { createEngine, loadNative } from '../worker/native.js';
import { profile } from '../worker/profiling.js';
import { createTask, loadTaskData } from '../worker/tasks/task.js';
import { engineConfig } from '../worker/trainer.js';
import { startCoordinator } from './coordinator.js';
import { runBenchRank as dpRank } from './rank-run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..'); // bench/ compiles to dist/bench/
const SPEC = path.join(repo, 'jobs', 'shakespeare-char.yaml');
const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const seconds = Number(arg('--seconds') ?? 3);
const torch = arg('--torch');

interface Row { tokensPerSec: number; msPerStep: number }

async function ours(precision: 'fp32' | 'bf16', threads: number): Promise<Row & { flopsPerToken: number }> {
  const spec = loadSpecFile(SPEC, [`precision=${precision}`, `threads=${threads}`]);
  const task = createTask(spec, await loadTaskData(spec), { rank: 0, ranks: 1 });
  const engine = createEngine(engineConfig(spec, task.model));
  const step = (i: number) => {
    task.load(i);
    return engine.trainStep(task.inputs, task.labels, spec.batch.micro, 1e-3, 1.0);
  };
  for (let i = 0; i < 5; i++) await step(i);
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 10 || performance.now() - t0 < seconds * 1000) {
    const start = performance.now();
    await step(5 + times.length);
    times.push(performance.now() - start);
  }
  const ms = times.sort((a, b) => a - b)[times.length >> 1]; // the median step: interference slows some steps, never speeds one up
  return { msPerStep: ms, tokensPerSec: (spec.batch.micro * 64 * 1000) / ms, flopsPerToken: task.flopsPerToken };
}

function theirs(python: string, precision: string, threads: number): Row {
  const out = execFileSync(python, [path.join(repo, 'bench', 'gpt_torch.py'), precision, String(threads), String(seconds)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Row;
}

async function dataParallel(steps: number): Promise<void> {
  const coordinator = await startCoordinator();
  const one = await dpRank([SPEC, String(steps), '12', '25', 'auto']);
  const scope = `bench-gpt-${Date.now()}/1`;
  const [two] = await Promise.all([0, 1].map((rank) => dpRank([SPEC, String(steps), '6', '25', 'auto', coordinator.address, scope, String(rank), '2'])));
  coordinator.stop();
  const row = (label: string, r: typeof one) =>
    `${label.padEnd(22)} ${(r.samplesPerSec * 64).toFixed(0).padStart(9)} ${r.stepMs.toFixed(2).padStart(8)} ${r.computeMs.toFixed(2).padStart(8)} ${r.communicateMs.toFixed(2).padStart(9)} ${r.optimizeMs.toFixed(2).padStart(9)}`;
  console.log('\ndata parallel, fp32, global batch 12        tokens/s  step ms  compute  exchange  optimizer');
  console.log(row('1 rank × 12', one));
  console.log(row('2 ranks × 6', two));
  console.log(`2 ranks = ${(two.samplesPerSec / one.samplesPerSec).toFixed(2)}× 1 rank`);
}

async function main(): Promise<void> {
  const native = loadNative();
  const info = native.buildInfo();
  console.log(`ringmaster bench: GPT step (shakespeare-char), ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, oneDNN ${info.dnnlVersion} (${info.isa}), ${new Date().toISOString().slice(0, 10)}`);
  const probe = native.bf16Probe();
  console.log(`bf16 probe (1 thread, 512³): fp32 ${probe.fp32Gflops.toFixed(1)}, bf16 ${probe.bf16Gflops.toFixed(1)} GFLOP/s: bf16 kernels ${probe.paysOff ? 'on' : 'off'} under auto`);
  console.log('precision threads  tokens/s  step ms  GFLOP/s  peak GFLOP/s  of peak' + (torch ? ' | torch tokens/s  ours/torch' : ''));
  for (const threads of [1, 2]) {
    for (const precision of ['fp32', 'bf16'] as const) {
      const r = await ours(precision, threads);
      const peak = await native.matmulPeak({ m: 1024, k: 1024, n: 1024, threads, seconds: 1, bf16: precision === 'bf16' });
      const achieved = (r.tokensPerSec * r.flopsPerToken) / 1e9;
      let line = `${precision.padEnd(9)} ${String(threads).padStart(7)} ${r.tokensPerSec.toFixed(0).padStart(9)} ${r.msPerStep.toFixed(2).padStart(8)} ${achieved.toFixed(1).padStart(8)} ${peak.toFixed(1).padStart(13)} ${(100 * achieved / peak).toFixed(1).padStart(7)}%`;
      if (torch) {
        const t = theirs(torch, precision, threads);
        line += ` | ${t.tokensPerSec.toFixed(0).padStart(14)} ${(r.tokensPerSec / t.tokensPerSec).toFixed(2).padStart(10)}×`;
      }
      console.log(line);
    }
  }
  await dataParallel(200);
  console.log('\nwhere one fp32 step goes, 1 thread:');
  console.log(formatProfile(await profile({ spec: loadSpecFile(SPEC, ['threads=1']), steps: 20, warmup: 3 })));
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
