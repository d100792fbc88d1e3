/**
 * One rank of the all-reduce benchmark (started by bench/allreduce.ts): float32 all-reduce from
 * 4 KB to 256 MB with Gloo driven directly (the baseline), through Ringmaster's process group
 * over Gloo's TCP ring (its path between machines), through shared memory with copies in and
 * out (any buffer), and in place in a shared buffer (the engine's gradients), in the same run;
 * rank 0 prints the table, each path's bandwidth with its ratio to Gloo driven directly.
 *   node dist/bench/allreduce-rank.js <coordinator> <scope> <rank> <size>
 */
import { joinProcessGroup } from '../worker/process-group.js';

const [address, scope, rankText, sizeText] = process.argv.slice(2);
const rank = Number(rankText);
const size = Number(sizeText);

const ROUNDS = 6;

/** nccl-tests' bus bandwidth: algbw · 2(n−1)/n, algbw = bytes / time. */
const busBandwidth = (bytes: number, seconds: number) => ((bytes / seconds) * 2 * (size - 1)) / size / 1e9;

async function main(): Promise<void> {
  const pg = await joinProcessGroup({ rank, worldSize: size, coordinator: address, scope, hostname: '127.0.0.1' }, 60_000);
  if (rank === 0) console.log('bytes       gloo direct GB/s   ringmaster gloo  ratio   shm copy  ratio   shm in-place  ratio   (bus bandwidth, best of N)');
  const cell = (busbw: number, baseline: number, width: number) => `${busbw.toFixed(3).padStart(width)} ${(busbw / baseline).toFixed(2).padStart(6)}×`;
  for (let bytes = 4096; bytes <= 256 << 20; bytes *= 4) {
    const iterations = Math.max(3, Math.min(200, Math.round((64 << 20) / bytes)));
    // The paths take turns, ROUNDS times, each round starting with the next one, and each keeps
    // its best: the VM's speed drifts within seconds, and a path measured only at a slow moment
    // (or always right after another) would look slow.
    const best = { 'gloo-direct': 0, tcp: 0, 'shared-copy': 0, 'shared-in-place': 0 };
    const paths = Object.keys(best) as (keyof typeof best)[];
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of [...paths.slice(round % paths.length), ...paths.slice(0, round % paths.length)]) {
        best[path] = Math.max(best[path], busBandwidth(bytes, await pg.timeAllReduce(bytes / 4, iterations, path)));
      }
    }
    const { 'gloo-direct': direct, tcp, 'shared-copy': copy, 'shared-in-place': inPlace } = best;
    if (rank === 0) console.log(`${String(bytes).padEnd(11)} ${direct.toFixed(3).padStart(16)} ${cell(tcp, direct, 17)} ${cell(copy, direct, 10)} ${cell(inPlace, direct, 14)}`);
  }
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(`rank ${rank}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
