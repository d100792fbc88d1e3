/** gRPC failures as the CLI reports them (cli/client.ts): the coordinator's error code survives the wire. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { describeCallError } from '../../cli/client.js';
import type { ErrorCode } from '../../common/errors.js';
import { ERROR_CODE_METADATA } from '../../proto/load.js';

function withCode(code: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set(ERROR_CODE_METADATA, code);
  return m;
}

describe('describeCallError', () => {
  it.each<{ what: string; error: Partial<grpc.ServiceError>; code: ErrorCode; message: string | RegExp }>([
    { what: 'a code in the metadata', error: { code: grpc.status.FAILED_PRECONDITION, details: 'job j is running', metadata: withCode('WRONG_STATE') }, code: 'WRONG_STATE', message: 'job j is running' },
    { what: 'a code in the metadata, on another status', error: { code: grpc.status.INVALID_ARGUMENT, details: 'no checkpoint of step 5', metadata: withCode('BAD_ARGUMENT') }, code: 'BAD_ARGUMENT', message: 'no checkpoint of step 5' },
    { what: 'an unknown code (a newer coordinator): the status decides', error: { code: grpc.status.NOT_FOUND, details: 'no job j', metadata: withCode('SOMETHING_NEW') }, code: 'NOT_FOUND', message: 'no job j' },
    { what: 'no metadata', error: { code: grpc.status.FAILED_PRECONDITION, details: 'data missing' }, code: 'DATA_MISSING', message: 'data missing' },
    { what: 'an unreachable coordinator', error: { code: grpc.status.UNAVAILABLE, details: 'No connection established' }, code: 'UNAVAILABLE', message: /^cannot reach the coordinator at h:1 / },
  ])('$what → $code', ({ error, code, message }) => {
    const e = describeCallError(error, 'h:1');
    expect(e.code).toBe(code);
    if (typeof message === 'string') expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
  });
});
