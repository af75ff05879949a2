// RUN: attn-opt %s --attn-lower-to-nvvm="format=isa" \
// RUN:   --mlir-print-ir-after=gpu-kernel-outlining -o %t.mlir 2>&1 \
// RUN:   | FileCheck %s
// RUN: %extract-ptx %t.mlir %t.ptx > /dev/null
// RUN: cat %t.ptx/*.ptx | FileCheck %s --check-prefix=PTX

// Checks that kernels see the lowering's constants as constants: outlined
// kernels take only buffers and the sizes known at run time (here Lk and
// the chunk count), not the index and float constants of their bodies, and
// multiply-adds become fma (float math carries `contract`; without it the
// NVPTX backend emits mul.rn and add.rn, which ptxas keeps apart).
// CHECK-LABEL: gpu.func @sparq_decode_sparq_select(
// CHECK-SAME: %{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>) kernel
// PTX-LABEL: .entry sparq_decode_sparq_scores(
// PTX: fma.rn.f32
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
