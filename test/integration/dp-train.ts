/**
 * Runs test/fixtures/dp-train.mjs ranks for the data-parallel tests: one rank alone, or ranks of
 * a group found through a test coordinator, each reporting its per-step losses, reductions and
 * final parameters; and the check that N ranks train as one rank with N times the batch.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';
import { worstRelative } from '../helpers/compare.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'dp-train.mjs');
export const STEPS = 50; // unless a call says otherwise

export interface RankResult {
  losses: Record<string, number>; // step → loss
  allReduces: number[]; // gradient buckets reduced, per step
  factorExchanges: number[]; // sufficient-factor exchanges, per step
  outcomes: { skipped: boolean; lossScale: number }[]; // per step
  checkpoints: number[]; // steps whose checkpoint was published
  params: Float32Array; // the final parameters, read from the file beside the JSON
  resumedFrom?: { step: number; dir: string; skipped: string[] } | null;
  topology?: { machines: number; localSize: number; uniform: boolean };
  wireBytes?: number; // gradient bytes sent between machines
}

/** What test/fixtures/dp-train.mjs takes (its header says what each option does). */
export interface FixtureOptions {
  out: string;
  micro: number;
  steps: number;
  overrides: string[];
  spec?: string;
  group?: { address: string; scope: string; rank: number; size: number; machine?: string; timeoutMs?: number };
  checkpoints?: { root: string; token: string };
  resume?: { root: string; step?: number };
  killAfterStep?: number;
  killAfterCheckpoint?: number;
  poison?: { rank: number; step: number };
}

/** The way a fixture process ended when it did not exit 0: `signal` is 'SIGKILL' for a rank that killed itself. */
export class FixtureExit extends Error {
  constructor(readonly code: number | null, readonly signal: NodeJS.Signals | null, stderr: string) {
    super(`dp-train exited with ${code ?? signal}: ${stderr}`);
  }
}

/** Runs one fixture process and reads what it wrote; rejects with a FixtureExit unless it exits 0. */
export function runFixture(options: FixtureOptions): Promise<RankResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, JSON.stringify(options)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new FixtureExit(code, signal, stderr));
      const bytes = readFileSync(`${options.out}.params`);
      const params = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      resolve({ ...JSON.parse(readFileSync(options.out, 'utf8')), params });
    });
  });
}

/** Whether two parameter vectors hold the same bytes. */
export const sameBytes = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export function trainRank(
  out: string,
  micro: number,
  overrides: string,
  group?: FixtureOptions['group'],
  extra: Partial<Omit<FixtureOptions, 'out' | 'micro' | 'overrides' | 'group'>> = {},
): Promise<RankResult> {
  return runFixture({ out, micro, steps: STEPS, overrides: overrides ? overrides.split(',') : [], group, ...extra });
}

/**
 * One rank with the whole batch, and `machines.length` ranks with `micro` each, rank r acting as
 * a rank of machine machines[r]; every rank must report the one-rank run's losses within 1e-4 (relative)
 * and hold identical parameters within `tolerance` (relative) of the one-rank run's.
 */
export async function expectEquivalent(
  address: string,
  o: { micro: number; machines: string[]; overrides: string; tolerance: number; lossTolerance?: number; spec?: string; steps?: number },
): Promise<RankResult[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-dp-'));
  const scope = `equivalence-${Date.now()}-${Math.random()}/1`;
  const size = o.machines.length;
  const extra = { spec: o.spec, steps: o.steps ?? STEPS };
  const [one, ...ranks] = await Promise.all([
    trainRank(path.join(dir, 'one.json'), o.micro * size, o.overrides, undefined, extra),
    ...o.machines.map((machine, rank) => trainRank(path.join(dir, `r${rank}.json`), o.micro, o.overrides, { address, scope, rank, size, machine: machine || undefined }, extra)),
  ]);
  expect(Object.keys(one.losses)).toHaveLength(extra.steps);
  for (const r of ranks) {
    expect(r.losses).toEqual(ranks[0].losses); // every rank reports the averaged loss
    expect(sameBytes(r.params, ranks[0].params), 'identical replicas').toBe(true);
  }
  // "To 4 significant digits" as a relative difference below 1e-4, not as equal 4-digit
  // roundings, which differ for two values a hair apart on either side of a rounding boundary.
  for (const [step, loss] of Object.entries(ranks[0].losses)) {
    const expected = one.losses[step];
    expect(Math.abs(loss - expected) / Math.abs(expected), `step ${step}: ${loss} vs ${expected}`).toBeLessThan(o.lossTolerance ?? 1e-4);
  }
  expect(worstRelative(ranks[0].params, one.params)).toBeLessThan(o.tolerance);
  return ranks;
}

