// RUN: attn-opt %s --convert-attn-to-loops | FileCheck %s

// Checks the bandwidth form: one parallel work item per (batch, kv head,
// query index, unit) -- with group_shared a unit is the 4 heads of a group,
// so the last dim has 1 unit -- and the approximate scores read contiguous
// 64-key chunks of the selected rows of the transposed cache, never key's
// columns; the value mean is read, not computed.
// CHECK-LABEL: func.func @bandwidth
// CHECK: scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) = ({{.*}}) to (%{{.*}}, %{{.*}}, %{{.*}}, %c1)
// CHECK: vector.maskedload %{{.*}}, %{{.*}}, %{{.*}} : memref<1x2x64x?xf32>, vector<64xi1>, vector<64xf32> into vector<64xf32>
// CHECK-NOT: vector.gather
// CHECK: vector.load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x2x64xf32>, vector<64xf32>
func.func @bandwidth(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                     %v: tensor<1x2x?x64xf32>, %kt: tensor<1x2x64x?xf32>,
                     %vm: tensor<1x2x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x2x64x?xf32>)
      value_mean(%vm : tensor<1x2x64xf32>) rank(16) top_k(48) group_shared
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

// Checks the plain form: per-head units (4 per kv head), components
// gathered from the flattened key cache at a stride of D, and the value
// mean summed over the visible keys.
// CHECK-LABEL: func.func @plain
// CHECK: memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3]] : memref<1x2x?x64xf32> into memref<?xf32>
// CHECK: scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) = ({{.*}}) to (%{{.*}}, %{{.*}}, %{{.*}}, %c4)
// CHECK: vector.gather %{{.*}}[%{{.*}}] [%{{.*}}], %{{.*}}, %{{.*}} : memref<?xf32>, vector<64xindex>, vector<64xi1>, vector<64xf32> into vector<64xf32>
// CHECK: arith.uitofp
func.func @plain(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                 %v: tensor<1x2x?x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(48)
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}
