/**
 * The job spec after validation: every key present, defaults filled, paths absolute. The types
 * come from the one declaration of the spec, jobs/schema.ts (each key's rule, default and
 * meaning); DESIGN.md describes the keys.
 */
import type { JOB_SCHEMA, SpecOf } from './schema.js';

export type JobSpec = SpecOf<typeof JOB_SCHEMA>;

export type ModelSpec = JobSpec['model'];
export type MlpModelSpec = Extract<ModelSpec, { kind: 'mlp' }>;
export type CnnModelSpec = Extract<ModelSpec, { kind: 'cnn' }>;
/** A decoder-only transformer (GPT-2's shape); DESIGN.md, "Models". */
export type GptModelSpec = Extract<ModelSpec, { kind: 'gpt' }>;
export type Activation = MlpModelSpec['activation'];

export type DataSpec = JobSpec['data'];
export type FashionMnistDataSpec = Extract<DataSpec, { kind: 'fashion-mnist' }>;
/** A UTF-8 corpus for a language model: the first train_fraction of its tokens train, the rest validate. */
export type TextDataSpec = Extract<DataSpec, { kind: 'text' }>;

/** After `warmup` steps of linear warmup to optimizer.lr (worker/schedule.ts has the formulas). */
export type ScheduleSpec = JobSpec['schedule'];
export type ConstantScheduleSpec = Extract<ScheduleSpec, { kind: 'constant' }>;
export type CosineScheduleSpec = Extract<ScheduleSpec, { kind: 'cosine' }>;
export type CosineRestartsScheduleSpec = Extract<ScheduleSpec, { kind: 'cosine_restarts' }>;
