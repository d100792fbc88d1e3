/**
 * All-reduce bus bandwidth on 2 processes of this machine, Ringmaster's path beside Gloo's TCP
 * ring with the same sizes in the same run. Starts its own coordinator for the rendezvous.
 *   npm run bench:allreduce     (or: node dist/bench/allreduce.js [ranks])
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from './coordinator.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ranks = Number(process.argv[2] ?? 2);

async function main(): Promise<void> {
  const coordinator = await startCoordinator();
  const scope = `bench-allreduce-${Date.now()}/1`;
  console.log(`ringmaster bench: all-reduce, ${ranks} processes on one machine, ${new Date().toISOString().slice(0, 10)}`);
  const codes = await Promise.all(Array.from({ length: ranks }, (_, rank) => new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'allreduce-rank.js'), coordinator.address, scope, String(rank), String(ranks)], { stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'inherit'] });
    child.on('exit', resolve);
  })));
  coordinator.stop();
  if (codes.some((c) => c !== 0)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`ringmaster bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
