/** Where `ringmaster train` checkpoints, and what its `--resume <dir>` names (cli/local-checkpoints.ts). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { localCheckpointTarget, localRunToken, resolveResumeDir } from '../../cli/local-checkpoints.js';
import { RingmasterError } from '../../common/errors.js';
import type { JobSpec } from '../../jobs/types.js';

const NOW = new Date(Date.UTC(2025, 2, 1, 7, 4, 5));

describe('local checkpoint target', () => {
  const spec = { name: 'mlp', checkpoint: { every: 100, keep: 3, dir: '/ckpt' } } as JobSpec;

  it('names a run by its UTC start time, to the second, and its process id', () => {
    expect(localRunToken(NOW, 4242)).toBe('local-20250301-070405-4242');
  });

  it('gives a fresh run a root of its own', () => {
    expect(localCheckpointTarget(spec, NOW, undefined, 4242)).toEqual({ root: '/ckpt/mlp/local-20250301-070405-4242', token: 'local-20250301-070405-4242' });
  });

  it('keeps a resumed run in the root it resumed from, with a fresh token', () => {
    const resume = { root: '/ckpt/mlp/local-20250228-230000', step: 150 };
    expect(localCheckpointTarget(spec, NOW, resume, 4242)).toEqual({ root: '/ckpt/mlp/local-20250228-230000', token: 'local-20250301-070405-4242' });
  });
});

describe('--resume <dir>', () => {
  let base: string;
  let spec: JobSpec;
  let run: string;

  beforeAll(() => {
    base = mkdtempSync(path.join(tmpdir(), 'ringmaster-resume-'));
    spec = { name: 'mlp', checkpoint: { every: 100, keep: 3, dir: base } } as JobSpec;
    run = path.join(base, 'mlp', 'local-20250301-070405');
    for (const step of ['step-00000100', 'step-00000200']) {
      mkdirSync(path.join(run, step), { recursive: true });
      writeFileSync(path.join(run, step, 'manifest.json'), '{}');
    }
    mkdirSync(path.join(base, 'mlp', 'local-20250228-230000'));
    mkdirSync(path.join(base, 'stray'));
    writeFileSync(path.join(base, 'stray', 'manifest.json'), '{}');
  });

  it('a step directory resumes exactly that step of its root', () => {
    expect(resolveResumeDir(path.join(run, 'step-00000100'), spec)).toEqual({ root: run, step: 100 });
  });

  it('a root resumes its newest valid checkpoint', () => {
    expect(resolveResumeDir(run, spec)).toEqual({ root: run });
  });

  it('a relative path is taken from the working directory', () => {
    expect(resolveResumeDir(path.relative(process.cwd(), run), spec)).toEqual({ root: run });
  });

  it.each([
    { what: 'a missing path', dir: () => path.join(base, 'absent'), says: (d: string) => `--resume ${d}: no such directory (pass a checkpoint root such as ${base}/mlp/local-YYYYMMDD-HHMMSS-PID, or one of its step-NNNNNNNN directories)` },
    { what: 'a file', dir: () => path.join(base, 'stray', 'manifest.json'), says: (d: string) => `--resume ${d}: no such directory (pass a checkpoint root such as ${base}/mlp/local-YYYYMMDD-HHMMSS-PID, or one of its step-NNNNNNNN directories)` },
    { what: 'a step directory no longer there (pruned)', dir: () => path.join(run, 'step-00000050'), says: (d: string) => `--resume ${d}: no such directory (its run keeps steps 100, 200; pass one of those, or the run's directory ${run})` },
    { what: 'the directory above the runs', dir: () => path.join(base, 'mlp'), says: (d: string) => `--resume ${d}: holds no checkpoints (pass one of its runs, e.g. ${d}/local-20250301-070405)` },
    { what: 'a manifest in a directory not named step-N', dir: () => path.join(base, 'stray'), says: (d: string) => `--resume ${d}: holds manifest.json but is not named step-NNNNNNNN` },
  ])('refuses $what with BAD_ARGUMENT in one line naming the path and the fix', ({ dir, says }) => {
    const d = dir();
    let thrown: unknown;
    try {
      resolveResumeDir(d, spec);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(RingmasterError);
    expect((thrown as RingmasterError).code).toBe('BAD_ARGUMENT');
    expect((thrown as RingmasterError).message).toContain(says(d));
    expect((thrown as RingmasterError).message).not.toContain('\n');
  });
});
