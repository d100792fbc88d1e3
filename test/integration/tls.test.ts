/**
 * The control plane over TLS and mutual TLS, with certificates made here by openssl (a CA, the
 * coordinator's for localhost, a client's), and the refusal to listen beyond loopback in clear.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ringmaster, ROOT } from './cli.js';
import { TEST_ROOTS, until } from './local-cluster.js';

const COORDINATOR = path.join(ROOT, 'dist', 'coordinator', 'main.js');
const AGENT = path.join(ROOT, 'dist', 'worker', 'agent-main.js');

let certs = '';
const pem = (name: string) => path.join(certs, `${name}.pem`);

/** A CA, and a certificate it signs for `name` (the coordinator's names localhost and 127.0.0.1). */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=ringmaster test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
  for (const [name, san] of [['server', 'DNS:localhost,IP:127.0.0.1'], ['client', 'DNS:client']]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-addext', `subjectAltName=${san}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-copy_extensions', 'copy', '-out', `${name}.pem`);
  }
}

interface Running {
  child: ChildProcess;
  output: string;
  stateDir: string;
}

const started: ChildProcess[] = [];

function run(entry: string, args: string[]): Running {
  const child = spawn(process.execPath, [entry, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const r: Running = { child, output: '', stateDir: '' };
  child.stdout!.on('data', (d) => (r.output += d));
  child.stderr!.on('data', (d) => (r.output += d));
  return r;
}

async function coordinator(args: string[]): Promise<Running & { address: string }> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ringmaster-tls-'));
  const c = run(COORDINATOR, ['--port', '0', '--state-dir', stateDir, ...args]);
  const port = await until('the coordinator to listen', () => /listening on \S+:(\d+)/.exec(c.output)?.[1]);
  return { ...c, stateDir, address: `localhost:${port}` };
}

beforeAll(() => {
  certs = mkdtempSync(path.join(tmpdir(), 'ringmaster-certs-'));
  makeCertificates(certs);
});

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('the control plane', () => {
  it('refuses to listen beyond loopback without TLS, in one line, unless --insecure says so, and then warns', async () => {
    const refused = run(COORDINATOR, ['--host', '0.0.0.0', '--port', '0', '--state-dir', mkdtempSync(path.join(tmpdir(), 'ringmaster-tls-'))]);
    const code = await until('the refusal', () => (refused.child.exitCode !== null ? refused.child.exitCode : undefined));
    expect(code).toBe(2);
    expect(refused.output.trim().split('\n')).toHaveLength(1);
    expect(refused.output).toMatch(/^ringmaster: refusing to listen on 0\.0\.0\.0 without TLS: .* \(pass --tls-cert and --tls-key, or --insecure/);
    const insecure = await coordinator(['--host', '0.0.0.0', '--insecure']);
    expect(insecure.output).toMatch(/listening on 0\.0\.0\.0 without TLS \(--insecure\)/);
  });

  it('serves TLS: a client that trusts its CA gets through; one that speaks plain TCP is told in one line', async () => {
    const c = await coordinator(['--tls-cert', pem('server'), '--tls-key', pem('server-key')]);
    const token = ['--token-file', path.join(c.stateDir, 'token')];
    expect(c.output).toMatch(/listening on localhost:\d+ \(TLS\)/);
    const ok = await ringmaster(['jobs', '--coordinator', c.address, ...token, '--tls-ca', pem('ca')]);
    expect(ok.code, ok.stderr).toBe(0);
    const plain = await ringmaster(['jobs', '--coordinator', c.address, ...token]);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/cannot reach the coordinator at localhost:\d+ \(.*one that uses TLS needs --tls-ca\)/);
  });

  it('mutual TLS: clients without a certificate from its CA are refused; a worker with one runs a 2-rank job, its ranks rendezvous over TLS', async () => {
    const c = await coordinator(['--tls-cert', pem('server'), '--tls-key', pem('server-key'), '--tls-ca', pem('ca')]);
    const token = ['--token-file', path.join(c.stateDir, 'token')];
    const tls = ['--tls-ca', pem('ca'), '--tls-cert', pem('client'), '--tls-key', pem('client-key')];
    const anonymous = await ringmaster(['jobs', '--coordinator', c.address, ...token, '--tls-ca', pem('ca')]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/cannot reach the coordinator at localhost:\d+ over TLS/);
    const worker = run(AGENT, ['--coordinator', c.address, '--slots', 'cpu:2', '--address', '127.0.0.1', ...token, ...tls, ...TEST_ROOTS]);
    await until('the worker to register', () => (worker.output.includes('registered as') ? true : undefined));
    const checkpoints = mkdtempSync(path.join(tmpdir(), 'ringmaster-tls-checkpoints-'));
    const r = await ringmaster(['submit', 'jobs/fashion-mnist-mlp.yaml', '--coordinator', c.address, ...token, ...tls, '--follow',
      '--set', 'parallel.data=2', '--set', 'steps=20', '--set', 'log.every=10', '--set', 'model.hidden=[64]', '--set', `checkpoint.dir=${checkpoints}`]);
    expect(r.code, r.stderr + worker.output).toBe(0);
  });
});
