/**
 * File-system steps whose completion must survive a power loss: a file is durable once its
 * bytes are fsync'd; a name (create, rename) once the directory holding it is fsync'd. POSIX
 * semantics (Linux, macOS), where a directory can be opened and fsync'd.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { RingmasterError } from '../../common/errors.js';

export interface FileDigest {
  /** Lower-case hex. */
  sha256: string;
  bytes: number;
}

const WRITE_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOENT: 'its directory does not exist',
};

/** Writes `bytes` to `path` (created or truncated) and fsyncs it before resolving. */
export async function writeDurable(path: string, bytes: Uint8Array): Promise<void> {
  try {
    const handle = await open(path, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw writeError(path, e);
  }
}

/** Fsyncs a directory, making the creations, renames and removals of names in it durable. */
export async function syncDir(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw writeError(path, e);
  }
}

/** The sha256 and size of a file, read as a stream so the file need not fit in memory. Throws fs errors as they are. */
export async function digestFile(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function digestBytes(bytes: Uint8Array): FileDigest {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

/** A failed write, creation or rename of `path` as a one-line FILE_UNWRITABLE error. */
export function writeError(path: string, e: unknown): RingmasterError {
  if (e instanceof RingmasterError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const reason = (code && WRITE_REASONS[code]) ?? code ?? String(e);
  return new RingmasterError(
    'FILE_UNWRITABLE',
    `checkpoint path ${path} cannot be written: ${reason} (free space or choose another checkpoint.dir)`,
  );
}
