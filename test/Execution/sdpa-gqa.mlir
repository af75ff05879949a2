// Checks grouped-query attention: 8 query heads over 2 key/value heads
// (query head h reads kv head h / 4), with Dv != D and an explicit scale.
// RUN: %check-attn %s --function=gqa --q=1x8x19x64 --k=1x2x130x64 --v=1x2x130x16 --scale=0.3

func.func @gqa(%q: tensor<1x8x19x64xf32>, %k: tensor<1x2x130x64xf32>,
               %v: tensor<1x2x130x16xf32>) -> tensor<1x8x19x16xf32> {
  %o = attn.sdpa %q, %k, %v scale(0.3) : tensor<1x8x19x64xf32>,
      tensor<1x2x130x64xf32>, tensor<1x2x130x16xf32> -> tensor<1x8x19x16xf32>
  return %o : tensor<1x8x19x16xf32>
}
