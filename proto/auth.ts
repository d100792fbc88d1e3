/**
 * Bearer tokens on the control plane: every call to the coordinator carries
 * `authorization: Bearer <token>` (a client interceptor adds it), and one server interceptor
 * refuses any call without the coordinator's token before a handler sees it (or, where
 * `alsoAccepts` says so, another token: a job attempt's, for its rendezvous scope only).
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

/** The bearer token a call carries; undefined when it carries none. */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const header = metadata.get(AUTHORIZATION)[0];
  return typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

/** Whether `given` is `expected`, compared in constant time. */
export function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given), b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A server interceptor that lets a call through only with `token`; each refusal is reported to
 * `refused` with the caller's address and the method, and the caller gets UNAUTHENTICATED.
 */
export function requireToken(
  token: string,
  refused: (peer: string, method: string) => void,
  alsoAccepts: (method: string, given: string) => boolean = () => false,
): grpc.ServerInterceptor {
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const given = bearerToken(metadata);
        if (sameToken(given, token) || (given !== undefined && alsoAccepts(method.path, given))) return next(metadata);
        refused(call.getPeer(), method.path);
        call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong token' });
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
