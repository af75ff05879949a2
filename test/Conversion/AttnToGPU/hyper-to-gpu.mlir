// RUN: attn-opt %s --convert-attn-to-gpu --split-input-file | FileCheck %s

// Checks the GPU sortLSH: a hash kernel (bf16 rows of the flat [rows, D]
// view on tensor cores: per lane one 16-byte load of each of two rows per
// 32 dims, R in three bf16 parts, 64 / 16 k-steps per part, the four
// lanes of a row OR their bits) writes the sort keys to manually freed
// scratch; a counting
// sort per row set (a block of 16 warps, each with its own 2^7 counters for
// its chunk of the rows, and the 2^7 key totals: 8704 bytes of shared
// memory) builds the histograms with atomics, scans the totals on one warp
// and places rows stably with match.any and the lanes-below mask, writing
// the permutation and rank.
// CHECK-LABEL: func.func @sort(
// CHECK: memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2], [3]] : memref<2x4x?x64xbf16> into memref<?x64xbf16>
// CHECK: gpu.alloc async {{.*}} {bufferization.manual_deallocation} : memref<?xi32>
// CHECK: gpu.launch async {{.*}} threads({{.*}}) in (%{{.*}} = %c128, {{.*}} module(@sort_lsh_hash_kernels) function(@sort_lsh_hash)
// CHECK-COUNT-4: vector.load {{.*}} : memref<?x64xbf16>, vector<8xbf16>
// CHECK-NOT: gpu.launch
// CHECK-COUNT-12: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: arith.cmpf ogt
// CHECK: gpu.shuffle xor
// CHECK: gpu.shuffle xor
// CHECK: arith.xori
// CHECK: gpu.launch async {{.*}} in (%{{.*}} = %c512, {{.*}} dynamic_shared_memory_size %c8704_i32 module(@sort_lsh_sort_kernels) function(@sort_lsh_sort)
// CHECK: gpu.dynamic_shared_memory
// CHECK: memref.view {{.*}} to memref<2048xi32, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}} to memref<128xi32, #gpu.address_space<workgroup>>
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.shuffle idx
// CHECK: nvvm.read.ptx.sreg.lanemask.lt
// CHECK: nvvm.match.sync any
// CHECK: gpu.dealloc async {{.*}} {bufferization.manual_deallocation}
func.func @sort(%x: tensor<2x4x?x64xbf16>, %r: tensor<64x7xf32>)
    -> (tensor<2x4x?xi32>, tensor<2x4x?xi32>) {
  %p, %rk = attn.lsh_sort_bucket %x, %r
      : tensor<2x4x?x64xbf16>, tensor<64x7xf32>
      -> tensor<2x4x?xi32>, tensor<2x4x?xi32>
  return %p, %rk : tensor<2x4x?xi32>, tensor<2x4x?xi32>
}

// -----

// Checks the hash of f16 rows (not on tensor cores): one warp per row, two
// elements per lane, the dot products summed by shuffles.
// CHECK-LABEL: func.func @sort_f16(
// CHECK: gpu.launch async {{.*}} function(@sort_f16_lsh_hash)
// CHECK-NOT: nvvm.mma.sync
// CHECK: vector.load {{.*}} : memref<?x64xf16>, vector<2xf16>
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: arith.xori
// CHECK: gpu.launch async {{.*}} function(@sort_f16_lsh_sort)
func.func @sort_f16(%x: tensor<4x?x64xf16>, %r: tensor<64x7xf32>)
    -> tensor<4x?xi32> {
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<4x?x64xf16>, tensor<64x7xf32> -> tensor<4x?xi32>
  return %p : tensor<4x?xi32>
}

// -----

// Checks attn.lsh_hash and attn.lsh_sort on their own: the hash kernel
// writes the keys into the op's result (no scratch), and the sort kernel
// reads the keys of its input, one block per row set, writing the
// permutation alone.
// CHECK-LABEL: func.func @hash_then_sort(
// CHECK: %[[KEYS:.*]] = memref.alloc({{.*}}) {{.*}} : memref<2x4x?xi32>
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %[[KEYS]] {{\[\[}}0, 1, 2]] : memref<2x4x?xi32> into memref<?xi32>
// CHECK: gpu.launch async {{.*}} function(@hash_then_sort_lsh_hash)
// CHECK: nvvm.mma.sync
// CHECK: memref.store {{.*}}, %[[FLAT]]
// CHECK: gpu.launch async {{.*}} function(@hash_then_sort_lsh_sort)
// CHECK: memref.load %{{.*}} : memref<?xi32>
// CHECK-NOT: gpu.alloc async {{.*}} {bufferization.manual_deallocation}
// CHECK: return
func.func @hash_then_sort(%x: tensor<2x4x?x64xbf16>, %r: tensor<64x7xf32>)
    -> tensor<2x4x?xi32> {
  %keys = attn.lsh_hash %x, %r
      : tensor<2x4x?x64xbf16>, tensor<64x7xf32> -> tensor<2x4x?xi32>
  %p = attn.lsh_sort %keys {bits = 7} : tensor<2x4x?xi32> -> tensor<2x4x?xi32>
  return %p : tensor<2x4x?xi32>
}

// -----

// Checks that an i1 mask reaches the tensor-core kernels: the scores read
// the mask at (batch, query head, query, key), broadcasting its static 1
// dims (here the batch) by index 0. The prefill kernel reads it in both of
// its tile bodies: tiles every row sees whole (no clamping, no keyEnd or
// causal checks) and the others.
// CHECK-LABEL: func.func @masked(
// CHECK: gpu.launch async {{.*}} function(@masked_sdpa_decode)
// CHECK: memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}, %{{.*}}] : memref<1x8x?x?xi1>
// CHECK: gpu.launch async {{.*}} function(@masked_sdpa_prefill)
// CHECK: scf.if %{{.*}} -> (f32, f32
// CHECK: memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}, %{{.*}}] : memref<1x8x?x?xi1>
// CHECK: } else {
// CHECK: memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}, %{{.*}}] : memref<1x8x?x?xi1>
func.func @masked(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x4x?x64xbf16>,
                  %v: tensor<1x4x?x64xbf16>, %m: tensor<1x8x?x?xi1>)
    -> tensor<1x8x?x64xbf16> {
  %o = attn.sdpa %q, %k, %v mask(%m : tensor<1x8x?x?xi1>)
      : tensor<1x8x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>
      -> tensor<1x8x?x64xbf16>
  return %o : tensor<1x8x?x64xbf16>
}

// -----

// Checks that a mask computed by an elementwise linalg.generic (as
// HyperAttention's residual drops the samples of each query's own block)
// is not written to memory: the kernels load the generic's inputs through
// its indexing maps (the query head over 2 for the samples' key/value
// head) and evaluate its body per score. The input indexed by the query
// alone is read once, before the key loop.
// CHECK-LABEL: func.func @computed_mask(
// CHECK-NOT: tensor<1x8x?x256xi1>
// CHECK: gpu.launch async {{.*}} function(@computed_mask_sdpa_decode)
// CHECK: %[[QUERY:.*]] = memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}] : memref<1x8x?xindex>
// CHECK: scf.for
// CHECK: %[[SAMPLE:.*]] = memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}] : memref<1x4x256xindex>
// CHECK: arith.cmpi ne, %[[SAMPLE]], %[[QUERY]] : index
// CHECK: gpu.launch async {{.*}} function(@computed_mask_sdpa_prefill)
// CHECK: memref.load %{{.*}} : memref<1x4x256xindex>
// CHECK-NOT: tensor<1x8x?x256xi1>
// CHECK: return
#sample = affine_map<(b, h, i, j) -> (b, h floordiv 2, j)>
#query = affine_map<(b, h, i, j) -> (b, h, i)>
#identity = affine_map<(b, h, i, j) -> (b, h, i, j)>
func.func @computed_mask(%q: tensor<1x8x?x64xbf16>,
                         %k: tensor<1x4x256x64xbf16>,
                         %v: tensor<1x4x256x64xbf16>,
                         %sample_blocks: tensor<1x4x256xindex>,
                         %query_blocks: tensor<1x8x?xindex>)
    -> tensor<1x8x?x64xbf16> {
  %c2 = arith.constant 2 : index
  %len = tensor.dim %q, %c2 : tensor<1x8x?x64xbf16>
  %init = tensor.empty(%len) : tensor<1x8x?x256xi1>
  %mask = linalg.generic {indexing_maps = [#sample, #query, #identity],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sample_blocks, %query_blocks
          : tensor<1x4x256xindex>, tensor<1x8x?xindex>)
      outs(%init : tensor<1x8x?x256xi1>) {
  ^bb0(%sample: index, %query: index, %out: i1):
    %other_block = arith.cmpi ne, %sample, %query : index
    linalg.yield %other_block : i1
  } -> tensor<1x8x?x256xi1>
  %o = attn.sdpa %q, %k, %v mask(%mask : tensor<1x8x?x256xi1>)
      : tensor<1x8x?x64xbf16>, tensor<1x4x256x64xbf16>,
        tensor<1x4x256x64xbf16> -> tensor<1x8x?x64xbf16>
  return %o : tensor<1x8x?x64xbf16>
}

// -----

// Checks that a mask input with one 4-byte element per key for every row of
// a block (indexed by batch, head and key, without grouped heads) is copied
// into shared memory with each key tile by cp.async, and that the scores
// read it there rather than from global memory.
// CHECK-LABEL: func.func @staged_mask(
// CHECK: gpu.launch async {{.*}} function(@staged_mask_sdpa_prefill)
// CHECK: %[[ROW:.*]] = memref.load %{{.*}}[%c0, %{{.*}}, %{{.*}}] : memref<1x4x?xi32>
// CHECK: nvgpu.device_async_copy %{{.*}}[%c0, %{{.*}}, %{{.*}}], %{{.*}}[%{{.*}}], 1, %{{.*}} : memref<1x4x256xi32> to memref<{{[0-9]+}}xi32, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy %{{.*}} : memref<1x4x256xi32> to memref<{{[0-9]+}}xi32, #gpu.address_space<workgroup>>
// CHECK: %[[KEY:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<{{[0-9]+}}xi32, #gpu.address_space<workgroup>>
// CHECK: arith.cmpi ne, %[[KEY]], %[[ROW]] : i32
// CHECK-NOT: memref.load %{{.*}} : memref<1x4x256xi32>
// CHECK: gpu.terminator
#staged_sample = affine_map<(b, h, i, j) -> (b, h, j)>
#staged_query = affine_map<(b, h, i, j) -> (b, h, i)>
#staged_identity = affine_map<(b, h, i, j) -> (b, h, i, j)>
func.func @staged_mask(%q: tensor<1x4x?x64xbf16>,
                       %k: tensor<1x4x256x64xbf16>,
                       %v: tensor<1x4x256x64xbf16>,
                       %sample_blocks: tensor<1x4x256xi32>,
                       %query_blocks: tensor<1x4x?xi32>)
    -> tensor<1x4x?x64xbf16> {
  %c2 = arith.constant 2 : index
  %len = tensor.dim %q, %c2 : tensor<1x4x?x64xbf16>
  %init = tensor.empty(%len) : tensor<1x4x?x256xi1>
  %mask = linalg.generic {indexing_maps = [#staged_sample, #staged_query,
                                           #staged_identity],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sample_blocks, %query_blocks
          : tensor<1x4x256xi32>, tensor<1x4x?xi32>)
      outs(%init : tensor<1x4x?x256xi1>) {
  ^bb0(%sample: i32, %query: i32, %out: i1):
    %other_block = arith.cmpi ne, %sample, %query : i32
    linalg.yield %other_block : i1
  } -> tensor<1x4x?x256xi1>
  %o = attn.sdpa %q, %k, %v mask(%mask : tensor<1x4x?x256xi1>)
      : tensor<1x4x?x64xbf16>, tensor<1x4x256x64xbf16>,
        tensor<1x4x256x64xbf16> -> tensor<1x4x?x64xbf16>
  return %o : tensor<1x4x?x64xbf16>
}

// -----

// Checks that a mask whose generic reads its init (not elementwise in the
// sense the kernels need) is still read from memory.
// CHECK-LABEL: func.func @stored_mask(
// CHECK: linalg.generic
// CHECK: gpu.launch async {{.*}} function(@stored_mask_sdpa_prefill)
// CHECK: memref.load %{{.*}} : memref<1x8x?x256xi1>
#flip_identity = affine_map<(b, h, i, j) -> (b, h, i, j)>
func.func @stored_mask(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x4x256x64xbf16>,
                       %v: tensor<1x4x256x64xbf16>,
                       %m: tensor<1x8x?x256xi1>) -> tensor<1x8x?x64xbf16> {
  %mask = linalg.generic {indexing_maps = [#flip_identity],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      outs(%m : tensor<1x8x?x256xi1>) {
  ^bb0(%out: i1):
    %true = arith.constant true
    %flipped = arith.xori %out, %true : i1
    linalg.yield %flipped : i1
  } -> tensor<1x8x?x256xi1>
  %o = attn.sdpa %q, %k, %v mask(%mask : tensor<1x8x?x256xi1>)
      : tensor<1x8x?x64xbf16>, tensor<1x4x256x64xbf16>,
        tensor<1x4x256x64xbf16> -> tensor<1x8x?x64xbf16>
  return %o : tensor<1x8x?x64xbf16>
}

// -----

// Checks that a float mask in the CUDA-core kernel is added to the scores
// in the log2 domain (times log2 e).
// CHECK-LABEL: func.func @additive(
// CHECK: gpu.launch async {{.*}} function(@additive_sdpa_simt)
// CHECK: %[[M:.*]] = memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x?xf32>
// CHECK: arith.mulf %[[M]], %{{.*}}
func.func @additive(%q: tensor<1x2x?x40xf32>, %k: tensor<1x2x?x40xf32>,
                    %v: tensor<1x2x?x40xf32>, %m: tensor<?x?xf32>)
    -> tensor<1x2x?x40xf32> {
  %o = attn.sdpa %q, %k, %v mask(%m : tensor<?x?xf32>)
      : tensor<1x2x?x40xf32>, tensor<1x2x?x40xf32>, tensor<1x2x?x40xf32>
      -> tensor<1x2x?x40xf32>
  return %o : tensor<1x2x?x40xf32>
}

// -----

// Checks that attn.gather and attn.merge become linalg.generic ops on
// tensors (attn-offload-to-gpu runs them as kernels after bufferization).
// CHECK-LABEL: func.func @glue(
// CHECK-NOT: attn.
// CHECK: linalg.generic
// CHECK: tensor.extract
// CHECK: linalg.generic
// CHECK: math.exp
func.func @glue(%o1: tensor<1x2x?x16xf32>, %l1: tensor<1x2x?xf32>,
                %o2: tensor<1x2x?x16xf32>, %l2: tensor<1x2x?xf32>,
                %idx: tensor<1x2x?xi32>) -> tensor<1x2x?x16xf32> {
  %g = attn.gather %o1[%idx] axis(2)
      : tensor<1x2x?x16xf32>, tensor<1x2x?xi32> -> tensor<1x2x?x16xf32>
  %o, %l = attn.merge %g, %l1, %o2, %l2
      : tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
  return %o : tensor<1x2x?x16xf32>
}

// -----

// Checks that attn.quantize and attn.topk become the parallel loops of their
// CPU lowering on buffers (attn-offload-to-gpu launches them).
// CHECK-LABEL: func.func @loops(
// CHECK-NOT: attn.
// CHECK: scf.parallel
// CHECK: math.roundeven
// CHECK: scf.parallel
// CHECK: scf.while
func.func @loops(%x: tensor<1x2x?x64xbf16>, %s: tensor<8x?xf32>)
    -> (tensor<1x2x?x32xi8>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xi8>,
        tensor<1x2x?x2xi8>, tensor<8x4xi64>) {
  %c, %sc, %st, %z = attn.quantize %x axis(3) group_size(32) bits(4)
      : tensor<1x2x?x64xbf16> -> tensor<1x2x?x32xi8>, tensor<1x2x?x2xf32>,
        tensor<1x2x?x2xi8>, tensor<1x2x?x2xi8>
  %v, %i = attn.topk %s : tensor<8x?xf32> -> tensor<8x4xf32>, tensor<8x4xi64>
  return %c, %sc, %st, %z, %i : tensor<1x2x?x32xi8>, tensor<1x2x?x2xf32>,
      tensor<1x2x?x2xi8>, tensor<1x2x?x2xi8>, tensor<8x4xi64>
}
