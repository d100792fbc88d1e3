#!/usr/bin/env bash
# The GPU check: builds ringmaster-gpu-check with cmake and nvcc alone (no Node, oneDNN or Gloo)
# and runs it, writing its JSON lines to $1 (default build/gpu-check.jsonl) and to the terminal.
# The cuBLASLt/NCCL headers come from the CUDA toolkit, $RINGMASTER_CUDA_HEADERS,
# .cuda-headers/include, or the local Python index (scripts/cuda-headers.py).
#   scripts/gpu-check.sh [out.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/gpu-check.jsonl}"
if [ -z "${RINGMASTER_CUDA_HEADERS:-}" ] && [ ! -f .cuda-headers/include/nccl.h ]; then
  python3 scripts/cuda-headers.py || echo "gpu-check: going on with the toolkit's headers only" >&2
fi
jobs="$(nproc 2>/dev/null || echo 4)"
cmake -S native/gpu-check -B build/gpu-check -DCMAKE_BUILD_TYPE=Release > build/gpu-check.log 2>&1 \
  || { tail -20 build/gpu-check.log >&2; echo "gpu-check: configuring failed (build/gpu-check.log)" >&2; exit 1; }
cmake --build build/gpu-check -j "$jobs" >> build/gpu-check.log 2>&1 \
  || { tail -40 build/gpu-check.log >&2; echo "gpu-check: the build failed (build/gpu-check.log)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
status=0
build/gpu-check/ringmaster-gpu-check | tee "$out" || status=$?
echo "gpu-check: $(grep -c '"ok":true' "$out") passed, $(grep -c '"ok":false' "$out") failed; exit $status ($out)" >&2
exit $status
