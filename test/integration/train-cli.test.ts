/** `ringmaster train` end to end: determinism, the JSON summary, and one-line user errors. */
import { mkdtempSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ringmaster, summary, type CliResult } from './cli.js';

// The runs' final checkpoints go to a scratch directory, not into jobs/.
const CHECKPOINTS = ['--set', `checkpoint.dir=${mkdtempSync(path.join(tmpdir(), 'ringmaster-train-checkpoints-'))}`];
const SHORT = ['--set', 'steps=60', '--set', 'log.every=20', '--json', ...CHECKPOINTS];

function lossLines(r: CliResult): string[] {
  return r.stdout.split('\n').filter((l) => /^\[[^\]]+\] step \d+\//.test(l));
}

/** A user error: exit code 2, exactly one line on stderr, and no stack trace. */
function expectOneLineError(r: CliResult, ...fragments: string[]): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^ringmaster: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const f of fragments) expect(lines[0]).toContain(f);
}

describe('ringmaster train', () => {
  it.each([1, 2])('prints the same losses digit for digit in two runs with the same seed (%i threads)', async (threads) => {
    const args = ['train', 'jobs/fashion-mnist-mlp.yaml', ...SHORT, '--threads', String(threads)];
    const [a, b] = [await ringmaster(args), await ringmaster(args)];
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(lossLines(a)).toHaveLength(3);
    const strip = (l: string) => l.replace(/ [\d.]+k? samples\/s.*$/, ''); // timing differs, math must not
    expect(lossLines(a).map(strip)).toEqual(lossLines(b).map(strip));
    expect(summary(a).finalLoss).toBe(summary(b).finalLoss);
    expect(summary(a).metrics.test_loss).toBe(summary(b).metrics.test_loss);
  });

  it('ends with a JSON summary of the run', async () => {
    const r = await ringmaster(['train', 'jobs/fashion-mnist-cnn.yaml', '--set', 'steps=20', '--set', 'log.every=10', '--json', ...CHECKPOINTS]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.steps).toBe(20);
    expect(Object.keys(s).sort()).toEqual(['finalLoss', 'metrics', 'samplesPerSec', 'steps', 'tokensPerSec', 'wallSec']);
    expect(Object.keys(s.metrics).sort()).toEqual(['test_accuracy', 'test_loss']);
    expect(s.metrics.test_accuracy).toBeGreaterThan(0.3); // 20 steps of a CNN already beat chance (0.1)
  });
});

describe('user errors end in one line and a non-zero exit', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'ringmaster-cli-'));
  });

  it('names a misspelled key and what it probably meant', async () => {
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', 'optimiser.lr=1e-3']);
    expectOneLineError(r, 'optimiser', 'did you mean "optimizer"');
  });

  it('names an impossible value and what is allowed', async () => {
    expectOneLineError(await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', 'batch.micro=0']), 'batch.micro', '0');
    expectOneLineError(await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', 'optimizer.lr=-1']), 'optimizer.lr');
  });

  it('names a spec file that does not exist', async () => {
    expectOneLineError(await ringmaster(['train', 'jobs/nope.yaml']), 'nope.yaml');
  });

  it('names a data directory that does not exist', async () => {
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', `data.dir=${path.join(scratch, 'absent')}`]);
    expectOneLineError(r, 'data.dir', 'dataset-fashion-mnist');
  });

  it('names a missing data file inside an existing directory', async () => {
    const dir = path.join(scratch, 'empty');
    await mkdir(dir);
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', `data.dir=${dir}`]);
    expectOneLineError(r, dir, 'dataset-fashion-mnist');
  });

  it('names a corrupt data file', async () => {
    const dir = path.join(scratch, 'corrupt');
    await mkdir(dir);
    for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) {
      await writeFile(path.join(dir, f), 'not an idx file');
    }
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', `data.dir=${dir}`]);
    expectOneLineError(r, dir);
  });

  it('ends in one line, without hanging, when checkpoint.dir is under /proc', async () => {
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', 'steps=3', '--set', 'model.hidden=[16]', '--set', 'checkpoint.dir=/proc/ringmaster-ckpt'], 60_000);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ringmaster: checkpoint path \/proc\/ringmaster-ckpt\S* cannot be written: \/proc is on the proc pseudo-filesystem \(choose another checkpoint\.dir\)$/);
  });

  it('refuses a YAML syntax error with the line', async () => {
    const file = path.join(scratch, 'broken.yaml');
    await writeFile(file, 'name: x\nmodel: { kind: mlp\n');
    expectOneLineError(await ringmaster(['train', file]), 'broken.yaml');
  });

  it('names a --resume directory that does not exist, and what to pass instead', async () => {
    const absent = path.join(scratch, 'no-such-run');
    const r = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--resume', absent]);
    expectOneLineError(r, `--resume ${absent}: no such directory`, 'local-YYYYMMDD-HHMMSS-PID', 'step-NNNNNNNN');
  });

  it('refuses an unknown flag', async () => {
    expectOneLineError(await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--nope']), 'nope');
  });
});
