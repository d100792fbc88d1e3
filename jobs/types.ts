/**
 * The job spec after validation: every key present, defaults filled, paths absolute.
 * DESIGN.md lists the keys; jobs/schema.ts holds their types, defaults and limits.
 */
export type Activation = 'relu' | 'gelu';

export interface MlpModelSpec {
  kind: 'mlp';
  hidden: number[]; // sizes of the hidden layers, input and output come from the data set
  activation: Activation;
}

export interface CnnModelSpec {
  kind: 'cnn';
  channels: [number, number]; // output channels of the two 3×3 convolutions
  hidden: number; // width of the hidden Linear layer
  activation: Activation;
}

/** A decoder-only transformer (GPT-2's shape); DESIGN.md, "Models". */
export interface GptModelSpec {
  kind: 'gpt';
  layers: number;
  heads: number;
  channels: number; // a multiple of heads
  block: number; // context length in tokens
  dropout: number; // 0 only, for now
  bias: boolean; // biases in the Linear and LayerNorm layers
}

export type ModelSpec = MlpModelSpec | CnnModelSpec | GptModelSpec;

export interface FashionMnistDataSpec {
  kind: 'fashion-mnist';
  dir: string;
}

/** A UTF-8 corpus for a language model: the first train_fraction of its tokens train, the rest validate. */
export interface TextDataSpec {
  kind: 'text';
  path: string;
  tokenizer: 'char' | 'gpt2'; // char: one token per character (the corpus's characters, sorted); gpt2: GPT-2's BPE
  train_fraction: number;
}

export type DataSpec = FashionMnistDataSpec | TextDataSpec;

/** After `warmup` steps of linear warmup to optimizer.lr (worker/schedule.ts has the formulas): */
export interface ConstantScheduleSpec {
  kind: 'constant'; // optimizer.lr
  warmup: number;
}

export interface CosineScheduleSpec {
  kind: 'cosine'; // one cosine decay to min_lr, reached at the run's last step (nanoGPT's get_lr)
  warmup: number;
  min_lr: number;
}

export interface CosineRestartsScheduleSpec {
  kind: 'cosine_restarts'; // cosine decays to min_lr, restarting at the peak (SGDR); no end
  warmup: number;
  min_lr: number;
  t0: number; // optimizer steps of the first cycle
  t_mult: number; // each cycle is t_mult times as long as the one before
}

export type ScheduleSpec = ConstantScheduleSpec | CosineScheduleSpec | CosineRestartsScheduleSpec;

export interface JobSpec {
  name: string;
  model: ModelSpec;
  data: DataSpec;
  device: 'cpu' | 'cuda';
  parallel: {
    data: number;
    pipeline: number;
    schedule: '1f1b' | 'interleaved'; // the pipeline's order of forwards and backwards
    virtual: number; // interleaved: model chunks per stage
    stages: number[] | null; // the split by hand: blocks (gpt) or layers with parameters per stage (chunk); null: balanced by measured cost (worker/stage-plan.ts)
    timeout_s: number; // for every collective
    join_timeout_s: number; // for all ranks to join the process group
    reduce_dtype: 'fp32' | 'bf16' | 'fp16'; // gradients on the network between machines
    bucket_mb: number; // MiB per gradient all-reduce bucket (DDP's bucket_cap_mb)
    sufficient_factors: 'auto' | 'off'; // one machine: Linear layers exchange (in, dout) where smaller than the gradient
  };
  precision: 'fp32' | 'bf16' | 'fp16';
  loss_scale: { dynamic: boolean; init: number; growth_interval: number; min: number }; // fp16 only
  batch: { micro: number; accumulate: number };
  optimizer: {
    kind: 'adamw' | 'sgd';
    lr: number;
    betas: [number, number]; // adamw
    eps: number; // adamw
    weight_decay: number;
    momentum: number; // sgd
    nesterov: boolean; // sgd
    clip_grad_norm: number; // 0 disables clipping
  };
  schedule: ScheduleSpec;
  epochs: number;
  steps: number | null; // optimizer steps; when set it wins over epochs
  eval: { every: number; batches: number }; // steps between evaluations (0: only at the end); a language model's batches per evaluation
  checkpoint: { every: number; keep: number; dir: string };
  progress_timeout_s: number; // a rank whose activity has not changed for this long is hung
  max_restarts: number; // automatic restarts of a failed attempt (coordinator/restarts.ts says which failures)
  log: { every: number };
  seed: number;
  threads: number; // compute threads per rank; 0 means all cores of the machine
}
