/** The split of a GPT's blocks into pipeline stages (worker/pipeline-stages.ts). */
import { describe, expect, it } from 'vitest';
import type { PipelineStage } from '../../worker/native.js';
import { modelLayers } from '../../worker/models.js';
import { pipelineStages, sequentialStages } from '../../worker/pipeline-stages.js';

const gpt = (layers: number, vocab: number, channels = 128) => ({ vocab, block: 64, layers, heads: 4, channels, bias: true });
const blocks = (stages: PipelineStage[]) => stages.map((s) => s.chunks[0].endLayer - s.chunks[0].firstLayer);

describe('pipeline stages of a GPT', () => {
  it('splits the character-level job evenly: its head (65 × 128) is a small part of a block', () => {
    expect(blocks(pipelineStages(gpt(4, 65), 2))).toEqual([2, 2]);
    expect(blocks(pipelineStages(gpt(4, 65), 4))).toEqual([1, 1, 1, 1]);
    expect(blocks(pipelineStages(gpt(6, 65), 4))).toEqual([2, 2, 1, 1]);
  });

  it('gives the last stage fewer blocks when the head is costly (GPT-2 small: 50257 × 768, as much as 5.4 blocks)', () => {
    expect(blocks(pipelineStages(gpt(12, 50257, 768), 2))).toEqual([9, 3]); // 9 blocks against 3 + 5.4
  });

  it('covers every block once, in order, every stage holding one', () => {
    for (const [layers, stages] of [[4, 3], [7, 2], [12, 5], [3, 3]]) {
      const split = pipelineStages(gpt(layers, 1000), stages);
      expect(split.map((s) => s.stage)).toEqual([...Array(stages).keys()]);
      const chunks = split.map((s) => s.chunks[0]);
      expect(chunks[0].firstLayer).toBe(0);
      expect(chunks[stages - 1].endLayer).toBe(layers);
      chunks.slice(1).forEach((c, i) => expect(c.firstLayer).toBe(chunks[i].endLayer));
      expect(Math.min(...blocks(split))).toBeGreaterThanOrEqual(1);
    }
  });

  it('interleaved: rank r holds virtual stages r, r + P, …, in model order', () => {
    expect(pipelineStages(gpt(4, 65), 2, 2).map((s) => s.chunks)).toEqual([
      [{ firstLayer: 0, endLayer: 1 }, { firstLayer: 2, endLayer: 3 }],
      [{ firstLayer: 1, endLayer: 2 }, { firstLayer: 3, endLayer: 4 }],
    ]);
    expect(() => pipelineStages(gpt(4, 65), 4, 2)).toThrow(RangeError); // 8 pieces of 4 blocks
    expect(blocks(pipelineStages(gpt(6, 65), 2, 1, [4, 2]))).toEqual([4, 2]); // by hand
  });

  it('splits an mlp or cnn at layers with parameters, balanced by FLOPs, each Linear or Conv2d with the ReLU and pool after it', () => {
    const mlp = modelLayers({ kind: 'mlp', hidden: [1024, 1024], activation: 'relu' }, 10);
    const runs = (stages: PipelineStage[]) => stages.map((s) => [s.chunks[0].firstLayer, s.chunks[0].endLayer]);
    expect(runs(sequentialStages(mlp, [1, 28, 28], 2))).toEqual([[0, 3], [3, 6]]); // 784·1024 | 1024·1024 + 1024·10
    expect(runs(sequentialStages(mlp, [1, 28, 28], 3))).toEqual([[0, 3], [3, 5], [5, 6]]);
    const cnn = modelLayers({ kind: 'cnn', channels: [32, 64], hidden: 256, activation: 'relu' }, 10);
    // conv 1→32 (28²·288: 0.2 M), conv 32→64 (14²·18432: 3.6 M) | flatten, 3136→256 (0.8 M), 256→10
    expect(runs(sequentialStages(cnn, [1, 28, 28], 2))).toEqual([[0, 6], [6, 10]]);
    expect(() => sequentialStages(mlp, [1, 28, 28], 4)).toThrow(RangeError);
    // by hand (parallel.stages): layers with parameters per stage
    expect(runs(sequentialStages(mlp, [1, 28, 28], 2, [2, 1]))).toEqual([[0, 5], [5, 6]]);
    expect(runs(sequentialStages(cnn, [1, 28, 28], 2, [3, 1]))).toEqual([[0, 9], [9, 10]]);
    expect(runs(sequentialStages(cnn, [1, 28, 28], 2, [2, 2]))).toEqual([[0, 6], [6, 10]]); // the flatten goes with the Linear after it
  });
});
