/** The rendezvous store: TCPStore semantics, scoped per job attempt, every wait bounded, every scope bounded and opened by its attempt's token. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { secretSha256 } from '../../common/token.js';
import { attemptScope, MAX_BYTES, MAX_KEYS, RendezvousFull, RendezvousStore, RendezvousTimeout } from '../../coordinator/rendezvous.js';
import { rendezvousHandlers } from '../../coordinator/rendezvous-service.js';

describe('RendezvousStore', () => {
  it('sets and gets within a scope only', () => {
    const s = new RendezvousStore();
    s.set('job/1', 'addr0', Buffer.from('10.0.0.1:4000'));
    expect(s.get('job/1', 'addr0')?.toString()).toBe('10.0.0.1:4000');
    expect(s.get('job/2', 'addr0')).toBeUndefined(); // a new attempt never sees the old one's keys
  });

  it('adds atomically from 0', () => {
    const s = new RendezvousStore();
    expect(s.add('j/1', 'arrived', 1)).toBe(1);
    expect(s.add('j/1', 'arrived', 2)).toBe(3);
  });

  it('wait resolves when every key is set, in any order', async () => {
    const s = new RendezvousStore();
    const waiting = s.wait('j/1', ['a', 'b'], 5_000);
    s.set('j/1', 'b', Buffer.from('2'));
    s.set('j/1', 'a', Buffer.from('1'));
    await expect(waiting).resolves.toBeUndefined();
  });

  it('wait times out naming the keys that never came', async () => {
    const s = new RendezvousStore();
    s.set('j/1', 'a', Buffer.from('1'));
    const err = await s.wait('j/1', ['a', 'rank1'], 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousTimeout);
    expect((err as RendezvousTimeout).missing).toEqual(['rank1']);
  });

  it('dropping a scope forgets its keys and fails its waits at once', async () => {
    const s = new RendezvousStore();
    const waiting = s.wait('j/1', ['x'], 60_000).catch((e: unknown) => e);
    s.set('j/1', 'y', Buffer.from('1'));
    s.drop('j/1');
    expect(await waiting).toBeInstanceOf(RendezvousTimeout);
    expect(s.get('j/1', 'y')).toBeUndefined();
  });

  it('scopes are named per job attempt', () => {
    expect(attemptScope('fmnist-7f3a', 2)).toBe('fmnist-7f3a/2');
  });
});

describe('rendezvous scopes and their tokens', () => {
  const call = (token: string, request: Record<string, unknown>) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return { metadata, request } as never;
  };
  const reply = () => {
    const got: { error?: { code?: number; details?: string } | null; value?: unknown } = {};
    return { got, callback: ((error: { code?: number; details?: string } | null, value?: unknown) => Object.assign(got, { error, value })) as never };
  };

  it('an attempt\'s token opens its scope and no other, until the attempt ends', () => {
    const s = new RendezvousStore();
    s.open('job/1', secretSha256('attempt-token')); // the store keeps only the token's hash
    expect(s.isAttemptToken('attempt-token')).toBe(true);
    expect(s.isAttemptToken(secretSha256('attempt-token'))).toBe(false); // the hash itself opens nothing
    expect(s.admits('job/1', 'attempt-token')).toBe(true);
    expect(s.admits('job/2', 'attempt-token')).toBe(false);
    expect(s.admits('other/1', 'attempt-token')).toBe(false);
    s.drop('job/1');
    expect(s.isAttemptToken('attempt-token')).toBe(false);
    expect(s.admits('job/1', 'attempt-token')).toBe(false);
  });

  it('the service refuses another scope to an attempt\'s token in one line, and lets the coordinator\'s token use any', () => {
    const s = new RendezvousStore();
    s.open('job/1', secretSha256('mine'));
    s.open('victim/3', secretSha256('theirs'));
    const handlers = rendezvousHandlers(s, 'coordinator-token');
    const denied = reply();
    handlers.Set(call('mine', { scope: 'victim/3', key: 'addr0', value: Buffer.from('evil') }), denied.callback);
    expect(denied.got.error).toEqual({ code: grpc.status.PERMISSION_DENIED, details: "rendezvous scope victim/3 is not this token's (a job attempt's ranks reach only their own)" });
    expect(s.get('victim/3', 'addr0')).toBeUndefined();
    const own = reply();
    handlers.Set(call('mine', { scope: 'job/1', key: 'addr0', value: Buffer.from('10.0.0.1:4000') }), own.callback);
    expect(own.got.error).toBeNull();
    const admin = reply();
    handlers.Get(call('coordinator-token', { scope: 'job/1', key: 'addr0' }), admin.callback);
    expect(admin.got).toMatchObject({ error: null, value: { found: true } });
  });

  it('a scope holds at most MAX_KEYS keys and MAX_BYTES bytes; a write past them is RESOURCE_EXHAUSTED', () => {
    const s = new RendezvousStore();
    for (let i = 0; i < MAX_KEYS; i++) s.set('j/1', `k${i}`, Buffer.alloc(0));
    expect(() => s.set('j/1', 'one-more', Buffer.alloc(0))).toThrow(RendezvousFull);
    s.set('j/1', 'k0', Buffer.from('replacing a key is fine'));
    const handlers = rendezvousHandlers(s, 'coordinator-token');
    const full = reply();
    handlers.Set(call('coordinator-token', { scope: 'j/2', key: 'big', value: Buffer.alloc(MAX_BYTES) }), full.callback);
    expect(full.got.error).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/^rendezvous scope j\/2 is full: 64 MiB/) });
  });
});
