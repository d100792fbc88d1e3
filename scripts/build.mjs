// Builds the TypeScript (tsc → dist/) and the native addon (cmake-js → build/Release/ringmaster.node).
// RINGMASTER_CUDA=auto|on|off in the environment selects the CUDA build (CMakeLists.txt reads it).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCudaHeaders, hasNvcc } from './cuda-headers.mjs';

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

/**
 * TypeScript types for the wire contract, generated from proto/ into proto/gen/ (never edited by
 * hand, not committed). The files are CommonJS-style type declarations; common.proto defines no
 * service, so its aggregate file is empty of use and is dropped.
 */
export function generateProtoTypes() {
  const out = path.join(root, 'proto', 'gen');
  rmSync(out, { recursive: true, force: true });
  const protos = readdirSync(path.join(root, 'proto', 'ringmaster', 'v1')).filter((f) => f.endsWith('.proto'));
  run(bin('proto-loader-gen-types'), [
    '--grpcLib=@grpc/grpc-js', `--outDir=${out}`, '-I', path.join(root, 'proto'),
    '--keepCase', '--longs=Number', '--enums=String', '--defaults', '--oneofs',
    ...protos.map((f) => `ringmaster/v1/${f}`),
  ]);
  writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n');
  rmSync(path.join(out, 'common.ts'));
}

export function buildTypeScript() {
  generateProtoTypes();
  run(bin('tsc'), ['-p', 'tsconfig.json']);
}

export function buildNative() {
  // Build against the headers of the Node that runs us, never downloaded ones (no network here).
  const nodeDir = path.resolve(path.dirname(process.execPath), '..');
  const env = { ...process.env };
  if (existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = nodeDir;
  if ((process.env.RINGMASTER_CUDA ?? 'auto') !== 'off' && hasNvcc()) ensureCudaHeaders(root);
  run(bin('cmake-js'), ['compile', '--config', 'Release', '--out', 'build', '--log-level', 'warn'], env);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildNative();
  buildTypeScript();
}
