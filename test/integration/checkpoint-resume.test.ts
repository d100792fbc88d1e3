/**
 * Checkpoints that resume bit for bit: a 2-rank job run for 300 steps, and the same job killed
 * at step ~170 and resumed from its step-150 checkpoint, report identical losses for every step
 * after 150 and end with identical parameter bytes. A corrupt newest checkpoint is refused, named,
 * and resume falls back to the one before; a job killed while writing a checkpoint every step
 * leaves only checkpoints that open whole.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints } from '../../worker/checkpoint/layout.js';
import { openCheckpoint } from '../../worker/checkpoint/read.js';
import { FixtureExit, type RankResult, runFixture, sameBytes } from './dp-train.js';
import { LocalCluster } from './local-cluster.js';

const STEPS = 300;
const OVERRIDES = ['checkpoint.every=50', 'checkpoint.keep=3'];

interface RunOptions {
  root: string;
  token: string;
  resume?: { root: string; step?: number };
  killAfterStep?: number;
  killAfterCheckpoint?: number;
  overrides?: string[];
}

let cluster: LocalCluster;
let work: string;

/** Both ranks of one run; resolves with rank 0's result, or null for a run that killed itself. */
async function run2(name: string, o: RunOptions): Promise<RankResult | null> {
  const scope = `resume-${name}-${Date.now()}/1`;
  const ranks = [0, 1].map((rank) => runFixture({
    out: path.join(work, `${name}-r${rank}.json`), micro: 64, steps: STEPS, overrides: o.overrides ?? OVERRIDES,
    group: { address: cluster.address, scope, rank, size: 2 },
    checkpoints: { root: o.root, token: o.token }, resume: o.resume,
    killAfterStep: o.killAfterStep, killAfterCheckpoint: o.killAfterCheckpoint,
  }).catch((e: unknown) => {
    if (e instanceof FixtureExit && e.signal === 'SIGKILL' && o.killAfterStep !== undefined) return null;
    throw e;
  }));
  const [r0, r1] = await Promise.all(ranks);
  if (r0 && r1) expect(sameBytes(r1.params, r0.params), 'identical replicas').toBe(true);
  return r0;
}

describe('checkpoint and resume, 2 ranks', () => {
  let whole: RankResult;
  let killedRoot: string;

  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:2');
    work = mkdtempSync(path.join(tmpdir(), 'ringmaster-resume-'));
    killedRoot = path.join(work, 'killed');
    // The uninterrupted run, and the run killed after step 170 once step 150's checkpoint is out.
    const [a] = await Promise.all([
      run2('whole', { root: path.join(work, 'whole'), token: 'whole' }),
      run2('killed', { root: killedRoot, token: 'killed', killAfterStep: 170, killAfterCheckpoint: 150 }),
    ]);
    whole = a!;
  }, 240_000);
  afterAll(async () => {
    await cluster.stop();
  });

  it('writes a checkpoint every 50 steps and a final one, keeping the newest 3', async () => {
    expect(whole.checkpoints).toEqual([50, 100, 150, 200, 250, 300]);
    expect((await listCheckpoints(path.join(work, 'whole'))).map((c) => c.step)).toEqual([300, 250, 200]);
  });

  it('resumed from step 150, reports the same losses bit for bit and ends with the same parameter bytes', async () => {
    const root = path.join(work, 'resumed');
    cpSync(killedRoot, root, { recursive: true });
    const resumed = (await run2('resumed', { root, token: 'resumed', resume: { root } }))!;
    expect(resumed.resumedFrom).toMatchObject({ step: 150, skipped: [] });
    const after = Object.keys(resumed.losses).map(Number).sort((a, b) => a - b);
    expect(after[0]).toBe(151);
    expect(after).toHaveLength(STEPS - 150);
    for (const step of after) expect(resumed.losses[step], `step ${step}`).toBe(whole.losses[step]);
    expect(sameBytes(resumed.params, whole.params), 'the final parameter bytes').toBe(true);
  }, 120_000);

  it('refuses a checkpoint with a changed byte, naming the file, and falls back to the one before', async () => {
    const root = path.join(work, 'corrupt');
    cpSync(killedRoot, root, { recursive: true });
    const file = path.join(root, 'step-00000150', 'stage-0.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0x40;
    writeFileSync(file, bytes);
    const resumed = (await run2('corrupt', { root, token: 'corrupt', resume: { root } }))!;
    expect(resumed.resumedFrom?.step).toBe(100);
    expect(resumed.resumedFrom?.skipped).toHaveLength(1);
    expect(resumed.resumedFrom?.skipped[0]).toContain(file);
    expect(resumed.resumedFrom?.skipped[0]).toContain('sha256');
    for (const step of [101, 200, 300]) expect(resumed.losses[step], `step ${step}`).toBe(whole.losses[step]);
  }, 120_000);

  it('a job killed while writing a checkpoint every step leaves only checkpoints that open whole', async () => {
    const root = path.join(work, 'every-step');
    await run2('every-step', { root, token: 'every', killAfterStep: 40, overrides: ['checkpoint.every=1', 'checkpoint.keep=100'] });
    const published = await listCheckpoints(root);
    expect(published.length).toBeGreaterThan(0);
    for (const c of published) await expect(openCheckpoint(c.path)).resolves.toMatchObject({ step: c.step });
    // whatever the kill interrupted is still hidden under its staging name
    for (const name of readdirSync(root)) expect(name).toMatch(/^(step-\d{8}|\.step-\d{8}\.\w+-every)$/);
  }, 120_000);
});
