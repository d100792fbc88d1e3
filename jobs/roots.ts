/**
 * Where a job may read and write: each worker allows its data roots (read: `data.dir`,
 * `data.path`) and its checkpoint roots (write: `checkpoint.dir`), `--data-root` and
 * `--checkpoint-root`; by default its working directory (and /usr/share/datasets for data).
 * The coordinator refuses at submission a spec whose paths leave the roots of every worker that
 * could run it, comparing the paths as written (resolved, `..` removed); the worker compares
 * them again after following symlinks, on its own filesystem, before any rank starts.
 */
import { realpath } from 'node:fs/promises';
import { dirname, basename, join, resolve, sep } from 'node:path';
import type { JobSpec } from './types.js';

export interface AllowedRoots {
  data: string[];
  checkpoints: string[];
}

export function defaultRoots(cwd: string): AllowedRoots {
  return { data: [cwd, '/usr/share/datasets'], checkpoints: [cwd] };
}

/** The paths of a spec a worker reads (data) or writes (checkpoints), with their keys. */
export function jobPaths(spec: JobSpec): { key: string; path: string; kind: keyof AllowedRoots }[] {
  const data = spec.data.kind === 'text' ? { key: 'data.path', path: spec.data.path } : { key: 'data.dir', path: spec.data.dir };
  return [{ ...data, kind: 'data' }, { key: 'checkpoint.dir', path: spec.checkpoint.dir, kind: 'checkpoints' }];
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

const FLAG = { data: '--data-root', checkpoints: '--checkpoint-root' } as const;

/** Why `spec` may not run under `roots` (the first path outside them), or undefined; paths as written. */
export function outsideRoots(spec: JobSpec, roots: AllowedRoots, where: string): string | undefined {
  for (const p of jobPaths(spec)) {
    const path = resolve(p.path);
    const allowed = roots[p.kind].map((r) => resolve(r));
    if (!allowed.some((r) => within(path, r))) return rootsMessage(p.key, path, p.kind, allowed, where);
  }
  return undefined;
}

function rootsMessage(key: string, path: string, kind: keyof AllowedRoots, allowed: string[], where: string): string {
  return `spec: ${key} = ${JSON.stringify(path)} is outside the ${kind === 'data' ? 'data' : 'checkpoint'} roots of ${where} (${allowed.join(', ')}); put it under one, or start the worker with ${FLAG[kind]}`;
}

/** `path` with symlinks followed as far as it exists (a checkpoint directory may not exist yet). */
async function real(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await real(parent), basename(path));
  }
}

/** outsideRoots after following symlinks in the paths and the roots, on this machine. */
export async function outsideRootsOnDisk(spec: JobSpec, roots: AllowedRoots, where: string): Promise<string | undefined> {
  for (const p of jobPaths(spec)) {
    const path = await real(resolve(p.path));
    const allowed = await Promise.all(roots[p.kind].map((r) => real(resolve(r))));
    if (!allowed.some((r) => within(path, r))) {
      const via = path === resolve(p.path) ? '' : ` (${resolve(p.path)} leads there)`;
      return rootsMessage(p.key, path, p.kind, allowed, where).replace(' is outside', `${via} is outside`);
    }
  }
  return undefined;
}
