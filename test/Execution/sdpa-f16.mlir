// Checks f16 inputs (accumulated in f32, output rounded to f16) with GQA,
// causal masking and an f16 additive mask, plus the f32 LSE.
// RUN: %check-attn %s --function=half --dtype=f16 --q=1x4x33x64 --k=1x2x97x64 --v=1x2x97x64 --mask=f16:33x97 --causal --lse

func.func @half(%q: tensor<1x4x?x64xf16>, %k: tensor<1x2x?x64xf16>,
                %v: tensor<1x2x?x64xf16>, %m: tensor<?x?xf16>)
    -> (tensor<1x4x?x64xf16>, tensor<1x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<?x?xf16>) causal
      : tensor<1x4x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
      -> tensor<1x4x?x64xf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x64xf16>, tensor<1x4x?xf32>
}
