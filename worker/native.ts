/**
 * The one module that loads the native addon (build/Release/ringmaster.node). Everything else in
 * the worker depends on the interfaces declared here, so its logic can be tested with a fake.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingmasterError } from '../common/errors.js';

/** One layer of a sequential network; activations flow channels-last between layers. */
export type LayerConfig =
  | { kind: 'linear'; out: number }
  | { kind: 'conv2d'; out: number } // 3×3, stride 1, padding 1
  | { kind: 'relu' | 'gelu' | 'maxpool2d' | 'flatten' };

/** A GPT (native/src/models/gpt.h): a sample is `block` int32 tokens, predicted at every position. */
export interface GptEngineConfig {
  vocab: number;
  block: number; // context length T
  layers: number;
  heads: number;
  channels: number;
  bias: boolean;
}

/** The model: a sequential network over fp32 samples, or a GPT over tokens. */
export type EngineModel =
  | { input: [number, number, number]; layers: LayerConfig[]; pipeline?: PipelineStage; gpt?: undefined } // channels, height, width of one sample; a stage: one chunk of config layers
  | { gpt: GptEngineConfig; pipeline?: PipelineStage; input?: undefined; layers?: undefined };

/**
 * Pipeline parallelism: this rank's stage of the GPT and the blocks [firstLayer, endLayer) of each
 * of its chunks (several: interleaved stages, chunk c being virtual stage c·stages + stage); the
 * first stage holds the embeddings, the last the final LayerNorm and the tied head. In the job's
 * process group rank d·stages + stage is this stage of pipeline d.
 */
export interface PipelineStage {
  stages: number;
  stage: number;
  chunks: { firstLayer: number; endLayer: number }[];
}

export type EngineConfig = EngineModel & EngineOptions;

export interface EngineOptions {
  /** Where the model, its gradients and the optimizer's state live: "cpu" (the default) or "cuda:N" (its process group an NCCL one on that GPU). */
  device?: 'cpu' | `cuda:${number}`;
  maxBatch: number; // samples per micro-batch
  maxAccumulate?: number; // micro-batches per optimizer step; 1 when absent
  precision?: 'fp32' | 'bf16' | 'fp16'; // what the layers compute in (parameters stay fp32); fp32 when absent
  /** bf16: run oneDNN's bf16 matmul and convolution kernels; auto (the default) where they measure faster than fp32 (NativeAddon.bf16Probe). */
  bf16Kernels?: 'auto' | 'on' | 'off';
  lossScale?: { dynamic: boolean; init: number; growthInterval: number; minScale: number }; // absent: no loss scaling
  impl: 'fast' | 'reference'; // oneDNN kernels, or the plain-loop oracle used by tests
  seed: number; // parameters are drawn from this seed, identically on every machine
  threads: number; // compute threads; 0 = every core
  bucketBytes?: number; // data parallel: size of the gradient all-reduce buckets; 25 MiB (DDP's) when absent
  gradientWire?: 'fp32' | 'bf16' | 'fp16'; // data parallel: gradients on the network between machines; fp32 when absent
  sufficientFactors?: boolean; // data parallel on one machine: exchange Linear factors where smaller; true when absent
  optimizer: {
    kind: 'adamw' | 'sgd';
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    momentum: number;
    nesterov: boolean;
  };
}

export interface NamedParam {
  name: string; // e.g. "layers.1.weight", "transformer.h.0.attn.c_attn.weight"
  shape: number[];
  offset: number; // into the flat parameter buffer, in floats
  count: number;
  decay: boolean; // whether weight decay applies (a GPT: 2-D weights and embeddings only)
}

/** Where a training step's time went, in milliseconds (communicate includes waiting for peers). */
export interface StepTimings {
  computeMs: number; // forward, loss, backward
  communicateMs: number; // gradient all-reduce
  optimizeMs: number; // clipping and the optimizer
  pipelineWaitMs: number; // pipeline parallel: waiting for the neighbouring stages (the bubble), not in computeMs
}

export interface StepOutcome {
  loss: number; // over the step's micro-batches, averaged over the group's ranks when data parallel
  gradNorm: number | null; // null when clipping is off
  timings: StepTimings;
  gradientAllReduces: number; // gradient buckets reduced in this step (0 for one rank)
  factorExchanges: number; // sufficient-factor exchanges in this step: factored layers × micro-batches
  wireBytes: number; // gradient bytes this rank sent between machines in this step
  lossScale: number; // the scale this step ran with; 1 without loss scaling
  skipped: boolean; // inf/NaN gradients: no update, and a halved scale for the next step
  stop: boolean; // some rank of the job voted to stop after this step (trainStep's stopVote; its worker drains)
}

/** What a checkpoint holds of an engine. */
export interface EngineState {
  params: Float32Array;
  moments: Float32Array[]; // AdamW: exp_avg, exp_avg_sq; SGD: momentum_buffer
  optimizerSteps: number; // updates taken (AdamW's bias correction counts them)
  lossScale: { scale: number; goodSteps: number; skipped: number };
}

/**
 * One rank's training engine. Calls must not overlap: await each before the next. Inputs are
 * Float32Array samples for a sequential network, Int32Array tokens ([batch, block]) for a GPT;
 * labels are one per sample, or one per token (the next token) for a GPT.
 */
export type EngineInputs = Float32Array | Int32Array;

export interface Engine {
  readonly paramCount: number;
  readonly outputSize: number; // logits per sample: classes, or block × vocab for a GPT
  readonly bf16Kernels: boolean; // whether this engine's matmuls run bf16 kernels
  namedParams(): NamedParam[];
  getParams(): Float32Array;
  setParams(values: Float32Array): void;
  getState(): EngineState;
  /** Restores a checkpoint's state; before joinProcessGroup. */
  setState(state: EngineState): void;
  getGrads(): Float32Array;
  setGrads(values: Float32Array): void;
  forward(inputs: EngineInputs, batch: number): Promise<Float32Array>;
  backward(dout: Float32Array, options: { accumulate: boolean; inputGrad: boolean }): Promise<Float32Array | null>;
  /**
   * One optimizer step over the K = ⌊inputs.length / (batch × sample size)⌋ micro-batches of
   * `batch` samples that inputs and labels hold (K ≤ maxAccumulate): the gradient of their mean
   * loss, averaged over the group once. `stopVote`: this rank asks the job to stop after this
   * step; every rank's vote travels with the loss's reduction (no extra collective), so all of
   * them see `stop` in the same step.
   */
  trainStep(inputs: EngineInputs, labels: Int32Array, batch: number, lr: number, clipNorm: number, stopVote?: boolean): Promise<StepOutcome>;
  /** Sums over the batch's predictions (batch, or batch × block for a GPT). */
  evaluate(inputs: EngineInputs, labels: Int32Array, batch: number): Promise<{ lossSum: number; correct: number }>;
  optimizerStep(lr: number, clipNorm: number): Promise<{ gradNorm: number | null }>;
  /**
   * Data parallel (collective: every rank calls it): trainStep then averages gradients and loss
   * over the group before the update, and every rank starts from rank 0's parameters.
   */
  joinProcessGroup(group: ProcessGroup): Promise<void>;
  /**
   * A GPT's continuation of `prompt`, `tokens` long, with a KV cache: each token drawn from
   * softmax(logits / temperature) over the topK most likely (0: all; temperature 0: the most
   * likely), from an RNG seeded with `seed`.
   */
  generate(options: { prompt: Int32Array; tokens: number; temperature: number; topK: number; seed: number }): Promise<Int32Array>;
  /** Per-module timings of every forward and backward from now on (true), or none (false); clears what was recorded. */
  setProfiling(on: boolean): void;
  /** What was recorded since setProfiling(true), modules in the order they first ran; totals, not per step. */
  profile(): { name: string; forwardMs: number; backwardMs: number; forwardFlops: number; backwardFlops: number; calls: number; activationBytes: number }[];
}

export interface BuildInfo {
  dnnlVersion: string;
  isa: string; // the instruction set oneDNN dispatches to here
  cuda: boolean; // built with the CUDA sources
  cudaDevices: number;
}

/** The rendezvous store the native process group joins through (the coordinator's, scoped to one job attempt). */
export interface RendezvousStoreClient {
  set(key: string, value: Buffer): Promise<void>;
  get(key: string): Promise<Buffer>;
  wait(keys: string[], timeoutMs: number): Promise<void>;
}

export type CollectiveArray = Float32Array | Float64Array | Int32Array;

/** Where a group's ranks run; ranks of one machine share memory. */
export interface Topology {
  machines: number;
  machine: number; // this rank's machine, numbered in order of each machine's lowest rank
  localRank: number; // this rank among its machine's ranks
  localSize: number;
  uniform: boolean; // every machine holds localSize ranks: gradients reduce hierarchically
}

/**
 * Collectives among the ranks of one job attempt. Each call is issued at once and settles when
 * its operation completes; every rank issues the same collectives in the same order (they run
 * in that order), while sends and receives progress beside them. A peer that does not take part
 * within the timeout fails the call with COLLECTIVE_TIMEOUT naming the operation and its
 * sequence number.
 */
export interface ProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly topology: Topology;
  allReduce<T extends CollectiveArray>(data: T, op: 'sum' | 'avg'): Promise<T>;
  broadcast<T extends CollectiveArray>(data: T, root: number): Promise<T>;
  allGather<T extends CollectiveArray>(data: T): Promise<T>; // size × data.length, in rank order
  reduceScatter<T extends CollectiveArray>(data: T, op: 'sum' | 'avg'): Promise<T>; // this rank's slice
  send(data: CollectiveArray, dst: number, tag: number): Promise<void>;
  recv<T extends CollectiveArray>(like: T, src: number, tag: number): Promise<T>;
  barrier(): Promise<void>;
  /**
   * A group of the listed ranks (ascending), numbered 0… in that order; null on a rank not listed.
   * Collective: every rank makes every subgroup in the same order, issuing nothing else on this
   * group until it settles.
   */
  newGroup(ranks: number[]): Promise<ProcessGroup | null>;
  /** Seconds per float32 all-reduce of `elements` on a native buffer, best of `iterations`; for bench/. */
  timeAllReduce(elements: number, iterations: number, path: 'gloo-direct' | 'tcp' | 'shared-copy' | 'shared-in-place'): Promise<number>;
}

export interface ProcessGroupOptions {
  rank: number;
  size: number;
  hostname: string; // the address peers reach this rank at
  machine?: string; // ranks with the same value share memory; absent: this machine's hostname and boot id
  timeoutMs: number; // for every collective
  joinTimeoutMs?: number; // for every rank to join; timeoutMs when absent
  store: RendezvousStoreClient;
  backend?: 'gloo' | 'nccl'; // gloo (the default): host memory, TCP and shared memory; nccl: ranks on GPUs, one each
}

export interface NativeAddon {
  Engine: new (config: EngineConfig) => Engine;
  buildInfo(): BuildInfo;
  /**
   * Where the GPU library `name` was loaded from, loading it now as a cuda job's first GPU use
   * would (native/src/cuda/libraries.h: $RINGMASTER_CUBLASLT or $RINGMASTER_NCCL, the soname, Python environments'
   * nvidia/*\/lib); throws CUDA_UNAVAILABLE in one line naming every place tried.
   */
  cudaLibrary(name: 'cublasLt' | 'nccl'): string;
  /** The GPUs this process sees (CUDA_VISIBLE_DEVICES applies); none without a driver or in a build without CUDA. */
  cudaDevices(): { index: number; name: string; memoryBytes: number; capability: string }[];
  /** Each value rounded (ties to even) to what bf16 or fp16 can hold: the oracle of the mixed-precision tests. */
  roundTo(values: Float32Array, precision: 'bf16' | 'fp16'): Float32Array;
  /** The file's bytes, mapped read-only and shared between processes; unmapped when collected. Writing to it faults. */
  mapFile(path: string): ArrayBuffer;
  /** The once-per-process 512³ matmul measurement bf16 `auto` decides by: bf16 kernels where bf16 ≥ 1.25 × fp32. */
  bf16Probe(): { fp32Gflops: number; bf16Gflops: number; paysOff: boolean };
  /** GFLOP/s of oneDNN's fp32 matmul [m×k]·[k×n] on `threads` threads, best of five blocks. */
  matmulPeak(options: { m: number; k: number; n: number; threads: number; seconds: number; bf16?: boolean }): Promise<number>;
  /** Register-only throughput of fp32 FMAs and bf16 dot products (0 when absent), and AMX's state. */
  isaProbe(options: { seconds: number }): Promise<{ fp32FmaGflops: number; bf16DotGflops: number; amx: string }>;
  /** The order one pipeline stage runs a step's micro-batches in, 1F1B or interleaved (native/src/train/pipeline_schedule.h). */
  pipelineSchedule(stages: number, stage: number, chunks: number, microBatches: number): { forward: boolean; microBatch: number; chunk: number }[];
  /** What the link of activations (forward) or gradients into a stage carries in a step, in the order its sender sends it (pipeline_schedule.h). */
  pipelineArrivals(stages: number, stage: number, chunks: number, microBatches: number, forward: boolean): { forward: boolean; microBatch: number; chunk: number }[];
  /** The communication operation this process has been in longest ("all_reduce #12 (16 float32) on rank 0 of 2"); "" when none. */
  currentOperation(): string;
  /** Joins the group (Gloo over TCP): resolves once every rank has connected. */
  createProcessGroup(options: ProcessGroupOptions): Promise<ProcessGroup>;
}

/** An error raised inside the addon; `nativeCode` is its native code (e.g. INVALID_ARGUMENT). */
export class NativeError extends RingmasterError {
  readonly nativeCode: string;
  /** COLLECTIVE_TIMEOUT: the ranks that never arrived, when the engine could tell (ranks of one machine); else undefined. */
  readonly missingRanks: number[] | undefined;
  constructor(nativeCode: string, message: string, missingRanks?: number[]) {
    super('NATIVE', message);
    this.name = 'NativeError';
    this.nativeCode = nativeCode;
    this.missingRanks = missingRanks;
  }
}

/** Rethrows an addon error as a NativeError; other errors pass through unchanged. */
export function asNativeError(e: unknown): unknown {
  if (e instanceof NativeError) return e;
  if (e instanceof Error && e.name === 'NativeError' && typeof (e as { code?: unknown }).code === 'string') {
    const { code, missingRanks } = e as Error & { code: string; missingRanks?: number[] };
    return new NativeError(code, e.message, Array.isArray(missingRanks) ? missingRanks : undefined);
  }
  return e;
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new RingmasterError('ADDON_MISSING', 'cannot find the ringmaster package root');
    dir = parent;
  }
  return dir;
}

let addon: NativeAddon | undefined;

/** Loads the addon once; a missing build is one clear error naming the fix. */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  const file = path.join(packageRoot(), 'build', 'Release', 'ringmaster.node');
  if (!existsSync(file)) {
    throw new RingmasterError('ADDON_MISSING', `native addon ${file} is not built (run: npm run build)`);
  }
  addon = createRequire(import.meta.url)(file) as NativeAddon;
  return addon;
}

/** Creates an engine, turning a native failure into a NativeError. */
export function createEngine(config: EngineConfig): Engine {
  const { Engine } = loadNative();
  try {
    return new Engine(config);
  } catch (e) {
    throw asNativeError(e);
  }
}
