// Checks --attn-poly-exp end to end against the NumPy references whose
// softmaxes use the same polynomial (float64): the tolerance grows by 4x
// the polynomial's relative error against exp (8e-4 for the cubic, 1.6e-2
// for the quadratic), room for the online softmax's rescalings.

// Dense attention, causal GQA prefill with LSE, cubic.
// RUN: attn-opt %s --attn-poly-exp 2>/dev/null > %t.dense.mlir
// RUN: %check-attn %t.dense.mlir --function=dense --q=1x4x70x32 --k=1x2x70x32 --v=1x2x70x16 --causal --lse --poly-exp=3

// The quadratic with sparsification: weights of scores more than
// 6 / log2(e) below the row max are dropped in both.
// RUN: attn-opt %s --attn-poly-exp="degree=2 n-max=6" 2>/dev/null > %t.quad.mlir
// RUN: %check-attn %t.quad.mlir --function=dense --q=1x4x70x32 --k=1x2x70x32 --v=1x2x70x16 --causal --lse --poly-exp=2:6

// SparQ after the polynomial rewrite (the order does not change the IR,
// see Transforms/poly-exp-rewrite.mlir).
// RUN: attn-opt %s --attn-poly-exp --attn-sparq="rank=8 top-k=24" 2>/dev/null > %t.sparq.mlir
// RUN: %check-attn %t.sparq.mlir --function=decode --op=sparq --q=1x4x1x32 --k=1x2x200x32 --v=1x2x200x16 --rank=8 --top-k=24 --poly-exp=3

// HyperAttention (causal, two recursion levels) with the polynomial.
// RUN: attn-opt %s --attn-hyper="bucket-size=16 sample-size=12 min-seq-len=32" --attn-poly-exp 2>/dev/null > %t.hyper.mlir
// RUN: %check-attn %t.hyper.mlir --function=dense --op=hyper --q=1x4x150x32 --k=1x2x150x32 --v=1x2x150x16 --causal --lse --bucket-size=16 --sample-size=12 --min-seq-len=32 --poly-exp=3

func.func @dense(%q: tensor<1x4x?x32xf32>, %k: tensor<1x2x?x32xf32>,
                 %v: tensor<1x2x?x16xf32>)
    -> (tensor<1x4x?x16xf32>, tensor<1x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<1x4x?x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x16xf32>
      -> tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
}

func.func @decode(%q: tensor<1x4x1x32xf32>, %k: tensor<1x2x?x32xf32>,
                  %v: tensor<1x2x?x16xf32>) -> tensor<1x4x1x16xf32> {
  %o = attn.sdpa %q, %k, %v
      : tensor<1x4x1x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x16xf32>
      -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}
