// RUN: attn-opt %s --convert-attn-to-gpu --split-input-file | FileCheck %s

// Checks the SparQ decode lowering (bandwidth form, group-shared): scratch
// from gpu.alloc, then three async kernels on one stream: the scores kernel
// copies tiles of key_transposed rows into three padded shared-memory
// stages with 16-byte cp.async and multiplies them on tensor cores
// (ldmatrix.trans, mma.sync), the
// chunk select and the attend kernel both run the block radix select
// (shared atomics, those of a warp's most common digit aggregated through a
// ballot and a shuffle; warp ballots in the compaction), and the attend
// kernel stages the selected rows with cp.async in dynamic shared memory
// (its size set on the launch) and reads them 16 bytes at a time.
// CHECK-LABEL: func.func @sparq_decode(
// CHECK: %[[T0:.+]] = gpu.wait async
// CHECK: gpu.alloc async [%[[T0]]]
// CHECK-COUNT-4: gpu.alloc async
// CHECK: gpu.launch async
// CHECK-SAME: module(@sparq_decode_sparq_scores_kernels) function(@sparq_decode_sparq_scores)
// CHECK: nvgpu.device_async_copy {{.*}}, 8, {{.*}} : memref<1x8x128x?xbf16> to memref<3x16x1032xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true} : memref<3x16x1032xbf16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync
// CHECK: gpu.launch async
// CHECK-SAME: module(@sparq_decode_sparq_select_kernels) function(@sparq_decode_sparq_select)
// CHECK: nvvm.vote.sync ballot
// CHECK: gpu.shuffle idx
// CHECK: memref.atomic_rmw addi
// CHECK: nvvm.vote.sync ballot
// CHECK: gpu.launch async
// CHECK-SAME: dynamic_shared_memory_size
// CHECK-SAME: module(@sparq_decode_sparq_attend_kernels) function(@sparq_decode_sparq_attend)
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvvm.vote.sync ballot
// CHECK: nvgpu.device_async_copy
// CHECK: vector.load {{.*}} : memref<128x128xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: gpu.dealloc async
// CHECK: gpu.wait [%{{.+}}]
// CHECK: bufferization.to_tensor
func.func @sparq_decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                        %v: tensor<1x8x?x128xbf16>,
                        %kt: tensor<1x8x128x?xbf16>,
                        %vm: tensor<1x8x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x8x128x?xbf16>)
      value_mean(%vm : tensor<1x8x128xbf16>) rank(16) top_k(128) group_shared
      : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
        tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// -----

// Checks the general form (per-head selection, causal, a window, f32):
// components read from K one element at a time (no vector loads), the
// polynomial exp built from exponent bits where softmax_exp is set, and
// rows of 40 and 24 f32 (160 and 96 bytes) staged 16 bytes at a time.
// CHECK-LABEL: func.func @sparq_poly(
// CHECK: function(@sparq_poly_sparq_scores)
// CHECK-NOT: vector.load
// CHECK: "add.rm.f32 $0, $1, $2;"
// CHECK: arith.shli
// CHECK: arith.bitcast {{.*}} : i32 to f32
// CHECK: function(@sparq_poly_sparq_attend)
// CHECK: nvgpu.device_async_copy {{.*}} : memref<2x2x?x40xf32> to memref<20x40xf32, #gpu.address_space<workgroup>>
func.func @sparq_poly(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
                      %v: tensor<2x2x?x24xf32>) -> tensor<2x4x?x24xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(20) local_window(4) causal
      {softmax_exp = #attn.poly_exp<degree = 3, n_max = 12>}
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>
  return %o : tensor<2x4x?x24xf32>
}

// -----

// Checks the staged form on CUDA cores (f16, rank 8: no tensor cores):
// key_transposed tiles copied 16 bytes at a time into three padded stages,
// then read four keys (8 bytes) at a time, with no mma.
// CHECK-LABEL: func.func @sparq_f16_transposed(
// CHECK: function(@sparq_f16_transposed_sparq_scores)
// CHECK: nvgpu.device_async_copy {{.*}}, 8, {{.*}} : memref<1x2x64x?xf16> to memref<3x8x1032xf16, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK: vector.load {{.*}} : memref<3x8x1032xf16, #gpu.address_space<workgroup>>, vector<4xf16>
// CHECK: function(@sparq_f16_transposed_sparq_select)
func.func @sparq_f16_transposed(%q: tensor<1x8x1x64xf16>,
                                %k: tensor<1x2x?x64xf16>,
                                %v: tensor<1x2x?x64xf16>,
                                %kt: tensor<1x2x64x?xf16>,
                                %vm: tensor<1x2x64xf16>) -> tensor<1x8x1x64xf16> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x2x64x?xf16>)
      value_mean(%vm : tensor<1x2x64xf16>) rank(8) top_k(32)
      : tensor<1x8x1x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
      -> tensor<1x8x1x64xf16>
  return %o : tensor<1x8x1x64xf16>
}
