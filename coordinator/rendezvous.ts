/**
 * The rendezvous key-value store ranks use to find each other (PyTorch's TCPStore semantics:
 * set, get, wait for keys with a timeout, atomic add). Keys live in a scope per job attempt,
 * "<job id>/<attempt>", and a scope is dropped when its attempt ends, so a restarted attempt
 * never sees the old one's addresses. Held in memory: an attempt does not outlive the
 * coordinator process that started it.
 */

interface Waiter {
  keys: string[];
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Scope {
  values: Map<string, Buffer>;
  waiters: Set<Waiter>;
}

export class RendezvousTimeout extends Error {
  readonly code = 'RENDEZVOUS_TIMEOUT';
  constructor(readonly scope: string, readonly missing: string[], why: string) {
    super(`rendezvous ${scope}: keys ${missing.join(', ')} ${why}`);
  }
}

export class RendezvousStore {
  private readonly scopes = new Map<string, Scope>();

  set(scope: string, key: string, value: Buffer): void {
    const s = this.scope(scope);
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
    for (const w of s.waiters) {
      clearTimeout(w.timer);
      w.reject(new RendezvousTimeout(scope, w.keys.filter((k) => !s.values.has(k)), 'will never be set: the attempt ended'));
    }
  }

  private scope(name: string): Scope {
    let s = this.scopes.get(name);
    if (!s) {
      s = { values: new Map(), waiters: new Set() };
      this.scopes.set(name, s);
    }
    return s;
  }
}

export function attemptScope(jobId: string, attempt: number): string {
  return `${jobId}/${attempt}`;
}
