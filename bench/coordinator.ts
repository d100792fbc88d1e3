/**
 * A throwaway coordinator for the benchmarks' rendezvous (fresh state directory, any free port).
 * Its token goes into this process's environment, which the bench's rank processes inherit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTokenFile, TOKEN_ENV, TOKEN_FILE_NAME } from '../common/token.js';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'coordinator', 'main.js');

export async function startCoordinator(): Promise<{ address: string; stop(): void }> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ringmaster-bench-'));
  const child = spawn(process.execPath, [ENTRY, '--port', '0', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error('the coordinator did not start within 20s')), 20_000);
    child.stdout.on('data', (d) => {
      const m = /listening on \S+:(\d+)/.exec((log += d));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  process.env[TOKEN_ENV] = readTokenFile(path.join(stateDir, TOKEN_FILE_NAME));
  return { address: `localhost:${port}`, stop: () => child.kill('SIGTERM') };
}
