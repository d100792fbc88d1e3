/**
 * The CLI's connection to the coordinator: address resolution, a deadline on every call, and
 * gRPC failures turned into one-line errors.
 */
import * as grpc from '@grpc/grpc-js';
import { isErrorCode, RingmasterError } from '../common/errors.js';
import { clientToken, TOKEN_ENV, TOKEN_FILE_NAME } from '../common/token.js';
import { withToken } from '../proto/auth.js';
import { channelCredentials, clientTls, type ClientTls } from '../proto/transport.js';
import type { JobServiceClient } from '../proto/gen/ringmaster/v1/JobService.js';
import { COORDINATOR_ENV, DEFAULT_COORDINATOR, ERROR_CODE_METADATA, ringmasterV1 } from '../proto/load.js';

/** Unary calls give up after this long; streams have no deadline but end with the job. */
export const CALL_TIMEOUT_MS = 10_000;

export function coordinatorAddress(flag: string | undefined): string {
  return flag ?? process.env[COORDINATOR_ENV] ?? DEFAULT_COORDINATOR;
}

/** How this invocation reaches the coordinator, beside its address: --token-file and the --tls-* flags. */
export interface ConnectionFlags {
  tokenFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

let flags: ConnectionFlags = {};

export function useConnectionFlags(f: ConnectionFlags): void {
  flags = f;
}

/** The TLS settings calls use (flags, else RINGMASTER_TLS_*); undefined: plain TCP. */
export function connectionTls(): ClientTls | undefined {
  return clientTls({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey });
}

export function connect(address: string): JobServiceClient {
  const { JobService } = ringmasterV1();
  const token = clientToken(flags.tokenFile);
  return new JobService(address, channelCredentials(connectionTls()), token ? withToken(token) : {});
}

/** A gRPC error as the one line a person should see. */
export function describeCallError(e: unknown, address: string): RingmasterError {
  const err = e as Partial<grpc.ServiceError>;
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
    if (connectionTls()) {
      return new RingmasterError('UNAVAILABLE', `cannot reach the coordinator at ${address} over TLS (is it running with TLS? check --tls-ca, and --tls-cert and --tls-key where it asks for client certificates)`);
    }
    return new RingmasterError('UNAVAILABLE', `cannot reach the coordinator at ${address} (start one with: ringmaster up, or point to it with --coordinator or ${COORDINATOR_ENV}; one that uses TLS needs --tls-ca)`);
  }
  if (err.code === grpc.status.UNAUTHENTICATED) {
    return new RingmasterError('UNAUTHENTICATED', `the coordinator at ${address} refused the call: missing or wrong token (pass --token-file <its state dir>/${TOKEN_FILE_NAME}, or set ${TOKEN_ENV})`);
  }
  const code = err.metadata?.get(ERROR_CODE_METADATA)[0];
  if (typeof code === 'string' && isErrorCode(code) && err.details) return new RingmasterError(code, err.details);
  if (err.code === grpc.status.NOT_FOUND) return new RingmasterError('NOT_FOUND', err.details ?? 'not found');
  if (err.code === grpc.status.INVALID_ARGUMENT) return new RingmasterError('BAD_SPEC', err.details ?? 'invalid argument');
  if (err.code === grpc.status.FAILED_PRECONDITION) return new RingmasterError('DATA_MISSING', err.details ?? 'failed precondition');
  return new RingmasterError('UNAVAILABLE', `the coordinator at ${address} failed: ${err.details ?? err.message ?? String(e)}`);
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** Makes one unary call with the standard deadline; rejects with a one-line RingmasterError. */
export function call<Res>(address: string, invoke: (options: grpc.CallOptions, callback: Callback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke({ deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
      if (err || res === undefined) reject(describeCallError(err, address));
      else resolve(res);
    });
  });
}
