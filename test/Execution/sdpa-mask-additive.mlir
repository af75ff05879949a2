// Checks an additive f32 mask broadcast over batch and heads (rank 2) and
// a full rank-4 one; a third of the entries are -inf.
// RUN: %check-attn %s --function=mask2 --q=2x4x21x16 --k=2x4x90x16 --v=2x4x90x16 --mask=f32:21x90 --lse
// RUN: %check-attn %s --function=mask4 --q=2x4x21x16 --k=2x2x90x16 --v=2x2x90x16 --mask=f32:2x4x21x90 --causal --lse

func.func @mask2(%q: tensor<2x4x21x16xf32>, %k: tensor<2x4x90x16xf32>,
                 %v: tensor<2x4x90x16xf32>, %m: tensor<21x90xf32>)
    -> (tensor<2x4x21x16xf32>, tensor<2x4x21xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<21x90xf32>)
      : tensor<2x4x21x16xf32>, tensor<2x4x90x16xf32>, tensor<2x4x90x16xf32>
      -> tensor<2x4x21x16xf32>, tensor<2x4x21xf32>
  return %o, %lse : tensor<2x4x21x16xf32>, tensor<2x4x21xf32>
}

func.func @mask4(%q: tensor<2x4x21x16xf32>, %k: tensor<2x2x90x16xf32>,
                 %v: tensor<2x2x90x16xf32>, %m: tensor<2x4x21x90xf32>)
    -> (tensor<2x4x21x16xf32>, tensor<2x4x21xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<2x4x21x90xf32>) causal
      : tensor<2x4x21x16xf32>, tensor<2x2x90x16xf32>, tensor<2x2x90x16xf32>
      -> tensor<2x4x21x16xf32>, tensor<2x4x21xf32>
  return %o, %lse : tensor<2x4x21x16xf32>, tensor<2x4x21xf32>
}
