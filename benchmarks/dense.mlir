// The functions bench_dense.py times.

// Decode: one query per head, 32 query heads over 8 key/value heads.
func.func @decode(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x?x128xf32>,
                  %v: tensor<1x8x?x128xf32>) -> tensor<1x32x1x128xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>,
      tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

// Prefill, not causal.
func.func @prefill(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// Prefill, causal.
func.func @prefill_causal(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                          %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// One causal head, for the memory measurement.
func.func @one_head_causal(%q: tensor<1x1x?x64xf32>, %k: tensor<1x1x?x64xf32>,
                           %v: tensor<1x1x?x64xf32>) -> tensor<1x1x?x64xf32> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x1x?x64xf32>,
      tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32> -> tensor<1x1x?x64xf32>
  return %o : tensor<1x1x?x64xf32>
}
