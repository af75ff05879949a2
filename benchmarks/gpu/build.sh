#!/usr/bin/env bash
# Compiles benchmarks/gpu/kernels.mlir, and hyper_kernels.mlir after
# --attn-hyper, into build/gpu-bench/libattn_gpu_kernels.so (next to
# libattn_cuda_runtime.so), for bench_gpu.py on a GPU machine:
#   attn-opt [--attn-hyper] --attn-lower-to-nvvm | mlir-translate --mlir-to-llvmir | clang
# Usage: benchmarks/gpu/build.sh [BUILD_DIR] [extra --attn-lower-to-nvvm options] [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
options="format=bin ${2:-}"
out="${3:-$root/build/gpu-bench}"
llvm=/usr/lib/llvm-22/bin
mkdir -p "$out"
compile() { # input, object, passes before the lowering
  "$build/bin/attn-opt" "$1" ${3:-} --attn-lower-to-nvvm="$options" \
    -o "$out/$2.llvm.mlir" 2>"$out/$2.log" || { cat "$out/$2.log"; exit 1; }
  "$llvm/mlir-translate" --mlir-to-llvmir "$out/$2.llvm.mlir" -o "$out/$2.ll"
  "$llvm/clang" -O2 -fPIC -c "$out/$2.ll" -o "$out/$2.o"
}
compile "$root/benchmarks/gpu/kernels.mlir" kernels &
dense=$!
compile "$root/benchmarks/gpu/hyper_kernels.mlir" hyper --attn-hyper &
hyper=$!
wait $dense
wait $hyper
cp "$build/lib/libattn_cuda_runtime.so" "$out/"
"$llvm/clang" -shared -o "$out/libattn_gpu_kernels.so" "$out/kernels.o" "$out/hyper.o" \
  -L"$out" -lattn_cuda_runtime -Wl,-rpath,'$ORIGIN'
rm -f "$out"/*.ll "$out"/*.o "$out"/*.log
echo "built $out/libattn_gpu_kernels.so"
