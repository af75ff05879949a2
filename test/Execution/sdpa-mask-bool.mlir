// Checks a boolean mask (true keeps) broadcast over heads, with dynamic
// Lq/Lk, and rows 3 and 10 fully masked: those rows must be exactly 0 with
// LSE -inf, and no NaN anywhere.
// RUN: %check-attn %s --function=bool_mask --q=2x4x12x16 --k=2x4x200x16 --v=2x4x200x16 --mask=bool:2x1x12x200 --mask-rows=3,10 --lse | FileCheck %s
// CHECK: rows with no visible key: 16, all exactly 0

func.func @bool_mask(%q: tensor<2x4x?x16xf32>, %k: tensor<2x4x?x16xf32>,
                     %v: tensor<2x4x?x16xf32>, %m: tensor<2x1x?x?xi1>)
    -> (tensor<2x4x?x16xf32>, tensor<2x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<2x1x?x?xi1>)
      : tensor<2x4x?x16xf32>, tensor<2x4x?x16xf32>, tensor<2x4x?x16xf32>
      -> tensor<2x4x?x16xf32>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x16xf32>, tensor<2x4x?xf32>
}
