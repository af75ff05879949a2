// RUN: attn-opt %s --attn-hyper="min-seq-len=1024" --attn-lower-to-nvvm="format=isa" -o %t.mlir 2>/dev/null
// RUN: FileCheck %s --input-file=%t.mlir
// RUN: rm -rf %t.ptx && %extract-ptx %t.mlir %t.ptx > %t.list
// RUN: cat %t.ptx/*.ptx | FileCheck %s --check-prefix=PTX
// RUN: %if ptxas %{ for f in $(cat %t.list); do %ptxas -arch=sm_90a $f -o /dev/null || exit 1; done %}
// RUN: attn-opt %s --attn-hyper="min-seq-len=1024" --attn-lower-to-nvvm="format=isa" --mlir-print-ir-before=attn-offload-to-gpu -o /dev/null 2>&1 | FileCheck %s --check-prefix=INPLACE

// Checks causal HyperAttention (dynamic length, GQA) through the whole GPU
// pipeline: no attn op, linalg loop or host allocation is left; the sort,
// the attention kernels (with masks) and the glue's loop kernels are
// binaries; device memory comes from the runtime; the PTX of every kernel
// assembles for sm_90a (where ptxas is installed) and needs no libdevice.
// CHECK-NOT: attn.
// CHECK-DAG: gpu.binary @hyper_causal_lsh_hash_kernels
// CHECK-DAG: gpu.binary @hyper_causal_lsh_sort_kernels
// CHECK-DAG: gpu.binary @hyper_causal_sdpa_prefill_kernels
// CHECK-DAG: gpu.binary @hyper_causal_loop0_i32_kernels
// CHECK-DAG: llvm.call @mgpuMemAlloc
// CHECK-DAG: llvm.call @mgpuMemFree
// CHECK-NOT: scf.parallel
// CHECK-NOT: llvm.call @malloc(%{{.*}}) : (i64) -> !llvm.ptr{{$}}

// The levels' merges write into the accumulated rows: before the host
// loops become kernels, the only copy left is the result's into the
// caller's buffer (no copy of a merged slice back into the rows).
// INPLACE-LABEL: func.func @hyper_causal(
// INPLACE-NOT: linalg.copy
// INPLACE-NOT: memref.copy
// INPLACE: memref.copy %{{.*}}, %arg3 : memref<1x4x?x64xbf16> to memref<1x4x?x64xbf16>
// INPLACE-NOT: memref.copy
// INPLACE-NOT: linalg.copy
// INPLACE: }

// PTX-DAG: match.any.sync.b32
// PTX-DAG: atom.shared.add.u32
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-NOT: __nv_
func.func @hyper_causal(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x2x?x64xbf16>,
                        %v: tensor<1x2x?x64xbf16>) -> tensor<1x4x?x64xbf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x4x?x64xbf16>,
      tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x4x?x64xbf16>
  return %o : tensor<1x4x?x64xbf16>
}
