/**
 * Guards a checkpoint root before anything is written under it. Kernel pseudo-filesystems
 * (/proc, /sys, /dev/pts, …) can never hold a checkpoint, and Node's recursive mkdir spins
 * forever under /proc; so the nearest existing ancestor of the root is looked at first, by its
 * filesystem type (a symlink or bind mount into /proc is caught as well as the path itself).
 * And every write of a checkpoint has a bound in time, for the mount that stops answering.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RingmasterError } from '../../common/errors.js';

/** statfs(2) f_type of the filesystems no checkpoint can live on (linux/magic.h). */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x73636673, 'securityfs'],
]);

/** How long writing one checkpoint (stage, write, publish, prune) may take. */
export const CHECKPOINT_WRITE_TIMEOUT_MS = 10 * 60_000;

/** FILE_UNWRITABLE when `root`, or the nearest ancestor of it that exists, is on a pseudo-filesystem. */
export async function checkCheckpointRoot(root: string): Promise<void> {
  let path = root;
  for (;;) {
    try {
      const { type } = await statfs(path);
      const kind = PSEUDO_FILESYSTEMS.get(Number(type));
      if (kind) throw new RingmasterError('FILE_UNWRITABLE', `checkpoint path ${root} cannot be written: ${path} is on the ${kind} pseudo-filesystem (choose another checkpoint.dir)`);
      return;
    } catch (e) {
      if (e instanceof RingmasterError) throw e;
      const parent = dirname(path);
      if (parent === path) return; // nothing above exists to look at: the writes will say why
      path = parent;
    }
  }
}

/** `work`, or FILE_UNWRITABLE naming `root` when it has not settled within `ms`. */
export function withinTime<T>(work: Promise<T>, ms: number, root: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RingmasterError('FILE_UNWRITABLE', `checkpoint path ${root} did not finish a checkpoint within ${ms / 1000}s (a mount that stopped answering? choose another checkpoint.dir)`)), ms);
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
