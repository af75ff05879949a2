// A causal prefill over a sequence of dynamic length (8 heads, head dim 64),
// written as dense attention. `attn-opt --attn-hyper` turns it into
// HyperAttention: exact attention inside segments of at most min-seq-len
// tokens, LSH-sorted block-diagonal plus sampled attention between them.

func.func @prefill(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}
