/**
 * Data-parallel scaling on this machine: each example job on 2 ranks (1 thread and batch 64
 * each) against 1 rank (1 thread, batch 128): same global batch, same run, with where a step's
 * time goes; 2 ranks run three times: as the job runs them (sufficient factors for the wide
 * Linear layers, DDP's 25 MiB buckets for the rest), with every gradient in 25 MiB buckets
 * (parallel.sufficient_factors=off: one bucket for these models, reduced after backward), and
 * with every gradient in 1 MiB buckets (reduced while backward runs). Starts its own coordinator
 * for the rendezvous.
 *
 * The machine's speed drifts by more than the effects measured, so the three configurations run
 * in rounds, one after the other within a round; each round gives its own ratios, and the medians
 * over the rounds are reported with their range.
 *   npm run bench:dp     (or: node dist/bench/data-parallel.js [steps] [rounds])
 */
import path from 'node:path';
import { startCoordinator } from './coordinator.js';
import { runBenchRank as run, type BenchRankResult as RankResult } from './rank-run.js';

const steps = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);

const row = (label: string, r: RankResult) =>
  `${label.padEnd(9)} ${r.samplesPerSec.toFixed(0).padStart(9)} ${r.stepMs.toFixed(2).padStart(8)} ${r.computeMs.toFixed(2).padStart(9)} ${r.communicateMs.toFixed(2).padStart(10)} ${r.optimizeMs.toFixed(2).padStart(10)}`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: number[]) => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

async function main(): Promise<void> {
  const coordinator = await startCoordinator();
  console.log(`ringmaster bench: data-parallel scaling, global batch 128, 1 thread per rank, ${steps} steps, ${rounds} rounds, ${new Date().toISOString().slice(0, 10)}`);
  console.log('          samples/s  step ms  compute  exchange*  optimizer   (* gradient all-reduce and factor exchange, with waiting for the other rank)');
  for (const spec of ['jobs/fashion-mnist-mlp.yaml', 'jobs/fashion-mnist-cnn.yaml']) {
    const pair = async (bucketMb: string, factors: string) => {
      const scope = `bench-dp-${Date.now()}-${bucketMb}-${factors}/1`;
      const [r0] = await Promise.all([0, 1].map((rank) => run([spec, String(steps), '64', bucketMb, factors, coordinator.address, scope, String(rank), '2'])));
      return r0;
    };
    const ratios = { job: [] as number[], buckets: [] as number[], small: [] as number[] };
    for (let round = 1; round <= rounds; round++) {
      const one = await run([spec, String(steps), '128', '25', 'auto']);
      const job = await pair('25', 'auto');
      const buckets = await pair('25', 'off');
      const small = await pair('1', 'off');
      ratios.job.push(job.samplesPerSec / one.samplesPerSec);
      ratios.buckets.push(buckets.samplesPerSec / one.samplesPerSec);
      ratios.small.push(small.samplesPerSec / one.samplesPerSec);
      console.log(`${path.basename(spec)}, round ${round}`);
      console.log(row('1 rank', one));
      console.log(row('2 ranks', job));
      console.log(row('2, 25MiB', buckets));
      console.log(row('2, 1MiB', small));
    }
    console.log(`${path.basename(spec)}: 2 ranks = ${summary(ratios.job)} 1 rank; every gradient in 25 MiB buckets ${summary(ratios.buckets)}, in 1 MiB buckets ${summary(ratios.small)}`);
  }
  coordinator.stop();
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
