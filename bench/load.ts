/**
 * The control plane under load: 200 short jobs (the tiny test GPT, 5 steps) submitted at once
 * to one coordinator whose worker has 2 slots, and while they run 2,000 status and list calls
 * from 20 concurrent clients. Every job must succeed, none be lost or stuck, and no call fail;
 * prints the calls' latency percentiles and how long the queue took to drain.
 *   npm run bench:load     (or: node dist/bench/load.js [jobs=200] [calls=2000] [clients=20] [full])
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, connect } from '../cli/client.js';
import { listAllJobs } from '../cli/commands/jobs.js';
import { stateName } from '../cli/format.js';
import { loadSpecFile } from '../jobs/load.js';
import type { Job__Output } from '../proto/gen/ringmaster/v1/Job.js';
import { startCoordinator } from './coordinator.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const [jobs, calls, clients] = [200, 2000, 20].map((d, i) => Number(process.argv[2 + i] ?? d));
// `full`: each list call asks for every job with its spec in one page, as ListJobs answered before
// it paged and left the specs out (the comparison in RESULTS).
const fullLists = process.argv[5] === 'full';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const coordinator = await startCoordinator();
  const agent = spawn(process.execPath, [path.join(repo, 'dist', 'worker', 'agent-main.js'), '--coordinator', coordinator.address, '--slots', 'cpu:2', '--address', '127.0.0.1', '--data-root', path.resolve(repo, '..', 'shared'), '--checkpoint-root', tmpdir()], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => agent.stdout.on('data', (d: Buffer) => (String(d).includes('registered as') ? resolve() : undefined)));
  const address = coordinator.address;
  const client = connect(address);
  const spec = loadSpecFile(path.join(repo, 'test', 'fixtures', 'tiny-gpt.yaml'), ['steps=5', 'eval.every=0', 'eval.batches=1', 'log.every=5', 'threads=1', `checkpoint.dir=${mkdtempSync(path.join(tmpdir(), 'ringmaster-load-'))}`]);
  console.log(`ringmaster bench: control plane load, ${jobs} jobs on 2 slots, ${calls} status/list calls from ${clients} clients${fullLists ? ' (lists whole, with specs)' : ''}, ${new Date().toISOString().slice(0, 10)}`);
  const t0 = performance.now();
  const submitted = await Promise.all(Array.from({ length: jobs }, () => call<Job__Output>(address, (o, cb) => client.SubmitJob({ spec_json: JSON.stringify(spec), priority: 0 }, o, cb))));
  const ids = submitted.map((j) => j.id);
  console.log(`submitted ${ids.length} jobs in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  // 20 clients, each its own channel, calling status and list in turn while the jobs run
  const latencies: number[] = [];
  const byKind: Record<'status' | 'list', number[]> = { status: [], list: [] };
  let failures = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const mine = connect(address);
    for (let i = c; i < calls; i += clients) {
      const t = performance.now();
      try {
        if (i % 2 === 0) await call<Job__Output>(address, (o, cb) => mine.GetJob({ job_id: ids[i % ids.length] }, o, cb));
        else if (fullLists) await call(address, (o, cb) => mine.ListJobs({ page_size: 1000, with_spec: true }, o, cb));
        else await listAllJobs(address, mine); // as `ringmaster jobs` lists them
      } catch (e) {
        failures++;
        console.error(`call ${i} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      latencies.push(performance.now() - t);
      byKind[i % 2 === 0 ? 'status' : 'list'].push(performance.now() - t);
    }
  }));
  latencies.sort((a, b) => a - b);
  console.log(`${latencies.length} calls, ${failures} failed: latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);
  for (const [kind, xs] of Object.entries(byKind)) {
    xs.sort((a, b) => a - b);
    console.log(`  ${kind === 'status' ? 'status (GetJob)' : 'list (ListJobs)'}: ${xs.length} calls, p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`);
  }
  // every job ends, and succeeds
  for (;;) {
    const all = await listAllJobs(address, client);
    const mine = all.filter((j) => ids.includes(j.id));
    const states = new Map<string, number>();
    for (const j of mine) states.set(stateName(j.state), (states.get(stateName(j.state)) ?? 0) + 1);
    if (mine.length === ids.length && mine.every((j) => TERMINAL.has(stateName(j.state)))) {
      console.log(`all ${mine.length} jobs ended after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}`);
      if (states.get('succeeded') !== ids.length) process.exitCode = 1;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (failures > 0) process.exitCode = 1;
  agent.kill('SIGTERM');
  coordinator.stop();
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
