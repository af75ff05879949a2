// Checks SparQ with causal masking and Lq > 1 (prefill and chunked decode):
// row i sees keys j <= i + (Lk - Lq), so early rows have fewer visible keys
// than top_k (all of them are then fetched). Dynamic Lq and Lk; f32,
// tolerance 2e-5.
// RUN: %check-attn %s --function=causal --op=sparq --q=1x4x70x32 --k=1x2x90x32 --v=1x2x90x32 --rank=8 --top-k=24 --causal

// Checks causal masking with group_shared selection and a local window.
// RUN: %check-attn %s --function=causal_shared --op=sparq --q=1x4x70x32 --k=1x2x90x32 --v=1x2x90x32 --rank=8 --top-k=24 --local-window=6 --group-shared --causal

// Checks Lq > Lk under causal masking: the first rows see no key and must be
// exactly 0 (the reference gives 0 there too).
// RUN: %check-attn %s --function=causal --op=sparq --q=1x4x40x32 --k=1x2x30x32 --v=1x2x30x32 --rank=8 --top-k=24 --causal

func.func @causal(%q: tensor<1x4x?x32xf32>, %k: tensor<1x2x?x32xf32>,
                  %v: tensor<1x2x?x32xf32>) -> tensor<1x4x?x32xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(24) causal
      : tensor<1x4x?x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x32xf32>
      -> tensor<1x4x?x32xf32>
  return %o : tensor<1x4x?x32xf32>
}

func.func @causal_shared(%q: tensor<1x4x?x32xf32>, %k: tensor<1x2x?x32xf32>,
                         %v: tensor<1x2x?x32xf32>) -> tensor<1x4x?x32xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(24) local_window(6) group_shared
      causal : tensor<1x4x?x32xf32>, tensor<1x2x?x32xf32>,
      tensor<1x2x?x32xf32> -> tensor<1x4x?x32xf32>
  return %o : tensor<1x4x?x32xf32>
}
