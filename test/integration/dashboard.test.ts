/**
 * The coordinator's dashboard end to end, in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): a job runs on a local cluster; the page, signed in with the token, lists it in
 * the queue, draws its loss curve as its progress arrives, shows its state history, log tail and
 * checkpoints, and follows it to its end without a reload. Without the token, the page, the API
 * and the event streams are refused. The test saves a screenshot of the running job to
 * test-results/dashboard.png. Without /usr/bin/chromium it skips, and says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli.js';
import { LocalCluster } from './local-cluster.js';

const CHROMIUM = '/usr/bin/chromium';
const SPEC = path.join(ROOT, 'test', 'fixtures', 'tiny-gpt.yaml');
const SCREENSHOT = path.join(ROOT, 'test-results', 'dashboard.png');
const WAIT_MS = 20_000; // for anything the page shows

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

describe.skipIf(!hasChromium)('the dashboard', () => {
  let cluster: LocalCluster;
  let token: string;
  let base: string; // the dashboard's URL, ending in /
  let browser: Browser;
  beforeAll(async () => {
    [cluster, browser] = await Promise.all([
      LocalCluster.start('cpu:1'),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: WAIT_MS }),
    ]);
    token = readFileSync(cluster.tokenFile, 'utf8').trim();
    base = new URL('/', cluster.metricsUrl).href;
  });
  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  const get = (urlPath: string, headers: Record<string, string> = {}) => fetch(new URL(urlPath, base), { headers, redirect: 'manual' });

  it('refuses the page, the API and the event streams without the token, and logs each refusal', async () => {
    for (const urlPath of ['/api/jobs', '/api/workers', '/api/events', '/api/jobs/x/events', '/dashboard.js', '/metrics']) {
      expect((await get(urlPath)).status, urlPath).toBe(401);
      expect((await get(urlPath, { authorization: 'Bearer wrong' })).status, urlPath).toBe(401);
      expect((await get(urlPath, { cookie: `ringmaster_token_${new URL(base).port}=wrong` })).status, urlPath).toBe(401);
    }
    const signIn = await get('/');
    expect(signIn.status).toBe(401);
    expect(await signIn.text()).toContain('<form class="card sign-in" method="post" action="/login">');
    expect((await get(`/?token=${'0'.repeat(64)}`)).status).toBe(401);
    expect(cluster.coordinatorLog).toMatch(/refused HTTP GET \/api\/events from \S+: missing or wrong token/);
    expect(cluster.coordinatorLog).not.toContain('0'.repeat(64)); // a query is never logged
    const bearer = { authorization: `Bearer ${token}` };
    expect((await get('/api/jobs', bearer)).status).toBe(200);
    expect((await get('/api/jobs/..%2F..%2Fetc%2Fpasswd', bearer)).status).toBe(404);
    expect((await get('/api/jobs/no-such-job', bearer)).status).toBe(404);
  });

  it('shows a running job live: its queue row, loss curve, state history, log tail and checkpoints, then its end', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-dashboard-'));
    const { id } = await cluster.json<{ id: string }>(['submit', SPEC, '--set', 'steps=1000000', '--set', 'log.every=5', '--set', 'eval.every=25',
      '--set', 'eval.batches=2', '--set', 'checkpoint.every=25', '--set', `checkpoint.dir=${dir}`]);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    const signedIn = await page.goto(`${base}?token=${token}`);
    expect(signedIn?.status()).toBe(200);
    expect(page.url()).toBe(base); // the token left the address bar
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ value: token, httpOnly: true, sameSite: 'Strict' });

    const row = page.locator(`#jobs tr[data-job-id="${id}"]`);
    await row.click();
    await expect.poll(() => row.locator('.state').textContent(), { timeout: WAIT_MS }).toBe('running');
    await waitForPoints(page, 'loss', 4);
    await expect.poll(() => page.locator('#checkpoints tbody tr').count(), { timeout: WAIT_MS }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#job-facts').textContent(), { timeout: WAIT_MS }).toMatch(/Evaluationval loss \d/);
    expect(await page.locator('#job-id').textContent()).toBe(id);
    expect(await page.locator('#states li .change').allTextContents()).toEqual(['queued', 'queued → starting', 'starting → running']);
    expect(await page.locator('#log').textContent()).toMatch(/\[coordinator\] rank 0 started \(pid \d+/);
    expect(await page.locator('#checkpoints tbody tr td.path').first().textContent()).toContain(path.join(dir, id, 'step-'));
    expect(Number(await page.locator('[data-chart=lr]').getAttribute('data-points'))).toBeGreaterThan(3);
    expect(await page.locator('#throughput-title').textContent()).toBe('Throughput (tokens/s)');
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // What the page draws from, as JSON: the same job, with the token as a bearer header.
    const detail = await (await get(`/api/jobs/${id}`, { authorization: `Bearer ${token}` })).json() as { job: { state: string }; progress: unknown[]; states: { to: string }[] };
    expect(detail.job.state).toBe('running');
    expect(detail.progress.length).toBeGreaterThan(3);
    expect(detail.states.map((s) => s.to)).toEqual(['queued', 'starting', 'running']);

    await cluster.cli(['cancel', id]);
    await expect.poll(() => page.locator('#job-state').textContent(), { timeout: WAIT_MS }).toBe('cancelled');
    await expect.poll(() => page.locator('#states li .change').last().textContent(), { timeout: WAIT_MS }).toBe('cancelling → cancelled');
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(errors).toEqual([]);
    await context.close();
  });
});

/** Waits until the chart has at least `count` points on its first curve. */
async function waitForPoints(page: Page, chart: string, count: number): Promise<void> {
  await page.waitForFunction(([name, n]) => Number(document.querySelector(`[data-chart="${name}"]`)?.getAttribute('data-points')) >= Number(n), [chart, count], { timeout: WAIT_MS });
}
