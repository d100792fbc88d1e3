/**
 * Where `ringmaster train` keeps its checkpoints, and what its `--resume <dir>` means.
 *
 *   <checkpoint.dir>/<name>/local-20250301-170045-4242/      the root of one local run
 *   <checkpoint.dir>/<name>/local-20250301-170045-4242/step-00000150/manifest.json
 *
 * A fresh run gets a root of its own, named by its start time (UTC) and its process id (two
 * runs started in the same second must not share a root: each would prune the other's staging
 * directory as a dead attempt's); a resumed run keeps
 * writing into the root it resumed from, with a fresh token, so its checkpoints continue the
 * ones it started from.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { MANIFEST_NAME, parseStepDirName } from '../common/checkpoint-names.js';
import { RingmasterError } from '../common/errors.js';
import type { CheckpointTarget, ResumeFrom } from '../common/checkpoint-names.js';
import type { JobSpec } from '../jobs/types.js';

/** `local-20250301-170045-4242`: the run's start time in UTC, to the second, and its process id. */
export function localRunToken(now: Date, pid: number): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `local-${stamp}-${pid}`;
}

/** Where a local run publishes: a new root per run, or the root it resumes from. */
export function localCheckpointTarget(spec: JobSpec, now: Date, resume?: ResumeFrom, pid = process.pid): CheckpointTarget {
  const token = localRunToken(now, pid);
  return { root: resume?.root ?? path.join(spec.checkpoint.dir, spec.name, token), token };
}

/**
 * What `--resume <dir>` names: a checkpoint step directory (it holds manifest.json) resumes
 * exactly that step; a checkpoint root (it holds step directories) resumes its newest valid
 * checkpoint. Anything else is refused in one line naming the path and what to pass instead.
 */
export function resolveResumeDir(dir: string, spec: JobSpec): ResumeFrom {
  return resolveCheckpointDir(dir, '--resume', path.join(spec.checkpoint.dir, spec.name, 'local-YYYYMMDD-HHMMSS-PID'));
}

/** The same for any option or argument `flag` that names a checkpoint (`example`: a root to suggest). */
export function resolveCheckpointDir(dir: string, flag: string, example: string): ResumeFrom {
  const absolute = path.resolve(dir);
  const fix = `pass a checkpoint root such as ${example}, or one of its step-NNNNNNNN directories`;
  if (!isDirectory(absolute)) {
    // A step directory that is gone was most likely pruned: say which steps its run still keeps.
    const kept = parseStepDirName(path.basename(absolute)) !== undefined ? stepsIn(path.dirname(absolute)) : [];
    const hint = kept.length ? `its run keeps steps ${kept.join(', ')}; pass one of those, or the run's directory ${path.dirname(dir)}` : fix;
    throw new RingmasterError('BAD_ARGUMENT', `${flag} ${dir}: no such directory (${hint})`);
  }
  if (existsSync(path.join(absolute, MANIFEST_NAME))) {
    const step = parseStepDirName(path.basename(absolute));
    if (step === undefined) {
      throw new RingmasterError('BAD_ARGUMENT', `${flag} ${dir}: holds ${MANIFEST_NAME} but is not named step-NNNNNNNN, so it is not a published checkpoint (${fix})`);
    }
    return { root: path.dirname(absolute), step };
  }
  if (stepsIn(absolute).length === 0) {
    // Most often the directory above the runs was named; point at its newest run.
    const newestRun = readdirSync(absolute).filter((name) => name.startsWith('local-')).sort().at(-1);
    const hint = newestRun ? `pass one of its runs, e.g. ${path.join(dir, newestRun)}` : fix;
    throw new RingmasterError('BAD_ARGUMENT', `${flag} ${dir}: holds no checkpoints (${hint})`);
  }
  return { root: absolute };
}

/** The steps of the checkpoint directories in `root`, ascending; [] when it cannot be read. */
function stepsIn(root: string): number[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const step = parseStepDirName(name);
    return step === undefined ? [] : [step];
  }).sort((a, b) => a - b);
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
