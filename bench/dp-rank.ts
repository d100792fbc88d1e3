/**
 * One rank of the data- and pipeline-parallel benchmarks (bench/data-parallel.ts, gpt.ts,
 * pipeline.ts): trains an example job for a number of steps, alone or as one rank of a group, and
 * prints one JSON line: samples/s of the whole group and the mean time per step in compute,
 * all-reduce, optimizer and waiting for neighbouring pipeline stages.
 *   node dist/bench/dp-rank.js <spec> <steps> <micro> <bucket MiB> <auto|off> [<coordinator> <scope> <rank> <size>] [--set key=value]…
 * (auto|off: parallel.sufficient_factors)
 */
import { loadSpecFile } from '../jobs/load.js';
import { loadTaskData } from '../worker/tasks/task.js';
import { createEngine, type Engine, type ProcessGroup, type StepTimings } from '../worker/native.js';
import { joinProcessGroup } from '../worker/process-group.js';
import { train } from '../worker/trainer.js';

const args = process.argv.slice(2);
const sets = args.flatMap((a, i) => (args[i - 1] === '--set' ? [a] : []));
const [spec, steps, micro, bucketMb, factors, address, scope, rank, size] = args.filter((a, i) => a !== '--set' && args[i - 1] !== '--set');
const WARMUP = 20;

async function main(): Promise<void> {
  const job = loadSpecFile(spec, [`steps=${steps}`, `batch.micro=${micro}`, 'threads=1', `log.every=${steps}`, 'eval.every=0', `parallel.bucket_mb=${bucketMb}`, `parallel.sufficient_factors=${factors}`, ...sets]);
  let group: ProcessGroup | undefined;
  if (address) {
    group = await joinProcessGroup({ rank: Number(rank), worldSize: Number(size), coordinator: address, scope, hostname: '127.0.0.1' }, 60_000);
  }
  const sums: StepTimings = { computeMs: 0, communicateMs: 0, optimizeMs: 0, pipelineWaitMs: 0 };
  let timed = 0;
  let t0 = 0;
  // Wraps the engine to add up the native step timings after a warm-up.
  const measured = (engine: Engine): Engine => {
    const trainStep: Engine['trainStep'] = async (...args) => {
      const r = await engine.trainStep(...args);
      if (++timed === WARMUP) t0 = performance.now();
      if (timed > WARMUP) for (const k of Object.keys(sums) as (keyof StepTimings)[]) sums[k] += r.timings[k];
      return r;
    };
    return new Proxy(engine, {
      get: (target, prop) => {
        if (prop === 'trainStep') return trainStep;
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  let wall = 0;
  await train(job, await loadTaskData(job), {
    createEngine: (c) => {
      // the training engine is the last one built (before it, pipeline stages may be planned on a probe)
      timed = 0;
      for (const k of Object.keys(sums) as (keyof StepTimings)[]) sums[k] = 0;
      return measured(createEngine(c));
    },
    group,
    onEvent: (e) => {
      if (e.type === 'progress') wall = performance.now() - t0;
    },
  });
  const n = timed - WARMUP;
  const replicas = (group?.size ?? 1) / job.parallel.pipeline;
  console.log(JSON.stringify({
    samplesPerSec: (n * job.batch.micro * job.batch.accumulate * replicas * 1000) / wall,
    stepMs: wall / n,
    computeMs: sums.computeMs / n,
    communicateMs: sums.communicateMs / n,
    optimizeMs: sums.optimizeMs / n,
    pipelineWaitMs: sums.pipelineWaitMs / n,
  }));
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(`dp-rank: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
