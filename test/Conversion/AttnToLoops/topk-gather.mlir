// RUN: attn-opt %s --convert-attn-to-loops | FileCheck %s

// Checks that attn.topk becomes a heap selection, one parallel work item per
// row: a vector max of each 16-wide chunk against the heap's worst key,
// sift loops (scf.while) on stack buffers of k entries, no sort of the row.
// CHECK-LABEL: func.func @topk
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%{{.*}})
// CHECK: memref.alloca_scope
// CHECK: memref.alloca(%c4) : memref<?xf32>
// CHECK: memref.alloca(%c4) : memref<?xindex>
// CHECK: vector.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<8x100xf32>, vector<16xf32>
// CHECK: vector.reduction <maxnumf>
// CHECK: scf.while
func.func @topk(%x: tensor<8x100xf32>) -> (tensor<8x4xf32>, tensor<8x4xi64>) {
  %v, %i = attn.topk %x : tensor<8x100xf32> -> tensor<8x4xf32>, tensor<8x4xi64>
  return %v, %i : tensor<8x4xf32>, tensor<8x4xi64>
}

// Checks that attn.gather becomes a linalg.generic over the result that
// clamps the index and extracts from the source.
// CHECK-LABEL: func.func @gather
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: arith.index_cast
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK: tensor.extract %arg0
func.func @gather(%s: tensor<2x50x8xf32>, %i: tensor<2x4x6xi64>)
    -> tensor<2x4x6x8xf32> {
  %r = attn.gather %s[%i] axis(1)
      : tensor<2x50x8xf32>, tensor<2x4x6xi64> -> tensor<2x4x6x8xf32>
  return %r : tensor<2x4x6x8xf32>
}
