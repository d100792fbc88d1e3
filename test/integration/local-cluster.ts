/**
 * A real coordinator and worker agent as child processes on localhost:0, for integration tests.
 * The coordinator's token reaches the worker and the CLI by --token-file, and this test
 * process's environment (RINGMASTER_TOKEN), which the rank processes tests spawn inherit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readTokenFile, TOKEN_ENV, TOKEN_FILE_NAME } from '../../common/token.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, ringmaster, type CliResult } from './cli.js';

const COORDINATOR = path.join(ROOT, 'dist', 'coordinator', 'main.js');
const AGENT = path.join(ROOT, 'dist', 'worker', 'agent-main.js');

/** Where the tests' jobs read (the shared corpus, Fashion-MNIST) and write (temporary directories, the checkout). */
export const TEST_ROOTS = [
  '--data-root', path.resolve(ROOT, '..', 'shared'), '--data-root', '/usr/share/datasets', '--data-root', ROOT,
  '--checkpoint-root', tmpdir(), '--checkpoint-root', ROOT,
];

interface Proc {
  child: ChildProcess;
  output: string;
}

function start(entry: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, [entry, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  const proc: Proc = { child, output: '' };
  child.stdout!.on('data', (d) => (proc.output += d));
  child.stderr!.on('data', (d) => (proc.output += d));
  return proc;
}

/** Polls `probe` every 100 ms until it returns a value; throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class LocalCluster {
  address = '';
  metricsUrl = ''; // the coordinator's /metrics
  private coordinator!: Proc;
  private worker!: Proc;

  private constructor(readonly stateDir: string) {}

  static async start(slots = 'cpu:1'): Promise<LocalCluster> {
    const cluster = new LocalCluster(mkdtempSync(path.join(tmpdir(), 'ringmaster-cluster-')));
    await cluster.startCoordinator(0);
    await cluster.startWorker(slots);
    return cluster;
  }

  /** Starts the cluster's worker (again, after the last one left); resolves once it registered. */
  async startWorker(slots = 'cpu:1'): Promise<void> {
    const worker = start(AGENT, ['--coordinator', this.address, '--slots', slots, '--address', '127.0.0.1', '--token-file', this.tokenFile, ...TEST_ROOTS]);
    this.worker = worker;
    await until('the worker to register', () => (worker.output.includes('registered as') ? true : undefined));
  }

  /**
   * Starts one more worker beside the cluster's own (a second machine, to the coordinator);
   * resolves once it registered, with its id and a way to stop it.
   */
  async addWorker(slots = 'cpu:1'): Promise<{ id: string; stop(): Promise<void> }> {
    const worker = start(AGENT, ['--coordinator', this.address, '--slots', slots, '--address', '127.0.0.1', '--token-file', this.tokenFile, ...TEST_ROOTS]);
    const [, id] = await until('the added worker to register', () => / registered as (\S+)/.exec(worker.output) ?? undefined);
    return { id: id!, stop: () => kill(worker.child, 'SIGTERM') };
  }

  /** The worker's exit code once it has exited (null while it runs). */
  get workerExitCode(): number | null {
    return this.worker.child.exitCode;
  }

  /** The coordinator's token, made in its state directory on its first start. */
  get tokenFile(): string {
    return path.join(this.stateDir, TOKEN_FILE_NAME);
  }

  get coordinatorLog(): string {
    return this.coordinator.output;
  }

  get workerAlive(): boolean {
    return this.worker.child.exitCode === null && this.worker.child.signalCode === null;
  }

  /** Runs the CLI against this cluster. */
  cli(args: string[], timeoutMs?: number): Promise<CliResult> {
    return ringmaster([...args, '--coordinator', this.address, '--token-file', this.tokenFile], timeoutMs);
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`ringmaster ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** The pids of the job's ranks 0 … count − 1, once its log says each started. */
  rankPids(jobId: string, count: number): Promise<number[]> {
    return until(`${count} rank(s) of ${jobId} to start`, async () => {
      const log = (await this.cli(['logs', jobId])).stdout;
      const found = Array.from({ length: count }, (_, r) => new RegExp(`rank ${r} started \\(pid (\\d+)`).exec(log)?.[1]);
      return found.every(Boolean) ? found.map(Number) : undefined;
    });
  }

  /** Waits until the job is in one of `states`; returns its status JSON. */
  waitForState(jobId: string, states: string[], timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return until(`job ${jobId} to reach ${states.join('/')}`, async () => {
      const s = await this.json<Record<string, unknown>>(['status', jobId]);
      return states.includes(String(s.state)) ? s : undefined;
    }, timeoutMs);
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the worker agent (a frozen agent sends no heartbeats), or drains it (SIGTERM). */
  signalWorker(signal: 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): void {
    this.worker.child.kill(signal);
  }

  /**
   * Kills the coordinator with SIGKILL (unless it is dead already) and starts a new one on the
   * same port and state; with `failpoint`, the new one kills itself there (common/failpoints.ts).
   */
  async restartCoordinator(failpoint?: string): Promise<void> {
    await kill(this.coordinator.child, 'SIGKILL');
    await this.startCoordinator(Number(this.address.split(':')[1]), failpoint ? { ...process.env, RINGMASTER_FAILPOINT: failpoint } : process.env);
  }

  /** Resolves once the coordinator process has exited (a failpoint killed it); rejects after `timeoutMs`. */
  coordinatorExit(timeoutMs = 30_000): Promise<void> {
    const child = this.coordinator.child;
    return until('the coordinator to exit', () => (child.exitCode !== null || child.signalCode !== null ? true : undefined), timeoutMs).then(() => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all([kill(this.worker.child, 'SIGTERM'), kill(this.coordinator.child, 'SIGTERM')]);
  }

  private async startCoordinator(port: number, env?: NodeJS.ProcessEnv): Promise<void> {
    this.coordinator = start(COORDINATOR, ['--port', String(port), '--state-dir', this.stateDir, '--heartbeat-timeout-ms', '3000', '--http-port', '0'], env);
    const proc = this.coordinator;
    const found = await until('the coordinator to listen', () => /listening on \S+:(\d+), metrics on (\S+?),/.exec(proc.output) ?? undefined);
    this.address = `localhost:${found[1]}`;
    this.metricsUrl = found[2];
    process.env[TOKEN_ENV] = readTokenFile(this.tokenFile);
  }
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
