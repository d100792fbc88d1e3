/**
 * The control plane's transport: plain TCP on loopback, or TLS (and mutual TLS, where the
 * coordinator is given a CA whose certificates its clients must present). Certificates and keys
 * are PEM files; one that cannot be read ends in one line naming it.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { RingmasterError } from '../common/errors.js';

/** The coordinator's side: its certificate and key; with `ca`, clients must present a certificate it signed. */
export interface ServerTls {
  cert: string;
  key: string;
  ca?: string;
}

/** A client's side: the CA that signed the coordinator's certificate; cert and key for mutual TLS. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

export function pem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new RingmasterError('FILE_UNREADABLE', `cannot read the TLS ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export function serverCredentials(tls: ServerTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const ca = tls.ca ? pem(tls.ca, 'CA') : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: pem(tls.cert, 'certificate'), private_key: pem(tls.key, 'key') }], ca !== null);
}

export function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  if (!tls.cert !== !tls.key) throw new RingmasterError('BAD_ARGUMENT', 'a client certificate needs its key and the key its certificate (pass both --tls-cert and --tls-key)');
  return grpc.credentials.createSsl(pem(tls.ca, 'CA'), tls.key ? pem(tls.key, 'key') : null, tls.cert ? pem(tls.cert, 'certificate') : null);
}

/** Whether `host` is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const TLS_ENV = { ca: 'RINGMASTER_TLS_CA', cert: 'RINGMASTER_TLS_CERT', key: 'RINGMASTER_TLS_KEY' } as const;

/** A client's TLS settings from its flags, else the environment; undefined: plain TCP. */
export function clientTls(flags: { ca?: string; cert?: string; key?: string }): ClientTls | undefined {
  const ca = flags.ca ?? process.env[TLS_ENV.ca];
  const cert = flags.cert ?? process.env[TLS_ENV.cert];
  const key = flags.key ?? process.env[TLS_ENV.key];
  if (!ca) {
    if (cert || key) throw new RingmasterError('BAD_ARGUMENT', 'a client certificate needs the CA that signed the coordinator\'s (pass --tls-ca)');
    return undefined;
  }
  return { ca, ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}
