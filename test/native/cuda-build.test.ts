/**
 * The CUDA build on a machine without a GPU (CI's): the CUDA sources compile in wherever nvcc is,
 * the addon still loads and trains on the CPU (every other test), the GPU libraries are looked
 * for where the engine promises and their absence is one line, and the GPU check says there is
 * no GPU. The kernels themselves are checked on a GPU (test/parity/).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { asNativeError, createEngine, loadNative } from '../../worker/native.js';
import { ROOT } from '../integration/cli.js';

const hasNvcc = (() => {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const { cuda, cudaDevices } = loadNative().buildInfo();

/** cudaLibrary(name) in a fresh process (the engine keeps a library once loaded) with `env`. */
function loadLibrary(name: 'cublasLt' | 'nccl', env: Record<string, string>): { path?: string; code?: string; message?: string } {
  const script = `
    import { loadNative } from ${JSON.stringify(path.join(ROOT, 'dist', 'worker', 'native.js'))};
    try { console.log(JSON.stringify({ path: loadNative().cudaLibrary('${name}') })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['VIRTUAL_ENV', 'CONDA_PREFIX', 'RINGMASTER_CUBLASLT', 'RINGMASTER_NCCL'].includes(k)));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...clean, ...env }, encoding: 'utf8' });
  return JSON.parse(r.stdout.trim()) as { path?: string; code?: string; message?: string };
}

/** A Python environment whose nvidia/cu13/lib holds a "libcublasLt.so.13" that is some other shared library. */
function fakeEnvironment(): { prefix: string; library: string } {
  const prefix = mkdtempSync(path.join(tmpdir(), 'ringmaster-venv-'));
  const lib = path.join(prefix, 'lib', 'python3.11', 'site-packages', 'nvidia', 'cu13', 'lib');
  mkdirSync(lib, { recursive: true });
  const library = path.join(lib, 'libcublasLt.so.13');
  copyFileSync(['/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1'].find((f) => existsSync(f))!, library);
  return { prefix, library };
}

const ldconfig = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
const systemHasCublasLt = ldconfig.includes('libcublasLt.so.13');
const systemHasNccl = ldconfig.includes('libnccl.so.2');

describe('the CUDA build', () => {
  it(`compiles the CUDA sources in wherever nvcc is (nvcc ${hasNvcc ? 'found' : 'absent'} here)`, () => {
    expect(cuda).toBe(hasNvcc && process.env.RINGMASTER_CUDA !== 'off');
  });

  describe.skipIf(!cuda)('GPU libraries, loaded on first use', () => {
    it.skipIf(systemHasCublasLt)('a missing cuBLASLt is one line naming every place looked and how to get it', () => {
      const r = loadLibrary('cublasLt', { RINGMASTER_CUBLASLT: '/nonexistent/libcublasLt.so.13', HOME: mkdtempSync(path.join(tmpdir(), 'ringmaster-home-')) });
      expect(r.code).toBe('CUDA_UNAVAILABLE');
      expect(r.message).not.toContain('\n');
      expect(r.message).toContain('cuBLASLt not found (tried /nonexistent/libcublasLt.so.13, libcublasLt.so.13');
      expect(r.message).toContain('pip install nvidia-cublas');
      expect(r.message).toContain('RINGMASTER_CUBLASLT');
    });

    it.skipIf(systemHasNccl)('a missing NCCL is one line too', () => {
      const r = loadLibrary('nccl', { HOME: mkdtempSync(path.join(tmpdir(), 'ringmaster-home-')) });
      expect(r.code).toBe('CUDA_UNAVAILABLE');
      expect(r.message).toMatch(/^NCCL not found \(tried libnccl\.so\.2[^\n]*\$RINGMASTER_NCCL is unset\): install NCCL 2 for CUDA 13 or `pip install nvidia-nccl-cu13`, or set RINGMASTER_NCCL to its path$/);
    });

    it.skipIf(systemHasCublasLt)('looks in a Python environment\'s nvidia/cu13/lib, and in $RINGMASTER_CUBLASLT first', () => {
      const { prefix, library } = fakeEnvironment();
      // found there and loaded: then it lacks cuBLASLt's entry points, which is said in one line
      const fromVenv = loadLibrary('cublasLt', { VIRTUAL_ENV: prefix });
      expect(fromVenv).toMatchObject({ code: 'CUDA_UNAVAILABLE', message: 'cuBLASLt has no cublasLtCreate (an older version than libcublasLt.so.13?)' });
      const fromEnv = loadLibrary('cublasLt', { RINGMASTER_CUBLASLT: library });
      expect(fromEnv.message).toBe('cuBLASLt has no cublasLtCreate (an older version than libcublasLt.so.13?)');
    });
  });

  it.skipIf(cudaDevices > 0)('an engine on cuda:0 without a GPU fails in one line; a device that is neither is refused', () => {
    const config = { input: [4, 1, 1] as [number, number, number], layers: [{ kind: 'linear' as const, out: 2 }], maxBatch: 2, impl: 'fast' as const, seed: 1, threads: 1,
      optimizer: { kind: 'sgd' as const, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, nesterov: false } };
    const fail = (device: string) => {
      try {
        createEngine({ ...config, device: device as 'cpu' });
      } catch (e) {
        return asNativeError(e) as Error & { nativeCode?: string; code?: string };
      }
      throw new Error(`an engine on ${device} was built`);
    };
    const noGpu = fail('cuda:0');
    expect(noGpu.message).not.toContain('\n');
    expect(noGpu.message).toMatch(cuda ? /cuda:0.*(no GPU|driver)/ : /no CUDA/);
    expect(fail('tpu:0').message).toBe('device "tpu:0": expected cpu or cuda:N');
  });

  it.skipIf(!cuda || cudaDevices > 0)('ringmaster-gpu-check says there is no GPU and exits 2', () => {
    const r = spawnSync(path.join(ROOT, 'build', 'ringmaster-gpu-check'), { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout.trim())).toEqual({ check: 'device', ok: false, where: 'no GPU visible to this process' });
  });
});
