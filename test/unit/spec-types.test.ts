/**
 * The spec's TypeScript types come from its declaration (jobs/schema.ts, SpecOf): checked by the
 * compiler (`npm test` type-checks the tests first), so a schema change that alters them shows here.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { CnnModelSpec, DataSpec, GptModelSpec, JobSpec, MlpModelSpec, ScheduleSpec } from '../../jobs/types.js';

describe('the spec types SpecOf derives from the schema', () => {
  it('gives each key its rule\'s type, nullable keys null, pairs tuples and enums their literals', () => {
    expectTypeOf<JobSpec['name']>().toEqualTypeOf<string>();
    expectTypeOf<JobSpec['steps']>().toEqualTypeOf<number | null>();
    expectTypeOf<JobSpec['parallel']['stages']>().toEqualTypeOf<number[] | null>();
    expectTypeOf<JobSpec['optimizer']['betas']>().toEqualTypeOf<[number, number]>();
    expectTypeOf<JobSpec['precision']>().toEqualTypeOf<'fp32' | 'bf16' | 'fp16'>();
    expectTypeOf<JobSpec['optimizer']['nesterov']>().toEqualTypeOf<boolean>();
    expectTypeOf<JobSpec['checkpoint']>().toEqualTypeOf<{ every: number; keep: number; dir: string }>();
  });

  it('makes each variant a union member tagged by its kind, with only its own keys', () => {
    expectTypeOf<MlpModelSpec>().toEqualTypeOf<{ kind: 'mlp'; hidden: number[]; activation: 'relu' | 'gelu' }>();
    expectTypeOf<CnnModelSpec>().toEqualTypeOf<{ kind: 'cnn'; channels: [number, number]; hidden: number; activation: 'relu' | 'gelu' }>();
    expectTypeOf<GptModelSpec>().toEqualTypeOf<{ kind: 'gpt'; layers: number; heads: number; channels: number; block: number; dropout: number; bias: boolean }>();
    expectTypeOf<DataSpec['kind']>().toEqualTypeOf<'fashion-mnist' | 'text'>();
    expectTypeOf<ScheduleSpec['kind']>().toEqualTypeOf<'cosine' | 'constant' | 'cosine_restarts'>();
  });
});
