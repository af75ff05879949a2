// Checks --attn-hyper on non-causal attention against the NumPy reference of
// ALGORITHMS.md §4 that draws the same projections and samples (§6): GQA
// (4 query heads on 2 key/value heads), Lq != Lk, neither a multiple of the
// bucket size (the last key block is padded, padding masked), Dv != D,
// dynamic lengths, output and LSE. f32, tolerance 2e-5 abs + rel: the hash
// and the samples are integers and match exactly, so only rounding differs.
// RUN: attn-opt %s --attn-hyper="bucket-size=16 sample-size=12 min-seq-len=32 seed=7" 2>/dev/null > %t.mlir
// RUN: %check-attn %t.mlir --function=hyper --op=hyper --q=2x4x150x32 --k=2x2x133x32 --v=2x2x133x24 --lse --bucket-size=16 --sample-size=12 --min-seq-len=32 --hyper-seed=7

// Checks clustered inputs (the structure LSH is for) with more samples than
// keys per block, and a negative seed.
// RUN: attn-opt %s --attn-hyper="bucket-size=32 sample-size=40 min-seq-len=32 seed=-3" 2>/dev/null > %t2.mlir
// RUN: %check-attn %t2.mlir --function=hyper --op=hyper --q=1x4x300x32 --k=1x2x257x32 --v=1x2x257x24 --lse --bucket-size=32 --sample-size=40 --min-seq-len=32 --hyper-seed=-3 --clustered

// Checks that with one bucket covering all keys (every sample falls in the
// query's own block and is dropped) the rewrite equals dense attention.
// RUN: attn-opt %s --attn-hyper="bucket-size=256 sample-size=16 min-seq-len=8" 2>/dev/null > %t3.mlir
// RUN: %check-attn %t3.mlir --function=hyper --q=2x4x150x32 --k=2x2x133x32 --v=2x2x133x24 --lse

// Checks that below min-seq-len queries the dynamic dispatch keeps dense
// attention.
// RUN: attn-opt %s --attn-hyper="bucket-size=16 sample-size=12 min-seq-len=200" 2>/dev/null > %t4.mlir
// RUN: %check-attn %t4.mlir --function=hyper --q=1x4x150x32 --k=1x2x133x32 --v=1x2x133x24 --lse

func.func @hyper(%q: tensor<?x4x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                 %v: tensor<?x2x?x24xf32>)
    -> (tensor<?x4x?x24xf32>, tensor<?x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v
      : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x24xf32>
      -> tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x24xf32>, tensor<?x4x?xf32>
}
