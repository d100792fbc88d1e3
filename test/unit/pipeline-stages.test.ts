/**
 * How a model is cut into pipeline stages (worker/pipeline-stages.ts) and how a job's split is
 * decided (worker/stage-plan.ts): by hand, from the checkpoint it resumes, or balanced by the
 * cost a probe measures (here a fake engine's profile, so the split it must give is known).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile } from '../../jobs/load.js';
import { publishCheckpoint, stageCheckpoint } from '../../worker/checkpoint/write.js';
import { modelLayers } from '../../worker/models.js';
import type { Engine, EngineConfig, EngineModel, PipelineStage } from '../../worker/native.js';
import { balancedSplit, stagesOf, unitCount, unitOfModule } from '../../worker/pipeline-stages.js';
import { planStages } from '../../worker/stage-plan.js';

const gpt = (layers: number): EngineModel => ({ gpt: { vocab: 65, block: 64, layers, heads: 4, channels: 128, bias: true } });
const mlp: EngineModel = { input: [1, 28, 28], layers: modelLayers({ kind: 'mlp', hidden: [1024, 1024], activation: 'relu' }, 10) };
const cnn: EngineModel = { input: [1, 28, 28], layers: modelLayers({ kind: 'cnn', channels: [32, 64], hidden: 256, activation: 'relu' }, 10) };
const runs = (stages: PipelineStage[]) => stages.map((s) => s.chunks.map((c) => [c.firstLayer, c.endLayer]));

describe('a model\'s units', () => {
  it('a GPT\'s are its blocks; a sequential network\'s its layers with parameters, each with the ReLU and pool after it, a flatten with the Linear after it', () => {
    expect(unitCount(gpt(6))).toBe(6);
    expect(unitCount(mlp)).toBe(3);
    // conv relu pool | conv relu pool | flatten linear relu | linear
    expect(runs(stagesOf(cnn, 4, [1, 1, 1, 1]))).toEqual([[[0, 3]], [[3, 6]], [[6, 9]], [[9, 10]]]);
    expect(runs(stagesOf(mlp, 2, [1, 2]))).toEqual([[[0, 3]], [[3, 6]]]); // flatten linear relu | linear relu linear
    expect(runs(stagesOf(mlp, 2, [2, 1]))).toEqual([[[0, 5]], [[5, 6]]]);
  });

  it('profiled modules belong to the unit that runs them; embeddings, head and loss to none', () => {
    expect(unitOfModule(gpt(2), 'transformer.h.1.attn.sdpa')).toBe(1);
    expect(unitOfModule(gpt(2), 'transformer.wte+wpe')).toBeUndefined();
    expect(unitOfModule(gpt(2), 'lm_head')).toBeUndefined();
    expect(['layers.0', 'layers.2', 'layers.3', 'layers.5', 'layers.6', 'layers.7', 'layers.9'].map((n) => unitOfModule(cnn, n))).toEqual([0, 0, 1, 1, 2, 2, 3]);
    expect(unitOfModule(cnn, 'loss (softmax cross-entropy)')).toBeUndefined();
  });

  it('interleaved: rank r holds pieces r, r + P, …, in model order', () => {
    expect(runs(stagesOf(gpt(4), 2, [1, 1, 1, 1]))).toEqual([[[0, 1], [2, 3]], [[1, 2], [3, 4]]]);
    expect(runs(stagesOf(gpt(6), 2, [4, 2]))).toEqual([[[0, 4]], [[4, 6]]]);
    expect(() => stagesOf(gpt(4), 2, [1, 1, 1])).toThrow(RangeError); // 3 pieces for 2 stages
    expect(() => stagesOf(gpt(4), 2, [3, 2])).toThrow(RangeError); // 5 blocks
    expect(() => stagesOf(gpt(4), 2, [4, 0])).toThrow(RangeError);
  });
});

describe('balancedSplit', () => {
  it('makes the costliest piece as cheap as it can be', () => {
    expect(balancedSplit([1, 1, 1, 1], 2)).toEqual([2, 2]);
    expect(balancedSplit([1, 1, 1, 1, 1, 1], 4)).toEqual([2, 2, 1, 1]);
    expect(balancedSplit([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6.4], 2)).toEqual([9, 3]); // GPT-2 small's head: 5.4 blocks
    expect(balancedSplit([5, 1, 1, 1, 1, 1], 2)).toEqual([1, 5]);
    expect(balancedSplit([3, 3, 3], 3)).toEqual([1, 1, 1]);
    expect(() => balancedSplit([1, 1], 3)).toThrow(RangeError);
  });

  it('covers every unit once, each piece holding one', () => {
    for (const [n, pieces] of [[4, 3], [7, 2], [12, 5], [3, 3], [9, 9]]) {
      const costs = Array.from({ length: n }, (_, i) => 1 + ((i * 7) % 5));
      const split = balancedSplit(costs, pieces);
      expect(split).toHaveLength(pieces);
      expect(split.reduce((a, b) => a + b, 0)).toBe(n);
      expect(Math.min(...split)).toBeGreaterThanOrEqual(1);
    }
  });
});

/** An engine whose profile says a block costs `block` ms, the embeddings `embed` and the head and loss `head`. */
function fakeEngine(config: EngineConfig, ms: { embed: number; block: number; head: number }, built: EngineConfig[]): Engine {
  built.push(config);
  const layers = config.gpt!.layers;
  let profiling = false, steps = 0;
  const modules = () => [
    { name: 'transformer.wte+wpe', ms: ms.embed },
    ...Array.from({ length: layers }, (_, i) => ({ name: `transformer.h.${i}.mlp.c_fc`, ms: ms.block })),
    { name: 'lm_head', ms: ms.head / 2 },
    { name: 'loss (softmax cross-entropy)', ms: ms.head / 2 },
  ];
  return {
    outputSize: config.gpt!.block * config.gpt!.vocab,
    setProfiling: (on: boolean) => { profiling = on; steps = 0; },
    trainStep: async () => { if (profiling) steps++; return {} as never; },
    profile: () => modules().map((m) => ({ name: m.name, forwardMs: (m.ms * steps) / 3, backwardMs: (2 * m.ms * steps) / 3, forwardFlops: 0, backwardFlops: 0, calls: steps, activationBytes: 0 })),
  } as unknown as Engine;
}

describe('planStages', () => {
  const spec = (set: string[] = []) => loadSpecFile(path.join('jobs', 'shakespeare-char.yaml'), ['model.layers=12', 'parallel.pipeline=2', ...set]);
  const model = () => gpt(12);
  const deps = (ms: { embed: number; block: number; head: number }, built: EngineConfig[] = []) => ({
    config: (m: EngineModel) => ({ ...m }) as EngineConfig,
    createEngine: (c: EngineConfig) => fakeEngine(c, ms, built),
  });

  it('balances by measured cost: a probe of two blocks, each block as the second costs, the head on the last stage', async () => {
    const built: EngineConfig[] = [];
    expect(await planStages(spec(), model(), deps({ embed: 0.1, block: 1, head: 0.1 }, built))).toEqual([6, 6]);
    expect(built.map((c) => c.gpt?.layers)).toEqual([2]); // never the whole model
    expect(await planStages(spec(), model(), deps({ embed: 0.1, block: 1, head: 6.4 }))).toEqual([9, 3]);
    expect(await planStages(spec(), model(), deps({ embed: 5, block: 1, head: 0 }))).toEqual([4, 8]);
    const interleaved = spec(['parallel.schedule=interleaved', 'parallel.virtual=2', 'batch.accumulate=2']);
    expect(await planStages(interleaved, model(), deps({ embed: 0, block: 1, head: 2 }))).toEqual([4, 4, 3, 1]); // 7 on each rank
  });

  it('takes the split by hand, or the one the checkpoint it resumes was written with, without measuring', async () => {
    const built: EngineConfig[] = [];
    const byHand = spec(['parallel.stages=[7,5]']);
    expect(await planStages(byHand, model(), deps({ embed: 0, block: 1, head: 0 }, built))).toEqual([7, 5]);
    const root = await mkdtemp(path.join(tmpdir(), 'ringmaster-stage-plan-'));
    await writeFile(path.join(await stageCheckpoint(root, 10, 't'), 'stage-0.safetensors'), 'x');
    await publishCheckpoint(root, 10, 't', { layout: { pipeline: 2, split: [8, 4] } });
    expect(await planStages(spec(), model(), { ...deps({ embed: 0, block: 1, head: 0 }, built), resume: { root } })).toEqual([8, 4]);
    expect(built).toEqual([]);
    // a recorded split that does not cut this model (another depth) is measured afresh; restoring then says why it does not fit
    await writeFile(path.join(await stageCheckpoint(root, 20, 't'), 'stage-0.safetensors'), 'x');
    await publishCheckpoint(root, 20, 't', { layout: { pipeline: 2, split: [2, 2] } });
    expect(await planStages(spec(), model(), { ...deps({ embed: 0, block: 1, head: 0 }, built), resume: { root } })).toEqual([6, 6]);
  });

  it('rank 0 decides and every rank takes its split from the broadcast', async () => {
    const sent: Int32Array[] = [];
    const group = (rank: number) => ({ rank, broadcast: async (data: Int32Array) => (rank === 0 ? (sent.push(data.slice()), data) : Int32Array.of(3, 9)) });
    const built: EngineConfig[] = [];
    const other = await planStages(spec(), model(), { ...deps({ embed: 0, block: 1, head: 0 }, built), group: group(1) as never });
    expect(other).toEqual([3, 9]);
    expect(built).toEqual([]); // only rank 0 measures
    expect(await planStages(spec(), model(), { ...deps({ embed: 0, block: 1, head: 0 }), group: group(0) as never })).toEqual([6, 6]);
    expect(Array.from(sent[0])).toEqual([6, 6]);
  });
});
