/**
 * Loads the ringmaster.v1 contract at run time (@grpc/proto-loader) with the options the
 * generated types in proto/gen/ were made with, so the two always agree: field names as in the
 * .proto (snake_case), 64-bit integers as numbers, enums as their names, defaults filled, and
 * the name of the set oneof field in `kind`.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as JobsProto } from './gen/jobs.js';
import type { ProtoGrpcType as RendezvousProto } from './gen/rendezvous.js';
import type { ProtoGrpcType as WorkerProto } from './gen/worker.js';

export type RingmasterV1 = JobsProto['ringmaster']['v1'] & WorkerProto['ringmaster']['v1'] & RendezvousProto['ringmaster']['v1'];

// This file runs from proto/ (tests) or dist/proto/ (built); the .proto files stay in proto/.
const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_ROOT = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..', 'proto') : here;
const FILES = ['jobs.proto', 'worker.proto', 'rendezvous.proto'].map((f) => `ringmaster/v1/${f}`);

let loaded: RingmasterV1 | undefined;

export function ringmasterV1(): RingmasterV1 {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(FILES, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { ringmaster: { v1: RingmasterV1 } };
  loaded = pkg.ringmaster.v1;
  return loaded;
}

/** The default coordinator address, and the environment variable that overrides it. */
export const DEFAULT_COORDINATOR = 'localhost:7470';
export const COORDINATOR_ENV = 'RINGMASTER_COORDINATOR';

/** Trailing metadata key of a failed call: the RingmasterError code behind its status. */
export const ERROR_CODE_METADATA = 'ringmaster-error-code';
