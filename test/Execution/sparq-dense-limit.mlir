// Checks the degenerate case of ALGORITHMS.md §3: with top_k >= Lk and
// rank = D every key is fetched and alpha = 1, so SparQ equals dense
// attention. The reference here is dense attention itself (--op=sdpa).
// RUN: %check-attn %s --function=all_keys --q=1x4x3x32 --k=1x2x100x32 --v=1x2x100x32

// Checks the same limit through the rewrite: --attn-sparq with rank = D and
// top-k = Lk, then the CPU pipeline, against dense causal attention.
// RUN: attn-opt %s --attn-sparq="rank=32 top-k=100" 2>/dev/null > %t.mlir
// RUN: %check-attn %t.mlir --function=rewritten --q=1x4x3x32 --k=1x2x100x32 --v=1x2x100x32 --causal

func.func @all_keys(%q: tensor<1x4x3x32xf32>, %k: tensor<1x2x100x32xf32>,
                    %v: tensor<1x2x100x32xf32>) -> tensor<1x4x3x32xf32> {
  %o = attn.sparq %q, %k, %v rank(32) top_k(128)
      : tensor<1x4x3x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>
      -> tensor<1x4x3x32xf32>
  return %o : tensor<1x4x3x32xf32>
}

func.func @rewritten(%q: tensor<1x4x3x32xf32>, %k: tensor<1x2x100x32xf32>,
                     %v: tensor<1x2x100x32xf32>) -> tensor<1x4x3x32xf32> {
  %o = attn.sdpa %q, %k, %v causal
      : tensor<1x4x3x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>
      -> tensor<1x4x3x32xf32>
  return %o : tensor<1x4x3x32xf32>
}
