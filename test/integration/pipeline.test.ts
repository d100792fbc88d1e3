/**
 * Pipeline parallelism: the 1F1B schedule; a small GPT trained whole on one rank against the same
 * GPT split into stages across processes (and replicated by data parallelism), which find each
 * other through a real coordinator's rendezvous store; per-stage checkpoints that resume bit for
 * bit and sample as one model; and a pipelined job on a local cluster.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringmaster, ROOT } from './cli.js';
import { sameBytes, trainRank } from './dp-train.js';
import { worstRelative } from '../helpers/compare.js';
import { alive, LocalCluster, until } from './local-cluster.js';
import { type PipelineRankResult as RankResult, runPipelineRanks, startRendezvous } from './rank-processes.js';
import { loadNative } from '../../worker/native.js';

describe('the 1F1B schedule', () => {
  it.each([
    [2, 4],
    [4, 4],
    [4, 8],
    [4, 2],
    [3, 7],
  ])('%i stages, %i micro-batches: every forward and backward once, in 1F1B order, at most P − stage in flight', (P, m) => {
    for (let stage = 0; stage < P; stage++) {
      const actions = loadNative().pipelineSchedule(P, stage, 1, m);
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

  it.each([
    [2, 2, 4],
    [2, 2, 8],
    [4, 2, 8],
    [2, 3, 6],
  ])('interleaved, %i stages of %i chunks, %i micro-batches: every chunk\'s forward and backward once, in order, and every transfer comes before it is needed', (P, v, m) => {
    const schedules = Array.from({ length: P }, (_, stage) => loadNative().pipelineSchedule(P, stage, v, m));
    // Run the ranks together, one action at a time, each waiting for what its action needs:
    // forward (c, k) on rank r needs virtual stage c·P + r − 1's forward of k; backward needs
    // virtual stage c·P + r + 1's backward. A schedule that deadlocks stops making progress.
    const done = new Set<string>();
    const at = schedules.map(() => 0);
    const V = P * v;
    for (let progress = true; progress; ) {
      progress = false;
      for (let r = 0; r < P; r++) {
        const a = schedules[r][at[r]];
        if (!a) continue;
        const vs = a.chunk * P + r;
        const needs = a.forward ? (vs === 0 ? undefined : `F${vs - 1}/${a.microBatch}`) : vs === V - 1 ? `F${vs}/${a.microBatch}` : `B${vs + 1}/${a.microBatch}`;
        if (needs && !done.has(needs)) continue;
        done.add(`${a.forward ? 'F' : 'B'}${vs}/${a.microBatch}`);
        at[r]++;
        progress = true;
      }
    }
    expect(at).toEqual(schedules.map((s) => s.length)); // every rank ran to its end
    for (let vs = 0; vs < V; vs++) {
      for (let k = 0; k < m; k++) expect(done.has(`F${vs}/${k}`) && done.has(`B${vs}/${k}`), `virtual stage ${vs}, micro-batch ${k}`).toBe(true);
    }
    for (const s of schedules) {
      expect(s).toHaveLength(2 * m * v);
      for (let c = 0; c < v; c++) {
        expect(s.filter((a) => a.chunk === c && !a.forward).map((a) => a.microBatch)).toEqual([...Array(m).keys()]);
      }
    }
  });

  it.each([
    [2, 1, 4],
    [3, 1, 5],
    [4, 1, 8],
    [2, 2, 4],
    [3, 2, 6],
    [4, 3, 8],
  ])('%i stages of %i chunk(s), %i micro-batches: each link carries in order what its sender sends, and every receive its receiver takes once', (P, v, m) => {
    const native = loadNative();
    const V = P * v;
    const key = (a: { microBatch: number; chunk: number }) => `${a.chunk}/${a.microBatch}`;
    for (let r = 0; r < P; r++) {
      for (const forward of [true, false]) {
        // the sender's sends on the link into r, in its schedule's order, named by r's chunk
        const sender = forward ? (r + P - 1) % P : (r + 1) % P;
        const sent = native.pipelineSchedule(P, sender, v, m).flatMap((a) => {
          const from = a.chunk * P + sender;
          if (a.forward !== forward || (forward ? from === V - 1 : from === 0)) return [];
          return [key({ microBatch: a.microBatch, chunk: Math.floor((forward ? from + 1 : from - 1) / P) })];
        });
        const arrivals = native.pipelineArrivals(P, r, v, m, forward).map(key);
        expect(arrivals, `stage ${r}, ${forward ? 'activations' : 'gradients'}`).toEqual(sent);
        // what r's own schedule takes from that link
        const taken = native.pipelineSchedule(P, r, v, m).filter((a) => a.forward === forward && (forward ? a.chunk * P + r !== 0 : a.chunk * P + r !== V - 1));
        expect([...arrivals].sort()).toEqual(taken.map(key).sort());
      }
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

const STEPS = 20;
const LAYERS = 4;
const MICRO = 4; // micro-batches per step
const BATCH = 4; // samples per micro-batch, all replicas together

/** Runs `size` ranks as `stages`-stage pipelines; resolves with each rank's result, in rank order. */
const runRanks = (size: number, stages: number, extra: Record<string, unknown> = {}) =>
  runPipelineRanks(rendezvous.address, size, { stages, layers: LAYERS, steps: STEPS, micro: MICRO, batch: BATCH, ...extra });

/** Every rank reports the whole model's loss; each parameter is held by the stage that has it. */
function expectEquivalent(whole: RankResult, ranks: RankResult[]) {
  for (const r of ranks) {
    // to 4 significant digits: a relative difference below 1e-4 (as the data-parallel tests hold it)
    r.losses.forEach((loss, step) => expect(Math.abs(loss - whole.losses[step]) / whole.losses[step], `step ${step + 1}`).toBeLessThan(1e-4));
  }
  const seen = new Set<string>();
  for (const r of ranks) {
    for (const [name, values] of Object.entries(r.params)) {
      seen.add(name);
      const reference = whole.params[name];
      expect(reference, name).toBeDefined();
      expect(worstRelative(values, reference), name).toBeLessThan(1e-4);
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

  it('fp16 with dynamic loss scaling: every stage skips the same overflowing steps and scales as the whole model does', async () => {
    // an initial scale of 2^20 overflows fp16 at first: the whole model and both stages must
    // agree, step by step, on which steps to skip, since each stage sees only its own gradients
    const fp16 = { ...EPS, precision: 'fp16' };
    const [one] = await runRanks(1, 1, fp16);
    const ranks = await runRanks(2, 2, fp16);
    expect(one.scales.some(([, skipped]) => skipped)).toBe(true);
    for (const r of ranks) expect(r.scales).toEqual(one.scales);
    for (const r of ranks) r.losses.forEach((loss, step) => expect(Math.abs(loss - one.losses[step]) / one.losses[step], `step ${step + 1}`).toBeLessThan(1e-3));
  });

  it('trains as it does whole: 2 interleaved stages of 2 chunks (blocks 0 and 2 on one rank, 1 and 3 on the other)', async () => {
    const ranks = await runRanks(2, 2, { ...EPS, virtual: 2 });
    expectEquivalent(whole, ranks);
    expect(Object.keys(ranks[0].params).filter((n) => n.endsWith('ln_1.weight'))).toEqual(['transformer.h.0.ln_1.weight', 'transformer.h.2.ln_1.weight']);
  });
});

describe('an mlp split into pipeline stages', () => {
  it('trains as it does whole: 2 stages (784→1024 | 1024→1024→10), 2 micro-batches of 64, 20 steps', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-pipeline-mlp-'));
    const overrides = 'optimizer.kind=sgd,optimizer.lr=0.05,batch.accumulate=2';
    const steps = { steps: 20 };
    const scope = `pipeline-mlp-${Date.now()}/1`;
    const [whole, ...stages] = await Promise.all([
      trainRank(path.join(dir, 'whole.json'), 64, overrides, undefined, steps),
      ...[0, 1].map((rank) => trainRank(path.join(dir, `stage-${rank}.json`), 64, `${overrides},parallel.pipeline=2`, { address: rendezvous.address, scope, rank, size: 2 }, steps)),
    ]);
    for (const r of stages) {
      for (const [step, loss] of Object.entries(whole.losses)) expect(Math.abs(r.losses[step] - loss) / loss, `step ${step}`).toBeLessThan(1e-4);
    }
    // the stages' parameters, in order, are the whole model's
    const split = new Float32Array([...stages[0].params, ...stages[1].params]);
    expect(split).toHaveLength(whole.params.length);
    expect(stages[0].params).toHaveLength(784 * 1024 + 1024);
    expect(worstRelative(split, whole.params)).toBeLessThan(1e-4);
  }, 120_000);
});

const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');

describe('a pipelined GPT\'s checkpoints', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'ringmaster-pipeline-checkpoints-'));
  const overrides = 'parallel.pipeline=2,batch.accumulate=2,checkpoint.every=10,checkpoint.keep=5';
  /** Both stages of a 2-stage pipeline; `kill` makes stage 0 end itself after step 25, once step 20 is published. */
  const pipeline = (name: string, o: { resume?: string; kill?: boolean } = {}) => {
    const scope = `${name}-${Date.now()}/1`;
    const root = path.join(work, o.resume ? 'killed' : name);
    return Promise.all([0, 1].map((rank) => trainRank(path.join(work, `${name}-${rank}.json`), 4, overrides, { address: rendezvous.address, scope, rank, size: 2, timeoutMs: 5000 }, {
      spec: SPEC, steps: 40, checkpoints: { root, token: name },
      ...(o.resume ? { resume: { root: o.resume } } : {}),
      ...(o.kill && rank === 0 ? { killAfterStep: 25, killAfterCheckpoint: 20 } : {}),
    })));
  };

  it('one file per stage; killed after step 25 and resumed from step 20: the same losses bit for bit and the same parameter bytes on each stage', async () => {
    const whole = await pipeline('whole');
    const steps = readdirSync(path.join(work, 'whole')).filter((d) => d.startsWith('step-')).sort();
    expect(steps).toEqual(['step-00000010', 'step-00000020', 'step-00000030', 'step-00000040']);
    expect(readdirSync(path.join(work, 'whole', 'step-00000040')).sort()).toEqual(['manifest.json', 'stage-0.safetensors', 'stage-1.safetensors']);
    const manifest = JSON.parse(readFileSync(path.join(work, 'whole', 'step-00000040', 'manifest.json'), 'utf8')) as { layout: { split: number[] } };
    expect(manifest.layout.split).toEqual([1, 1]); // blocks per stage, as the run split them
    await expect(pipeline('killed', { kill: true })).rejects.toThrow(); // stage 1 fails as its peer goes
    const resumed = await pipeline('resumed', { resume: path.join(work, 'killed') });
    for (const rank of [0, 1]) {
      expect(resumed[rank].resumedFrom).toMatchObject({ step: 20 });
      for (let step = 21; step <= 40; step++) expect(resumed[rank].losses[step], `stage ${rank}, step ${step}`).toBe(whole[rank].losses[step]);
      expect(sameBytes(resumed[rank].params, whole[rank].params), `stage ${rank}'s parameter bytes`).toBe(true);
    }
  }, 180_000);

  it('ringmaster sample reads every stage\'s file into one model', async () => {
    const a = await ringmaster(['sample', path.join(work, 'whole'), '--prompt', 'KING:', '--tokens', '60', '--seed', '3']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.startsWith('KING:')).toBe(true);
    expect(a.stdout.trimEnd().length).toBeGreaterThanOrEqual(50);
  });
});

describe('a pipelined job on a local cluster', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('runs its 2 stages as one gang and succeeds with a validation loss', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-pipeline-job-'));
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'parallel.pipeline=2', '--set', 'batch.accumulate=2', '--set', 'steps=30', '--set', `checkpoint.dir=${dir}`]);
    const done = await cluster.waitForState(id, ['succeeded'], 120_000);
    expect((done.metrics as { val_loss: number }).val_loss).toBeLessThan(3.5);
    // its progress: the whole model's loss, tokens/s and the bubble
    const { progress } = await cluster.json<{ progress: { step: number; loss: number; tokensPerSec: number; bubble: number } }>(['status', id]);
    expect(progress).toMatchObject({ step: 30 });
    expect(progress.tokensPerSec).toBeGreaterThan(0);
    expect(progress.bubble).toBeGreaterThan(0);
    expect(progress.bubble).toBeLessThan(1);
    const listed = await cluster.json<{ step: number }[]>(['checkpoints', id]);
    expect(listed.map((c) => c.step)).toContain(30);
  }, 150_000);

  it('a stage killed mid-step fails the job naming it, and the other stage stops', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-pipeline-kill-'));
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'parallel.pipeline=2', '--set', 'batch.accumulate=2', '--set', 'steps=1000000', '--set', 'parallel.timeout_s=5', '--set', `checkpoint.dir=${dir}`]);
    await cluster.waitForState(id, ['running']);
    const pids = await cluster.rankPids(id, 2);
    await until('progress', async () => ((await cluster.json<{ progress: unknown }>(['status', id])).progress ? true : undefined));
    process.kill(pids[0], 'SIGKILL'); // the first stage: the last one waits on it for activations
    const failed = await cluster.waitForState(id, ['failed'], 20_000);
    expect(failed.reason).toBe('rank 0 was killed by SIGKILL');
    await until(`rank 1 (pid ${pids[1]}) to stop`, () => (alive(pids[1]) ? undefined : true), 10_000);
  }, 60_000);
});
