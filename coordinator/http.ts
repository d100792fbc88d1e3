/**
 * The coordinator's HTTP side (`--http-port`): Prometheus metrics at /metrics, behind the same
 * bearer token as the gRPC API (a scraper sends `Authorization: Bearer <token>`), over TLS
 * whenever the coordinator has its certificate.
 */
import http from 'node:http';
import https from 'node:https';
import { RingmasterError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { sameToken } from '../proto/auth.js';
import { pem, type ServerTls } from '../proto/transport.js';
import type { CoordinatorMetrics } from './metrics.js';

export interface HttpOptions {
  host: string;
  port: number; // 0: any free port
  token: string;
  tls?: ServerTls;
  metrics: CoordinatorMetrics;
  log: Logger;
}

export async function startHttp(o: HttpOptions): Promise<{ port: number; close(): Promise<void> }> {
  const handler: http.RequestListener = (req, res) => {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    if (!sameToken(token, o.token)) {
      o.log.warn(`refused HTTP ${req.method} ${req.url} from ${req.socket.remoteAddress}: missing or wrong token`, { peer: req.socket.remoteAddress });
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('missing or wrong token\n');
      return;
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      o.metrics.scrape().then(
        (text) => res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the coordinator serves GET /metrics\n');
  };
  const server = o.tls ? https.createServer({ cert: pem(o.tls.cert, 'certificate'), key: pem(o.tls.key, 'key') }, handler) : http.createServer(handler);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (e) => reject(new RingmasterError('BAD_ARGUMENT', `cannot listen on ${o.host}:${o.port} for HTTP: ${e.message} (choose another --http-port)`)));
    server.listen(o.port, o.host, () => resolve((server.address() as { port: number }).port));
  });
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
