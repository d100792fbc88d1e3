/**
 * For tests whose rank processes talk to each other directly: a bare coordinator serving the
 * rendezvous store, and a fixture script run as one rank whose last line of output is its JSON
 * result.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './cli.js';
import { until } from './local-cluster.js';
import { readTokenFile, TOKEN_ENV } from '../../common/token.js';

const PIPELINE_RANK = path.join(ROOT, 'test', 'fixtures', 'pipeline-rank.mjs');

/** Starts a coordinator on a free port; its token goes into this process's environment, which rank processes inherit. */
export async function startRendezvous(): Promise<{ address: string; stop: () => void }> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ringmaster-rendezvous-'));
  const coordinator = spawn(process.execPath, [path.join(ROOT, 'dist', 'coordinator', 'main.js'), '--port', '0', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let log = '';
  coordinator.stdout!.on('data', (d) => (log += d));
  const address = `localhost:${await until('the coordinator', () => /listening on \S+:(\d+)/.exec(log)?.[1])}`;
  process.env[TOKEN_ENV] = readTokenFile(path.join(stateDir, 'token'));
  return { address, stop: () => coordinator.kill('SIGTERM') };
}

/**
 * Runs `script` with `args` from the repository root, `env` added to this process's environment;
 * resolves with the JSON of its last line of output, or rejects with its stderr.
 */
export function runRank<T>(script: string, args: string[], label: string, o: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').pop()!) as T);
      else reject(new Error(`${label} exited with ${code}: ${stderr}`));
    });
  });
}

/** What test/fixtures/pipeline-rank.mjs reports. */
export interface PipelineRankResult {
  losses: number[];
  scales: [number, boolean][]; // per step: the loss scale it ran with, and whether it was skipped
  params: Record<string, number[]>;
}

/**
 * Runs `size` ranks of test/fixtures/pipeline-rank.mjs (its header says what `options` hold) as
 * pipelines of options.stages stages, finding each other through the rendezvous at `address` (a
 * rank alone has no group); `env(rank)` adds to a rank's environment. Resolves with each rank's
 * result, in rank order.
 */
export function runPipelineRanks(address: string, size: number, options: { stages: number } & Record<string, unknown>,
  env: (rank: number) => Record<string, string> = () => ({})): Promise<PipelineRankResult[]> {
  const scope = `pipeline-${options.stages}x${size / options.stages}-${Date.now()}-${Math.random()}/1`;
  return Promise.all(Array.from({ length: size }, (_, rank) => runRank<PipelineRankResult>(PIPELINE_RANK, [JSON.stringify({
    ...options, group: size > 1 ? { address, scope, rank, size } : undefined,
  })], `rank ${rank}`, { env: env(rank) })));
}
