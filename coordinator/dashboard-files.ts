/**
 * The dashboard's static files: its page, script and style (coordinator/dashboard/, served from
 * the checkout whether the coordinator runs from its sources or from dist/) and uPlot's module
 * and style from node_modules. Only the URL paths in FILES are served; nothing else on disk can
 * be reached by any URL.
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs from coordinator/ (tests) or dist/coordinator/ (built); the page stays in coordinator/dashboard/.
const here = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD_DIR = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..', 'coordinator', 'dashboard') : path.join(here, 'dashboard');
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Scripts and styles only from this server; no inline script; no framing; forms post only here. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

interface StaticFile { file: string; type: string; public: boolean } // public: served without the token (the sign-in page's style)

const FILES: Readonly<Record<string, StaticFile>> = {
  '/': { file: path.join(DASHBOARD_DIR, 'index.html'), type: HTML, public: false },
  '/dashboard.js': { file: path.join(DASHBOARD_DIR, 'dashboard.js'), type: JS, public: false },
  '/charts.js': { file: path.join(DASHBOARD_DIR, 'charts.js'), type: JS, public: false },
  '/dashboard.css': { file: path.join(DASHBOARD_DIR, 'dashboard.css'), type: CSS, public: true },
  '/uplot.js': { file: path.join(UPLOT_DIR, 'uPlot.esm.js'), type: JS, public: false },
  '/uplot.css': { file: path.join(UPLOT_DIR, 'uPlot.min.css'), type: CSS, public: false },
};

const SIGN_IN_PAGE = path.join(DASHBOARD_DIR, 'sign-in.html');
const REFUSED_MARKER = '<!-- refused -->';

/** Whether `urlPath` names a dashboard file, and whether it is served without the token. */
export function dashboardFile(urlPath: string): { public: boolean } | undefined {
  return Object.hasOwn(FILES, urlPath) ? FILES[urlPath] : undefined;
}

/** Sends a file `dashboardFile` knows. */
export function sendDashboardFile(res: http.ServerResponse, urlPath: string): Promise<void> {
  const f = FILES[urlPath];
  return send(res, 200, f.file, f.type, (text) => text);
}

/** The sign-in form, with status 401; `refused` says that the token given was wrong. */
export function sendSignIn(res: http.ServerResponse, refused: boolean): Promise<void> {
  const message = refused ? '<p class="refused">That is not the coordinator\'s token.</p>' : '';
  return send(res, 401, SIGN_IN_PAGE, HTML, (text) => text.replace(REFUSED_MARKER, message));
}

async function send(res: http.ServerResponse, status: number, file: string, type: string, edit: (text: string) => string): Promise<void> {
  let text: string;
  try {
    text = edit(await readFile(file, 'utf8'));
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`dashboard file ${file} cannot be read: ${(e as Error).message} (reinstall ringmaster)\n`);
    return;
  }
  const headers: http.OutgoingHttpHeaders = { 'content-type': type, 'cache-control': 'no-cache' };
  if (type === HTML) headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
  res.writeHead(status, headers).end(text);
}
