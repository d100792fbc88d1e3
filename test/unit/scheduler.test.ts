import { describe, expect, it } from 'vitest';
import {
  type PendingJob,
  schedule,
  slotKey,
  type SlotRef,
  type WorkerCapacity,
} from '../../coordinator/scheduler.js';

/** A worker with slots 0..n-1 of one kind; `busy` lists the indices in use. */
function worker(workerId: string, n: number, kind = 'cpu', busy: number[] = []): WorkerCapacity {
  return {
    workerId,
    slots: Array.from({ length: n }, (_, index) => ({ kind, index })),
    busy: new Set(busy.map((index) => slotKey({ kind, index }))),
  };
}

function job(id: string, slots: number, opts: Partial<PendingJob> = {}): PendingJob {
  return { id, slots, priority: 0, submittedAt: 0, device: 'cpu', ...opts };
}

/** `w1:0` style labels for a placement's ranks, in rank order. */
function where(ranks: SlotRef[]): string[] {
  return ranks.map((r) => `${r.workerId}:${r.index}`);
}

interface Case {
  name: string;
  queue: PendingJob[];
  workers: WorkerCapacity[];
  placed: Record<string, string[]>;
  waiting: Record<string, string>;
}

const CASES: Case[] = [
  {
    name: 'gang: a 2-slot job waits while a 1-slot job holds one of two slots',
    queue: [job('big', 2)],
    workers: [worker('w1', 2, 'cpu', [0])],
    placed: {},
    waiting: { big: 'waiting for 2 free cpu slots (1 free)' },
  },
  {
    name: 'gang: the 2-slot job is placed once both slots are free',
    queue: [job('big', 2)],
    workers: [worker('w1', 2)],
    placed: { big: ['w1:0', 'w1:1'] },
    waiting: {},
  },
  {
    name: 'priority beats submission time',
    queue: [job('old', 2, { submittedAt: 1 }), job('urgent', 2, { submittedAt: 9, priority: 5 })],
    workers: [worker('w1', 2)],
    placed: { urgent: ['w1:0', 'w1:1'] },
    waiting: { old: 'waiting for 2 free cpu slots (0 free)' },
  },
  {
    name: 'equal priority: earlier submission first, then id',
    queue: [
      job('c', 1, { submittedAt: 2 }),
      job('b', 1, { submittedAt: 1 }),
      job('a', 1, { submittedAt: 2 }),
    ],
    workers: [worker('w1', 2)],
    placed: { b: ['w1:0'], a: ['w1:1'] },
    waiting: { c: 'waiting for 1 free cpu slot (0 free)' },
  },
  {
    name: 'FIFO: a later 1-slot job waits behind a waiting 2-slot job of the same kind',
    queue: [job('fmnist-a1b2', 2, { submittedAt: 1 }), job('small', 1, { submittedAt: 2 })],
    workers: [worker('w1', 2, 'cpu', [1])],
    placed: {},
    waiting: {
      'fmnist-a1b2': 'waiting for 2 free cpu slots (1 free)',
      small: 'queued behind fmnist-a1b2 (FIFO)',
    },
  },
  {
    name: 'a job that can never fit does not block the jobs behind it',
    queue: [job('huge', 4, { submittedAt: 1 }), job('small', 1, { submittedAt: 2 })],
    workers: [worker('w1', 2)],
    placed: { small: ['w1:0'] },
    waiting: { huge: 'needs 4 cpu slots but the cluster has 2' },
  },
  {
    name: 'a job of another kind is unaffected by a blocked kind',
    queue: [
      job('big', 2, { submittedAt: 1 }),
      job('gpu', 1, { submittedAt: 2, device: 'cuda' }),
      job('small', 1, { submittedAt: 3 }),
    ],
    workers: [worker('w1', 2, 'cpu', [0]), worker('g1', 1, 'cuda')],
    placed: { gpu: ['g1:0'] },
    waiting: {
      big: 'waiting for 2 free cpu slots (1 free)',
      small: 'queued behind big (FIFO)',
    },
  },
  {
    name: 'packing: the worker with most free slots first, then the next',
    queue: [job('four', 4)],
    workers: [worker('a', 2), worker('b', 4, 'cpu', [0])],
    placed: { four: ['b:1', 'b:2', 'b:3', 'a:0'] },
    waiting: {},
  },
  {
    name: 'packing: a job that fits on one worker stays there; the next packs around it',
    queue: [job('two', 2, { submittedAt: 1 }), job('three', 3, { submittedAt: 2 })],
    workers: [worker('a', 2), worker('b', 3)],
    placed: { two: ['b:0', 'b:1'], three: ['a:0', 'a:1', 'b:2'] },
    waiting: {},
  },
  {
    name: 'packing: equal free slots break ties by workerId',
    queue: [job('one', 1, { submittedAt: 1 }), job('two', 1, { submittedAt: 2 })],
    workers: [worker('z', 1), worker('m', 1)],
    placed: { one: ['m:0'], two: ['z:0'] },
    waiting: {},
  },
  {
    name: 'a kind nobody has waits and blocks nobody',
    queue: [job('gpu', 1, { device: 'cuda', submittedAt: 1 }), job('cpu', 1, { submittedAt: 2 })],
    workers: [worker('w1', 1)],
    placed: { cpu: ['w1:0'] },
    waiting: { gpu: 'needs 1 cuda slot but no worker has cuda slots' },
  },
  {
    name: 'an empty cluster places nothing',
    queue: [job('a', 1), job('b', 2, { device: 'cuda' })],
    workers: [],
    placed: {},
    waiting: {
      a: 'needs 1 cpu slot but no worker has cpu slots',
      b: 'needs 2 cuda slots but no worker has cuda slots',
    },
  },
  {
    name: 'an empty queue',
    queue: [],
    workers: [worker('w1', 4)],
    placed: {},
    waiting: {},
  },
  {
    name: 'rank order follows slot index, whatever order the worker lists its slots in',
    queue: [job('three', 3)],
    workers: [
      {
        workerId: 'w1',
        slots: [3, 1, 4, 0, 2].map((index) => ({ kind: 'cpu', index })),
        busy: new Set(['cpu:1']),
      },
    ],
    placed: { three: ['w1:0', 'w1:2', 'w1:3'] },
    waiting: {},
  },
  {
    name: 'mixed slot kinds on one worker: only the job’s kind counts',
    queue: [job('cpu2', 2), job('gpu2', 2, { device: 'cuda' })],
    workers: [
      {
        workerId: 'w1',
        slots: [
          { kind: 'cpu', index: 0 },
          { kind: 'cuda', index: 0 },
          { kind: 'cuda', index: 1 },
        ],
        busy: new Set(),
      },
    ],
    placed: { gpu2: ['w1:0', 'w1:1'] },
    waiting: { cpu2: 'needs 2 cpu slots but the cluster has 1' },
  },
];

describe('schedule', () => {
  it.each(CASES)('$name', ({ queue, workers, placed, waiting }) => {
    const result = schedule(queue, workers);
    const placedBy = Object.fromEntries(result.placements.map((p) => [p.jobId, where(p.ranks)]));
    expect(placedBy).toEqual(placed);
    expect(Object.fromEntries(result.waiting.map((w) => [w.jobId, w.reason]))).toEqual(waiting);
    for (const p of result.placements) {
      const kind = queue.find((j) => j.id === p.jobId)?.device;
      expect(p.ranks.every((r) => r.kind === kind)).toBe(true);
    }
  });

  it('assigns no slot twice, never a busy one, and accounts for every job once', () => {
    const workers = [
      worker('a', 3, 'cpu', [1]),
      worker('b', 5, 'cpu', [0, 4]),
      worker('c', 2, 'cuda'),
    ];
    const queue = Array.from({ length: 12 }, (_, i) =>
      job(`j${i}`, 1 + (i % 3), {
        priority: i % 2,
        submittedAt: 100 - i,
        device: i % 4 === 0 ? 'cuda' : 'cpu',
      }),
    );
    const { placements, waiting } = schedule(queue, workers);

    const ids = [...placements.map((p) => p.jobId), ...waiting.map((w) => w.jobId)];
    expect(ids.sort()).toEqual(queue.map((j) => j.id).sort());

    const used = placements.flatMap((p) => p.ranks.map((r) => `${r.workerId}/${slotKey(r)}`));
    expect(new Set(used).size).toBe(used.length);
    for (const r of placements.flatMap((p) => p.ranks)) {
      expect(workers.find((w) => w.workerId === r.workerId)?.busy.has(slotKey(r))).toBe(false);
    }
    for (const p of placements) {
      expect(p.ranks).toHaveLength(queue.find((j) => j.id === p.jobId)?.slots ?? -1);
    }
    expect(placements.length).toBeGreaterThan(0);
  });

  it('does not reorder the caller’s queue', () => {
    const queue = [job('late', 1, { submittedAt: 2 }), job('early', 1, { submittedAt: 1 })];
    schedule(queue, [worker('w1', 2)]);
    expect(queue.map((j) => j.id)).toEqual(['late', 'early']);
  });

  it('slotKey', () => {
    expect(slotKey({ kind: 'cuda', index: 3 })).toBe('cuda:3');
  });
});
