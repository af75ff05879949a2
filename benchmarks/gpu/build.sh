#!/usr/bin/env bash
# Compiles benchmarks/gpu/kernels.mlir into build/gpu-bench/libattn_gpu_kernels.so
# (next to libattn_cuda_runtime.so), for bench_gpu.py on a GPU machine:
#   attn-opt --attn-lower-to-nvvm | mlir-translate --mlir-to-llvmir | clang
# Usage: benchmarks/gpu/build.sh [BUILD_DIR] [extra --attn-lower-to-nvvm options] [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
options="format=bin ${2:-}"
out="${3:-$root/build/gpu-bench}"
llvm=/usr/lib/llvm-22/bin
mkdir -p "$out"
"$build/bin/attn-opt" "$root/benchmarks/gpu/kernels.mlir" \
  --attn-lower-to-nvvm="$options" -o "$out/kernels.llvm.mlir"
"$llvm/mlir-translate" --mlir-to-llvmir "$out/kernels.llvm.mlir" -o "$out/kernels.ll"
"$llvm/clang" -O2 -fPIC -c "$out/kernels.ll" -o "$out/kernels.o"
cp "$build/lib/libattn_cuda_runtime.so" "$out/"
"$llvm/clang" -shared -o "$out/libattn_gpu_kernels.so" "$out/kernels.o" \
  -L"$out" -lattn_cuda_runtime -Wl,-rpath,'$ORIGIN'
rm -f "$out/kernels.ll" "$out/kernels.o"
echo "built $out/libattn_gpu_kernels.so"
