/**
 * What the pipeline planner measures (worker/stage-plan.ts): for each example job, the probe's
 * forward + backward milliseconds per micro-batch of every unit of the model (a GPT's blocks, a
 * sequential network's layers with parameters), and the split it gives for 2 and 3 stages.
 *   node dist/bench/stage-costs.js [--set key=value]…   (the sets apply to every job)
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSpecFile } from '../jobs/load.js';
import { createEngine } from '../worker/native.js';
import { balancedSplit } from '../worker/pipeline-stages.js';
import { measureUnitCosts } from '../worker/stage-plan.js';
import { createTask, loadTaskData } from '../worker/tasks/task.js';
import { engineConfig } from '../worker/trainer.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'); // bench/ compiles to dist/bench/
const args = process.argv.slice(2);
const sets = args.filter((_, i) => args[i - 1] === '--set');
const JOBS: [string, string[]][] = [
  ['shakespeare-char.yaml', []],
  ['shakespeare-char.yaml', ['model.layers=12', 'model.channels=256']],
  ['fashion-mnist-mlp.yaml', []],
  ['fashion-mnist-cnn.yaml', []],
];

async function main(): Promise<void> {
  console.log(`ringmaster bench: pipeline units' measured cost (ms per micro-batch, forward + backward), ${os.cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString().slice(0, 10)}`);
  for (const [file, extra] of JOBS) {
    const spec = loadSpecFile(path.join(repo, 'jobs', file), [...extra, ...sets]);
    const task = createTask(spec, await loadTaskData(spec), { rank: 0, ranks: 1 });
    const t0 = performance.now();
    const costs = await measureUnitCosts(spec, task.model, (m) => engineConfig(spec, m), createEngine);
    const ms = performance.now() - t0;
    const splits = [2, 3].filter((p) => p <= costs.length).map((p) => `${p} stages [${balancedSplit(costs, p).join(', ')}]`);
    console.log(`${[file, ...extra].join(' ')}: ${costs.map((c) => c.toFixed(2)).join(' ')}; ${splits.join(', ')}; probe ${ms.toFixed(0)} ms`);
  }
}

main().catch((e: unknown) => {
  console.error(`stage-costs: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
