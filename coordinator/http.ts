/**
 * The coordinator's HTTP side (`--http-port`), over TLS whenever the coordinator has its
 * certificate, behind the same token as the gRPC API (coordinator/http-auth.ts: a bearer header,
 * or the dashboard's cookie):
 *
 * | GET /metrics              | Prometheus metrics (coordinator/metrics.ts)                       |
 * | GET /                     | the dashboard (coordinator/dashboard/); signed out: the sign-in   |
 * |                           | form; `/?token=T` signs in and redirects to `/`                   |
 * | POST /login               | the sign-in form's target (field `token`)                         |
 * | GET /api/jobs             | { jobs }: every unfinished job and the newest finished ones       |
 * | GET /api/workers          | { workers }                                                       |
 * | GET /api/jobs/:id         | one job: state history, progress, evaluations, checkpoints, log   |
 * | GET /api/events           | Server-Sent Events of the queue (coordinator/dashboard-streams.ts)|
 * | GET /api/jobs/:id/events  | Server-Sent Events of one job                                     |
 *
 * Every refused request is logged with the caller's address.
 */
import http from 'node:http';
import https from 'node:https';
import { RingmasterError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { pem, type ServerTls } from '../proto/transport.js';
import { dashboardFile, sendDashboardFile, sendSignIn } from './dashboard-files.js';
import { DashboardStreams, DEFAULT_STREAM_POLICY, type StreamPolicy, type StreamSources } from './dashboard-streams.js';
import { isJobId, jobDetail, jobsView, workersView } from './dashboard-views.js';
import { HttpAuth, readForm } from './http-auth.js';
import type { CoordinatorMetrics } from './metrics.js';

export interface HttpOptions {
  host: string;
  port: number; // 0: any free port
  token: string;
  tls?: ServerTls;
  metrics: CoordinatorMetrics;
  dashboard: StreamSources;
  streams?: StreamPolicy; // default DEFAULT_STREAM_POLICY
  log: Logger;
}

/** How long a client may take to send a whole request (a sign-in form's body included). */
const REQUEST_TIMEOUT_MS = 10_000;

const JOB_PATH = /^\/api\/jobs\/([^/]+)(\/events)?$/;

export async function startHttp(o: HttpOptions): Promise<{ port: number; close(): Promise<void> }> {
  const streams = new DashboardStreams(o.dashboard, o.streams ?? DEFAULT_STREAM_POLICY);
  const auth = new HttpAuth(o.token, o.tls !== undefined);
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, path: string, given: boolean) => {
    o.log.warn(`refused HTTP ${req.method} ${path} from ${req.socket.remoteAddress}: missing or wrong token`, { peer: req.socket.remoteAddress });
    if (path === '/' || path === '/login') return void sendSignIn(res, given);
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('missing or wrong token\n');
  };
  const signIn = (req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(303, { location: '/', 'set-cookie': auth.signInCookie(req) }).end();

  const route: http.RequestListener = (req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    const url = new URL(req.url ?? '/', 'http://coordinator');
    const path = url.pathname; // logged and routed without its query, which may hold a token
    if (req.method === 'POST' && path === '/login') {
      readForm(req).then(
        (form) => (auth.accepts(form.get('token')) ? signIn(req, res) : refuse(req, res, path, true)),
        (e: Error) => res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`${e.message}\n`),
      );
      return;
    }
    if (req.method !== 'GET') return void res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('only GET (and POST /login)\n');
    if (path === '/' && url.searchParams.has('token')) {
      return auth.accepts(url.searchParams.get('token')) ? signIn(req, res) : refuse(req, res, path, true);
    }
    if (dashboardFile(path)?.public) return void sendDashboardFile(res, path);
    if (!auth.allows(req)) return refuse(req, res, path, false);
    if (path === '/metrics') {
      o.metrics.scrape().then(
        (text) => res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
      return;
    }
    if (dashboardFile(path)) return void sendDashboardFile(res, path);
    if (path.startsWith('/api/')) return api(path, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the coordinator serves /metrics, the dashboard at / and its API under /api/\n');
  };
  const handler: http.RequestListener = (req, res) => {
    try {
      route(req, res);
    } catch (e) {
      o.log.error(`HTTP ${req.method} ${req.url?.split('?')[0]} failed: ${e instanceof Error ? e.message : String(e)}`);
      if (res.headersSent) res.destroy(); // an event stream that had begun
      else res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error (see the coordinator\'s log)\n');
    }
  };

  const api = (path: string, res: http.ServerResponse) => {
    if (path === '/api/jobs') return sendJson(res, { jobs: jobsView(o.dashboard) });
    if (path === '/api/workers') return sendJson(res, { workers: workersView(o.dashboard) });
    if (path === '/api/events') return streams.queue(res);
    const m = JOB_PATH.exec(path);
    const id = m ? decodedJobId(m[1]) : undefined;
    if (!m || id === undefined) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /api/jobs, /api/workers, /api/events, /api/jobs/<job id>[/events]\n');
    if (m[2]) return streams.job(res, id);
    const detail = jobDetail(o.dashboard, id);
    if (!detail) return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`no job ${id}\n`);
    sendJson(res, detail);
  };

  const server = o.tls ? https.createServer({ cert: pem(o.tls.cert, 'certificate'), key: pem(o.tls.key, 'key') }, handler) : http.createServer(handler);
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (e) => reject(new RingmasterError('BAD_ARGUMENT', `cannot listen on ${o.host}:${o.port} for HTTP: ${e.message} (choose another --http-port)`)));
    server.listen(o.port, o.host, () => resolve((server.address() as { port: number }).port));
  }).catch((e: unknown) => {
    streams.close();
    throw e;
  });
  return {
    port,
    close: () => new Promise((resolve) => {
      streams.close();
      server.close(() => resolve());
      server.closeAllConnections(); // browsers keep idle connections open
    }),
  };
}

/** A job id from a URL path segment; undefined when it does not decode to one. */
function decodedJobId(segment: string): string | undefined {
  try {
    const id = decodeURIComponent(segment);
    return isJobId(id) ? id : undefined;
  } catch {
    return undefined; // a malformed %-escape
  }
}

function sendJson(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}
