// RUN: %sanitizer_preload mlir-opt %s --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --verify-diagnostics

// Checks that the dialect plugin brings the verifier along.

func.func @bad_heads(%q: tensor<1x6x1x64xf32>, %k: tensor<1x4x?x64xf32>,
                     %v: tensor<1x4x?x64xf32>) -> tensor<1x6x1x64xf32> {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %o = attn.sdpa %q, %k, %v
      : tensor<1x6x1x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>
      -> tensor<1x6x1x64xf32>
  return %o : tensor<1x6x1x64xf32>
}
