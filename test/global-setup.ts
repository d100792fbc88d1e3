/**
 * Every test's temporary files (checkpoints, state directories, clusters' logs) go under one
 * directory of this run, removed when the run ends: a checkpoint test alone writes over a GiB.
 * Child processes (ranks, agents, coordinators) inherit TMPDIR.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-test-run-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
