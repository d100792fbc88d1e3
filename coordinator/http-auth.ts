/**
 * Who may use the coordinator's HTTP side: a request that carries the coordinator's token, either
 * as `Authorization: Bearer <token>` (a scraper, a script) or in the dashboard's cookie. A browser
 * cannot send a header when it navigates, so it signs in once, with `/?token=<token>` or the
 * sign-in form (POST /login), and gets the cookie: HttpOnly (the page's scripts never see it),
 * SameSite=Strict (no other site's page can make the browser send it), Secure under TLS, and
 * named after the port, so dashboards of two coordinators on one host keep their own. Tokens are
 * compared in constant time.
 */
import type http from 'node:http';
import { RingmasterError } from '../common/errors.js';
import { sameToken } from '../proto/auth.js';

/** The largest sign-in form accepted: a token is 64 hex digits. */
const MAX_FORM_BYTES = 4096;

export class HttpAuth {
  constructor(private readonly token: string, private readonly secure: boolean) {}

  /** Whether `given` is the coordinator's token. */
  accepts(given: string | null | undefined): boolean {
    return sameToken(given ?? undefined, this.token);
  }

  /** Whether the request carries the token, in its Authorization header or its cookie. */
  allows(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    return this.accepts(bearer) || this.accepts(this.cookie(req));
  }

  /** The Set-Cookie header that signs the browser that sent `req` in, for its session. */
  signInCookie(req: http.IncomingMessage): string {
    return `${cookieName(req)}=${this.token}; Path=/; HttpOnly; SameSite=Strict${this.secure ? '; Secure' : ''}`;
  }

  private cookie(req: http.IncomingMessage): string | undefined {
    const prefix = `${cookieName(req)}=`;
    const pair = req.headers.cookie?.split(';').map((c) => c.trim()).find((c) => c.startsWith(prefix));
    return pair?.slice(prefix.length);
  }
}

/** The cookie's name: a browser sends a host's cookies to all its ports, so it names the port the request came to. */
function cookieName(req: http.IncomingMessage): string {
  return `ringmaster_token_${req.socket.localPort}`;
}

/**
 * The fields of an `application/x-www-form-urlencoded` body; refused (BAD_ARGUMENT) past
 * MAX_FORM_BYTES. The server's requestTimeout bounds how long a client may take to send it.
 */
export function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
      else reject(new RingmasterError('BAD_ARGUMENT', `a sign-in form is at most ${MAX_FORM_BYTES} bytes`)); // the first settles it
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}
