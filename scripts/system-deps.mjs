// The Debian packages Ringmaster needs on the build machine, and how to get them.
// Used by setup.mjs (npm install) and ensure.mjs (npm start / npm test).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Each package with a file whose presence proves it is installed (works without dpkg too). */
export const SYSTEM_PACKAGES = [
  { name: 'cmake', probe: '/usr/bin/cmake' },
  { name: 'g++', probe: '/usr/bin/g++' },
  { name: 'libdnnl-dev', probe: '/usr/include/oneapi/dnnl/dnnl.hpp' },
  { name: 'libgloo-dev', probe: '/usr/include/gloo/allreduce.h' },
  { name: 'dataset-fashion-mnist', probe: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz' },
  { name: 'openssl', probe: '/usr/bin/openssl' }, // the TLS tests make their certificates with it
];

export function missingPackages() {
  return SYSTEM_PACKAGES.filter((p) => !existsSync(p.probe)).map((p) => p.name);
}

/** Installs what is missing when running as root; otherwise stops with the one line to run. */
export function installSystemPackages() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const line = `apt-get install -y ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    console.error(`ringmaster: missing system packages; run: sudo apt-get update && sudo ${line}`);
    process.exit(1);
  }
  console.log(`ringmaster: installing system packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  } catch {
    console.error(`ringmaster: apt-get failed; run by hand: apt-get update && ${line}`);
    process.exit(1);
  }
}
