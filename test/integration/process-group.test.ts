/**
 * The native process group (Gloo over TCP) across real processes that find each other through a
 * real coordinator's rendezvous store, with closed-form expected results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { until } from './local-cluster.js';
import { readTokenFile, TOKEN_ENV } from '../../common/token.js';

const RANK = path.join(ROOT, 'test', 'fixtures', 'pg-rank.mjs');

let coordinator: ChildProcess;
let address = '';

beforeAll(async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ringmaster-pg-'));
  coordinator = spawn(process.execPath, [path.join(ROOT, 'dist', 'coordinator', 'main.js'), '--port', '0', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let log = '';
  coordinator.stdout!.on('data', (d) => (log += d));
  address = `localhost:${await until('the coordinator', () => /listening on \S+:(\d+)/.exec(log)?.[1])}`;
  process.env[TOKEN_ENV] = readTokenFile(path.join(stateDir, 'token')); // the rank processes inherit it
});

afterAll(() => {
  coordinator.kill('SIGTERM');
});

/** Runs `size` ranks of a scenario; resolves with each rank's JSON output, in rank order. */
function runRanks(size: number, scenario: string, timeoutMs: number): Promise<Record<string, unknown>[]> {
  const scope = `${scenario}-${size}-${Date.now()}/1`;
  return Promise.all(
    Array.from({ length: size }, (_, rank) => new Promise<Record<string, unknown>>((resolve, reject) => {
      const child = spawn(process.execPath, [RANK, address, scope, String(rank), String(size), scenario, String(timeoutMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (code) => {
        clearTimeout(killer);
        if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').pop()!));
        else reject(new Error(`rank ${rank} exited with ${code}: ${stderr}`));
      });
    })),
  );
}

describe.each([2, 3])('a process group of %i ranks', (size) => {
  let results: Record<string, unknown>[];
  beforeAll(async () => {
    results = await runRanks(size, 'collectives', 20_000);
  });

  it('all-reduce of the rank ids sums to n(n−1)/2 for every dtype and size', () => {
    const expected = (size * (size - 1)) / 2;
    for (const r of results) {
      const keys = Object.keys(r).filter((k) => k.startsWith('allReduce/'));
      expect(keys).toHaveLength(9);
      for (const k of keys) expect(r[k], k).toEqual([expected]);
    }
  });

  it('averages, broadcasts, gathers and reduce-scatters with closed-form results', () => {
    const mean = (size - 1) / 2;
    results.forEach((r, rank) => {
      expect(r.allReduceAvg).toEqual([mean, 2 * mean]);
      expect(r.broadcast).toEqual([42, 43]);
      expect(r.allGather).toEqual(Array.from({ length: size }, (_, q) => [10 * q, 10 * q + 1]).flat());
      const sumRanks = (size * (size - 1)) / 2;
      expect(r.reduceScatter).toEqual([0, 1, 2].map((i) => sumRanks + size * (3 * rank + i)));
      expect(r.recv).toEqual([100 + ((rank + size - 1) % size)]);
      expect(r.done).toBe(true);
    });
  });
});

describe('a rank that never takes part', () => {
  it('fails the others within the timeout, naming the operation and its sequence number', async () => {
    const results = await runRanks(3, 'straggler', 1500);
    for (const r of results.slice(0, 2)) {
      const error = r.error as { nativeCode: string; message: string };
      expect(error.nativeCode).toBe('COLLECTIVE_TIMEOUT');
      // all ranks share this machine, so the all-reduce runs through shared memory, which knows who is missing
      expect(error.message).toBe(`all_reduce #1 (16 float32) on rank ${results.indexOf(r)} of 3: rank(s) 2 never joined within 1500 ms`);
      expect(r.elapsedMs as number).toBeLessThan(10_000);
    }
  });

  it('fails the others on the TCP path too (int32 goes through Gloo), naming the missing rank through the coordinator', async () => {
    const results = await runRanks(3, 'straggler-int32', 1500);
    for (const r of results.slice(0, 2)) {
      const error = r.error as { nativeCode: string; message: string };
      expect(error.nativeCode).toBe('COLLECTIVE_TIMEOUT');
      expect(error.message).toMatch(/^all_reduce #1 \(16 int32\) on rank \d of 3: a peer did not take part within 1500 ms/);
      expect(error.message).toMatch(/; rank\(s\) 2 never reached all_reduce #1$/);
    }
  });
});
