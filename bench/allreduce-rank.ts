/**
 * One rank of the all-reduce benchmark (started by bench/allreduce.ts): float32 all-reduce from
 * 4 KB to 256 MB through Gloo's TCP ring directly, through shared memory with copies in and out
 * (any buffer), and in place in a shared buffer (the engine's gradients), in the same run; rank 0
 * prints the table.
 *   node dist/bench/allreduce-rank.js <coordinator> <scope> <rank> <size>
 */
import { joinProcessGroup } from '../worker/process-group.js';

const [address, scope, rankText, sizeText] = process.argv.slice(2);
const rank = Number(rankText);
const size = Number(sizeText);

/** nccl-tests' bus bandwidth: algbw · 2(n−1)/n, algbw = bytes / time. */
const busBandwidth = (bytes: number, seconds: number) => ((bytes / seconds) * 2 * (size - 1)) / size / 1e9;

async function main(): Promise<void> {
  const pg = await joinProcessGroup({ rank, worldSize: size, coordinator: address, scope, hostname: '127.0.0.1' }, 60_000);
  if (rank === 0) console.log('bytes        gloo GB/s   shm copy GB/s  ratio   shm in-place GB/s  ratio   (bus bandwidth, best of N)');
  for (let bytes = 4096; bytes <= 256 << 20; bytes *= 4) {
    const iterations = Math.max(3, Math.min(50, Math.round((64 << 20) / bytes)));
    const gloo = busBandwidth(bytes, await pg.timeAllReduce(bytes / 4, iterations, 'tcp'));
    const copy = busBandwidth(bytes, await pg.timeAllReduce(bytes / 4, iterations, 'shared-copy'));
    const inPlace = busBandwidth(bytes, await pg.timeAllReduce(bytes / 4, iterations, 'shared-in-place'));
    if (rank === 0) {
      console.log(`${String(bytes).padEnd(12)} ${gloo.toFixed(3).padStart(9)} ${copy.toFixed(3).padStart(14)} ${(copy / gloo).toFixed(2).padStart(6)}× ${inPlace.toFixed(3).padStart(18)} ${(inPlace / gloo).toFixed(2).padStart(6)}×`);
    }
  }
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(`rank ${rank}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
