/**
 * Pipeline parallelism in the native engine: the 1F1B schedule, and a small GPT trained whole on
 * one rank against the same GPT split into stages across processes (and replicated by data
 * parallelism), which find each other through a real coordinator's rendezvous store.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { runRank, startRendezvous } from './rank-processes.js';
import { loadNative } from '../../worker/native.js';

const RANK = path.join(ROOT, 'test', 'fixtures', 'pipeline-rank.mjs');

describe('the 1F1B schedule', () => {
  it.each([
    [2, 4],
    [4, 4],
    [4, 8],
    [4, 2],
    [3, 7],
  ])('%i stages, %i micro-batches: every forward and backward once, in 1F1B order, at most P − stage in flight', (P, m) => {
    for (let stage = 0; stage < P; stage++) {
      const actions = loadNative().pipelineSchedule(P, stage, m);
      const forwards = actions.filter((a) => a.forward).map((a) => a.microBatch);
      const backwards = actions.filter((a) => !a.forward).map((a) => a.microBatch);
      const all = Array.from({ length: m }, (_, k) => k);
      expect(forwards).toEqual(all);
      expect(backwards).toEqual(all);
      // warm-up forwards, then one forward and one backward in turn, then the cool-down
      const warmup = Math.min(P - stage - 1, m);
      const expected = [
        ...all.slice(0, warmup).map((k) => `F${k}`),
        ...all.slice(warmup).flatMap((k) => [`F${k}`, `B${k - warmup}`]),
        ...all.slice(m - warmup).map((k) => `B${k}`),
      ];
      expect(actions.map((a) => `${a.forward ? 'F' : 'B'}${a.microBatch}`)).toEqual(expected);
      let inFlight = 0;
      let most = 0;
      for (const a of actions) {
        inFlight += a.forward ? 1 : -1;
        expect(inFlight).toBeGreaterThanOrEqual(0);
        most = Math.max(most, inFlight);
      }
      expect(most).toBeLessThanOrEqual(P - stage);
      expect(most).toBeLessThanOrEqual(P);
    }
  });
});

let rendezvous: Awaited<ReturnType<typeof startRendezvous>>;

beforeAll(async () => {
  rendezvous = await startRendezvous();
});

afterAll(() => {
  rendezvous.stop();
});

interface RankResult {
  losses: number[];
  params: Record<string, number[]>;
}

const STEPS = 20;
const LAYERS = 4;
const MICRO = 4; // micro-batches per step
const BATCH = 4; // samples per micro-batch, all replicas together

/** Runs `size` ranks as `stages`-stage pipelines; resolves with each rank's result, in rank order. */
function runRanks(size: number, stages: number, extra: Record<string, unknown> = {}): Promise<RankResult[]> {
  const scope = `pipeline-${stages}x${size / stages}-${Date.now()}/1`;
  const options = (rank: number) => ({
    group: size > 1 ? { address: rendezvous.address, scope, rank, size } : undefined,
    stages, layers: LAYERS, steps: STEPS, micro: MICRO, batch: BATCH, ...extra,
  });
  return Promise.all(Array.from({ length: size }, (_, rank) => runRank<RankResult>(RANK, [JSON.stringify(options(rank))], `rank ${rank}`)));
}

/** Every rank reports the whole model's loss; each parameter is held by the stage that has it. */
function expectEquivalent(whole: RankResult, ranks: RankResult[]) {
  for (const r of ranks) {
    r.losses.forEach((loss, step) => expect(loss, `step ${step + 1}`).toBeCloseTo(whole.losses[step], 4 - Math.ceil(Math.log10(Math.abs(whole.losses[step])))));
  }
  const seen = new Set<string>();
  for (const r of ranks) {
    for (const [name, values] of Object.entries(r.params)) {
      seen.add(name);
      const reference = whole.params[name];
      expect(reference, name).toBeDefined();
      const scale = Math.max(...reference.map(Math.abs));
      const worst = Math.max(...values.map((v, i) => Math.abs(v - reference[i])));
      expect(worst / scale, name).toBeLessThan(1e-4);
    }
  }
  expect([...seen].sort()).toEqual(Object.keys(whole.params).sort());
}

/**
 * AdamW with eps 1e-6 rather than the jobs' 1e-8. A stage sums the tied embedding's two
 * gradients, and the squares of the clipping norm, in another order than the whole model does;
 * that changes gradients in their last bits. AdamW steps by about lr·sign(g) wherever |g| ≫ eps,
 * and the attention's key bias has a gradient of exactly zero in exact arithmetic (softmax does
 * not see it), so with eps 1e-8 its rounding noise alone moves it by up to ±lr a step (the
 * data-parallel tests say the same). With eps 1e-6 the parameters show the agreement of the
 * gradients themselves.
 */
const EPS = { eps: 1e-6 };

describe('a GPT split into pipeline stages', () => {
  let whole: RankResult;
  beforeAll(async () => {
    [whole] = await runRanks(1, 1, EPS);
  });

  it('trains as it does whole: 2 stages, 4 micro-batches, 20 steps', async () => {
    const ranks = await runRanks(2, 2, EPS);
    expectEquivalent(whole, ranks);
    expect(Object.keys(ranks[0].params)).toContain('transformer.wpe.weight');
    expect(Object.keys(ranks[1].params)).toContain('transformer.ln_f.weight');
    // the token embedding is on both ends, and stays the same on both
    expect(ranks[1].params['transformer.wte.weight']).toEqual(ranks[0].params['transformer.wte.weight']);
  });

  it('trains as it does whole: 4 stages of one block each', async () => {
    expectEquivalent(whole, await runRanks(4, 4, EPS));
  });

  it('trains as it does whole: 2 stages × 2 data-parallel replicas', async () => {
    expectEquivalent(whole, await runRanks(4, 2, EPS));
  });
});
