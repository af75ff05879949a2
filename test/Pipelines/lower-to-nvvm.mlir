// RUN: attn-opt %s --attn-lower-to-nvvm="format=isa" -o %t.mlir
// RUN: FileCheck %s --input-file=%t.mlir
// RUN: %extract-ptx %t.mlir %t.ptx | FileCheck %s --check-prefix=FILES
// RUN: cat %t.ptx/*.ptx | FileCheck %s --check-prefix=PTX
// RUN: attn-opt %s --attn-lower-to-nvvm="format=isa chip=sm_80 features=+ptx70" | FileCheck %s --check-prefix=SM80

// Checks the GPU pipeline end to end without a CUDA toolkit (format=isa):
// host code in the LLVM dialect with the C wrapper (results as the last
// arguments), launches of gpu.binary kernels, and sm_90a PTX for every
// kernel kind: tensor-core decode and prefill (bf16 and f16), CUDA-core
// f32, and the split-KV merge.
// CHECK-NOT: attn.sdpa
// CHECK-DAG: gpu.binary @bf16_sdpa_decode_kernels
// CHECK-DAG: gpu.binary @bf16_sdpa_prefill_kernels
// CHECK-DAG: gpu.binary @bf16_sdpa_split_merge_kernels
// CHECK-DAG: gpu.binary @f16_sdpa_prefill_kernels
// CHECK-DAG: gpu.binary @f32_sdpa_simt_kernels
// CHECK-DAG: llvm.func @_mlir_ciface_bf16(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-DAG: gpu.launch_func <%{{.*}} : !llvm.ptr> @bf16_sdpa_prefill_kernels::@bf16_sdpa_prefill
// CHECK-DAG: llvm.call @mgpuStreamSynchronize

// FILES-DAG: bf16_sdpa_decode_kernels.ptx
// FILES-DAG: bf16_sdpa_prefill_kernels.ptx
// FILES-DAG: f32_sdpa_simt_kernels.ptx

// PTX-DAG: .target sm_90a
// PTX-DAG: .entry bf16_sdpa_prefill(
// PTX-DAG: .entry bf16_sdpa_decode(
// PTX-DAG: .entry bf16_sdpa_split_merge(
// PTX-DAG: .entry f32_sdpa_simt(
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: cp.async.wait_group {{[[:space:]]*}}1;
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-NOT: __nv_

// SM80: .target sm_80
func.func @bf16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                %v: tensor<?x2x?x128xbf16>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>
      -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

func.func @f16(%q: tensor<1x4x?x64xf16>, %k: tensor<1x4x?x64xf16>,
               %v: tensor<1x4x?x64xf16>) -> tensor<1x4x?x64xf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>,
      tensor<1x4x?x64xf16> -> tensor<1x4x?x64xf16>
  return %o : tensor<1x4x?x64xf16>
}

func.func @f32(%q: tensor<1x2x?x40xf32>, %k: tensor<1x2x?x40xf32>,
               %v: tensor<1x2x?x40xf32>) -> tensor<1x2x?x40xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x2x?x40xf32>, tensor<1x2x?x40xf32>,
      tensor<1x2x?x40xf32> -> tensor<1x2x?x40xf32>
  return %o : tensor<1x2x?x40xf32>
}
