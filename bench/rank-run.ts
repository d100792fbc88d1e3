/** Runs one bench rank process (dp-rank.ts) and resolves with the JSON line it prints. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchRankResult {
  samplesPerSec: number; // of the whole group
  stepMs: number;
  computeMs: number;
  communicateMs: number;
  optimizeMs: number;
  pipelineWaitMs: number;
}

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dp-rank.js');

export function runBenchRank(args: string[]): Promise<BenchRankResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as BenchRankResult) : reject(new Error(`dp-rank exited with ${code}`))));
  });
}
