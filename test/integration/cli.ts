/** Runs the built `ringmaster` CLI (dist/, made by `npm test`'s build step) as a user would. */
import type { TrainingReport } from '../../common/metrics.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion, killing it after `timeoutMs` so a hang fails the test instead. */
export function ringmaster(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ringmaster ${args.join(' ')} did not finish within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last stdout line parsed as the --json summary. */
/** The --json summary `ringmaster train` prints last (common/metrics.ts's TrainingReport). */
export function summary(r: CliResult): TrainingReport {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as TrainingReport;
}
