// The functions bench_gpu.py compiles with --attn-lower-to-nvvm and runs on
// the GPU: the measured shapes (decode, prefill) and small cases that cover
// the other kernel paths (split-KV with lse, GQA prefill with Lq != Lk,
// f32 on CUDA cores).

// Decode step, GQA 32/8, D = 128, bf16: one query per head against Lk keys.
func.func @decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                  %v: tensor<1x8x?x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
      tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// Prefill, H = 32, D = 128, bf16, batch and length dynamic.
func.func @prefill(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x32x?x128xbf16>,
                   %v: tensor<?x32x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<?x32x?x128xbf16>, tensor<?x32x?x128xbf16>,
      tensor<?x32x?x128xbf16> -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

func.func @prefill_causal(%q: tensor<?x32x?x128xbf16>,
                          %k: tensor<?x32x?x128xbf16>,
                          %v: tensor<?x32x?x128xbf16>)
    -> tensor<?x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<?x32x?x128xbf16>,
      tensor<?x32x?x128xbf16>, tensor<?x32x?x128xbf16>
      -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

// f16, GQA 8/2, D = 64, Dv = 32, a few queries (decode kernel, split-KV),
// causal with the lse, scale given.
func.func @gqa_f16_lse(%q: tensor<2x8x?x64xf16>, %k: tensor<2x2x?x64xf16>,
                       %v: tensor<2x2x?x32xf16>)
    -> (tensor<2x8x?x32xf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal scale(0.2)
      : tensor<2x8x?x64xf16>, tensor<2x2x?x64xf16>, tensor<2x2x?x32xf16>
      -> tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
}

// f32 on CUDA cores, GQA 4/2, D = 40, Dv = 24, causal with the lse.
// TurboAttention's quantization of a cache on the GPU: keys in groups of 32
// head dims, values in groups of 32 keys, INT4.
func.func @quantize_keys(%k: tensor<1x8x?x128xbf16>)
    -> (tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
        tensor<1x8x?x4xi8>) {
  %c, %s, %st, %z = attn.quantize %k axis(3) group_size(32) bits(4)
      : tensor<1x8x?x128xbf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>,
        tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
  return %c, %s, %st, %z : tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>,
      tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
}

func.func @quantize_values(%v: tensor<1x8x?x128xbf16>)
    -> (tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xi8>,
        tensor<1x8x?x128xi8>) {
  %c, %s, %st, %z = attn.quantize %v axis(2) group_size(32) bits(4)
      : tensor<1x8x?x128xbf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
        tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>
  return %c, %s, %st, %z : tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
      tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>
}

// The k largest entries of each row.
func.func @topk(%x: tensor<8x?xf32>) -> (tensor<8x16xf32>, tensor<8x16xi64>) {
  %v, %i = attn.topk %x : tensor<8x?xf32> -> tensor<8x16xf32>, tensor<8x16xi64>
  return %v, %i : tensor<8x16xf32>, tensor<8x16xi64>
}

// Masks: an i1 keep-mask broadcast over the batch on the tensor cores, and
// an additive float mask broadcast over batch and heads on the CUDA cores.
func.func @masked_bool(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x4x?x64xbf16>,
                       %v: tensor<2x4x?x64xbf16>, %m: tensor<1x8x?x?xi1>)
    -> (tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<1x8x?x?xi1>)
      : tensor<2x8x?x64xbf16>, tensor<2x4x?x64xbf16>, tensor<2x4x?x64xbf16>
      -> tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>
}

func.func @masked_additive_f32(%q: tensor<2x4x?x40xf32>,
    %k: tensor<2x2x?x40xf32>, %v: tensor<2x2x?x24xf32>, %m: tensor<?x?xf32>)
    -> (tensor<2x4x?x24xf32>, tensor<2x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<?x?xf32>)
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
}

func.func @simt_f32(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
                    %v: tensor<2x2x?x24xf32>)
    -> (tensor<2x4x?x24xf32>, tensor<2x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
}

// SparQ decode, the bandwidth form (key_transposed, value_mean), GQA 32/8
// with the selection shared by each group: the measured shape.
func.func @sparq_decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                        %v: tensor<1x8x?x128xbf16>,
                        %kt: tensor<1x8x128x?xbf16>,
                        %vm: tensor<1x8x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x8x128x?xbf16>)
      value_mean(%vm : tensor<1x8x128xbf16>) rank(16) top_k(128) group_shared
      : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
        tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// SparQ per query head, components read from K, the mean of V computed,
// a local window, causal, several queries, f16.
func.func @sparq_heads(%q: tensor<2x8x?x64xf16>, %k: tensor<2x2x?x64xf16>,
                       %v: tensor<2x2x?x64xf16>) -> tensor<2x8x?x64xf16> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(64) local_window(16) causal
      : tensor<2x8x?x64xf16>, tensor<2x2x?x64xf16>, tensor<2x2x?x64xf16>
      -> tensor<2x8x?x64xf16>
  return %o : tensor<2x8x?x64xf16>
}

// SparQ per query head in f16 with key_transposed and value_mean: the
// scores kernel's staged form on CUDA cores (rank 8), or key by key when Lk
// is not a multiple of 8.
func.func @sparq_f16_transposed(%q: tensor<1x8x1x64xf16>,
                                %k: tensor<1x2x?x64xf16>,
                                %v: tensor<1x2x?x64xf16>,
                                %kt: tensor<1x2x64x?xf16>,
                                %vm: tensor<1x2x64xf16>) -> tensor<1x8x1x64xf16> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x2x64x?xf16>)
      value_mean(%vm : tensor<1x2x64xf16>) rank(8) top_k(32)
      : tensor<1x8x1x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
      -> tensor<1x8x1x64xf16>
  return %o : tensor<1x8x1x64xf16>
}

// SparQ in f32 with TurboAttention's polynomial exp in both softmaxes,
// group-shared, causal, with a window; head dims not multiples of 8.
func.func @sparq_poly(%q: tensor<1x4x?x40xf32>, %k: tensor<1x2x?x40xf32>,
                      %v: tensor<1x2x?x24xf32>) -> tensor<1x4x?x24xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(20) local_window(4) group_shared
      causal {softmax_exp = #attn.poly_exp<degree = 3, n_max = 12>}
      : tensor<1x4x?x40xf32>, tensor<1x2x?x40xf32>, tensor<1x2x?x24xf32>
      -> tensor<1x4x?x24xf32>
  return %o : tensor<1x4x?x24xf32>
}

// Prefill with TurboAttention's cubic polynomial exp: timed against
// @prefill and @prefill_causal.
func.func @prefill_poly(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x32x?x128xbf16>,
                        %v: tensor<?x32x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<?x32x?x128xbf16>, tensor<?x32x?x128xbf16>,
        tensor<?x32x?x128xbf16> -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

func.func @prefill_poly_causal(%q: tensor<?x32x?x128xbf16>,
                               %k: tensor<?x32x?x128xbf16>,
                               %v: tensor<?x32x?x128xbf16>)
    -> tensor<?x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<?x32x?x128xbf16>, tensor<?x32x?x128xbf16>,
        tensor<?x32x?x128xbf16> -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

// f32 on CUDA cores with the quadratic polynomial (about 2e-3 from exp, so
// the check tells it apart from ex2 at f32 precision), causal with the lse.
func.func @simt_poly(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
                     %v: tensor<2x2x?x24xf32>)
    -> (tensor<2x4x?x24xf32>, tensor<2x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      {softmax_exp = #attn.poly_exp<degree = 2>}
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
  return %o, %lse : tensor<2x4x?x24xf32>, tensor<2x4x?xf32>
}

// TurboAttention's quantized cache (attn.quantized_sdpa): INT4 keys and
// values in groups of 32, decoded in registers. Timed against @decode and
// cuDNN (Lq = 1); checked at any Lq (decode and prefill kernels).
func.func @quantized_int4(%q: tensor<1x32x?x128xbf16>,
    %kc: tensor<1x8x?x64xi8>, %ks: tensor<1x8x?x4xf32>,
    %kst: tensor<1x8x?x4xi8>, %kz: tensor<1x8x?x4xi8>,
    %vc: tensor<1x8x?x64xi8>, %vs: tensor<1x8x?x128xf32>,
    %vst: tensor<1x8x?x128xi8>, %vz: tensor<1x8x?x128xi8>)
    -> tensor<1x32x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32)
      : tensor<1x32x?x128xbf16>,
        key(tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
            tensor<1x8x?x4xi8>),
        value(tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
              tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
      -> tensor<1x32x?x128xbf16>
  return %o : tensor<1x32x?x128xbf16>
}

// TurboAttention's prefill: INT4 cache, INT8 queries, cubic polynomial,
// causal. Timed against @prefill_causal.
func.func @quantized_prefill(%q: tensor<?x32x?x128xbf16>,
    %kc: tensor<?x32x?x64xi8>, %ks: tensor<?x32x?x4xf32>,
    %kst: tensor<?x32x?x4xi8>, %kz: tensor<?x32x?x4xi8>,
    %vc: tensor<?x32x?x64xi8>, %vs: tensor<?x32x?x128xf32>,
    %vst: tensor<?x32x?x128xi8>, %vz: tensor<?x32x?x128xi8>)
    -> tensor<?x32x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<?x32x?x128xbf16>,
        key(tensor<?x32x?x64xi8>, tensor<?x32x?x4xf32>, tensor<?x32x?x4xi8>,
            tensor<?x32x?x4xi8>),
        value(tensor<?x32x?x64xi8>, tensor<?x32x?x128xf32>,
              tensor<?x32x?x128xi8>, tensor<?x32x?x128xi8>)
      -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

// TurboAttention's prefill on an INT8 cache: both products on INT8 tensor
// cores (per-key scales, value groups of 128 keys), cubic polynomial,
// causal. Timed against @prefill_causal.
func.func @quantized_prefill_int8(%q: tensor<?x32x?x128xbf16>,
    %kc: tensor<?x32x?x128xi8>, %ks: tensor<?x32x?x1xf32>,
    %vc: tensor<?x32x?x128xi8>, %vs: tensor<?x32x?x128xf32>)
    -> tensor<?x32x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(128) qk_int8 pv_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<?x32x?x128xbf16>, key(tensor<?x32x?x128xi8>,
        tensor<?x32x?x1xf32>), value(tensor<?x32x?x128xi8>,
        tensor<?x32x?x128xf32>)
      -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

// The INT8 products in groups of 32 (four key groups per key, two value
// groups per key tile), GQA, the exact exp2, the lse.
func.func @quantized_int8_g32_lse(%q: tensor<?x8x?x128xf16>,
    %kc: tensor<?x2x?x128xi8>, %ks: tensor<?x2x?x4xf32>,
    %vc: tensor<?x2x?x256xi8>, %vs: tensor<?x2x?x256xf32>)
    -> (tensor<?x8x?x256xf16>, tensor<?x8x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(32) qk_int8 pv_int8
      : tensor<?x8x?x128xf16>, key(tensor<?x2x?x128xi8>,
        tensor<?x2x?x4xf32>), value(tensor<?x2x?x256xi8>,
        tensor<?x2x?x256xf32>)
      -> tensor<?x8x?x256xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x256xf16>, tensor<?x8x?xf32>
}

// The INT4 decode kernel's other forms: f16 queries with qk_int8, the
// cubic, causal masking and the lse; D = 64, Dv = 128, groups of 3 rows.
func.func @quantized_int4_qk8_lse(%q: tensor<1x6x?x64xf16>,
    %kc: tensor<1x2x?x32xi8>, %ks: tensor<1x2x?x2xf32>,
    %kst: tensor<1x2x?x2xi8>, %kz: tensor<1x2x?x2xi8>,
    %vc: tensor<1x2x?x64xi8>, %vs: tensor<1x2x?x128xf32>,
    %vst: tensor<1x2x?x128xi8>, %vz: tensor<1x2x?x128xi8>)
    -> (tensor<1x6x?x128xf16>, tensor<1x6x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x6x?x64xf16>,
        key(tensor<1x2x?x32xi8>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xi8>,
            tensor<1x2x?x2xi8>),
        value(tensor<1x2x?x64xi8>, tensor<1x2x?x128xf32>,
              tensor<1x2x?x128xi8>, tensor<1x2x?x128xi8>)
      -> tensor<1x6x?x128xf16>, tensor<1x6x?xf32>
  return %o, %lse : tensor<1x6x?x128xf16>, tensor<1x6x?xf32>
}

// Groups of 64 (value groups span two key tiles), pv_int8, D = 256,
// Dv = 64, 8 query heads on one key/value head.
func.func @quantized_int4_pv8_g64(%q: tensor<2x8x?x256xbf16>,
    %kc: tensor<2x1x?x128xi8>, %ks: tensor<2x1x?x4xf32>,
    %kst: tensor<2x1x?x4xi8>, %kz: tensor<2x1x?x4xi8>,
    %vc: tensor<2x1x?x32xi8>, %vs: tensor<2x1x?x64xf32>,
    %vst: tensor<2x1x?x64xi8>, %vz: tensor<2x1x?x64xi8>)
    -> tensor<2x8x?x64xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(64) pv_int8
      : tensor<2x8x?x256xbf16>,
        key(tensor<2x1x?x128xi8>, tensor<2x1x?x4xf32>, tensor<2x1x?x4xi8>,
            tensor<2x1x?x4xi8>),
        value(tensor<2x1x?x32xi8>, tensor<2x1x?x64xf32>,
              tensor<2x1x?x64xi8>, tensor<2x1x?x64xi8>)
      -> tensor<2x8x?x64xbf16>
  return %o : tensor<2x8x?x64xbf16>
}

// INT2 in groups of 16, f16, GQA with Dv != D, causal, with the lse.
func.func @quantized_int2_lse(%q: tensor<2x8x?x64xf16>,
    %kc: tensor<2x2x?x16xi8>, %ks: tensor<2x2x?x4xf32>,
    %kst: tensor<2x2x?x4xi8>, %kz: tensor<2x2x?x4xi8>,
    %vc: tensor<2x2x?x8xi8>, %vs: tensor<2x2x?x32xf32>,
    %vst: tensor<2x2x?x32xi8>, %vz: tensor<2x2x?x32xi8>)
    -> (tensor<2x8x?x32xf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(2) group_size(16) causal
      : tensor<2x8x?x64xf16>,
        key(tensor<2x2x?x16xi8>, tensor<2x2x?x4xf32>, tensor<2x2x?x4xi8>,
            tensor<2x2x?x4xi8>),
        value(tensor<2x2x?x8xi8>, tensor<2x2x?x32xf32>,
              tensor<2x2x?x32xi8>, tensor<2x2x?x32xi8>)
      -> tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
}

// INT8 cache in groups of 64 with INT8 queries and INT8 weights, the lse.
func.func @quantized_int8_lse(%q: tensor<1x4x?x64xbf16>,
    %kc: tensor<1x2x?x64xi8>, %ks: tensor<1x2x?x1xf32>,
    %vc: tensor<1x2x?x64xi8>, %vs: tensor<1x2x?x64xf32>)
    -> (tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(64) qk_int8 pv_int8
      : tensor<1x4x?x64xbf16>, key(tensor<1x2x?x64xi8>, tensor<1x2x?x1xf32>),
        value(tensor<1x2x?x64xi8>, tensor<1x2x?x64xf32>)
      -> tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
  return %o, %lse : tensor<1x4x?x64xbf16>, tensor<1x4x?xf32>
}

// INT4 in groups of 12 (no multiple of 8: scales per element; value groups
// straddle key tiles), D = 48, Dv = 32.
func.func @quantized_group12(%q: tensor<1x4x?x48xbf16>,
    %kc: tensor<1x2x?x24xi8>, %ks: tensor<1x2x?x4xf32>,
    %kst: tensor<1x2x?x4xi8>, %kz: tensor<1x2x?x4xi8>,
    %vc: tensor<1x2x?x16xi8>, %vs: tensor<1x2x?x32xf32>,
    %vst: tensor<1x2x?x32xi8>, %vz: tensor<1x2x?x32xi8>)
    -> tensor<1x4x?x32xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(12)
      : tensor<1x4x?x48xbf16>,
        key(tensor<1x2x?x24xi8>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xi8>,
            tensor<1x2x?x4xi8>),
        value(tensor<1x2x?x16xi8>, tensor<1x2x?x32xf32>,
              tensor<1x2x?x32xi8>, tensor<1x2x?x32xi8>)
      -> tensor<1x4x?x32xbf16>
  return %o : tensor<1x4x?x32xbf16>
}
