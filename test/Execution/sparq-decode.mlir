// Checks SparQ decode (Lq = 1) against the NumPy reference of ALGORITHMS.md
// §3 at f32 (tolerance 2e-5): grouped-query attention with every query head
// selecting on its own, a key length that is not a multiple of the 64-key
// vector chunk, and Dv != D.
// RUN: %check-attn %s --function=per_head --op=sparq --q=2x8x1x64 --k=2x2x300x64 --v=2x2x300x32 --rank=16 --top-k=40

// Checks the same shapes with group_shared: the 4 query heads of a key/value
// head share the components and the keys they fetch.
// RUN: %check-attn %s --function=group_shared --op=sparq --q=2x8x1x64 --k=2x2x300x64 --v=2x2x300x32 --rank=16 --top-k=40 --group-shared

// Checks a local window (the 10 most recent keys always fetched) and an
// explicit scale for the exact step, on multi-query attention.
// RUN: %check-attn %s --function=window --op=sparq --q=1x4x1x64 --k=1x1x257x64 --v=1x1x257x64 --rank=8 --top-k=32 --local-window=10 --scale=0.2

func.func @per_head(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x300x64xf32>,
                    %v: tensor<2x2x300x32xf32>) -> tensor<2x8x1x32xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(40)
      : tensor<2x8x1x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x32xf32>
      -> tensor<2x8x1x32xf32>
  return %o : tensor<2x8x1x32xf32>
}

func.func @group_shared(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x300x64xf32>,
                        %v: tensor<2x2x300x32xf32>) -> tensor<2x8x1x32xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(40) group_shared
      : tensor<2x8x1x64xf32>, tensor<2x2x300x64xf32>, tensor<2x2x300x32xf32>
      -> tensor<2x8x1x32xf32>
  return %o : tensor<2x8x1x32xf32>
}

func.func @window(%q: tensor<1x4x1x64xf32>, %k: tensor<1x1x257x64xf32>,
                  %v: tensor<1x1x257x64xf32>) -> tensor<1x4x1x64xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(32) local_window(10) scale(0.2)
      : tensor<1x4x1x64xf32>, tensor<1x1x257x64xf32>, tensor<1x1x257x64xf32>
      -> tensor<1x4x1x64xf32>
  return %o : tensor<1x4x1x64xf32>
}
