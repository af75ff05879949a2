// RUN: attn-opt %s --convert-attn-to-gpu --split-input-file | FileCheck %s

// Checks the decode lowering of a GQA bf16 step with a static query length:
// one tensor-core kernel with one warp per block (the 4 query heads of a
// group are the rows of one block), cp.async tiles, ldmatrix and bf16
// mma.sync, split-KV scratch from gpu.alloc and the merge kernel, all async
// on one stream that the function waits for.
// CHECK-LABEL: func.func @decode(
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x32x1x128xbf16>
// CHECK: %[[T0:.+]] = gpu.wait async
// CHECK: gpu.alloc async [%[[T0]]]
// CHECK: gpu.launch async
// CHECK-SAME: threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c32
// CHECK-SAME: dynamic_shared_memory_size
// CHECK-SAME: module(@decode_sdpa_decode_kernels) function(@decode_sdpa_decode)
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvgpu.device_async_copy
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK-NOT: sdpa_prefill
// CHECK: module(@decode_sdpa_split_merge_kernels) function(@decode_sdpa_split_merge)
// CHECK: gpu.dealloc async
// CHECK: gpu.wait [%{{.+}}]
// CHECK: bufferization.to_tensor
func.func @decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                  %v: tensor<1x8x?x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
      tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// -----

// Checks that a dynamic query length gets both tensor-core kernels (decode,
// one warp; prefill, four warps of 32 rows) and that f16 operands reach
// mma.sync as vector<2xf16>.
// CHECK-LABEL: func.func @prefill(
// CHECK: function(@prefill_sdpa_decode)
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32)
// CHECK: threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK-SAME: function(@prefill_sdpa_prefill)
// CHECK: function(@prefill_sdpa_split_merge)
func.func @prefill(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                   %v: tensor<?x4x?x64xf16>) -> tensor<?x4x?x64xf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<?x4x?x64xf16>,
      tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16> -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}

// -----

// Checks the two bodies of the prefill kernel's key loop under causal
// masking: a tile whose last key every row of the block sees (sle against
// the block's bound) skips the causal compares and the guard for rows with
// nothing visible yet; the other body has both. Row blocks run in reverse
// grid order (grid size - 1 - block id), the longest first.
// CHECK-LABEL: func.func @prefill_tiles(
// CHECK: gpu.launch async {{.*}} blocks({{[^)]*}}) in (%[[GRIDX:[^ ]*]] = {{.*}} function(@prefill_tiles_sdpa_prefill)
// CHECK: %[[LASTBLOCK:.*]] = arith.subi %[[GRIDX]], %c1
// CHECK: arith.subi %[[LASTBLOCK]], %{{.*}} : index
// CHECK: scf.for
// CHECK: %[[WHOLE:.*]] = arith.cmpi sle, %{{.*}}, %{{.*}} : index
// CHECK: scf.if %[[WHOLE]] -> (f32,
// CHECK-NOT: arith.cmpi sle
// CHECK-NOT: arith.cmpf oeq
// CHECK: } else {
// CHECK: arith.cmpi sle
// CHECK: arith.cmpf oeq
// CHECK: scf.yield
func.func @prefill_tiles(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                         %v: tensor<?x4x?x64xf16>) -> tensor<?x4x?x64xf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<?x4x?x64xf16>,
      tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16> -> tensor<?x4x?x64xf16>
  return %o : tensor<?x4x?x64xf16>
}

// -----

// Checks that f32 (and head dims that are not multiples of 16) take the
// CUDA-core kernel: warp shuffles, no mma, and the lse is written.
// CHECK-LABEL: func.func @simt(
// CHECK-NOT: nvvm.mma.sync
// CHECK: module(@simt_sdpa_simt_kernels) function(@simt_sdpa_simt)
// CHECK: gpu.shuffle xor
// CHECK: function(@simt_sdpa_split_merge)
func.func @simt(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
                %v: tensor<2x2x?x24xf32>)
    -> (tensor<2x4x?x24xf32>, tensor<2x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
}

// -----

// Checks that softmax_exp puts TurboAttention's polynomial into the
// tensor-core kernel's online softmax: floor(y) from y + 2^23 rounded down
// (no conversion), 2^-n p(f) by subtracting n << 23 from the cubic's bits,
// weights with n >= n_max dropped (the running rescale stays ex2).
// CHECK-LABEL: func.func @poly(
// CHECK: function(@poly_sdpa_prefill)
// CHECK: ex2.approx
// CHECK: %[[Y:.*]] = arith.minnumf {{.*}}, %cst{{.*}} : f32
// CHECK: %[[T:.*]] = llvm.inline_asm "add.rm.f32 $0, $1, $2;", "=f,f,f" %[[Y]]
// CHECK-NOT: arith.fptosi
// CHECK: %[[TBITS:.*]] = arith.bitcast %[[T]] : f32 to i32
// CHECK: %[[N:.*]] = arith.shli %[[TBITS]], %{{.*}} : i32
// CHECK: %[[BITS:.*]] = arith.subi %{{.*}}, %[[N]] : i32
// CHECK: %[[W:.*]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK: arith.cmpf oge, %[[Y]]
// CHECK: arith.select {{.*}}, %[[W]]
// CHECK: nvvm.mma.sync
func.func @poly(%q: tensor<1x8x256x64xbf16>, %k: tensor<1x8x256x64xbf16>,
                %v: tensor<1x8x256x64xbf16>) -> tensor<1x8x256x64xbf16> {
  %o = attn.sdpa %q, %k, %v causal
      {softmax_exp = #attn.poly_exp<degree = 3, n_max = 12>}
      : tensor<1x8x256x64xbf16>, tensor<1x8x256x64xbf16>,
        tensor<1x8x256x64xbf16> -> tensor<1x8x256x64xbf16>
  return %o : tensor<1x8x256x64xbf16>
}
