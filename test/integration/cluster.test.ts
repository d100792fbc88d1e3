/**
 * The orchestrator end to end: a real coordinator and worker agent on localhost, driven through
 * the CLI as a person would.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTokenFile } from '../../common/token.js';
import { withToken } from '../../proto/auth.js';
import { ringmasterV1 } from '../../proto/load.js';
import { ringmaster, ROOT } from './cli.js';
import { alive, LocalCluster, until } from './local-cluster.js';

// The jobs' final checkpoints go to a scratch directory, not into jobs/.
const CHECKPOINTS = ['--set', `checkpoint.dir=${mkdtempSync(path.join(tmpdir(), 'ringmaster-cluster-checkpoints-'))}`];
const SHORT = ['--set', 'steps=60', '--set', 'log.every=20', ...CHECKPOINTS];
const LONG = ['--set', 'steps=1000000', '--set', 'log.every=10', ...CHECKPOINTS];

/** The processes whose parent is `pid`, from /proc (field 4 of /proc/<pid>/stat is the parent). */
function childPids(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

describe('a local cluster', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:1');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  /** Submits a job and returns its id. */
  async function submit(extra: string[]): Promise<string> {
    const job = await cluster.json<{ id: string }>(['submit', 'jobs/fashion-mnist-mlp.yaml', ...extra]);
    return job.id;
  }

  /** The pid of a job's rank, from the job log's "rank R started (pid N …)" line. */
  async function rankPid(jobId: string, rank = 0): Promise<number> {
    return until(`rank ${rank} of ${jobId} to start`, async () => {
      const r = await cluster.cli(['logs', jobId]);
      const m = new RegExp(`rank ${rank} started \\(pid (\\d+)`).exec(r.stdout);
      return m ? Number(m[1]) : undefined;
    });
  }

  it('runs a job: queued → running → succeeded, progress in the coordinator log and the CLI, accuracy in status', async () => {
    const r = await cluster.cli(['submit', 'jobs/fashion-mnist-mlp.yaml', ...SHORT, '--follow']);
    expect(r.code, r.stderr).toBe(0);
    const id = /submitted (\S+)/.exec(r.stdout)![1];
    expect(r.stdout).toMatch(new RegExp(`\\[${id}\\] step 20/60 33% epoch 1 loss \\d+\\.\\d{4} lr \\S+ \\S+ samples/s`));
    expect(r.stdout).toContain(`[${id}] succeeded`);
    expect(cluster.coordinatorLog).toMatch(new RegExp(`\\[${id}\\] step 60/60 100%`));
    for (const t of ['queued → starting', 'starting → running', 'running → succeeded']) expect(cluster.coordinatorLog).toContain(t);
    const status = await cluster.json<{ state: string; metrics: { test_accuracy: number } }>(['status', id]);
    expect(status.state).toBe('succeeded');
    expect(status.metrics.test_accuracy).toBeGreaterThan(0.6);
  });

  it('logs -f follows a job to its end: its log lines, and its progress (plain lines when not a terminal)', async () => {
    const id = await submit(SHORT);
    const r = await cluster.cli(['logs', id, '-f']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[coordinator] running → succeeded');
    expect(r.stdout).toMatch(new RegExp(`\\[${id}\\] step (20|40|60)/60 \\d+% epoch 1 loss`));
  });

  it('cancels a running job and leaves none of its rank processes behind', async () => {
    const id = await submit(LONG);
    await cluster.waitForState(id, ['running']);
    const pid = await rankPid(id);
    expect(alive(pid)).toBe(true);
    expect((await cluster.cli(['cancel', id])).code).toBe(0);
    const s = await cluster.waitForState(id, ['cancelled'], 20_000);
    expect(s.reason).toMatch(/cancel/);
    await until(`rank pid ${pid} to exit`, () => (alive(pid) ? undefined : true), 10_000);
  });

  it('fails a job whose rank is killed with SIGKILL, naming the rank; the agent runs the next job', async () => {
    const id = await submit(LONG);
    await cluster.waitForState(id, ['running']);
    process.kill(await rankPid(id), 'SIGKILL');
    const s = await cluster.waitForState(id, ['failed'], 20_000);
    expect(s.reason).toBe('rank 0 was killed by SIGKILL');
    expect(cluster.workerAlive).toBe(true);
    const next = await submit(SHORT);
    await cluster.waitForState(next, ['succeeded']);
  });

  it('refuses a bad spec at submit with the same one-line error as ringmaster train', async () => {
    const submitted = await cluster.cli(['submit', 'jobs/fashion-mnist-mlp.yaml', '--set', 'batch.micro=0']);
    const trained = await ringmaster(['train', 'jobs/fashion-mnist-mlp.yaml', '--set', 'batch.micro=0']);
    expect(submitted.code).toBe(2);
    expect(submitted.stderr).toBe(trained.stderr);
    expect(submitted.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses at submit, in one line with the estimate, a job whose rank cannot fit its slot\'s memory', async () => {
    const jobsBefore = (await cluster.json<unknown[]>(['jobs'])).length;
    const r = await cluster.cli(['submit', 'jobs/fashion-mnist-mlp.yaml', '--set', 'model.hidden=[60000, 60000]']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // 3.65 G parameters × 16 bytes: far beyond any test machine's memory
    expect(r.stderr.trim()).toMatch(/^ringmaster: spec: a rank of this job needs about 5\d\.\d GiB \(parameters, gradients and optimizer state 5\d\.\d GiB, activations \d+ MiB\), more than a cpu slot has \(\d+\.\d GiB: worker \S+'s \d+\.\d GiB over its 1 slot\) \(lower batch\.micro or the model's size, or split it with parallel\.pipeline\)$/);
    expect((await cluster.json<unknown[]>(['jobs'])).length).toBe(jobsBefore); // nothing queued
  });

  it('refuses every call without the coordinator\'s token in one line, and logs each refusal with the caller\'s address', async () => {
    expect(statSync(cluster.tokenFile).mode & 0o777).toBe(0o600);
    const wrong = path.join(mkdtempSync(path.join(tmpdir(), 'ringmaster-token-')), 'token');
    writeFileSync(wrong, `${'0'.repeat(64)}\n`, { mode: 0o600 });
    const refused = await ringmaster(['jobs', '--coordinator', cluster.address, '--token-file', wrong]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/refused the call: missing or wrong token \(pass --token-file/);
    // A rendezvous client without any token: UNAUTHENTICATED, before any handler runs.
    const bare = new (ringmasterV1().RendezvousService)(cluster.address, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) => bare.Get({ scope: 'j/1', key: 'k' }, (e) => resolve(e!)));
    bare.close();
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    await until('the refusals in the coordinator\'s log', () => {
      const lines = cluster.coordinatorLog.split('\n').filter((l) => l.includes('missing or wrong token'));
      return lines.some((l) => l.includes('JobService/ListJobs')) && lines.some((l) => l.includes('RendezvousService/Get')) && lines.every((l) => /from \S+:\d+/.test(l)) ? true : undefined;
    }, 5_000);
    // With the token the same call goes through.
    expect((await cluster.cli(['jobs'])).code).toBe(0);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s to ringmaster up stops its coordinator and worker too', async (signal) => {
    const up = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'up', '--port', '0', '--state-dir', mkdtempSync(path.join(tmpdir(), 'ringmaster-up-')), '--slots', 'cpu:1'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    up.stdout!.on('data', (d) => (output += d));
    await until('the local worker to register', () => (output.includes('registered as') ? true : undefined));
    const children = childPids(up.pid!);
    expect(children).toHaveLength(2);
    up.kill(signal);
    const code = await until('ringmaster up to exit', () => (up.exitCode !== null ? up.exitCode : undefined), 15_000);
    expect(code).toBe(signal === 'SIGTERM' ? 143 : 130);
    await until('its children to be gone', () => (children.every((pid) => !alive(pid)) ? true : undefined), 5_000);
  });

  it('refuses a registration under a connected worker\'s id without its secret; the real worker stays', async () => {
    const [real] = await cluster.json<{ id: string; connected: boolean }[]>(['workers']);
    expect(real!.connected).toBe(true);
    const client = new (ringmasterV1().WorkerService)(cluster.address, grpc.credentials.createInsecure(), withToken(readTokenFile(cluster.tokenFile)));
    const session = client.Session();
    const refused = new Promise<grpc.ServiceError>((resolve) => session.on('error', resolve));
    session.on('data', () => {});
    session.write({ register: { worker_id: real!.id, worker_secret: 'guessed', hostname: 'impostor', address: '127.0.0.1', slots: [{ kind: 'cpu', index: 0 }] } });
    const err = await refused;
    client.close();
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain(`worker id ${real!.id} belongs to another worker`);
    await until('the refusal in the coordinator\'s log', () => (cluster.coordinatorLog.includes(`refused a registration as worker ${real!.id} from `) ? true : undefined), 5_000);
    const [after] = await cluster.json<{ id: string; connected: boolean; hostname: string }[]>(['workers']);
    expect(after).toMatchObject({ id: real!.id, connected: true });
    expect(after!.hostname).not.toBe('impostor');
  });

  it('a worker with the wrong token stops in one line instead of retrying', async () => {
    const wrong = path.join(mkdtempSync(path.join(tmpdir(), 'ringmaster-token-')), 'token');
    writeFileSync(wrong, `${'1'.repeat(64)}\n`, { mode: 0o600 });
    const agent = spawn(process.execPath, [path.join(ROOT, 'dist', 'worker', 'agent-main.js'), '--coordinator', cluster.address, '--slots', 'cpu:1', '--token-file', wrong], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    agent.stdout!.on('data', (d) => (output += d));
    agent.stderr!.on('data', (d) => (output += d));
    const code = await until('the refused worker to exit', () => (agent.exitCode !== null ? agent.exitCode : undefined), 10_000);
    expect(code).toBe(2);
    expect(output).toMatch(/refused this worker: missing or wrong token/);
    expect(readFileSync(cluster.tokenFile, 'utf8').trim()).not.toBe('1'.repeat(64));
  });

  it('serves the rendezvous store over gRPC: set, get, add, and a wait that times out naming the key', async () => {
    const client = new (ringmasterV1().RendezvousService)(cluster.address, grpc.credentials.createInsecure(), withToken(readTokenFile(cluster.tokenFile)));
    const unary = <T>(method: string, req: object) =>
      new Promise<T>((resolve, reject) =>
        (client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null, v: T) => void) => void>)[method](req, (e, v) => (e ? reject(e) : resolve(v))));
    await unary('Set', { scope: 'j/1', key: 'rank0', value: Buffer.from('host:1') });
    expect((await unary<{ found: boolean; value: Buffer }>('Get', { scope: 'j/1', key: 'rank0' })).value.toString()).toBe('host:1');
    expect((await unary<{ value: number }>('Add', { scope: 'j/1', key: 'n', delta: 2 })).value).toBe(2);
    await unary('Wait', { scope: 'j/1', keys: ['rank0'], timeout_ms: 1000 });
    const err = await unary('Wait', { scope: 'j/1', keys: ['rank1'], timeout_ms: 100 }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect((err as grpc.ServiceError).details).toContain('rank1');
    client.close();
  });

  it('names an unknown job in one line', async () => {
    const r = await cluster.cli(['status', 'no-such-job']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ringmaster: no job no-such-job (ringmaster jobs lists them)');
  });

  it('survives a coordinator restart: every job is still listed; one running then carries on, adopted, on the same rank', async () => {
    const running = await submit(LONG);
    await cluster.waitForState(running, ['running']);
    const pid = await rankPid(running);
    const before = await cluster.json<{ id: string; state: string }[]>(['jobs']);
    await cluster.restartCoordinator();
    const after = await cluster.json<{ id: string; state: string; attempt: number }[]>(['jobs']);
    expect(after.map((j) => j.id)).toEqual(before.map((j) => j.id));
    expect(after.find((j) => j.id === running)).toMatchObject({ state: 'running', attempt: 1 });
    expect(after.filter((j) => j.state === 'succeeded').length).toBe(before.filter((j) => j.state === 'succeeded').length);
    await until('the attempt to be adopted', async () => ((await cluster.cli(['logs', running])).stdout.includes('attempt 1 adopted') ? true : undefined));
    expect(alive(pid)).toBe(true);
    await cluster.cli(['cancel', running]);
    await cluster.waitForState(running, ['cancelled'], 20_000);
    await until(`rank pid ${pid} to exit`, () => (alive(pid) ? undefined : true), 20_000);
    const next = await submit(SHORT);
    await cluster.waitForState(next, ['succeeded']);
  });
});

describe('a worker that falls silent', () => {
  it('is declared lost after its heartbeat timeout; its job fails with that reason; it comes back', async () => {
    const cluster = await LocalCluster.start('cpu:1');
    try {
      const { id } = await cluster.json<{ id: string }>(['submit', 'jobs/fashion-mnist-mlp.yaml', ...LONG]);
      await cluster.waitForState(id, ['running']);
      cluster.signalWorker('SIGSTOP');
      const s = await cluster.waitForState(id, ['failed'], 20_000);
      expect(String(s.reason)).toMatch(/^worker \S+ lost: no heartbeat for \d+\.\ds$/);
      cluster.signalWorker('SIGCONT');
      await until('the worker to reconnect', async () => ((await cluster.json<{ connected: boolean }[]>(['workers'])).some((w) => w.connected) ? true : undefined));
    } finally {
      cluster.signalWorker('SIGCONT');
      await cluster.stop();
    }
  });
});

describe('without a coordinator', () => {
  it('says so in one line', async () => {
    const r = await ringmaster(['jobs', '--coordinator', 'localhost:1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^ringmaster: cannot reach the coordinator at localhost:1 \(start one with: ringmaster up/);
  });
});
