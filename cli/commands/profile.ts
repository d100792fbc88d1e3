/**
 * `ringmaster profile <spec> [--steps N] [--set k=v ...] [--threads N]`: runs a few training
 * steps of the job on one rank and prints, module by module, forward and backward time, FLOPs
 * and achieved GFLOP/s, parameters and kept activations; then the step split into compute,
 * optimizer and communication, the model's size and the peak resident memory.
 */
import { RingmasterError } from '../../common/errors.js';
import type { ModuleProfile, ProfileRequest, ProfileResult } from '../../common/one-shot.js';
import { formatRate } from '../../common/progress.js';
import { loadSpecFile } from '../../jobs/load.js';
import { table } from '../format.js';
import { EXIT } from '../output.js';
import { askWorkerProcess } from '../worker-process.js';

export interface ProfileOptions {
  spec: string;
  set: string[];
  steps: number;
  threads?: number;
  json: boolean;
}

const WARMUP_STEPS = 3;

const ms = (x: number) => x.toFixed(2);
const gflops = (flops: number, millis: number) => (flops > 0 && millis > 0 ? (flops / millis / 1e6).toFixed(1) : '-');
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 1);

function moduleRows(modules: ModuleProfile[]): string[][] {
  return modules.map((m) => [
    m.name, ms(m.forwardMs), ms(m.backwardMs), gflops(m.forwardFlops, m.forwardMs), gflops(m.backwardFlops, m.backwardMs),
    m.params ? formatRate(m.params) : '-', mib(m.activationBytes),
  ]);
}

export function formatProfile(r: ProfileResult): string {
  const fwd = r.modules.reduce((s, m) => s + m.forwardMs, 0);
  const bwd = r.modules.reduce((s, m) => s + m.backwardMs, 0);
  const flops = r.modules.reduce((s, m) => s + m.forwardFlops + m.backwardFlops, 0);
  const achieved = flops / r.stepMs.total / 1e6;
  const rows = [...moduleRows(r.modules), ['total', ms(fwd), ms(bwd), '', '', formatRate(r.params), mib(r.modules.reduce((s, m) => s + m.activationBytes, 0))]];
  const s = r.stepMs;
  const lines = [
    `[${r.name}] ${r.steps} steps profiled on ${r.threads || 'all'} thread(s), ${r.precision}; per step:`,
    table(['MODULE', 'FWD ms', 'BWD ms', 'FWD GFLOP/s', 'BWD GFLOP/s', 'PARAMS', 'ACTIVATIONS MiB'], rows),
    '',
    `step      ${ms(s.total)} ms: compute ${ms(s.compute)} (${pct(s.compute, s.total)}), optimizer ${ms(s.optimizer)} (${pct(s.optimizer, s.total)}), ` +
      `communication ${ms(s.communication)} (${pct(s.communication, s.total)}), other ${ms(Math.max(0, s.total - s.compute - s.optimizer - s.communication))}`,
    `speed     ${(flops / 1e9).toFixed(2)} GFLOP per step, ${achieved.toFixed(1)} GFLOP/s = ${pct(achieved, r.matmulPeakGflops)} of the fp32 matmul peak (${r.matmulPeakGflops.toFixed(1)} GFLOP/s); ` +
      (r.tokensPerSec > 0 ? `${formatRate(r.tokensPerSec)} tokens/s` : `${formatRate(r.samplesPerSec)} samples/s`),
    `model     ${formatRate(r.params)} parameters: ${mib(r.bytes.params)} MiB fp32 values, ${mib(r.bytes.grads)} MiB gradients, ${mib(r.bytes.optimizer)} MiB optimizer state` +
      (r.bytes.computeCopy ? `, ${mib(r.bytes.computeCopy)} MiB ${r.precision} compute copy (held as fp32)` : ''),
    `memory    peak resident ${mib(r.peakRssBytes)} MiB`,
  ];
  return lines.join('\n');
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-';
}

export async function profileCommand(o: ProfileOptions): Promise<number> {
  if (!(Number.isSafeInteger(o.steps) && o.steps >= 1)) throw new RingmasterError('BAD_ARGUMENT', `--steps must be an integer ≥ 1, got ${o.steps}`);
  const overrides = [...o.set, ...(o.threads === undefined ? [] : [`threads=${o.threads}`])];
  const spec = loadSpecFile(o.spec, overrides);
  const result = await askWorkerProcess<ProfileRequest, ProfileResult>('profile-main.js', { spec, steps: o.steps, warmup: WARMUP_STEPS });
  process.stdout.write(`${o.json ? JSON.stringify(result) : formatProfile(result)}\n`);
  return EXIT.ok;
}
