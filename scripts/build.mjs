// Builds the TypeScript (tsc → dist/) and the native addon (cmake-js → build/Release/ringmaster.node).
// RINGMASTER_CUDA=auto|on|off in the environment selects the CUDA build (CMakeLists.txt reads it).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(cmd, args, env = process.env) {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  } catch {
    console.error(`ringmaster: build step failed: ${path.basename(cmd)} ${args.join(' ')}`);
    process.exit(1);
  }
}

export function buildTypeScript() {
  run(bin('tsc'), ['-p', 'tsconfig.json']);
}

export function buildNative() {
  // Build against the headers of the Node that runs us, never downloaded ones (no network here).
  const nodeDir = path.resolve(path.dirname(process.execPath), '..');
  const env = { ...process.env };
  if (existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = nodeDir;
  run(bin('cmake-js'), ['compile', '--config', 'Release', '--out', 'build', '--log-level', 'warn'], env);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildNative();
  buildTypeScript();
}
