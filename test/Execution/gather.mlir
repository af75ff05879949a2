// Checks attn.gather against NumPy exactly: the k selected rows of every
// query row of a [B, H, L, D] cache (axis 2, indices [B, H, Lq, k]), with
// out-of-range indices clamped.
// RUN: %check-attn %s --function=rows --op=gather --input=2x3x50x8 --indices=2x3x4x6 --axis=2

// Checks a broadcast batch dim (indices shared by the 3 heads) and a
// dynamic gathered length.
// RUN: %check-attn %s --function=shared --op=gather --input=2x3x50x8 --indices=2x1x7 --axis=2

func.func @rows(%s: tensor<2x3x50x8xf32>, %i: tensor<2x3x4x6xi64>)
    -> tensor<2x3x4x6x8xf32> {
  %r = attn.gather %s[%i] axis(2)
      : tensor<2x3x50x8xf32>, tensor<2x3x4x6xi64> -> tensor<2x3x4x6x8xf32>
  return %r : tensor<2x3x4x6x8xf32>
}

func.func @shared(%s: tensor<2x3x?x8xf32>, %i: tensor<2x1x7xi64>)
    -> tensor<2x3x7x8xf32> {
  %r = attn.gather %s[%i] axis(2)
      : tensor<2x3x?x8xf32>, tensor<2x1x7xi64> -> tensor<2x3x7x8xf32>
  return %r : tensor<2x3x7x8xf32>
}
