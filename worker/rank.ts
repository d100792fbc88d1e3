/**
 * Entry point of a rank process. Started by `ringmaster train` (and later by the worker agent)
 * with an IPC channel; receives one StartMessage, trains, and reports through RankMessages.
 */
import { isRingmasterError } from '../common/errors.js';
import type { ParentMessage, RankMessage, StartMessage } from './rank-messages.js';
import { asNativeError, createEngine, loadNative, type ProcessGroup } from './native.js';
import { loadTaskData } from './tasks/task.js';
import { currentActivity, setActivity } from './activity.js';
import { joinProcessGroup, nameMissingRanks } from './process-group.js';
import { train } from './trainer.js';

function send(message: RankMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

function toErrorMessage(e: unknown): RankMessage {
  const err = asNativeError(e);
  if (isRingmasterError(err)) return { type: 'error', code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  if (process.env.RINGMASTER_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return { type: 'error', code: 'INTERNAL', message: `internal error: ${message}` };
}

/**
 * The fp32 matmul throughput MFU is measured against: oneDNN's 1024³ product on this rank's
 * threads, best of a short run (bench/ measures the same way, longer).
 */
async function matmulPeakGflops(threads: number): Promise<number> {
  return loadNative().matmulPeak({ m: 1024, k: 1024, n: 1024, threads, seconds: 0.3 });
}

// A rank whose parent dies (even by SIGKILL) loses its IPC channel and stops: no orphans.
let finishing = false;
process.on('disconnect', () => {
  if (!finishing) process.exit(1);
});

/** Joins the job attempt's process group through the coordinator's rendezvous store. */
async function joinGroup(message: StartMessage): Promise<ProcessGroup | undefined> {
  const d = message.distributed;
  if (!d || d.worldSize < 2) return undefined;
  const { timeout_s, join_timeout_s } = message.spec.parallel;
  return joinProcessGroup(d, timeout_s * 1000, join_timeout_s * 1000, message.spec.device === 'cuda' ? 'nccl' : 'gloo');
}

// Set when the worker drains: the trainer stops at the next step boundary (after a checkpoint).
let drainRequested = false;

async function run(message: StartMessage): Promise<void> {
  // Liveness: what this rank is doing, a few times per progress_timeout_s (its agent's hang watch).
  const aliveMs = Math.min(5000, Math.max(200, (message.spec.progress_timeout_s * 1000) / 5));
  const alive = setInterval(() => {
    if (process.connected) process.send!({ type: 'alive', activity: currentActivity() } satisfies RankMessage);
  }, aliveMs);
  setActivity('loading data and joining the process group');
  try {
    const [data, group] = await Promise.all([loadTaskData(message.spec), joinGroup(message)]);
    const report = await train(message.spec, data, {
      createEngine, group, checkpoints: message.checkpoints, resume: message.resume, onEvent: (e) => void send(e),
      stopRequested: () => drainRequested,
      matmulPeakGflops: () => matmulPeakGflops(message.spec.threads),
    });
    await send({ type: 'done', report });
  } catch (e) {
    await send(toErrorMessage(message.distributed ? await nameMissingRanks(e, message.distributed) : e));
    process.exitCode = 1;
  }
  clearInterval(alive);
  finishing = true;
  process.disconnect();
}

if (!process.send) {
  process.stderr.write('ringmaster: the rank process is started by ringmaster (ringmaster train <spec>), not by hand\n');
  process.exit(2);
}
// The parent sends the start message right after spawning; a rank that never gets one exits
// instead of waiting forever.
const START_TIMEOUT_MS = 30_000;
const startTimer = setTimeout(() => {
  process.stderr.write(`ringmaster: the rank process got no start message within ${START_TIMEOUT_MS / 1000}s; exiting\n`);
  process.exit(1);
}, START_TIMEOUT_MS);
process.on('message', (m: ParentMessage) => {
  if (m.type === 'drain') {
    drainRequested = true;
    return;
  }
  clearTimeout(startTimer);
  void run(m);
});
