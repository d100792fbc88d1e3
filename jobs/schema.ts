/**
 * The job spec, declared once, as data: for every key its rule, default and a one-line
 * description. Everything else comes from this declaration: the TypeScript types (`SpecOf`,
 * jobs/types.ts), the validation (validate.ts walks it), the JSON Schema for editors
 * (json-schema.ts), and the README's key table is tested against it (test/unit/readme-keys.test.ts).
 * The declaration is `as const`, so its types carry every key, literal and bound the types need.
 */

/** Bounds of a number; a missing side is unbounded. `ge`/`gt` = ≥/>, `le`/`lt` = ≤/<. */
export interface Range {
  ge?: number;
  gt?: number;
  le?: number;
  lt?: number;
}

export type Rule =
  | { type: 'int'; range: Range }
  | { type: 'number'; range: Range }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'string'; pattern: RegExp; maxLength: number; allowed: string }
  | { type: 'list'; item: Rule; length?: number; nonEmpty?: boolean }
  // A path resolved against the spec file's directory; `mustExist` also requires a directory
  // (or, with file: true, a file) there.
  | { type: 'path'; mustExist?: { hint: string; file?: boolean } };

export interface Field<R extends Rule = Rule> {
  node: 'field';
  rule: R;
  doc: string;
  nullable?: boolean;
  required?: boolean; // true: no default, the user must give the key
  default?: unknown;
}

/** A set of keys. */
export interface AnySection {
  node: 'section';
  doc: string;
  keys: Readonly<Record<string, SchemaNode>>;
}

/**
 * A section whose allowed keys depend on its `kind` key, one of the variant names: required,
 * unless `defaultKind` names the kind an absent `kind` means. A key of another kind is refused.
 */
export interface AnyVariant {
  node: 'variant';
  doc: string;
  kindDoc: string;
  defaultKind?: string;
  variants: Readonly<Record<string, AnySection>>;
}

export type SchemaNode = Field | AnySection | AnyVariant;

/** The value a rule admits. */
type RuleValue<R> = R extends { type: 'int' | 'number' } ? number
  : R extends { type: 'bool' } ? boolean
  : R extends { type: 'enum'; values: readonly (infer V)[] } ? V
  : R extends { type: 'string' | 'path' } ? string
  : R extends { type: 'list'; item: infer I; length: 2 } ? [RuleValue<I>, RuleValue<I>]
  : R extends { type: 'list'; item: infer I } ? RuleValue<I>[]
  : never;

type Flat<T> = { -readonly [K in keyof T]: T[K] } & {};

/** The value a node of the schema admits, once validated (defaults filled): the spec's types. */
export type SpecOf<N> = N extends { node: 'field'; rule: infer R } ? RuleValue<R> | (N extends { nullable: true } ? null : never)
  : N extends { node: 'section'; keys: infer K } ? Flat<{ [Key in keyof K]: SpecOf<K[Key]> }>
  : N extends { node: 'variant'; variants: infer Vs } ? { [Kind in keyof Vs & string]: Flat<{ kind: Kind } & SpecOf<Vs[Kind]>> }[keyof Vs & string]
  : never;

// Upper bounds keep every value one a run can finish and a machine can hold: a value past them
// is a typo or an attack (a step count no run ends, threads far above any machine's cores),
// refused at submission instead of crashing or never finishing.
const STEPS_MAX = 1e9;
const WIDTH_MAX = 65536;
const int = (min: number, max: number) => ({ type: 'int', range: { ge: min, le: max } }) as const;
const num = <const R extends Range>(range: R) => ({ type: 'number', range }) as const;
const oneOf = <const V extends string>(...values: V[]) => ({ type: 'enum', values }) as const;
const bool = { type: 'bool' } as const;
const field = <const R extends Rule>(rule: R, defaultValue: unknown, doc: string) => ({ node: 'field', rule, default: defaultValue, doc }) as const;

const activation = field(oneOf('relu', 'gelu'), 'relu', 'nonlinearity after each hidden layer');
const warmup = field(int(0, STEPS_MAX), 100, 'optimizer steps of linear warmup up to optimizer.lr');
const minLr = field(num({ ge: 0 }), 1e-4, 'the learning rate at the bottom of the cosine');

export const JOB_SCHEMA = {
  node: 'section',
  doc: 'a training job',
  keys: {
    name: {
      node: 'field',
      rule: {
        type: 'string',
        pattern: /^[a-z0-9][a-z0-9._-]*$/i,
        maxLength: 63,
        allowed:
          'a name of letters, digits, ".", "_" and "-" that starts with a letter or digit, at most 63 characters',
      },
      required: true,
      doc: 'job name, shown in listings and used in checkpoint paths',
    },
    model: {
      node: 'variant',
      doc: 'the network to train',
      kindDoc: 'model family',
      variants: {
        mlp: {
          node: 'section',
          doc: 'fully connected layers',
          keys: {
            hidden: field({ type: 'list', item: int(1, WIDTH_MAX), nonEmpty: true }, [1024, 1024], 'widths of the hidden layers'),
            activation,
          },
        },
        cnn: {
          node: 'section',
          doc: 'two 3×3 conv → activation → max-pool stages, then two Linear layers',
          keys: {
            channels: field(
              { type: 'list', item: int(1, 4096), length: 2 },
              [32, 64],
              'output channels of the two convolutions',
            ),
            hidden: field(int(1, WIDTH_MAX), 256, 'width of the hidden Linear layer'),
            activation,
          },
        },
        gpt: {
          node: 'section',
          doc: 'a decoder-only transformer: token + position embedding, pre-LayerNorm blocks of causal self-attention and a GELU MLP, a final LayerNorm, the output head tied to the token embedding',
          keys: {
            layers: field(int(1, 256), 4, 'transformer blocks'),
            heads: field(int(1, 256), 4, 'attention heads per block'),
            channels: field(int(1, WIDTH_MAX), 128, 'embedding width; a multiple of heads'),
            block: field(int(1, WIDTH_MAX), 64, 'context length in tokens'),
            dropout: field(num({ ge: 0, lt: 1 }), 0, 'dropout probability'),
            bias: field(bool, true, 'biases in the Linear and LayerNorm layers'),
          },
        },
      },
    },
    data: {
      node: 'variant',
      doc: 'the data set',
      kindDoc: 'data set',
      defaultKind: 'fashion-mnist',
      variants: {
        'fashion-mnist': {
          node: 'section',
          doc: 'Fashion-MNIST images (for mlp and cnn)',
          keys: {
            dir: field(
              { type: 'path', mustExist: { hint: 'install the Debian package dataset-fashion-mnist or set data.dir' } },
              '/usr/share/datasets/fashion-mnist',
              'directory holding the data set files',
            ),
          },
        },
        text: {
          node: 'section',
          doc: 'a UTF-8 corpus for a language model (gpt): random windows of model.block tokens',
          keys: {
            path: {
              node: 'field',
              rule: { type: 'path', mustExist: { hint: 'set data.path to a UTF-8 text file', file: true } },
              required: true,
              doc: 'the corpus: a UTF-8 text file, or the token file ringmaster prepare-text made from one (mapped, not read)',
            },
            tokenizer: field(oneOf('char', 'gpt2'), 'char', 'char: one token per character, the vocabulary being the corpus\'s characters; gpt2: GPT-2\'s byte-level BPE (50257 tokens)'),
            train_fraction: field(num({ gt: 0, lt: 1 }), 0.9, 'the first fraction of the tokens trains; the rest is the validation split'),
          },
        },
      },
    },
    device: field(oneOf('cpu', 'cuda'), 'cpu', 'where ranks compute: cpu slots, or cuda slots (one GPU per rank; data parallel and pipeline stages over NCCL)'),
    parallel: {
      node: 'section',
      doc: 'how the job is split across ranks; ranks = data × pipeline',
      keys: {
        data: field(int(1, 4096), 1, 'data-parallel replicas'),
        timeout_s: field(num({ ge: 0.01, le: 86400 }), 60, 'seconds a rank waits for its peers in every collective before the job fails'),
        join_timeout_s: field(num({ ge: 0.01, le: 86400 }), 300, 'seconds the ranks of an attempt have to find each other (they start at different times)'),
        pipeline: field(int(1, 256), 1, 'pipeline stages per replica (the model split into contiguous stages: a gpt at its blocks, an mlp or cnn at its layers with parameters)'),
        schedule: field(oneOf('1f1b', 'interleaved'), '1f1b', "the pipeline's order: 1F1B, or Megatron's interleaved 1F1B with parallel.virtual chunks per stage (a smaller bubble for more transfers; batch.accumulate a multiple of parallel.pipeline)"),
        virtual: field(int(2, 64), 2, 'interleaved: model chunks per pipeline stage'),
        stages: {
          ...field({ type: 'list', item: int(1, 4096), nonEmpty: true }, null, "the split by hand: a gpt's blocks per stage (per chunk, in model order, when interleaved), an mlp's or cnn's layers with parameters per stage; absent: balanced by measured cost (a resumed run: its checkpoint's split)"),
          nullable: true,
        },
        reduce_dtype: field(oneOf('fp32', 'bf16', 'fp16'), 'fp32', 'type of the gradients on the network between machines (bf16/fp16 halve the bytes, as DDP\'s compression hooks; within a machine they stay fp32)'),
        bucket_mb: field(
          num({ gt: 0, le: 4096 }),
          25,
          "size of the gradient all-reduce buckets in MiB, launched as backward produces them (DDP's bucket_cap_mb)",
        ),
        sufficient_factors: field(
          oneOf('auto', 'off'),
          'auto',
          "ranks that share one machine exchange a Linear layer's inputs and output gradients instead of its weight gradient where those are fewer floats (auto); off reduces every gradient in buckets",
        ),
      },
    },
    precision: field(oneOf('fp32', 'bf16', 'fp16'), 'fp32', 'compute precision (fp16 uses dynamic loss scaling)'),
    loss_scale: {
      node: 'section',
      doc: "fp16's loss scaling (torch.amp.GradScaler's rules); bf16 and fp32 need none",
      keys: {
        dynamic: field(bool, true, 'halve the scale and skip the step on inf/NaN gradients, double it after growth_interval finite steps; false keeps init'),
        init: field(num({ gt: 0 }), 65536, 'the first scale'),
        growth_interval: field(int(1, STEPS_MAX), 2000, 'finite steps in a row before the scale doubles'),
        min: field(num({ gt: 0 }), 1, 'a dynamic scale below this stops the job: gradients overflow at every scale'),
      },
    },
    batch: {
      node: 'section',
      doc: 'batch size per rank; global batch = micro × accumulate × parallel.data',
      keys: {
        micro: field(int(1, 1 << 20), 128, 'examples per forward/backward pass'),
        accumulate: field(int(1, WIDTH_MAX), 1, 'micro-batches whose gradients are summed per optimizer step'),
      },
    },
    optimizer: {
      node: 'section',
      doc: 'the optimizer',
      keys: {
        kind: field(oneOf('adamw', 'sgd'), 'adamw', 'update rule'),
        lr: field(num({ gt: 0 }), 1e-3, 'peak learning rate'),
        betas: field(
          { type: 'list', item: num({ ge: 0, lt: 1 }), length: 2 },
          [0.9, 0.999],
          'adamw moment decay rates',
        ),
        eps: field(num({ gt: 0 }), 1e-8, 'adamw denominator term'),
        weight_decay: field(num({ ge: 0 }), 0.01, 'decoupled weight decay (adamw) or L2 penalty (sgd)'),
        momentum: field(num({ ge: 0, lt: 1 }), 0.9, 'sgd momentum'),
        nesterov: field(bool, false, 'sgd Nesterov momentum'),
        clip_grad_norm: field(num({ ge: 0 }), 1.0, 'clip the global gradient norm to this; 0 disables clipping'),
      },
    },
    schedule: {
      node: 'variant',
      doc: 'the learning-rate schedule: a linear warmup to optimizer.lr, then the shape `kind` names',
      kindDoc: 'shape after warmup',
      defaultKind: 'cosine',
      variants: {
        cosine: {
          node: 'section',
          doc: "one cosine decay to min_lr, reached at the run's last step (nanoGPT's get_lr)",
          keys: { warmup, min_lr: minLr },
        },
        constant: {
          node: 'section',
          doc: 'optimizer.lr until the end',
          keys: { warmup },
        },
        cosine_restarts: {
          node: 'section',
          doc: 'cosine decays to min_lr that restart at optimizer.lr (SGDR); no end: cycles go on past the last step',
          keys: {
            warmup,
            min_lr: minLr,
            t0: field(int(1, STEPS_MAX), 1000, 'optimizer steps of the first cycle'),
            t_mult: field(int(1, 1000), 1, 'each cycle is t_mult times as long as the one before'),
          },
        },
      },
    },
    epochs: field(int(1, 1e6), 5, 'passes over the training set'),
    steps: { ...field(int(1, STEPS_MAX), null, 'optimizer steps; when set it wins over epochs'), nullable: true },
    eval: {
      node: 'section',
      doc: 'evaluation on the test split',
      keys: {
        every: field(int(0, STEPS_MAX), 0, 'optimizer steps between evaluations; 0 evaluates only at the end'),
        batches: field(int(1, 1e6), 50, 'a language model: batches of batch.micro windows per evaluation, spread evenly over the validation split (the same windows every time)'),
      },
    },
    checkpoint: {
      node: 'section',
      doc: 'checkpoint files',
      keys: {
        every: field(int(0, STEPS_MAX), 0, 'optimizer steps between checkpoints; 0 writes only the final one'),
        keep: field(int(1, 1000), 3, 'newest checkpoints kept'),
        dir: field({ type: 'path' }, './checkpoints', 'directory for checkpoint files'),
      },
    },
    progress_timeout_s: field(
      num({ ge: 1, le: 86400 }),
      300,
      'a rank whose activity has not changed for this long (no new step, stuck in one operation, or stopped) is declared hung: the job\'s ranks are stopped and the attempt fails (or restarts, by max_restarts)',
    ),
    max_restarts: field(
      int(0, 100),
      0,
      'times the coordinator restarts a failed attempt from its newest valid checkpoint (from the start when it has none)',
    ),
    log: {
      node: 'section',
      doc: 'progress reporting',
      keys: { every: field(int(1, STEPS_MAX), 50, 'optimizer steps between progress lines') },
    },
    seed: field(int(0, Number.MAX_SAFE_INTEGER), 1337, 'seed for initialization and data order (up to 2⁵³ − 1, the largest integer a spec holds exactly)'),
    threads: field(int(0, 1024), 0, 'compute threads per rank; 0 uses all cores'),
  },
} as const satisfies AnySection;

type Spec = SpecOf<typeof JOB_SCHEMA>;

/** Checks between keys, after each key passed its own rule; skipped where `key` is absent (a key of another kind). */
export const CROSS_CHECKS: readonly ({ key: string; atMost: string } | { key: string; multipleOf: string })[] = [
  { key: 'schedule.min_lr', atMost: 'optimizer.lr' },
  { key: 'model.channels', multipleOf: 'model.heads' },
  { key: 'parallel.pipeline', atMost: 'model.layers' }, // every stage holds a block
];

/** Which data sets each model family trains on. */
export const MODEL_DATA: Readonly<Record<Spec['model']['kind'], readonly Spec['data']['kind'][]>> = {
  mlp: ['fashion-mnist'],
  cnn: ['fashion-mnist'],
  gpt: ['text'],
};

/**
 * Values the contract allows but this build does not implement yet. The issue that builds a
 * feature deletes its entry here.
 */
export const NOT_YET_SUPPORTED: readonly { key: string; allowed: readonly unknown[]; reason: string }[] = [
  { key: 'model.dropout', allowed: [0, undefined], reason: 'dropout is not implemented yet; use 0' },
];
