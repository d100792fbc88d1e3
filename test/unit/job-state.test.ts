import { describe, expect, it } from 'vitest';
import {
  checkTransition,
  IllegalTransitionError,
  isTerminal,
  type JobState,
  toWireState,
  TRANSITIONS,
} from '../../coordinator/job-state.js';

const STATES: JobState[] = [
  'queued',
  'starting',
  'running',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
];

// Written out independently of TRANSITIONS: the lifecycle the design promises.
const ALLOWED = new Set([
  'queued→starting',
  'queued→cancelled',
  'queued→failed',
  'starting→running',
  'starting→failed',
  'starting→cancelling',
  'starting→queued', // restart after a failed attempt (max_restarts)
  'running→succeeded',
  'running→failed',
  'running→cancelling',
  'running→queued', // restart after a failed attempt (max_restarts)
  'cancelling→cancelled',
  'cancelling→failed',
  'failed→queued', // resume from a checkpoint
  'cancelled→queued', // resume from a checkpoint
]);

const PAIRS = STATES.flatMap((from) =>
  STATES.map((to) => ({ from, to, allowed: ALLOWED.has(`${from}→${to}`) })),
);

describe('checkTransition', () => {
  it('covers all 49 pairs, 15 of them allowed', () => {
    expect(PAIRS).toHaveLength(49);
    expect(PAIRS.filter((p) => p.allowed)).toHaveLength(15);
  });

  it.each(PAIRS.filter((p) => p.allowed))('allows $from → $to', ({ from, to }) => {
    expect(() => checkTransition(from, to)).not.toThrow();
    expect(TRANSITIONS[from]).toContain(to);
  });

  it.each(PAIRS.filter((p) => !p.allowed))('rejects $from → $to', ({ from, to }) => {
    expect(TRANSITIONS[from]).not.toContain(to);
    let thrown: unknown;
    try {
      checkTransition(from, to);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(IllegalTransitionError);
    const err = thrown as IllegalTransitionError;
    expect(err.code).toBe('ILLEGAL_TRANSITION');
    expect(err.from).toBe(from);
    expect(err.to).toBe(to);
    expect(err.message).toContain(from);
    expect(err.message).toContain(to);
  });
});

describe('isTerminal', () => {
  it.each([
    ['queued', false],
    ['starting', false],
    ['running', false],
    ['succeeded', true],
    ['failed', true],
    ['cancelling', false],
    ['cancelled', true],
  ] as const)('%s: terminal %s', (state, terminal) => {
    expect(isTerminal(state)).toBe(terminal);
  });
});

describe('wire states', () => {
  it.each([
    ['queued', 'JOB_STATE_QUEUED'],
    ['starting', 'JOB_STATE_STARTING'],
    ['running', 'JOB_STATE_RUNNING'],
    ['succeeded', 'JOB_STATE_SUCCEEDED'],
    ['failed', 'JOB_STATE_FAILED'],
    ['cancelling', 'JOB_STATE_CANCELLING'],
    ['cancelled', 'JOB_STATE_CANCELLED'],
  ] as const)('%s → %s', (state, wire) => {
    expect(toWireState(state)).toBe(wire);
  });
});
