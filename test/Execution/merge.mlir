// Checks attn.merge against the LSE combine of ALGORITHMS.md §2, with rows
// where one or both sides are empty (-inf).
// RUN: %check-attn %s --function=merge --op=merge --out=2x3x35x16
// RUN: %check-attn %s --function=merge_f16 --op=merge --dtype=f16 --out=2x3x35x16

func.func @merge(%o1: tensor<2x3x?x16xf32>, %l1: tensor<2x3x?xf32>,
                 %o2: tensor<2x3x?x16xf32>, %l2: tensor<2x3x?xf32>)
    -> (tensor<2x3x?x16xf32>, tensor<2x3x?xf32>) {
  %o, %l = attn.merge %o1, %l1, %o2, %l2
      : tensor<2x3x?x16xf32>, tensor<2x3x?xf32>
  return %o, %l : tensor<2x3x?x16xf32>, tensor<2x3x?xf32>
}

func.func @merge_f16(%o1: tensor<2x3x35x16xf16>, %l1: tensor<2x3x35xf32>,
                     %o2: tensor<2x3x35x16xf16>, %l2: tensor<2x3x35xf32>)
    -> (tensor<2x3x35x16xf16>, tensor<2x3x35xf32>) {
  %o, %l = attn.merge %o1, %l1, %o2, %l2
      : tensor<2x3x35x16xf16>, tensor<2x3x35xf32>
  return %o, %l : tensor<2x3x35x16xf16>, tensor<2x3x35xf32>
}
