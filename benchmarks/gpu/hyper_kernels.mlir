// HyperAttention functions of bench_gpu.py (--bench hyper). build.sh runs
// --attn-hyper (bucket 256, samples 256, 7 projections, min-seq-len 4096,
// seed 0) before --attn-lower-to-nvvm, so each causal attn.sdpa below
// becomes the rewrite's sorts, block and sampled attention, merges and
// causal recursion on the GPU (exact attention up to 4096 keys).

// The benchmark's shapes: B = 1, H = 32, bf16, any length.
func.func @hyper_causal_d64(%q: tensor<1x32x?x64xbf16>,
    %k: tensor<1x32x?x64xbf16>, %v: tensor<1x32x?x64xbf16>)
    -> tensor<1x32x?x64xbf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x32x?x64xbf16>,
      tensor<1x32x?x64xbf16>, tensor<1x32x?x64xbf16> -> tensor<1x32x?x64xbf16>
  return %o : tensor<1x32x?x64xbf16>
}

func.func @hyper_causal_d128(%q: tensor<1x32x?x128xbf16>,
    %k: tensor<1x32x?x128xbf16>, %v: tensor<1x32x?x128xbf16>)
    -> tensor<1x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x32x?x128xbf16>,
      tensor<1x32x?x128xbf16>, tensor<1x32x?x128xbf16> -> tensor<1x32x?x128xbf16>
  return %o : tensor<1x32x?x128xbf16>
}

// Checked against the NumPy reference (four heads keep it quick), with the
// log-sum-exp and grouped queries (8 query heads on 4 key/value heads).
func.func @hyper_check(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x4x?x64xbf16>,
    %v: tensor<1x4x?x64xbf16>) -> (tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal : tensor<1x8x?x64xbf16>,
      tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>
      -> tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
  return %o, %lse : tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
}

// The non-causal core alone.
func.func @hyper_core_check(%q: tensor<1x4x?x128xbf16>,
    %k: tensor<1x4x?x128xbf16>, %v: tensor<1x4x?x128xbf16>)
    -> tensor<1x4x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x4x?x128xbf16>,
      tensor<1x4x?x128xbf16>, tensor<1x4x?x128xbf16> -> tensor<1x4x?x128xbf16>
  return %o : tensor<1x4x?x128xbf16>
}
