/** The rendezvous store: TCPStore semantics, scoped per job attempt, every wait bounded. */
import { describe, expect, it } from 'vitest';
import { attemptScope, RendezvousStore, RendezvousTimeout } from '../../coordinator/rendezvous.js';

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
