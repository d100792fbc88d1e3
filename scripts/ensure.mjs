// Run before `npm start`, `npm test` and `npm run bench`: makes a fresh clone usable as the very
// first command, and rebuilds whatever is older than its sources after an edit.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (...p) => path.join(root, ...p);

if (!existsSync(at('node_modules', '.package-lock.json'))) {
  console.log('ringmaster: first run, installing dependencies and building (npm install)');
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error('ringmaster: npm install failed; see the output above');
    process.exit(1);
  }
  process.exit(0);
}

const { installSystemPackages } = await import('./system-deps.mjs');
const { buildNative, buildTypeScript } = await import('./build.mjs');
installSystemPackages();

/** Newest modification time of any file under the given paths (0 when none exist). */
function newest(paths) {
  let t = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const s = statSync(p);
    if (s.isDirectory()) t = Math.max(t, newest(readdirSync(p).map((e) => path.join(p, e))));
    else t = Math.max(t, s.mtimeMs);
  }
  return t;
}

const addon = at('build', 'Release', 'ringmaster.node');
if (!existsSync(addon) || newest([at('native'), at('CMakeLists.txt')]) > statSync(addon).mtimeMs) buildNative();

const tsSources = ['cli', 'common', 'jobs', 'worker', 'coordinator', 'bench', 'proto', 'tsconfig.json'].map((d) => at(d));
const cliEntry = at('dist', 'cli', 'main.js');
if (!existsSync(cliEntry) || newest(tsSources) > newest([at('dist')])) buildTypeScript();
