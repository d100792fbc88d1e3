// The build's side of scripts/cuda-headers.py: fetch the cuBLASLt/NCCL headers when nvcc is here.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Whether nvcc is on this machine (CMake's check decides for real; this only saves a download). */
export function hasNvcc() {
  for (const nvcc of [process.env.CUDACXX, 'nvcc', '/usr/local/cuda/bin/nvcc'].filter(Boolean)) {
    try {
      execFileSync(nvcc, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      // not this one
    }
  }
  return false;
}

/**
 * Makes sure .cuda-headers/include holds cublasLt.h and nccl.h; when they cannot be had the
 * script says why and the build goes on without CUDA (unless RINGMASTER_CUDA=on: CMake stops).
 */
export function ensureCudaHeaders(root) {
  try {
    execFileSync('python3', [path.join(root, 'scripts', 'cuda-headers.py')], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    console.error('ringmaster: building without CUDA');
  }
}
