/**
 * `coordinator`, `worker` and `up`: the long-running processes. Each runs from its own entry
 * point (coordinator/main.ts, worker/agent-main.ts) as a child of this command, so the CLI
 * never loads the coordinator's or the worker's code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingmasterError } from '../../common/errors.js';
import type { ReadyMessage } from '../../common/readiness.js';
import { TOKEN_FILE_NAME } from '../../common/token.js';
import { useConnectionFlags, type ConnectionFlags } from '../client.js';
import { EXIT } from '../output.js';
import { SILENT } from '../follow-display.js';
import { followJob, submitJob } from './jobs.js';
import { loadSpecFile } from '../../jobs/load.js';
import { defaultRoots, jobPaths } from '../../jobs/roots.js';

const COORDINATOR_ENTRY = fileURLToPath(new URL('../../coordinator/main.js', import.meta.url));
const AGENT_ENTRY = fileURLToPath(new URL('../../worker/agent-main.js', import.meta.url));

/** How long `up` waits for its coordinator to listen and its worker to register. */
export const STARTUP_TIMEOUT_MS = 20_000;

export interface CoordinatorFlags {
  host: string;
  port: number;
  stateDir: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
  httpPort?: number; // Prometheus metrics at /metrics on this port
}

/** `--name value` for each flag that is set. */
function given(pairs: [string, string | undefined][]): string[] {
  return pairs.flatMap(([name, value]) => (value ? [name, value] : []));
}

function coordinatorArgs(f: CoordinatorFlags): string[] {
  return ['--host', f.host, '--port', String(f.port), '--state-dir', f.stateDir,
    ...given([['--tls-cert', f.tlsCert], ['--tls-key', f.tlsKey], ['--tls-ca', f.tlsCa], ['--http-port', f.httpPort === undefined ? undefined : String(f.httpPort)]]),
    ...(f.insecure ? ['--insecure'] : [])];
}

/** Runs an entry point in the foreground; Ctrl-C reaches it through the terminal's process group. */
function foreground(entry: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [entry, ...args], { stdio: 'inherit' });
  const ignore = () => {}; // the child handles the signal and exits; we wait for it
  process.on('SIGINT', ignore);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? EXIT.failed)));
}

export const coordinatorCommand = (f: CoordinatorFlags) => foreground(COORDINATOR_ENTRY, coordinatorArgs(f));

/** Where a worker's jobs may read and write (jobs/roots.ts); absent: the agent's defaults. */
interface RootFlags {
  dataRoots?: string[];
  checkpointRoots?: string[];
}

function rootArgs(o: RootFlags): string[] {
  return [...(o.dataRoots ?? []).flatMap((r) => ['--data-root', path.resolve(r)]), ...(o.checkpointRoots ?? []).flatMap((r) => ['--checkpoint-root', path.resolve(r)])];
}

export const workerCommand = (o: { address: string; slots: string; advertise?: string; drainTimeoutS?: number; orphanGraceS?: number } & ConnectionFlags & RootFlags) =>
  foreground(AGENT_ENTRY, ['--coordinator', o.address, '--slots', o.slots, ...rootArgs(o),
    ...given([['--address', o.advertise], ['--token-file', o.tokenFile], ['--tls-ca', o.tlsCa], ['--tls-cert', o.tlsCert], ['--tls-key', o.tlsKey],
      ['--drain-timeout-s', o.drainTimeoutS?.toString()], ['--orphan-grace-s', o.orphanGraceS?.toString()]])]);

/**
 * `up`'s worker roots: the flags, else the defaults; either way with the paths of the job it is
 * asked to run (`--submit`), which the person starting it chose.
 */
function upRoots(o: RootFlags & { submit?: string; set: string[] }): RootFlags {
  const defaults = defaultRoots(process.cwd());
  const roots = { data: o.dataRoots ?? defaults.data, checkpoints: o.checkpointRoots ?? defaults.checkpoints };
  if (o.submit) {
    for (const p of jobPaths(loadSpecFile(o.submit, o.set))) roots[p.kind].push(p.kind === 'data' && p.key === 'data.path' ? path.dirname(p.path) : p.path);
  }
  return { dataRoots: roots.data, checkpointRoots: roots.checkpoints };
}

/** Starts a child that shares this terminal and says over IPC when it is ready (common/readiness.ts). */
function child(entry: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** The child's first `type` message; rejects if it exits first or takes longer than the startup timeout. */
function ready<T extends ReadyMessage['type']>(c: ChildProcess, what: string, type: T): Promise<Extract<ReadyMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new RingmasterError('UNAVAILABLE', `the ${what} did not start within ${STARTUP_TIMEOUT_MS / 1000}s (see its output above)`)), STARTUP_TIMEOUT_MS);
    c.once('exit', (code) => reject(new RingmasterError('UNAVAILABLE', `the ${what} exited with code ${code} while starting (see its output above)`)));
    c.on('message', (m: ReadyMessage) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      resolve(m as Extract<ReadyMessage, { type: T }>);
    });
  });
}

/** Exit codes after a signal, as a shell reports them (128 + the signal's number). */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * A coordinator and one local worker. With `submit`, also runs that job to its end, then stops
 * the cluster and exits with the job's outcome (what `npm start` does). SIGINT or SIGTERM to
 * this process stops both children before it exits (Ctrl-C in a terminal reaches them too).
 */
export async function upCommand(o: CoordinatorFlags & RootFlags & { slots: string; submit?: string; set: string[] }): Promise<number> {
  const roots = rootArgs(upRoots(o)); // a spec that does not load fails here, before anything starts
  const coordinator = child(COORDINATOR_ENTRY, coordinatorArgs(o));
  const children = [coordinator];
  const stopAll = (children: ChildProcess[]) => Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
  })));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stopAll(children).then(() => process.exit(SIGNAL_EXIT[signal])));
  }
  try {
    const { port } = await ready(coordinator, 'coordinator', 'listening');
    const address = `localhost:${port}`;
    const tokenFile = path.join(o.stateDir, TOKEN_FILE_NAME);
    useConnectionFlags({ tokenFile });
    process.stdout.write(`ringmaster: the coordinator's token is in ${tokenFile}: other commands read it from there when run in this directory, or from --token-file\n`);
    // One machine: its ranks reach each other over loopback.
    const worker = child(AGENT_ENTRY, ['--coordinator', address, '--slots', o.slots, '--address', '127.0.0.1', '--token-file', tokenFile, ...roots]);
    children.unshift(worker);
    await ready(worker, 'worker', 'registered');
    if (!o.submit) {
      await Promise.all([coordinator, worker].map((c) => new Promise((resolve) => c.once('exit', resolve))));
      return EXIT.ok;
    }
    const code = await submitJob({ address, spec: o.submit, set: o.set, priority: 0 })
      .then((job) => followJob(address, job.id, false, SILENT)) // the coordinator's log shows the progress
      .finally(() => stopAll(children));
    return code;
  } catch (e) {
    await stopAll(children);
    throw e;
  }
}
