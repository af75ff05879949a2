// Checks that attn-run accepts a module already lowered by
// --attn-lower-to-llvm: the function keeps its tensor signature in the
// `attn.signature` attribute, and the result matches the reference.
// RUN: attn-opt %s --attn-lower-to-llvm > %t.ll.mlir
// RUN: FileCheck %s --input-file=%t.ll.mlir
// RUN: %check-attn %t.ll.mlir --function=f --q=1x2x5x8 --k=1x1x9x8 --v=1x1x9x8 --causal

// CHECK: llvm.func @f(
// CHECK-SAME: attn.signature = (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>

func.func @f(%q: tensor<1x2x?x8xf32>, %k: tensor<1x1x?x8xf32>,
             %v: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
    attributes {attn.signature = (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>,
                                  tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>} {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x2x?x8xf32>,
      tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32> -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}
