/**
 * Data-parallel scaling on this machine: each example job on 2 ranks (1 thread and batch 64
 * each) against 1 rank (1 thread, batch 128): same global batch, same run, with where a step's
 * time goes; 2 ranks run twice: with DDP's 25 MiB buckets (one bucket for these models, reduced
 * after backward) and with 1 MiB buckets (reduced while backward runs). Starts its own
 * coordinator for the rendezvous.
 *
 * The machine's speed drifts by more than the effects measured, so the three configurations run
 * in rounds, one after the other within a round; each round gives its own ratios, and the medians
 * over the rounds are reported with their range.
 *   npm run bench:dp     (or: node dist/bench/data-parallel.js [steps] [rounds])
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from './coordinator.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const steps = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);

interface RankResult { samplesPerSec: number; stepMs: number; computeMs: number; communicateMs: number; optimizeMs: number }

function run(args: string[]): Promise<RankResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'dp-rank.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`dp-rank exited with ${code}`))));
  });
}

const row = (label: string, r: RankResult) =>
  `${label.padEnd(9)} ${r.samplesPerSec.toFixed(0).padStart(9)} ${r.stepMs.toFixed(2).padStart(8)} ${r.computeMs.toFixed(2).padStart(9)} ${r.communicateMs.toFixed(2).padStart(12)} ${r.optimizeMs.toFixed(2).padStart(10)}`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: number[]) => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

async function main(): Promise<void> {
  const coordinator = await startCoordinator();
  console.log(`ringmaster bench: data-parallel scaling, global batch 128, 1 thread per rank, ${steps} steps, ${rounds} rounds, ${new Date().toISOString().slice(0, 10)}`);
  console.log('          samples/s  step ms  compute  all-reduce*  optimizer   (* includes waiting for the other rank)');
  for (const spec of ['jobs/fashion-mnist-mlp.yaml', 'jobs/fashion-mnist-cnn.yaml']) {
    const pair = async (bucketMb: string) => {
      const scope = `bench-dp-${Date.now()}-${bucketMb}/1`;
      const [r0] = await Promise.all([0, 1].map((rank) => run([spec, String(steps), '64', bucketMb, coordinator.address, scope, String(rank), '2'])));
      return r0;
    };
    const whole: number[] = [], bucketed: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const one = await run([spec, String(steps), '128', '25']);
      const w = await pair('25');
      const b = await pair('1');
      whole.push(w.samplesPerSec / one.samplesPerSec);
      bucketed.push(b.samplesPerSec / one.samplesPerSec);
      console.log(`${path.basename(spec)}, round ${round}`);
      console.log(row('1 rank', one));
      console.log(row('2 ranks', w));
      console.log(row('2 × 1MiB', b));
    }
    console.log(`${path.basename(spec)}: 2 ranks = ${summary(whole)} 1 rank; with 1 MiB buckets ${summary(bucketed)}`);
  }
  coordinator.stop();
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
