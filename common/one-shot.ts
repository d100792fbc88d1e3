/**
 * A worker process that answers one request (`ringmaster sample`, `ringmaster profile`): the
 * CLI forks it, sends the request over IPC, and gets back one reply, so the CLI itself never
 * loads the engine. Errors travel as their code and one-line message.
 */
export type OneShotReply<T> = { type: 'result'; result: T } | { type: 'error'; code: string; message: string };

/** `ringmaster sample`: continue a prompt with a checkpoint's language model. */
export interface SampleRequest {
  root: string; // a checkpoint root, or the run directory holding the step directories
  step?: number; // exactly this checkpoint; absent: the newest valid one
  prompt: string;
  tokens: number;
  temperature: number;
  topK: number; // 0: every token
  seed: number;
  threads: number;
}

/** `ringmaster profile`: time `steps` training steps of `spec` on one rank, module by module. */
export interface ProfileRequest {
  spec: import('../jobs/types.js').JobSpec;
  steps: number;
  warmup: number; // steps run first and not counted (primitive creation, first-touch of memory)
}

/** One module's share of a step, averaged over the profiled steps. */
export interface ModuleProfile {
  name: string; // PyTorch module path, e.g. transformer.h.0.attn.c_attn
  forwardMs: number;
  backwardMs: number;
  forwardFlops: number;
  backwardFlops: number;
  params: number; // parameters under this path (a tied head shows 0: its weight is the embedding's)
  activationBytes: number; // what it keeps for backward at batch.micro
}

export interface ProfileResult {
  name: string;
  steps: number;
  threads: number;
  modules: ModuleProfile[];
  stepMs: { total: number; compute: number; optimizer: number; communication: number };
  params: number;
  bytes: { params: number; grads: number; optimizer: number; computeCopy: number }; // model state by role
  precision: string;
  peakRssBytes: number;
  matmulPeakGflops: number; // fp32, on the same threads, measured in the same run
  samplesPerSec: number;
  tokensPerSec: number; // 0 for a classifier
}

/** `ringmaster prepare-text`: tokenize a corpus once into a token file ranks map. */
export interface PrepareTextRequest {
  corpus: string;
  tokenizer: 'char' | 'gpt2';
  out: string;
}

export interface PrepareTextResult {
  out: string;
  tokens: number;
  vocabSize: number;
}
