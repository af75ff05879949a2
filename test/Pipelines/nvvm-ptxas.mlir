// REQUIRES: ptxas
// RUN: attn-opt %s --attn-lower-to-nvvm="format=isa" -o %t.mlir
// RUN: rm -rf %t.ptx && %extract-ptx %t.mlir %t.ptx > %t.list
// RUN: for f in $(cat %t.list); do %ptxas -arch=sm_90a $f -o /dev/null || exit 1; done
// RUN: attn-opt %s --attn-lower-to-nvvm="format=bin" | FileCheck %s

// Checks that ptxas from the CUDA toolkit accepts the PTX of every kernel
// kind (attn.sdpa's and attn.sparq's) for sm_90a, and that format=bin embeds cubins (skipped where there
// is no toolkit).
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
