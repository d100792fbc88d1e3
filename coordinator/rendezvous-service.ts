/** gRPC handlers of RendezvousService over the in-memory RendezvousStore. */
import * as grpc from '@grpc/grpc-js';
import type { RendezvousServiceHandlers } from '../proto/gen/ringmaster/v1/RendezvousService.js';
import { RendezvousTimeout, type RendezvousStore } from './rendezvous.js';

/** The longest a Wait may ask for; every wait has a timeout. */
const MAX_WAIT_MS = 10 * 60_000;

export function rendezvousHandlers(store: RendezvousStore): RendezvousServiceHandlers {
  return {
    Set: (call, callback) => {
      store.set(call.request.scope, call.request.key, Buffer.from(call.request.value));
      callback(null, {});
    },
    Get: (call, callback) => {
      const value = store.get(call.request.scope, call.request.key);
      callback(null, { found: value !== undefined, value: value ?? Buffer.alloc(0) });
    },
    Add: (call, callback) => {
      callback(null, { value: store.add(call.request.scope, call.request.key, call.request.delta) });
    },
    Wait: (call, callback) => {
      const timeout = Math.min(Math.max(1, call.request.timeout_ms || MAX_WAIT_MS), MAX_WAIT_MS);
      store.wait(call.request.scope, call.request.keys, timeout).then(
        () => callback(null, {}),
        (e: unknown) => callback({ code: e instanceof RendezvousTimeout ? grpc.status.DEADLINE_EXCEEDED : grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) }),
      );
    },
  };
}
