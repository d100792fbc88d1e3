/**
 * The native process group (Gloo over TCP) across real processes that find each other through a
 * real coordinator's rendezvous store, with closed-form expected results.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { runRank, startRendezvous } from './rank-processes.js';

const RANK = path.join(ROOT, 'test', 'fixtures', 'pg-rank.mjs');

let rendezvous: Awaited<ReturnType<typeof startRendezvous>>;

beforeAll(async () => {
  rendezvous = await startRendezvous();
});

afterAll(() => {
  rendezvous.stop();
});

/** Runs `size` ranks of a scenario; resolves with each rank's JSON output, in rank order. */
function runRanks(size: number, scenario: string, timeoutMs: number): Promise<Record<string, unknown>[]> {
  const scope = `${scenario}-${size}-${Date.now()}/1`;
  const args = (rank: number) => [rendezvous.address, scope, String(rank), String(size), scenario, String(timeoutMs)];
  return Promise.all(Array.from({ length: size }, (_, rank) => runRank<Record<string, unknown>>(RANK, args(rank), `rank ${rank}`, { timeoutMs: 60_000 })));
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

describe('subgroups and operations in flight together', () => {
  it('4 ranks: even and odd subgroups reduce among themselves, a subgroup leaves out its non-member, and sends, receives and collectives issued together all complete', async () => {
    const results = await runRanks(4, 'subgroups', 20_000);
    results.forEach((r, rank) => {
      expect(r.nulls).toEqual([rank % 2 === 1, rank % 2 === 0, rank === 0]);
      expect(r.parity).toEqual({ rank: Math.floor(rank / 2), size: 2, machines: 1 });
      expect(r.paritySum).toEqual([rank % 2 === 0 ? 0 + 2 : 1 + 3]);
      expect(r.parityInt).toEqual([rank % 2 === 0 ? 2 : 4]);
      expect(r.restGather).toEqual(rank === 0 ? undefined : [1, 2, 3]);
      expect(r.together).toEqual([4, 6]);
      expect(r.received).toEqual([(rank + 3) % 4]);
      expect(r.done).toBe(true);
    });
  });
});

describe('a rank that never takes part', () => {
  it('fails the others within the timeout, naming the operation and its sequence number', async () => {
    const results = await runRanks(3, 'straggler', 1500);
    for (const r of results.slice(0, 2)) {
      const error = r.error as { nativeCode: string; message: string; missingRanks?: number[] };
      expect(error.nativeCode).toBe('COLLECTIVE_TIMEOUT');
      // all ranks share this machine, so the all-reduce runs through shared memory, which knows who is missing
      expect(error.message).toBe(`all_reduce #1 (16 float32) on rank ${results.indexOf(r)} of 3: rank(s) 2 never joined within 1500 ms`);
      expect(error.missingRanks).toEqual([2]); // as a field, not only in the text
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
