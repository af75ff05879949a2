// A grouped-query decode step (32 query heads over 8 key/value heads, one
// new token, a KV cache of dynamic length), written as dense attention.
// `attn-opt --attn-quantize="kv-bits=4 qk-int8=true" --attn-poly-exp` turns
// it into TurboAttention; @decode_int4 is the form a model whose cache is
// already INT4 (groups of 32) calls directly.

func.func @decode(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x?x128xf32>,
                  %v: tensor<1x8x?x128xf32>) -> tensor<1x32x1x128xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>,
      tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

func.func @decode_int4(%q: tensor<1x32x1x128xf32>,
    %kc: tensor<1x8x?x64xi8>, %ks: tensor<1x8x?x4xf32>,
    %kst: tensor<1x8x?x4xi8>, %kz: tensor<1x8x?x4xi8>,
    %vc: tensor<1x8x?x64xi8>, %vs: tensor<1x8x?x128xf32>,
    %vst: tensor<1x8x?x128xi8>, %vz: tensor<1x8x?x128xi8>)
    -> tensor<1x32x1x128xf32> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8
      : tensor<1x32x1x128xf32>,
        key(tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
            tensor<1x8x?x4xi8>),
        value(tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
              tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
      -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}
