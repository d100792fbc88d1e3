/**
 * A rank's client of the coordinator's rendezvous store, scoped to its job attempt: what the
 * native process group calls while the ranks find each other.
 */
import * as grpc from '@grpc/grpc-js';
import { withToken } from '../proto/auth.js';
import { channelCredentials, type ClientTls } from '../proto/transport.js';
import type { RendezvousServiceClient } from '../proto/gen/ringmaster/v1/RendezvousService.js';
import { ringmasterV1 } from '../proto/load.js';
import type { RendezvousStoreClient } from './native.js';

/** Set and get give up after this long; wait carries its own timeout (plus this margin). */
const CALL_TIMEOUT_MS = 10_000;

export class CoordinatorStore implements RendezvousStoreClient {
  private readonly client: RendezvousServiceClient;

  constructor(address: string, private readonly scope: string, token: string | undefined, tls: ClientTls | undefined) {
    const { RendezvousService } = ringmasterV1();
    this.client = new RendezvousService(address, channelCredentials(tls), token ? withToken(token) : {});
  }

  set(key: string, value: Buffer): Promise<void> {
    return this.unary((o, cb) => this.client.Set({ scope: this.scope, key, value }, o, cb), CALL_TIMEOUT_MS).then(() => undefined);
  }

  get(key: string): Promise<Buffer> {
    return this.unary<{ found: boolean; value: Buffer }>((o, cb) => this.client.Get({ scope: this.scope, key }, o, cb), CALL_TIMEOUT_MS).then((r) => {
      if (!r.found) throw new Error(`rendezvous ${this.scope}: key ${key} is not set`);
      return r.value;
    });
  }

  wait(keys: string[], timeoutMs: number): Promise<void> {
    return this.unary((o, cb) => this.client.Wait({ scope: this.scope, keys, timeout_ms: timeoutMs }, o, cb), timeoutMs + CALL_TIMEOUT_MS).then(() => undefined);
  }

  close(): void {
    this.client.close();
  }

  private unary<T>(invoke: (o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: T) => void) => unknown, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      invoke({ deadline: Date.now() + timeoutMs }, (e, r) => {
        if (e || r === undefined) reject(new Error(e?.details || e?.message || 'no response'));
        else resolve(r);
      });
    });
  }
}
