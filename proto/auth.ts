/**
 * Bearer tokens on the control plane: every call to the coordinator carries
 * `authorization: Bearer <token>` (a client interceptor adds it), and one server interceptor
 * refuses any call without the coordinator's token before a handler sees it.
 */
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';

const AUTHORIZATION = 'authorization';

/** Client options that send `token` with every call. */
export function withToken(token: string): grpc.ClientOptions {
  const addToken: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(AUTHORIZATION, `Bearer ${token}`);
        next(metadata, listener);
      },
    });
  return { interceptors: [addToken] };
}

function carries(metadata: grpc.Metadata, expected: Buffer): boolean {
  const header = metadata.get(AUTHORIZATION)[0];
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A server interceptor that lets a call through only with `token`; each refusal is reported to
 * `refused` with the caller's address and the method, and the caller gets UNAUTHENTICATED.
 */
export function requireToken(token: string, refused: (peer: string, method: string) => void): grpc.ServerInterceptor {
  const expected = Buffer.from(token);
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        if (carries(metadata, expected)) return next(metadata);
        refused(call.getPeer(), method.path);
        call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong token' });
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
