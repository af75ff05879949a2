// RUN: attn-opt %s --attn-hyper -split-input-file 2>/dev/null | FileCheck %s
// RUN: attn-opt %s --attn-hyper="seed=42" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=SEED
// RUN: attn-opt %s --attn-hyper -split-input-file -verify-diagnostics -o /dev/null

// Checks the non-causal rewrite of a static 8k prefill: the projections are
// a constant drawn from seed 0 (R[0, 0..2] = -0.455219, 0.775653, -0.982062
// per ALGORITHMS.md §6, as python/attn_mlir/reference/hyper.py computes them; printed
// as little-endian hex, and seed 42 gives -0.105692, 1.597037, -0.788609);
// queries and keys are hashed (attn.lsh_hash) and sorted by their hashes
// (attn.lsh_sort on 7-bit keys), queries with their rank, keys without;
// blocks of 256 sorted
// keys are attended with a padding mask, their rows read back in query
// order through the rank; 256 samples (splitmix64 in the IR) are attended
// by the queries in their own order, with a mask that drops the block of
// each query's sorted position (from the rank); the two are merged and
// nothing is gathered after. The scale carries over to both attn.sdpa. No
// scf.if: the length is static.
// CHECK-LABEL: func.func @static_prefill
// CHECK: arith.constant dense<"0x7712E9BE3191463F67687BBF
// CHECK: %[[QH:.*]] = attn.lsh_hash %[[Q:.*]], %{{.*}} : tensor<?x8x?x64xf32>, tensor<64x7xf32> -> tensor<?x8x?xi32>
// CHECK: %[[KH:.*]] = attn.lsh_hash %{{.*}}, %{{.*}} : tensor<?x8x?x64xf32>, tensor<64x7xf32> -> tensor<?x8x?xi32>
// CHECK: %[[PERM:.*]], %[[RANK:.*]] = attn.lsh_sort %[[QH]] {bits = 7 : i64} : tensor<?x8x?xi32> -> tensor<?x8x?xi32>, tensor<?x8x?xi32>
// CHECK: attn.lsh_sort %[[KH]] {bits = 7 : i64} : tensor<?x8x?xi32> -> tensor<?x8x?xi32>{{$}}
// CHECK: attn.sdpa {{.*}} mask(%{{.*}} : tensor<?x1x1x256xi1>) scale(1.250000e-01)
// CHECK: %[[BLOCKS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x?x64xf32>)
// CHECK:   tensor.extract %[[RANK]]
// CHECK: arith.constant -7046029254386353131 : i64
// CHECK: arith.remui {{.*}} : i64
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x?xi32>)
// CHECK:   tensor.extract %[[RANK]]
// CHECK: attn.sdpa %[[Q]], {{.*}} mask(%{{.*}} : tensor<?x8x?x256xi1>) scale(1.250000e-01)
// CHECK: math.log
// CHECK: %[[OUT:.*]], %{{.*}} = attn.merge %[[BLOCKS]],
// CHECK-NOT: attn.gather
// CHECK-NOT: linalg.generic
// CHECK-NOT: scf.if
// CHECK: tensor.cast %[[OUT]]
// CHECK: return
// SEED-LABEL: func.func @static_prefill
// SEED: arith.constant dense<"0x2175D8BDB96BCC3F48E249BF
func.func @static_prefill(%q: tensor<1x8x8192x64xf32>, %k: tensor<1x8x8192x64xf32>,
                          %v: tensor<1x8x8192x64xf32>) -> tensor<1x8x8192x64xf32> {
  // expected-remark @+1 {{HyperAttention: 512 keys per query row (bucket 256 + samples 256) instead of Lk = 8192 (16.0x fewer scores)}}
  %o = attn.sdpa %q, %k, %v scale(0.125) : tensor<1x8x8192x64xf32>,
      tensor<1x8x8192x64xf32>, tensor<1x8x8192x64xf32> -> tensor<1x8x8192x64xf32>
  return %o : tensor<1x8x8192x64xf32>
}

// -----

// Checks that dynamic lengths dispatch at run time: HyperAttention from
// min-seq-len = 4096 queries up, the original attn.sdpa below; the LSE
// result is produced on both sides.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[LONG:.*]] = arith.cmpi uge, %{{.*}}, %c4096
// CHECK: scf.if %[[LONG]] -> (tensor<1x8x?x64xf32>, tensor<1x8x?xf32>)
// CHECK:   attn.lsh_hash
// CHECK:   attn.lsh_sort
// CHECK:   attn.merge
// CHECK: } else {
// CHECK:   attn.sdpa %arg0, %arg1, %arg2 :
// CHECK: }
func.func @dynamic(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>)
    -> (tensor<1x8x?x64xf32>, tensor<1x8x?xf32>) {
  // expected-remark @+1 {{HyperAttention: 512 keys per query row (bucket 256 + samples 256) instead of Lk}}
  %o, %lse = attn.sdpa %q, %k, %v : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x64xf32>, tensor<1x8x?xf32>
}

// -----

// Checks causal attention (Algorithm 4): the dispatch needs Lq == Lk and
// more than min-seq-len keys; the depth comes from an scf.while halving the
// length; exact causal attention on the deepest segments; then an scf.for
// over the levels whose off-diagonal blocks are exact below min-seq-len and
// the sampled core otherwise, merged into the accumulated rows: an scf.for
// over the segments takes the real rows of each second half (a slice of the
// accumulated rows, and the segment's batches of the off-diagonal result at
// a stride of the segment count), merges them and copies the result back
// into that slice, skipping segments that are all padding. Queries and
// keys are hashed once, before the levels; each level sorts its segments'
// hashes (the queries' of the second halves, the keys' of the first).
// CHECK-LABEL: func.func @causal
// CHECK: %[[SAME:.*]] = arith.cmpi eq
// CHECK: %[[LONG:.*]] = arith.cmpi ugt, %{{.*}}, %c4096
// CHECK: %[[BOTH:.*]] = arith.andi %[[SAME]], %[[LONG]]
// CHECK: scf.if %[[BOTH]]
// CHECK:   scf.while
// CHECK:   attn.sdpa {{.*}} causal
// CHECK:   attn.lsh_hash %{{.*}} : tensor<?x8x?x64xf32>, tensor<64x7xf32> -> tensor<?x8x?xi32>
// CHECK:   attn.lsh_hash
// CHECK-NOT: attn.lsh_hash
// CHECK:   scf.for
// CHECK:     scf.if
// CHECK:       attn.sdpa
// CHECK:       %[[SEGMENTS:.*]]:2 = scf.for %[[S:.*]] = %c0{{.*}} to %[[N:.*]] step %c1{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}, %[[ACCLSE:.*]] = %{{.*}})
// CHECK:         %[[NONEMPTY:.*]] = arith.cmpi ugt
// CHECK:         scf.if %[[NONEMPTY]]
// CHECK:           %[[ROWS:.*]] = tensor.extract_slice %[[ACC]][0, 0, %[[START:.*]], 0] [%{{.*}}, 8, %[[COUNT:.*]], 64] [1, 1, 1, 1]
// CHECK:           tensor.extract_slice %{{.*}}[%[[S]], 0, 0, 0] [%{{.*}}, 8, %[[COUNT]], 64] [%[[N]], 1, 1, 1]
// CHECK:           %[[MERGED:.*]], %{{.*}} = attn.merge %[[ROWS]]
// CHECK:           %[[SLICE:.*]] = tensor.extract_slice %[[ACC]][0, 0, %[[START]], 0]
// CHECK:           %[[COPIED:.*]] = linalg.copy ins(%[[MERGED]] : {{.*}}) outs(%[[SLICE]] : {{.*}})
// CHECK:           tensor.insert_slice %[[COPIED]] into %[[ACC]][0, 0, %[[START]], 0]
// CHECK:     } else {
// CHECK:       attn.lsh_sort %{{.*}} {bits = 7 : i64} : tensor<?x8x?xi32> -> tensor<?x8x?xi32>, tensor<?x8x?xi32>
// CHECK:       attn.lsh_sort %{{.*}} {bits = 7 : i64} : tensor<?x8x?xi32> -> tensor<?x8x?xi32>{{$}}
// CHECK:       attn.merge
// CHECK:       attn.merge
// CHECK: } else {
// CHECK:   attn.sdpa %arg0, %arg1, %arg2 causal
func.func @causal(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                  %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {
  // expected-remark @+1 {{HyperAttention (causal): exact attention inside segments of at most 4096 keys, and per recursion level 512 keys per query row (bucket 256 + samples 256)}}
  %o = attn.sdpa %q, %k, %v causal : tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// -----

// Checks what stays dense: a mask operand and causal Lq != Lk (with a
// warning each), and static lengths below min-seq-len (silently).
// CHECK-LABEL: func.func @stays_dense
// CHECK-NOT: attn.lsh_hash
// CHECK: attn.sdpa %arg0, %arg1, %arg2 mask
// CHECK: attn.sdpa %arg0, %arg1, %arg2 causal
// CHECK: attn.sdpa %arg3, %arg3, %arg3 :
func.func @stays_dense(%q: tensor<1x8x8192x64xf32>, %k: tensor<1x8x9000x64xf32>,
                       %v: tensor<1x8x9000x64xf32>, %short: tensor<1x8x1000x64xf32>,
                       %mask: tensor<8192x9000xi1>)
    -> (tensor<1x8x8192x64xf32>, tensor<1x8x8192x64xf32>, tensor<1x8x1000x64xf32>) {
  // expected-warning @+1 {{attn-hyper: left dense: HyperAttention supports causal masking only, not a mask operand}}
  %a = attn.sdpa %q, %k, %v mask(%mask : tensor<8192x9000xi1>)
      : tensor<1x8x8192x64xf32>, tensor<1x8x9000x64xf32>, tensor<1x8x9000x64xf32>
      -> tensor<1x8x8192x64xf32>
  // expected-warning @+1 {{attn-hyper: left dense: causal HyperAttention needs Lq == Lk, got Lq = 8192, Lk = 9000}}
  %b = attn.sdpa %q, %k, %v causal : tensor<1x8x8192x64xf32>,
      tensor<1x8x9000x64xf32>, tensor<1x8x9000x64xf32> -> tensor<1x8x8192x64xf32>
  %c = attn.sdpa %short, %short, %short : tensor<1x8x1000x64xf32>,
      tensor<1x8x1000x64xf32>, tensor<1x8x1000x64xf32> -> tensor<1x8x1000x64xf32>
  return %a, %b, %c
      : tensor<1x8x8192x64xf32>, tensor<1x8x8192x64xf32>, tensor<1x8x1000x64xf32>
}
