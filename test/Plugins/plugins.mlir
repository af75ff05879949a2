// RUN: %sanitizer_preload mlir-opt %s --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --pass-pipeline='builtin.module(attn-raise-sdpa,canonicalize,attn-sparq{rank=8 top-k=16})' \
// RUN:   2>/dev/null | FileCheck %s
// RUN: %sanitizer_preload mlir-opt %s --load-dialect-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_lib_dir/AttnPlugin.so \
// RUN:   --pass-pipeline='builtin.module(attn-lower-to-llvm)' | FileCheck %s --check-prefix=LLVM

// Checks that upstream mlir-opt with AttnPlugin.so as dialect plugin parses
// and prints attn IR and, as pass plugin, runs --attn-raise-sdpa,
// --attn-sparq and the --attn-lower-to-llvm pipeline.

// CHECK-LABEL: func.func @decode(
// CHECK:         attn.sparq %{{.*}} rank(8) top_k(16)
// LLVM-LABEL:  llvm.func @decode(
// LLVM-NOT:      attn.
func.func @decode(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x?x64xf32>,
                  %v: tensor<1x8x?x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sdpa %q, %k, %v
      : tensor<1x8x1x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}
