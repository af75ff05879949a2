// Checks tie-breaking: |q| takes only the values 1 and 2, so choosing the
// top 12 of 64 components splits a tie, and every key is stored twice, so
// every approximate score ties with another; ties go to the lower index in
// both selections (ALGORITHMS.md §3). top_k = 33 is odd, so a tied pair is
// split at the boundary. Per-head and group-shared selection.
// RUN: %check-attn %s --function=ties --op=sparq --ties --q=1x4x1x64 --k=1x2x200x64 --v=1x2x200x16 --rank=12 --top-k=33
// RUN: %check-attn %s --function=ties_shared --op=sparq --ties --q=1x4x1x64 --k=1x2x200x64 --v=1x2x200x16 --rank=12 --top-k=33 --group-shared

func.func @ties(%q: tensor<1x4x1x64xf32>, %k: tensor<1x2x200x64xf32>,
                %v: tensor<1x2x200x16xf32>) -> tensor<1x4x1x16xf32> {
  %o = attn.sparq %q, %k, %v rank(12) top_k(33)
      : tensor<1x4x1x64xf32>, tensor<1x2x200x64xf32>, tensor<1x2x200x16xf32>
      -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}

func.func @ties_shared(%q: tensor<1x4x1x64xf32>, %k: tensor<1x2x200x64xf32>,
                       %v: tensor<1x2x200x16xf32>) -> tensor<1x4x1x16xf32> {
  %o = attn.sparq %q, %k, %v rank(12) top_k(33) group_shared
      : tensor<1x4x1x64xf32>, tensor<1x2x200x64xf32>, tensor<1x2x200x16xf32>
      -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}
