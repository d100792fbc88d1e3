import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RingmasterError, type ErrorCode } from '../../common/errors.js';
import { applyOverrides, checkPriority, loadSpecFile, SPEC_MAX_BYTES, specHash } from '../../jobs/load.js';
import { validateSpec } from '../../jobs/validate.js';

// Every test reads files under one temp directory; data.dir points at an empty directory in it
// so nothing depends on the Debian data set package being installed.
const root = mkdtempSync(join(tmpdir(), 'ringmaster-spec-'));
const dataDir = join(root, 'data');
mkdirSync(dataDir);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const examples = join(import.meta.dirname, '../../jobs');
const minimal = { name: 'tiny', model: { kind: 'mlp' }, data: { dir: dataDir } };

function writeSpec(fileName: string, text: string): string {
  const path = join(root, fileName);
  writeFileSync(path, text);
  return path;
}

/** Runs `fn`, expecting a RingmasterError with `code` and exactly `message`, on one line. */
function expectError(fn: () => unknown, code: ErrorCode, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RingmasterError);
  const error = caught as RingmasterError;
  expect(error.code).toBe(code);
  expect(error.message).not.toContain('\n');
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

describe('validateSpec', () => {
  it('fills every default and resolves paths against the spec directory', () => {
    expect(validateSpec(minimal, { specDir: root })).toEqual({
      name: 'tiny',
      model: { kind: 'mlp', hidden: [1024, 1024], activation: 'relu' },
      data: { kind: 'fashion-mnist', dir: dataDir },
      device: 'cpu',
      parallel: { data: 1, pipeline: 1, schedule: '1f1b', virtual: 2, stages: null, timeout_s: 60, join_timeout_s: 300, reduce_dtype: 'fp32', bucket_mb: 25, sufficient_factors: 'auto' },
      precision: 'fp32',
      loss_scale: { dynamic: true, init: 65536, growth_interval: 2000, min: 1 },
      batch: { micro: 128, accumulate: 1 },
      optimizer: {
        kind: 'adamw',
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.01,
        momentum: 0.9,
        nesterov: false,
        clip_grad_norm: 1.0,
      },
      schedule: { kind: 'cosine', warmup: 100, min_lr: 1e-4 },
      epochs: 5,
      steps: null,
      eval: { every: 0, batches: 50 },
      checkpoint: { every: 0, keep: 3, dir: join(root, 'checkpoints') },
      progress_timeout_s: 300,
      max_restarts: 0,
      log: { every: 50 },
      seed: 1337,
      threads: 0,
    });
  });

  it('fills the defaults of the chosen model kind', () => {
    const spec = validateSpec({ ...minimal, model: { kind: 'cnn' } }, { specDir: root });
    expect(spec.model).toEqual({ kind: 'cnn', channels: [32, 64], hidden: 256, activation: 'relu' });
  });

  it('fills the defaults of the chosen schedule kind, cosine when kind is absent', () => {
    const check = (schedule: unknown) => validateSpec({ ...minimal, schedule }, { specDir: root }).schedule;
    expect(check({ kind: 'cosine_restarts' })).toEqual({ kind: 'cosine_restarts', warmup: 100, min_lr: 1e-4, t0: 1000, t_mult: 1 });
    expect(check({ kind: 'cosine_restarts', t0: 500, t_mult: 2 })).toMatchObject({ t0: 500, t_mult: 2 });
    expect(check({ kind: 'constant' })).toEqual({ kind: 'constant', warmup: 100 });
    expect(check({ warmup: 5 })).toEqual({ kind: 'cosine', warmup: 5, min_lr: 1e-4 });
    expect(check(null)).toEqual({ kind: 'cosine', warmup: 100, min_lr: 1e-4 });
  });

  it('takes a fractional parallel.bucket_mb', () => {
    const spec = validateSpec({ ...minimal, parallel: { bucket_mb: 0.5 } }, { specDir: root });
    expect(spec.parallel).toEqual({ data: 1, pipeline: 1, schedule: '1f1b', virtual: 2, stages: null, timeout_s: 60, join_timeout_s: 300, reduce_dtype: 'fp32', bucket_mb: 0.5, sufficient_factors: 'auto' });
  });

  it('treats an empty section as all defaults and resolves a relative data.dir', () => {
    const spec = validateSpec({ ...minimal, eval: null, data: { dir: 'data' } }, { specDir: root });
    expect(spec.eval).toEqual({ every: 0, batches: 50 });
    expect(spec.data).toEqual({ kind: 'fashion-mnist', dir: dataDir });
  });

  it('does not share default arrays between specs', () => {
    const first = validateSpec(minimal, { specDir: root });
    (first.model as { hidden: number[] }).hidden.push(7);
    expect(validateSpec(minimal, { specDir: root }).model).toMatchObject({ hidden: [1024, 1024] });
  });

  // Each case applies `set` overrides to the minimal spec (after dropping `drop`).
  const cases: { what: string; set?: string[]; drop?: string; code?: ErrorCode; message: string | RegExp }[] = [
    { what: 'top-level typo', set: ['optimiser.lr=1e-3'], message: 'spec: unknown key "optimiser" (did you mean "optimizer"?)' },
    { what: 'nested typo', set: ['model.hiden=[10]'], message: 'spec: unknown key "model.hiden" (did you mean "model.hidden"?)' },
    { what: 'swapped letters', set: ['schedule.wramup=5'], message: 'spec: unknown key "schedule.wramup" (did you mean "schedule.warmup"?)' },
    { what: 'wrong case', set: ['Seed=1'], message: 'spec: unknown key "Seed" (did you mean "seed"?)' },
    {
      what: 'unknown key, nothing close',
      set: ['optimizer.colour=red'],
      message:
        'spec: unknown key "optimizer.colour" (allowed: kind, lr, betas, eps, weight_decay, momentum, nesterov, clip_grad_norm)',
    },
    {
      what: 'key of another model kind',
      set: ['model.channels=[1, 2]'],
      message: 'spec: key "model.channels" does not apply to model.kind mlp (only to cnn, gpt)',
    },
    { what: 'string for int', set: ['epochs=five'], message: 'spec: epochs = "five": must be an integer in [1, 1000000]' },
    { what: 'quoted number', set: ['optimizer.lr="0.1"'], message: 'spec: optimizer.lr = "0.1": must be a number > 0' },
    { what: 'yes is not a bool', set: ['optimizer.nesterov=yes'], message: 'spec: optimizer.nesterov = "yes": must be true or false' },
    { what: 'scalar for section', set: ['batch=128'], message: 'spec: batch = 128: must be a mapping of keys' },
    { what: 'list for int', set: ['model.kind=cnn', 'model.hidden=[1]'], message: 'spec: model.hidden = [1]: must be an integer in [1, 65536]' },
    { what: 'null for int', set: ['seed=null'], message: 'spec: seed = null: must be an integer in [0, 9007199254740991]' },
    { what: 'micro 0', set: ['batch.micro=0'], message: 'spec: batch.micro = 0: must be an integer in [1, 1048576]' },
    { what: 'negative lr', set: ['optimizer.lr=-1'], message: 'spec: optimizer.lr = -1: must be a number > 0' },
    { what: 'infinite lr', set: ['optimizer.lr=.inf'], message: 'spec: optimizer.lr = Infinity: must be a number > 0' },
    { what: 'fractional epochs', set: ['epochs=1.5'], message: 'spec: epochs = 1.5: must be an integer in [1, 1000000]' },
    { what: 'steps 0', set: ['steps=0'], message: 'spec: steps = 0: must be an integer in [1, 1000000000] or null' },
    { what: 'negative seed', set: ['seed=-1'], message: 'spec: seed = -1: must be an integer in [0, 9007199254740991]' },
    { what: 'beta of 1', set: ['optimizer.betas=[0.9, 1]'], message: 'spec: optimizer.betas[1] = 1: must be a number in [0, 1)' },
    { what: 'one beta', set: ['optimizer.betas=[0.9]'], message: 'spec: optimizer.betas = [0.9]: must be a list of 2 numbers in [0, 1)' },
    { what: 'momentum 1', set: ['optimizer.momentum=1'], message: 'spec: optimizer.momentum = 1: must be a number in [0, 1)' },
    // Values a run could not finish or a machine could not hold: refused at submission.
    { what: 'threads far above any machine', set: ['threads=100000'], message: 'spec: threads = 100000: must be an integer in [0, 1024]' },
    { what: 'a seed beyond 2^64', set: ['seed=18446744073709551616'], message: /^spec: seed = 18446744073709552000: must be an integer in \[0, 9007199254740991\]/ },
    { what: 'an infinite timeout', set: ['parallel.timeout_s=.inf'], message: 'spec: parallel.timeout_s = Infinity: must be a number in [0.01, 86400]' },
    { what: 'a timeout that rounds to zero', set: ['parallel.timeout_s=1e-9'], message: 'spec: parallel.timeout_s = 1e-9: must be a number in [0.01, 86400]' },
    { what: 'steps no run finishes', set: ['steps=1e12'], message: 'spec: steps = 1000000000000: must be an integer in [1, 1000000000] or null' },
    { what: 'a data-parallel size no cluster holds', set: ['parallel.data=100000'], message: 'spec: parallel.data = 100000: must be an integer in [1, 4096]' },
    { what: 'checkpoint.keep without bound', set: ['checkpoint.keep=1000000'], message: 'spec: checkpoint.keep = 1000000: must be an integer in [1, 1000]' },
    { what: 'no hidden layers', set: ['model.hidden=[]'], message: 'spec: model.hidden = []: must be a non-empty list of integers in [1, 65536]' },
    { what: 'fractional width', set: ['model.hidden=[512, 0.5]'], message: 'spec: model.hidden[1] = 0.5: must be an integer in [1, 65536]' },
    { what: 'min_lr above lr', set: ['schedule.min_lr=0.01'], message: 'spec: schedule.min_lr = 0.01: must be ≤ optimizer.lr (0.001)' },
    { what: 'bad model kind', set: ['model.kind=rnn'], message: 'spec: model.kind = "rnn": must be one of mlp, cnn, gpt' },
    { what: 'bad precision', set: ['precision=fp8'], message: 'spec: precision = "fp8": must be one of fp32, bf16, fp16' },
    { what: 'bad schedule', set: ['schedule.kind=step'], message: 'spec: schedule.kind = "step": must be one of cosine, constant, cosine_restarts' },
    {
      what: 't0 0',
      set: ['schedule.kind=cosine_restarts', 'schedule.t0=0'],
      message: 'spec: schedule.t0 = 0: must be an integer in [1, 1000000000]',
    },
    {
      what: 'fractional t_mult',
      set: ['schedule.kind=cosine_restarts', 'schedule.t_mult=0.5'],
      message: 'spec: schedule.t_mult = 0.5: must be an integer in [1, 1000]',
    },
    {
      what: 'a restarts key under kind cosine',
      set: ['schedule.kind=cosine', 'schedule.t0=500'],
      message: 'spec: key "schedule.t0" does not apply to schedule.kind cosine (only to cosine_restarts)',
    },
    {
      what: 'a restarts key with kind absent (cosine)',
      set: ['schedule.t_mult=2'],
      message: 'spec: key "schedule.t_mult" does not apply to schedule.kind cosine (only to cosine_restarts)',
    },
    {
      what: 'min_lr under kind constant',
      set: ['schedule.kind=constant', 'schedule.min_lr=1e-5'],
      message: 'spec: key "schedule.min_lr" does not apply to schedule.kind constant (only to cosine, cosine_restarts)',
    },
    {
      what: 'restarts min_lr above lr',
      set: ['schedule.kind=cosine_restarts', 'schedule.min_lr=0.01'],
      message: 'spec: schedule.min_lr = 0.01: must be ≤ optimizer.lr (0.001)',
    },
    { what: 'bucket_mb 0', set: ['parallel.bucket_mb=0'], message: 'spec: parallel.bucket_mb = 0: must be a number in (0, 4096]' },
    { what: 'negative bucket_mb', set: ['parallel.bucket_mb=-25'], message: 'spec: parallel.bucket_mb = -25: must be a number in (0, 4096]' },
    { what: 'bad name', set: ['name=-x'], message: /^spec: name = "-x": must be a name of letters, digits/ },
    { what: 'long name', set: [`name=${'a'.repeat(64)}`], message: /^spec: name = "a{64}": must be a name .* at most 63 characters$/ },
    { what: 'missing name', drop: 'name', message: 'spec: missing required key "name"' },
    { what: 'missing model kind', set: ['model={ hidden: [8] }'], message: 'spec: missing required key "model.kind"' },
    { what: 'empty data dir', set: ['data.dir=""'], message: 'spec: data.dir = "": must be a non-empty path' },
    { what: 'cuda with a 16-bit wire', set: ['device=cuda', 'parallel.data=2', 'parallel.reduce_dtype=bf16'], message: 'spec: parallel.reduce_dtype = "bf16": must be fp32 for device: cuda (NCCL reduces the gradients in fp32)' },
    { what: 'more stages than an mlp has layers with parameters', set: ['parallel.pipeline=4'], message: 'spec: parallel.pipeline = 4: must be at most 3 for this mlp (every stage holds a layer with parameters)' },
    { what: 'interleaved stages of an mlp', set: ['parallel.pipeline=2', 'parallel.schedule=interleaved'], message: 'spec: parallel.schedule = "interleaved": must be 1f1b for an mlp (interleaved stages split a gpt)' },
    { what: 'an unknown precision', set: ['precision=fp8'], message: /^spec: precision = "fp8": must be one of fp32, bf16, fp16/ },
    { what: 'a loss scale of 0', set: ['loss_scale.init=0'], message: 'spec: loss_scale.init = 0: must be a number > 0' },
    {
      what: 'missing data dir',
      set: [`data.dir=${join(root, 'absent')}`],
      code: 'DATA_MISSING',
      message: `spec: data.dir = ${JSON.stringify(join(root, 'absent'))}: no such directory (install the Debian package dataset-fashion-mnist or set data.dir)`,
    },
    {
      what: 'override into a non-mapping',
      set: ['optimizer.lr=0.1', 'optimizer.lr.x=1'],
      message: 'spec: override "optimizer.lr.x=1": optimizer.lr = 0.1 is not a mapping',
    },
    { what: '__proto__ stays a plain key', set: ['__proto__.polluted=1'], message: /^spec: unknown key "__proto__"/ },
  ];

  it.each(cases)('rejects $what', ({ set = [], drop, code = 'BAD_SPEC', message }) => {
    const raw: Record<string, unknown> = { ...minimal };
    if (drop !== undefined) delete raw[drop];
    expectError(() => validateSpec(applyOverrides(raw, set), { specDir: root }), code, message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('leaves the data\'s existence to the ranks\' machines when asked (the coordinator\'s validation)', () => {
    const spec = { ...minimal, data: { dir: join(root, 'absent') } };
    expect(() => validateSpec(spec, { specDir: root })).toThrow(expect.objectContaining({ code: 'DATA_MISSING' }));
    expect(validateSpec(spec, { specDir: root, checkFiles: false }).data).toMatchObject({ dir: join(root, 'absent') });
  });

  it('rejects a data.dir that is a file', () => {
    const file = writeSpec('not-a-dir', '');
    expectError(() => validateSpec({ ...minimal, data: { dir: file } }, { specDir: root }), 'DATA_MISSING', /^spec: data\.dir = /);
  });

  it('rejects a spec that is not a mapping', () => {
    expectError(() => validateSpec([1, 2], { specDir: root }), 'BAD_SPEC', 'spec: (top level) = [1,2]: must be a mapping of keys');
  });
});

describe('loadSpecFile', () => {
  const useTempData = `data.dir=${dataDir}`;

  it('loads the MLP example', () => {
    const spec = loadSpecFile(join(examples, 'fashion-mnist-mlp.yaml'), [useTempData]);
    expect(spec).toMatchObject({
      name: 'fashion-mnist-mlp',
      model: { kind: 'mlp', hidden: [1024, 1024], activation: 'relu' },
      optimizer: { kind: 'adamw', lr: 1e-3, betas: [0.9, 0.999], weight_decay: 0.01, clip_grad_norm: 1.0 },
      batch: { micro: 128 },
      schedule: { kind: 'cosine', warmup: 100, min_lr: 1e-4 },
      epochs: 5,
      eval: { every: 0 },
      log: { every: 50 },
      seed: 1337,
      checkpoint: { dir: join(examples, 'checkpoints') },
    });
  });

  it('loads the CNN example', () => {
    const spec = loadSpecFile(join(examples, 'fashion-mnist-cnn.yaml'), [useTempData]);
    expect(spec).toMatchObject({
      name: 'fashion-mnist-cnn',
      model: { kind: 'cnn', channels: [32, 64], hidden: 256 },
      optimizer: { kind: 'adamw', lr: 1e-3, weight_decay: 0.01 },
      batch: { micro: 128 },
      schedule: { warmup: 100, min_lr: 1e-4 },
      epochs: 3,
      seed: 1337,
    });
  });

  it('switches an example to warm restarts from the command line, keeping its warmup and min_lr', () => {
    const file = join(examples, 'fashion-mnist-mlp.yaml');
    const spec = loadSpecFile(file, [useTempData, 'schedule.kind=cosine_restarts', 'schedule.t0=200', 'schedule.t_mult=2']);
    expect(spec.schedule).toEqual({ kind: 'cosine_restarts', warmup: 100, min_lr: 1e-4, t0: 200, t_mult: 2 });
  });

  it('applies overrides of every form', () => {
    const file = writeSpec('cnn.yaml', `name: o\nmodel: { kind: cnn }\ndata: { dir: ${dataDir} }\n`);
    const spec = loadSpecFile(file, [
      'optimizer.lr=3e-4',
      'steps=200',
      'optimizer.nesterov=true',
      'model.channels=[16, 32]',
      'optimizer.betas=[0.8,0.99]',
      'eval={ every: 10 }',
      'checkpoint.dir=ck=pt',
      ' threads = 2',
    ]);
    expect(spec).toMatchObject({
      optimizer: { lr: 3e-4, nesterov: true, betas: [0.8, 0.99] },
      steps: 200,
      threads: 2,
      model: { channels: [16, 32] },
      eval: { every: 10 },
      checkpoint: { dir: join(root, 'ck=pt') },
    });
  });

  it('leaves the raw spec untouched when applying overrides', () => {
    const raw = { optimizer: { lr: 1 } };
    expect(applyOverrides(raw, ['optimizer.lr=2', 'seed=3'])).toEqual({ optimizer: { lr: 2 }, seed: 3 });
    expect(raw).toEqual({ optimizer: { lr: 1 } });
  });

  const badOverrides: { override: string; reason: RegExp }[] = [
    { override: 'optimizer.lr', reason: /expected key\.path=value/ },
    { override: '=3', reason: /expected key\.path=value/ },
    { override: 'optimizer..lr=3', reason: /expected key\.path=value/ },
    { override: 'model.hidden=[512,', reason: /the value is not valid YAML/ },
    { override: 'name=a: b', reason: /the value must be a scalar or a flow collection/ },
  ];
  it.each(badOverrides)('rejects the override $override', ({ override, reason }) => {
    const message = new RegExp(`^spec: override ${JSON.stringify(override).replace(/[[.]/g, '\\$&')}: ${reason.source}`);
    expectError(() => applyOverrides({}, [override]), 'BAD_SPEC', message);
  });

  it('reports a typo in an override key like one in the file', () => {
    const file = join(examples, 'fashion-mnist-mlp.yaml');
    expectError(
      () => loadSpecFile(file, [useTempData, 'optimiser.lr=3e-4']),
      'BAD_SPEC',
      'spec: unknown key "optimiser" (did you mean "optimizer"?)',
    );
  });

  it('refuses a YAML alias bomb in one line, before expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const file = writeSpec('laughs.yaml', `${levels.join('\n')}\nname: x\n`);
    expectError(() => loadSpecFile(file, []), 'BAD_SPEC', /laughs\.yaml: .*alias.*\(a spec may expand at most 100 aliases\)$/i);
  });

  it('refuses a spec file over the size limit, naming its size', () => {
    const file = writeSpec('huge.yaml', `name: x\n# ${'y'.repeat(SPEC_MAX_BYTES)}\n`);
    expectError(() => loadSpecFile(file, []), 'BAD_SPEC', new RegExp(`huge\\.yaml is \\d+ bytes, more than the ${SPEC_MAX_BYTES} a spec may have$`));
  });

  it.each([2 ** 31 - 1, -1001, 0.5])('refuses priority %s, naming the range', (priority) => {
    expectError(() => checkPriority(priority), 'BAD_ARGUMENT', `priority ${priority}: must be an integer in [-1000, 1000]`);
  });

  it('reports YAML syntax errors with file:line:col', () => {
    const file = writeSpec('broken.yaml', 'name: x\nmodel: [1,\nseed: 2\n');
    expectError(() => loadSpecFile(file, []), 'BAD_SPEC', new RegExp(`^spec: ${file.replace(/\./g, '\\.')}:3:1: \\S`));
  });

  it('reports duplicate keys as YAML errors', () => {
    const file = writeSpec('dup.yaml', 'name: x\nname: y\n');
    expectError(() => loadSpecFile(file, []), 'BAD_SPEC', /dup\.yaml:2:1: Map keys must be unique$/);
  });

  it.each([
    ['a missing file', join(root, 'absent.yaml')],
    ['a directory', root],
  ])('reports %s as unreadable', (_what, path) => {
    expectError(() => loadSpecFile(path, []), 'FILE_UNREADABLE', new RegExp(`^spec: cannot read ${path.replace(/\./g, '\\.')}: `));
  });
});

describe('specHash', () => {
  const spec = validateSpec(minimal, { specDir: root });

  it('is a sha256 hex digest independent of key order', () => {
    const reordered = Object.fromEntries(Object.entries(spec).reverse()) as typeof spec;
    expect(specHash(spec)).toMatch(/^[0-9a-f]{64}$/);
    expect(specHash(reordered)).toBe(specHash(spec));
  });

  it('changes when a value changes', () => {
    expect(specHash({ ...spec, seed: 1 })).not.toBe(specHash(spec));
  });
});
