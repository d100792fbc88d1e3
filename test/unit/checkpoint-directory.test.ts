import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RingmasterError, type ErrorCode } from '../../common/errors.js';
import { writeDurable } from '../../worker/checkpoint/durable.js';
import { listCheckpoints } from '../../worker/checkpoint/layout.js';
import type { ManifestFields } from '../../worker/checkpoint/manifest.js';
import { openCheckpoint, openNewestValidCheckpoint } from '../../worker/checkpoint/read.js';
import { encodeSafetensors } from '../../worker/checkpoint/safetensors.js';
import { publishCheckpoint, pruneCheckpoints, stageCheckpoint } from '../../worker/checkpoint/write.js';

const TOKEN = 'attempt-1';
const FIELDS: ManifestFields = {
  specHash: 'abc123',
  layout: { data: 2, pipeline: 1 },
  rng: { seed: 1337, counter: 4 },
  data: { epoch: 1, position: 640 },
  lossScaler: null,
  schedule: { lr: 0.001 },
};

let root: string;
beforeEach(async () => {
  root = join(await mkdtemp(join(tmpdir(), 'ringmaster-ckpt-')), 'checkpoints');
});
afterEach(async () => {
  await rm(join(root, '..'), { recursive: true, force: true });
});

/** A stage file whose one tensor holds `value` everywhere, so each step's files differ. */
function stageFile(value: number): Buffer {
  return encodeSafetensors([['w', { dtype: 'F32', shape: [4], data: new Float32Array(4).fill(value) }]], { step: String(value) });
}

/** Two ranks write their files into the staging directory, then one publishes. */
async function writeCheckpoint(step: number, options: { token?: string; fields?: ManifestFields } = {}): Promise<string> {
  const token = options.token ?? TOKEN;
  await Promise.all(
    [0, 1].map(async (rank) => {
      const dir = await stageCheckpoint(root, step, token);
      await writeDurable(join(dir, `rank-${rank}.safetensors`), stageFile(step + rank));
    }),
  );
  return publishCheckpoint(root, step, token, options.fields ?? FIELDS);
}

async function expectRefused(promise: Promise<unknown>, code: ErrorCode, names: string): Promise<RingmasterError> {
  const error = await promise.then(
    () => expect.unreachable('expected a RingmasterError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RingmasterError);
  expect((error as RingmasterError).code).toBe(code);
  expect((error as RingmasterError).message).toContain(names);
  expect((error as RingmasterError).message).not.toContain('\n');
  return error as RingmasterError;
}

describe('publish and open', () => {
  it('publishes a staged directory under its step name and opens it whole', async () => {
    const dir = await writeCheckpoint(150);
    expect(dir).toBe(join(root, 'step-00000150'));
    expect(await readdir(root)).toEqual(['step-00000150']); // the staging directory became it
    const checkpoint = await openCheckpoint(dir);
    expect(checkpoint.step).toBe(150);
    expect(checkpoint.manifest.fields).toEqual(FIELDS);
    expect(checkpoint.fileNames).toEqual(['rank-0.safetensors', 'rank-1.safetensors']);
    const tensors = await checkpoint.readTensors('rank-1.safetensors');
    expect(Array.from(tensors.tensors.get('w')!.data as Float32Array)).toEqual([151, 151, 151, 151]);
    expect(tensors.metadata).toEqual({ step: '151' });
  });

  it('writes a flat manifest with the sha256 and size of every file', async () => {
    const dir = await writeCheckpoint(7);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const bytes = stageFile(7);
    expect(manifest).toEqual({
      format: 1,
      step: 7,
      ...FIELDS,
      files: {
        'rank-0.safetensors': { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length },
        'rank-1.safetensors': expect.objectContaining({ bytes: stageFile(8).length }),
      },
    });
  });

  it('refuses to publish an empty staging directory or reserved field names', async () => {
    await stageCheckpoint(root, 3, TOKEN);
    await expectRefused(publishCheckpoint(root, 3, TOKEN, FIELDS), 'DATA_MISSING', '.step-00000003.tmp-attempt-1');
    await expectRefused(publishCheckpoint(root, 4, TOKEN, FIELDS), 'DATA_MISSING', '.step-00000004.tmp-attempt-1');
    await writeDurable(join(await stageCheckpoint(root, 3, TOKEN), 'x.safetensors'), stageFile(3));
    await expect(publishCheckpoint(root, 3, TOKEN, { step: 9 })).rejects.toThrow(RangeError);
  });

  it('replaces a step that is published again, leaving no hidden directory behind', async () => {
    await writeCheckpoint(100, { fields: { run: 1 } });
    await writeDurable(join(root, 'step-00000100', 'stale.bin'), Buffer.from('from the first run'));
    await writeCheckpoint(100, { token: 'attempt-2', fields: { run: 2 } });
    expect(await readdir(root)).toEqual(['step-00000100']);
    const checkpoint = await openCheckpoint(join(root, 'step-00000100'));
    expect(checkpoint.manifest.fields).toEqual({ run: 2 });
    expect(await readdir(checkpoint.dir)).not.toContain('stale.bin');
  });
});

describe('list and prune', () => {
  it('lists published checkpoints newest first, ignoring everything else', async () => {
    expect(await listCheckpoints(root)).toEqual([]); // the root does not exist yet
    for (const step of [5, 150, 20]) await writeCheckpoint(step);
    await stageCheckpoint(root, 300, TOKEN); // a write in progress, or killed
    await mkdir(join(root, 'step-abc'));
    await mkdir(join(root, 'step-5')); // not the canonical spelling of step 5
    await writeFile(join(root, 'step-00000400'), 'a file, not a directory');
    await writeFile(join(root, 'notes.txt'), '');
    const listed = await listCheckpoints(root);
    expect(listed).toEqual([150, 20, 5].map((step) => ({ step, path: join(root, `step-${String(step).padStart(8, '0')}`) })));
  });

  it('keeps the newest K and removes other attempts’ leftovers, not this attempt’s staging', async () => {
    for (const step of [1, 2, 3, 4, 5]) await writeCheckpoint(step);
    await stageCheckpoint(root, 9, 'attempt-0'); // a dead attempt's partial write
    await mkdir(join(root, '.step-00000002.del-attempt-0')); // a dead attempt's interrupted prune
    const current = await stageCheckpoint(root, 6, TOKEN); // ranks are writing step 6 right now
    const removed = await pruneCheckpoints(root, { keep: 2, token: TOKEN });
    expect(removed).toEqual([3, 2, 1].map((s) => join(root, `step-0000000${s}`)));
    expect((await listCheckpoints(root)).map((c) => c.step)).toEqual([5, 4]);
    expect((await readdir(root)).sort()).toEqual(['.step-00000006.tmp-attempt-1', 'step-00000004', 'step-00000005']);
    expect(current).toBe(join(root, '.step-00000006.tmp-attempt-1'));
    await expect(pruneCheckpoints(root, { keep: 0, token: TOKEN })).rejects.toThrow(RangeError);
  });
});

describe('invalid checkpoints', () => {
  const rankFile = (step: number) => join(root, `step-${String(step).padStart(8, '0')}`, 'rank-0.safetensors');
  const manifestFile = (step: number) => join(root, `step-${String(step).padStart(8, '0')}`, 'manifest.json');

  const cases: { what: string; damage: (step: number) => Promise<unknown>; code: ErrorCode; file: (step: number) => string; says: string }[] = [
    {
      what: 'a changed byte',
      damage: async (step) => {
        const bytes = await readFile(rankFile(step));
        bytes[bytes.length - 1] ^= 0x01;
        await writeFile(rankFile(step), bytes);
      },
      code: 'DATA_CORRUPT',
      file: rankFile,
      says: 'sha256 differs from the manifest',
    },
    { what: 'a truncated file', damage: (step) => truncate(rankFile(step), 10), code: 'DATA_CORRUPT', file: rankFile, says: 'is 10 bytes long' },
    { what: 'a missing file', damage: (step) => rm(rankFile(step)), code: 'DATA_MISSING', file: rankFile, says: 'is missing' },
    { what: 'a missing manifest', damage: (step) => rm(manifestFile(step)), code: 'DATA_MISSING', file: manifestFile, says: 'is missing' },
    {
      what: 'an unparsable manifest',
      damage: (step) => writeFile(manifestFile(step), '{"format": 1,'),
      code: 'DATA_CORRUPT',
      file: manifestFile,
      says: 'not valid JSON',
    },
    {
      what: 'a manifest of another step',
      damage: async (step) => {
        const manifest = JSON.parse(await readFile(manifestFile(step), 'utf8'));
        await writeFile(manifestFile(step), JSON.stringify({ ...manifest, step: step + 1 }));
      },
      code: 'DATA_CORRUPT',
      file: manifestFile,
      says: `records step 201, its directory is for step 200`,
    },
  ];

  it.each(cases)('$what is refused, naming the file', async ({ damage, code, file, says }) => {
    await writeCheckpoint(200);
    await damage(200);
    const error = await expectRefused(openCheckpoint(join(root, 'step-00000200')), code, file(200));
    expect(error.message).toContain(says);
    expect(error.message).toContain('resume from an older checkpoint');
  });

  it.each(cases)('$what makes openNewestValid fall back to the older one, reporting the skip', async ({ damage, file }) => {
    await writeCheckpoint(100);
    await writeCheckpoint(200);
    await damage(200);
    const skipped: [string, string][] = [];
    const checkpoint = await openNewestValidCheckpoint(root, { onSkip: (path, reason) => skipped.push([path, reason]) });
    expect(checkpoint?.step).toBe(100);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]![0]).toBe(join(root, 'step-00000200'));
    expect(skipped[0]![1]).toContain(file(200));
  });

  it('never returns a staging directory, even a newer one', async () => {
    await writeCheckpoint(100);
    const staging = await stageCheckpoint(root, 200, TOKEN); // killed after writing one rank's file
    await writeDurable(join(staging, 'rank-0.safetensors'), stageFile(200));
    const skipped: string[] = [];
    const checkpoint = await openNewestValidCheckpoint(root, { onSkip: (path) => skipped.push(path) });
    expect(checkpoint?.step).toBe(100);
    expect(skipped).toEqual([]);
  });

  it('does not fall back when a step is asked for', async () => {
    await writeCheckpoint(100);
    await writeCheckpoint(200);
    await rm(rankFile(200));
    await expectRefused(openNewestValidCheckpoint(root, { step: 200 }), 'DATA_MISSING', rankFile(200));
    await expectRefused(openNewestValidCheckpoint(root, { step: 150 }), 'DATA_MISSING', 'steps there: 200, 100');
    expect((await openNewestValidCheckpoint(root, { step: 100 }))?.step).toBe(100);
  });

  it('answers null when no checkpoint is valid or there is none', async () => {
    expect(await openNewestValidCheckpoint(root)).toBeNull();
    await writeCheckpoint(100);
    await rm(manifestFile(100));
    expect(await openNewestValidCheckpoint(root)).toBeNull();
  });

  it('verifies a file again when it is read after opening', async () => {
    await writeCheckpoint(100);
    const checkpoint = await openCheckpoint(join(root, 'step-00000100'));
    await writeFile(rankFile(100), stageFile(999));
    await expectRefused(checkpoint.read('rank-0.safetensors'), 'DATA_CORRUPT', rankFile(100));
    await expectRefused(checkpoint.read('rank-7.safetensors'), 'DATA_MISSING', 'rank-7.safetensors');
  });
});
