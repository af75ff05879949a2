// RUN: attn-opt %s --convert-attn-to-loops | FileCheck %s

// Checks that attn.lsh_sort_bucket becomes a counting sort, not a
// comparison sort: one parallel loop over the row sets; per set a hash
// loop (all projections in one 16-lane FMA per component, bits to a code
// by a masked add-reduction, the Gray code as code ^ (code >> 1)) that
// counts keys, a prefix sum over the 2^P = 128 keys, and a placement loop
// that writes both the permutation and the rank.
// CHECK-LABEL: func.func @lsh
// CHECK:       %[[KEYS:.*]] = arith.constant 128 : index
// CHECK:       scf.parallel
// CHECK:         scf.for {{.*}} to %[[KEYS]]
// CHECK:         scf.for
// CHECK:           scf.for {{.*}} iter_args
// CHECK:             vector.fma {{.*}} : vector<16xf32>
// CHECK:           arith.cmpf ogt, {{.*}} : vector<16xf32>
// CHECK:           vector.reduction <add>, {{.*}} : vector<16xi32> into i32
// CHECK:           %[[SHIFTED:.*]] = arith.shrui %[[CODE:.*]], %{{.*}} : i32
// CHECK:           arith.xori %[[CODE]], %[[SHIFTED]] : i32
// CHECK:         scf.for {{.*}} to %[[KEYS]] {{.*}} iter_args
// CHECK:         scf.for
// CHECK:           memref.store {{.*}} : memref<2x8x?xi32>
// CHECK:           memref.store {{.*}} : memref<2x8x?xi32>
// CHECK-NOT:   sort
func.func @lsh(%x: tensor<2x8x?x64xf32>, %r: tensor<64x7xf32>)
    -> (tensor<2x8x?xi32>, tensor<2x8x?xi32>) {
  %perm, %rank = attn.lsh_sort_bucket %x, %r
      : tensor<2x8x?x64xf32>, tensor<64x7xf32>
      -> tensor<2x8x?xi32>, tensor<2x8x?xi32>
  return %perm, %rank : tensor<2x8x?xi32>, tensor<2x8x?xi32>
}

// Checks that attn.lsh_hash becomes one parallel loop over the rows whose
// body is the hash alone (the 16-lane FMA, the masked add-reduction and
// the Gray code) storing an i32 key per row, and attn.lsh_sort the same
// counting sort reading those keys: a parallel loop over the row sets, a
// histogram of the 2^bits = 128 keys, a prefix sum and a placement loop.
// CHECK-LABEL: func.func @hash_then_sort
// CHECK:       scf.parallel
// CHECK:         scf.for {{.*}} iter_args
// CHECK:           vector.fma {{.*}} : vector<16xf32>
// CHECK:         vector.reduction <add>, {{.*}} : vector<16xi32> into i32
// CHECK:         arith.xori
// CHECK:         memref.store {{.*}} : memref<2x8x?xi32>
// CHECK:       %[[KEYS:.*]] = arith.constant 128 : index
// CHECK:       scf.parallel
// CHECK:         scf.for {{.*}} to %[[KEYS]]
// CHECK:         scf.for
// CHECK:           memref.load {{.*}} : memref<2x8x?xi32>
// CHECK:         scf.for {{.*}} to %[[KEYS]] {{.*}} iter_args
// CHECK:         scf.for
// CHECK:           memref.store {{.*}} : memref<2x8x?xi32>
// CHECK-NOT:       vector.fma
// CHECK:       return
func.func @hash_then_sort(%x: tensor<2x8x?x64xf32>, %r: tensor<64x7xf32>)
    -> tensor<2x8x?xi32> {
  %keys = attn.lsh_hash %x, %r
      : tensor<2x8x?x64xf32>, tensor<64x7xf32> -> tensor<2x8x?xi32>
  %perm = attn.lsh_sort %keys {bits = 7} : tensor<2x8x?xi32> -> tensor<2x8x?xi32>
  return %perm : tensor<2x8x?xi32>
}
