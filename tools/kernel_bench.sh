#!/usr/bin/env bash
# Builds and runs tools/kernel_bench.c (fused step vs OpenBLAS + gate pass, and the packed GEMM vs
# OpenBLAS's sgemm, one thread, every instruction set the CPU runs; prints the CPU first).
#   tools/kernel_bench.sh 32 64 64 2000      # batch, K, H, steps per round
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
out="${TMPDIR:-/tmp}/tensorlstm-kernel-bench"
clang -O2 -ISources/CRecurrentKernels/include tools/kernel_bench.c Sources/CRecurrentKernels/recurrent_kernels.c \
  Sources/CRecurrentKernels/packed_gemm.c \
  $(pkg-config --cflags --libs openblas) -o "$out"
lscpu | sed -n "s/^Model name: *//p" | head -1
OPENBLAS_NUM_THREADS=1 "$out" "$@"
