// A grouped-query decode step (32 query heads over 8 key/value heads, one
// new token, a KV cache of dynamic length), written as dense attention.
// `attn-opt --attn-sparq="rank=16 top-k=128 group-shared=true"` turns it into
// SparQ attention; @sparq_bandwidth is the form a model with a transposed
// key cache and a running value mean calls directly.

func.func @decode(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x?x128xf32>,
                  %v: tensor<1x8x?x128xf32>) -> tensor<1x32x1x128xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>,
      tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

func.func @sparq_bandwidth(%q: tensor<1x32x1x128xf32>,
                           %k: tensor<1x8x?x128xf32>,
                           %v: tensor<1x8x?x128xf32>,
                           %kt: tensor<1x8x128x?xf32>,
                           %vmean: tensor<1x8x128xf32>)
    -> tensor<1x32x1x128xf32> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x8x128x?xf32>)
      value_mean(%vmean : tensor<1x8x128xf32>) rank(16) top_k(128)
      group_shared : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>,
      tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}
