/**
 * The rendezvous key-value store ranks use to find each other (PyTorch's TCPStore semantics:
 * set, get, wait for keys with a timeout, atomic add). Keys live in a scope per job attempt,
 * "<job id>/<attempt>", and a scope is dropped when its attempt ends, so a restarted attempt
 * never sees the old one's addresses. Held in memory: an attempt does not outlive the
 * coordinator process that started it.
 *
 * An attempt's scope is opened with a token of its own, which its ranks hold instead of the
 * coordinator's: it opens that scope and no other. The store keeps only the token's sha256 (as
 * the attempt's record does, so a restarted coordinator opens the scope again without it).
 * Every scope holds at most MAX_KEYS keys and MAX_BYTES bytes of keys and values, so no client can
 * grow the coordinator without bound.
 */
import { secretSha256 } from '../common/token.js';

interface Waiter {
  keys: string[];
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Scope {
  values: Map<string, Buffer>;
  waiters: Set<Waiter>;
  bytes: number; // of its keys and values
  tokenSha256?: string; // an attempt's token's: the one token, beside the coordinator's, that opens it
}

/** A scope's bounds: far above what the ranks of a large job store (an address per peer pair). */
export const MAX_KEYS = 65_536;
export const MAX_BYTES = 64 * 2 ** 20;

/** A write that would take a scope past its bounds. */
export class RendezvousFull extends Error {
  constructor(scope: string, what: string) {
    super(`rendezvous scope ${scope} is full: ${what} (a job's ranks need far less; is a client writing without end?)`);
  }
}

export class RendezvousTimeout extends Error {
  readonly code = 'RENDEZVOUS_TIMEOUT';
  constructor(readonly scope: string, readonly missing: string[], why: string) {
    super(`rendezvous ${scope}: keys ${missing.join(', ')} ${why}`);
  }
}

export class RendezvousStore {
  private readonly scopes = new Map<string, Scope>();
  private readonly tokens = new Set<string>(); // the open attempts' tokens' sha256

  /** Opens an attempt's scope; the token whose sha256 is `tokenSha256` (secretSha256()) opens it, and only it, until drop(). */
  open(scope: string, tokenSha256: string): void {
    this.scope(scope).tokenSha256 = tokenSha256;
    this.tokens.add(tokenSha256);
  }

  /** Whether `token` is an open attempt's (the server lets such calls reach the rendezvous only). */
  isAttemptToken(token: string): boolean {
    return this.tokens.has(secretSha256(token));
  }

  /** Whether a caller holding an attempt's `token` may use `scope`: only its own attempt's. */
  admits(scope: string, token: string): boolean {
    return this.scopes.get(scope)?.tokenSha256 === secretSha256(token);
  }

  set(scope: string, key: string, value: Buffer): void {
    const s = this.scope(scope);
    const old = s.values.get(key);
    const bytes = s.bytes - (old ? key.length + old.length : 0) + key.length + value.length;
    if (!old && s.values.size >= MAX_KEYS) throw new RendezvousFull(scope, `${MAX_KEYS} keys`);
    if (bytes > MAX_BYTES) throw new RendezvousFull(scope, `${MAX_BYTES / 2 ** 20} MiB`);
    s.bytes = bytes;
    s.values.set(key, value);
    for (const w of s.waiters) {
      if (w.keys.every((k) => s.values.has(k))) {
        clearTimeout(w.timer);
        s.waiters.delete(w);
        w.resolve();
      }
    }
  }

  get(scope: string, key: string): Buffer | undefined {
    return this.scopes.get(scope)?.values.get(key);
  }

  /** Adds delta to the integer at key (0 when unset) and returns the new value. */
  add(scope: string, key: string, delta: number): number {
    const current = this.get(scope, key);
    const value = (current ? Number(current.toString()) : 0) + delta;
    this.set(scope, key, Buffer.from(String(value)));
    return value;
  }

  /** Resolves once every key is set; rejects with RendezvousTimeout naming the missing keys. */
  wait(scope: string, keys: string[], timeoutMs: number): Promise<void> {
    const s = this.scope(scope);
    if (keys.every((k) => s.values.has(k))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        keys,
        resolve,
        reject,
        timer: setTimeout(() => {
          s.waiters.delete(waiter);
          const missing = keys.filter((k) => !s.values.has(k));
          reject(new RendezvousTimeout(scope, missing, `were not set within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      s.waiters.add(waiter);
    });
  }

  /** Forgets a finished attempt's keys; its pending waits fail at once. */
  drop(scope: string): void {
    const s = this.scopes.get(scope);
    if (!s) return;
    this.scopes.delete(scope);
    if (s.tokenSha256) this.tokens.delete(s.tokenSha256);
    for (const w of s.waiters) {
      clearTimeout(w.timer);
      w.reject(new RendezvousTimeout(scope, w.keys.filter((k) => !s.values.has(k)), 'will never be set: the attempt ended'));
    }
  }

  private scope(name: string): Scope {
    let s = this.scopes.get(name);
    if (!s) {
      s = { values: new Map(), waiters: new Set(), bytes: 0 };
      this.scopes.set(name, s);
    }
    return s;
  }
}

export function attemptScope(jobId: string, attempt: number): string {
  return `${jobId}/${attempt}`;
}
