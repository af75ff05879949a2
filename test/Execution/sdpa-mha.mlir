// Checks plain multi-head attention (Hq = Hkv) against the NumPy reference,
// with Lq and Lk not multiples of the row block and key tile.
// RUN: %check-attn %s --function=mha --q=2x3x37x32 --k=2x3x71x32 --v=2x3x71x32

func.func @mha(%q: tensor<2x3x37x32xf32>, %k: tensor<2x3x71x32xf32>,
               %v: tensor<2x3x71x32xf32>) -> tensor<2x3x37x32xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<2x3x37x32xf32>, tensor<2x3x71x32xf32>,
      tensor<2x3x71x32xf32> -> tensor<2x3x37x32xf32>
  return %o : tensor<2x3x37x32xf32>
}
