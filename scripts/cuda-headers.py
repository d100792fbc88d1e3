#!/usr/bin/env python3
"""The cuBLAS(Lt) and NCCL headers the CUDA build compiles against, from NVIDIA's wheels.

The CUDA toolkit on these machines has neither (only the runtime). pip downloads the wheels
from the machine's local Python index (seconds), only their nvidia/*/include/ files are kept in
<out> (default .cuda-headers/include), and the wheels are deleted. The libraries are never
linked: the engine loads them with dlopen on first use (native/src/cuda/libraries.cc).
  python3 scripts/cuda-headers.py [out]
"""
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

WHEELS = ['nvidia-cublas==13.1.1.3', 'nvidia-nccl-cu13==2.30.7']


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, '.cuda-headers', 'include')
    if all(os.path.exists(os.path.join(out, h)) for h in ('cublasLt.h', 'nccl.h')):
        return 0
    with tempfile.TemporaryDirectory(prefix='ringmaster-cuda-wheels-') as wheels:
        done = subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--retries', '0', '--no-deps', '-d', wheels, *WHEELS],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ['pip failed'])[-1]
            print(f'ringmaster: the cuBLAS/NCCL headers could not be fetched (pip download {" ".join(WHEELS)}: {last})', file=sys.stderr)
            return 1
        for wheel in glob.glob(os.path.join(wheels, '*.whl')):
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    parts = name.split('/')
                    if len(parts) > 3 and parts[0] == 'nvidia' and parts[2] == 'include' and not name.endswith('/'):
                        target = os.path.join(out, *parts[3:])
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with z.open(name) as src, open(target, 'wb') as dst:
                            dst.write(src.read())
    return 0


if __name__ == '__main__':
    sys.exit(main())
