/** The slots a worker offers (worker/slots.ts). */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseSlots } from '../../worker/slots.js';

describe('parseSlots', () => {
  it('reads cpu:N and cuda:N', () => {
    expect(parseSlots('cpu:2')).toEqual([{ kind: 'cpu', index: 0 }, { kind: 'cpu', index: 1 }]);
    expect(parseSlots('cuda:1')).toEqual([{ kind: 'cuda', index: 0 }]);
  });

  it('auto: one cuda slot per GPU, else cpu slots for half the cores', () => {
    expect(parseSlots('auto', () => 2)).toEqual([{ kind: 'cuda', index: 0 }, { kind: 'cuda', index: 1 }]);
    expect(parseSlots('auto', () => 0)).toHaveLength(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    expect(parseSlots('auto', () => 0)[0].kind).toBe('cpu');
  });

  it('refuses anything else in one line', () => {
    expect(() => parseSlots('gpu:2')).toThrow('--slots gpu:2: expected cpu:N, cuda:N with N ≥ 1 (e.g. cpu:2), or auto');
    expect(() => parseSlots('cuda:0')).toThrow(/expected/);
  });
});
