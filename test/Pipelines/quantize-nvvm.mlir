// RUN: attn-opt %s --attn-quantize --attn-lower-to-nvvm="format=isa" -o %t.mlir 2>/dev/null
// RUN: FileCheck %s --input-file=%t.mlir
// RUN: rm -rf %t.ptx && %extract-ptx %t.mlir %t.ptx > %t.list
// RUN: cat %t.ptx/*.ptx | FileCheck %s --check-prefix=PTX
// RUN: %if ptxas %{ for f in $(cat %t.list); do %ptxas -arch=sm_90a $f -o /dev/null || exit 1; done %}

// Checks TurboAttention's rewrite of a decode step through the whole GPU
// pipeline: attn.quantize of K and V runs as loop kernels (rounding by
// cvt.rni, no libdevice), then the INT4 decode kernel of
// attn.quantized_sdpa (f16 products on code pairs decoded by fma.rn.sat,
// launch bounds).
// CHECK-NOT: attn.
// CHECK-DAG: gpu.binary @decode_loop0_i32_kernels
// CHECK-DAG: gpu.binary @decode_quantized_sdpa_int4_decode_kernels
// CHECK-DAG: llvm.call @mgpuMemAlloc
// CHECK-NOT: scf.parallel

// PTX-DAG: cvt.rni.f32.f32
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-DAG: fma.rn.sat.f16x2
// PTX-DAG: .minnctapersm 8
// PTX-NOT: __nv_
func.func @decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,
                  %v: tensor<1x8x?x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
      tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}
