/**
 * The coordinator's Prometheus metrics (--http-port): behind its token, in the text exposition
 * format, with jobs by state, slots, a running job's step and loss, and RPC latencies.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, until } from './local-cluster.js';

/** Every line of a Prometheus text exposition but comments and blank ones: a sample `name{labels} value`. */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|[-+]?Inf|NaN)$/;

describe('/metrics', () => {
  let cluster: LocalCluster;
  let token: string;
  beforeAll(async () => {
    cluster = await LocalCluster.start('cpu:1');
    token = readFileSync(cluster.tokenFile, 'utf8').trim();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  const scrape = async () => {
    const r = await fetch(cluster.metricsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return r.text();
  };

  it('refuses a scrape without the token', async () => {
    expect((await fetch(cluster.metricsUrl)).status).toBe(401);
    expect((await fetch(cluster.metricsUrl, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('parses as Prometheus text and shows jobs, slots, a running job and RPC latencies', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-metrics-'));
    const { id } = await cluster.json<{ id: string }>(['submit', 'jobs/fashion-mnist-mlp.yaml', '--set', 'steps=1000000', '--set', 'log.every=10', '--set', `checkpoint.dir=${dir}`]);
    await cluster.waitForState(id, ['running']);
    const text = await until('the job\'s step in the metrics', async () => {
      const t = await scrape();
      return new RegExp(`^ringmaster_job_step\\{job="${id}",name="fashion-mnist-mlp"\\} [1-9]`, 'm').test(t) ? t : undefined;
    });
    for (const line of text.trim().split('\n')) {
      if (line !== '' && !line.startsWith('#')) expect(line, line).toMatch(SAMPLE);
    }
    expect(text).toMatch(/^ringmaster_jobs\{state="running"\} 1$/m);
    expect(text).toMatch(/^ringmaster_slots\{kind="cpu",use="used"\} 1$/m);
    expect(text).toMatch(/^ringmaster_slots\{kind="cpu",use="free"\} 0$/m);
    expect(text).toMatch(new RegExp(`^ringmaster_job_loss\\{job="${id}",name="fashion-mnist-mlp"\\} \\d`, 'm'));
    expect(text).toMatch(/^ringmaster_queue_wait_seconds_count 1$/m);
    expect(text).toMatch(/^ringmaster_rpc_duration_seconds_count\{method="\/ringmaster\.v1\.JobService\/SubmitJob",code="OK"\} 1$/m);
    await cluster.cli(['cancel', id]);
  });
});
