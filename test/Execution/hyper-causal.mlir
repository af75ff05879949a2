// Checks causal --attn-hyper (Algorithm 4) against the NumPy reference of
// ALGORITHMS.md §4: n = 37 (odd, so segments are padded at three levels)
// with min-seq-len 4 recurses 4 levels deep (37 -> 19 -> 10 -> 5 -> 3);
// the off-diagonal blocks of levels 0-2 go through the sampled core, level 3
// (3 queries < min-seq-len) is exact. GQA, output and LSE, f32, tolerance
// 2e-5.
// RUN: attn-opt %s --attn-hyper="bucket-size=4 sample-size=3 min-seq-len=4 seed=11" 2>/dev/null > %t.mlir
// RUN: %check-attn %t.mlir --function=causal --op=hyper --q=2x4x37x16 --k=2x2x37x16 --v=2x2x37x8 --causal --lse --bucket-size=4 --sample-size=3 --min-seq-len=4 --hyper-seed=11

// Checks a longer even-length sequence over two levels of sampled cores
// (600 -> 300 -> 150 -> 75 with min-seq-len 100, bucket 32, 48 samples) on
// clustered inputs.
// RUN: attn-opt %s --attn-hyper="bucket-size=32 sample-size=48 min-seq-len=100 seed=5" 2>/dev/null > %t2.mlir
// RUN: %check-attn %t2.mlir --function=causal --op=hyper --q=1x4x600x16 --k=1x2x600x16 --v=1x2x600x8 --causal --lse --bucket-size=32 --sample-size=48 --min-seq-len=100 --hyper-seed=5 --clustered

// Checks that with buckets as long as the sequence every level is exact,
// so the recursion as a whole equals dense causal attention.
// RUN: attn-opt %s --attn-hyper="bucket-size=64 sample-size=5 min-seq-len=4" 2>/dev/null > %t3.mlir
// RUN: %check-attn %t3.mlir --function=causal --q=2x4x37x16 --k=2x2x37x16 --v=2x2x37x8 --causal --lse

func.func @causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x8xf32>)
    -> (tensor<?x4x?x8xf32>, tensor<?x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>
      -> tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x8xf32>, tensor<?x4x?xf32>
}
