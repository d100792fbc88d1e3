/**
 * The engine without Node: native/tools/train_gpt.cc links the engine library alone (what a GPU
 * machine with no Node runs) and trains a character-level GPT on a text file; its loss must
 * fall, and a usage mistake must be named on the first line, with exit code 2.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const program = fileURLToPath(new URL('../../build/train-gpt', import.meta.url));
const corpus = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));

describe('train-gpt (the engine library alone)', () => {
  it('trains a GPT on a text file: the loss falls', () => {
    const r = spawnSync(program, ['--text', corpus, '--steps', '80', '--log', '20', '--layers', '1', '--heads', '2', '--channels', '32', '--block', '16', '--batch', '8', '--lr', '3e-3', '--threads', '1'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/vocabulary 65, 1115394 tokens/);
    const losses = [...r.stdout.matchAll(/loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.3);
  });

  it('refuses a missing --text and an unknown option with a line naming the problem, then the usage; exit code 2', () => {
    for (const args of [[], ['--text', corpus, '--bogus', '1']]) {
      const r = spawnSync(program, args, { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^train-gpt: /);
    }
  });
});
