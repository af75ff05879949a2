// Checks multi-query attention (one kv head for all query heads) in the
// decode shape Lq = 1, with a dynamic key length bound from the inputs.
// RUN: %check-attn %s --function=mqa --q=2x4x1x128 --k=2x1x300x128 --v=2x1x300x128 --lse
// RUN: %check-attn %s --function=mqa --q=2x4x1x128 --k=2x1x1x128 --v=2x1x1x128 --lse

func.func @mqa(%q: tensor<2x4x1x128xf32>, %k: tensor<2x1x?x128xf32>,
               %v: tensor<2x1x?x128xf32>)
    -> (tensor<2x4x1x128xf32>, tensor<2x4x1xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v : tensor<2x4x1x128xf32>,
      tensor<2x1x?x128xf32>, tensor<2x1x?x128xf32>
      -> tensor<2x4x1x128xf32>, tensor<2x4x1xf32>
  return %o, %lse : tensor<2x4x1x128xf32>, tensor<2x4x1xf32>
}
