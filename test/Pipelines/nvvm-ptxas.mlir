// REQUIRES: ptxas
// RUN: attn-opt %s --attn-lower-to-nvvm="format=isa" -o %t.mlir
// RUN: rm -rf %t.ptx && %extract-ptx %t.mlir %t.ptx > %t.list
// RUN: for f in $(cat %t.list); do %ptxas -arch=sm_90a $f -o /dev/null || exit 1; done
// RUN: attn-opt %s --attn-lower-to-nvvm="format=bin" | FileCheck %s

// Checks that ptxas from the CUDA toolkit accepts the PTX of every kernel
// kind (attn.sdpa's, attn.sparq's and attn.quantized_sdpa's) for sm_90a,
// and that format=bin embeds cubins (skipped where there is no toolkit).
// CHECK: gpu.binary @decode_sdpa_decode_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "
func.func @decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                  %v: tensor<1x8x?x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
      tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

func.func @prefill(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x32x?x128xbf16>,
                   %v: tensor<?x32x?x128xbf16>) -> tensor<?x32x?x128xbf16> {
  %o = attn.sdpa %q, %k, %v causal : tensor<?x32x?x128xbf16>,
      tensor<?x32x?x128xbf16>, tensor<?x32x?x128xbf16>
      -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}

func.func @f16_lse(%q: tensor<2x8x?x64xf16>, %k: tensor<2x2x?x64xf16>,
                   %v: tensor<2x2x?x32xf16>)
    -> (tensor<2x8x?x32xf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal
      : tensor<2x8x?x64xf16>, tensor<2x2x?x64xf16>, tensor<2x2x?x32xf16>
      -> tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x32xf16>, tensor<2x8x?xf32>
}

func.func @f32(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
               %v: tensor<2x2x?x24xf32>) -> tensor<2x4x?x24xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>,
      tensor<2x2x?x24xf32> -> tensor<2x4x?x24xf32>
  return %o : tensor<2x4x?x24xf32>
}

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

func.func @sparq_poly(%q: tensor<2x4x?x40xf32>, %k: tensor<2x2x?x40xf32>,
                      %v: tensor<2x2x?x24xf32>) -> tensor<2x4x?x24xf32> {
  %o = attn.sparq %q, %k, %v rank(8) top_k(20) local_window(4) causal
      {softmax_exp = #attn.poly_exp<degree = 3, n_max = 12>}
      : tensor<2x4x?x40xf32>, tensor<2x2x?x40xf32>, tensor<2x2x?x24xf32>
      -> tensor<2x4x?x24xf32>
  return %o : tensor<2x4x?x24xf32>
}

// INT4 in groups of 32 at any Lq: the register-decode kernel (inline bf16x2
// and prmt PTX) and the prefill kernel with shared-memory decoding.
func.func @quantized_int4(%q: tensor<1x32x?x128xbf16>,
    %kc: tensor<1x8x?x64xi8>, %ks: tensor<1x8x?x4xf32>,
    %kst: tensor<1x8x?x4xi8>, %kz: tensor<1x8x?x4xi8>,
    %vc: tensor<1x8x?x64xi8>, %vs: tensor<1x8x?x128xf32>,
    %vst: tensor<1x8x?x128xi8>, %vz: tensor<1x8x?x128xi8>)
    -> tensor<1x32x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x32x?x128xbf16>,
        key(tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
            tensor<1x8x?x4xi8>),
        value(tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
              tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
      -> tensor<1x32x?x128xbf16>
  return %o : tensor<1x32x?x128xbf16>
}

// INT8 f16 with INT8 weights and the lse; INT2 in groups of 16 (f16x2).
func.func @quantized_int8_lse(%q: tensor<2x8x?x64xf16>,
    %kc: tensor<2x2x?x64xi8>, %ks: tensor<2x2x?x2xf32>,
    %vc: tensor<2x2x?x64xi8>, %vs: tensor<2x2x?x64xf32>)
    -> (tensor<2x8x?x64xf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(32) qk_int8 pv_int8
      : tensor<2x8x?x64xf16>, key(tensor<2x2x?x64xi8>, tensor<2x2x?x2xf32>),
        value(tensor<2x2x?x64xi8>, tensor<2x2x?x64xf32>)
      -> tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
}

// INT8 cache with both products on INT8 tensor cores and the cubic.
func.func @quantized_int8_products(%q: tensor<1x8x?x128xbf16>,
    %kc: tensor<1x8x?x128xi8>, %ks: tensor<1x8x?x1xf32>,
    %vc: tensor<1x8x?x128xi8>, %vs: tensor<1x8x?x128xf32>)
    -> tensor<1x8x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(128) qk_int8 pv_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x8x?x128xbf16>, key(tensor<1x8x?x128xi8>,
        tensor<1x8x?x1xf32>), value(tensor<1x8x?x128xi8>,
        tensor<1x8x?x128xf32>)
      -> tensor<1x8x?x128xbf16>
  return %o : tensor<1x8x?x128xbf16>
}

func.func @quantized_int2(%q: tensor<1x4x?x64xf16>,
    %kc: tensor<1x2x?x16xi8>, %ks: tensor<1x2x?x4xf32>,
    %kst: tensor<1x2x?x4xi8>, %kz: tensor<1x2x?x4xi8>,
    %vc: tensor<1x2x?x16xi8>, %vs: tensor<1x2x?x64xf32>,
    %vst: tensor<1x2x?x64xi8>, %vz: tensor<1x2x?x64xi8>)
    -> tensor<1x4x?x64xf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(2) group_size(16)
      : tensor<1x4x?x64xf16>,
        key(tensor<1x2x?x16xi8>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xi8>,
            tensor<1x2x?x4xi8>),
        value(tensor<1x2x?x16xi8>, tensor<1x2x?x64xf32>,
              tensor<1x2x?x64xi8>, tensor<1x2x?x64xi8>)
      -> tensor<1x4x?x64xf16>
  return %o : tensor<1x4x?x64xf16>
}
