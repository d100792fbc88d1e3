/**
 * gRPC handlers of RendezvousService over the in-memory RendezvousStore. A caller holding the
 * coordinator's token may use any scope; one holding a job attempt's token (its ranks) only that
 * attempt's: anything else is PERMISSION_DENIED, and a write past a scope's bounds
 * RESOURCE_EXHAUSTED, each in one line.
 */
import * as grpc from '@grpc/grpc-js';
import { bearerToken, sameToken } from '../proto/auth.js';
import type { RendezvousServiceHandlers } from '../proto/gen/ringmaster/v1/RendezvousService.js';
import { RendezvousFull, RendezvousTimeout, type RendezvousStore } from './rendezvous.js';

/** The longest a Wait may ask for; every wait has a timeout. */
const MAX_WAIT_MS = 10 * 60_000;

/** The path prefix of the service's methods (the server's interceptor admits attempt tokens there). */
export const RENDEZVOUS_METHODS = '/ringmaster.v1.RendezvousService/';

type Reply = (error: grpc.ServiceError | null | Partial<grpc.StatusObject>, value?: never) => void;

export function rendezvousHandlers(store: RendezvousStore, coordinatorToken: string): RendezvousServiceHandlers {
  /** Runs `body` if the caller may use `scope`; otherwise answers with why not. */
  const scoped = (call: { metadata: grpc.Metadata; request: { scope: string } }, callback: Reply, body: () => void) => {
    const token = bearerToken(call.metadata);
    if (!sameToken(token, coordinatorToken) && !(token !== undefined && store.admits(call.request.scope, token))) {
      return callback({ code: grpc.status.PERMISSION_DENIED, details: `rendezvous scope ${call.request.scope} is not this token's (a job attempt's ranks reach only their own)` });
    }
    try {
      body();
    } catch (e) {
      if (!(e instanceof RendezvousFull)) throw e;
      callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: e.message });
    }
  };
  return {
    Set: (call, callback) =>
      scoped(call, callback, () => {
        store.set(call.request.scope, call.request.key, Buffer.from(call.request.value));
        callback(null, {});
      }),
    Get: (call, callback) =>
      scoped(call, callback, () => {
        const value = store.get(call.request.scope, call.request.key);
        callback(null, { found: value !== undefined, value: value ?? Buffer.alloc(0) });
      }),
    Add: (call, callback) => scoped(call, callback, () => callback(null, { value: store.add(call.request.scope, call.request.key, call.request.delta) })),
    Wait: (call, callback) =>
      scoped(call, callback, () => {
        const timeout = Math.min(Math.max(1, call.request.timeout_ms || MAX_WAIT_MS), MAX_WAIT_MS);
        store.wait(call.request.scope, call.request.keys, timeout).then(
          () => callback(null, {}),
          (e: unknown) => callback({ code: e instanceof RendezvousTimeout ? grpc.status.DEADLINE_EXCEEDED : grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) }),
        );
      }),
  };
}
