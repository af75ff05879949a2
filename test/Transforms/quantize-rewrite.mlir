// RUN: attn-opt %s --attn-quantize -split-input-file 2>/dev/null | FileCheck %s --check-prefix=INT4
// RUN: attn-opt %s --attn-quantize="kv-bits=2 group-size=16 qk-int8=true pv-int8=true" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=INT2
// RUN: attn-opt %s --attn-quantize="kv-bits=8 low-priority-heads=0" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=INT8
// RUN: attn-opt %s --attn-quantize="kv-bits=4 low-priority-heads=4" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=MIXED
// RUN: attn-opt %s --attn-quantize -split-input-file -verify-diagnostics -o /dev/null

// Checks a GQA decode step with a dynamic cache: keys quantized along the
// head dim (axis 3), values along the keys (axis 2), both feeding
// attn.quantized_sdpa; the options reach the op; the remark gives the
// footprint (4 bits + 6 bytes per group of 32 = 0.6875 bytes per element).
// INT4-LABEL: func.func @decode
// INT4: %[[KC:.*]], %[[KS:.*]], %[[KST:.*]], %[[KZ:.*]] = attn.quantize %arg1 axis(3) group_size(32) bits(4) : tensor<1x8x?x128xf32> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
// INT4: %[[VC:.*]], %[[VS:.*]], %[[VST:.*]], %[[VZ:.*]] = attn.quantize %arg2 axis(2) group_size(32) bits(4) : tensor<1x8x?x128xf32> -> tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>
// INT4: attn.quantized_sdpa %arg0, key(%[[KC]], %[[KS]], %[[KST]], %[[KZ]]), value(%[[VC]], %[[VS]], %[[VST]], %[[VZ]]) bits(4) group_size(32) :
// INT4-NOT: attn.sdpa
// INT2-LABEL: func.func @decode
// INT2: attn.quantize %arg1 axis(3) group_size(16) bits(2) : tensor<1x8x?x128xf32> -> tensor<1x8x?x32xi8>, tensor<1x8x?x8xf32>
// INT2: attn.quantized_sdpa {{.*}} bits(2) group_size(16) qk_int8 pv_int8 :
// INT8-LABEL: func.func @decode
// INT8: %[[KC:.*]], %[[KS:.*]] = attn.quantize %arg1 axis(3) group_size(32) bits(8) : tensor<1x8x?x128xf32> -> tensor<1x8x?x128xi8>, tensor<1x8x?x4xf32>
// INT8: attn.quantized_sdpa %arg0, key(%[[KC]], %[[KS]]), value({{.*}}) bits(8) group_size(32) :
// MIXED-LABEL: func.func @decode
// MIXED: attn.quantize %arg1 axis(3) group_size(32) bits(4) low_priority_heads(4)
// MIXED: attn.quantize %arg2 axis(2) group_size(32) bits(4) low_priority_heads(4)
func.func @decode(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x?x128xf32>,
                  %v: tensor<1x8x?x128xf32>) -> tensor<1x32x1x128xf32> {
  // expected-remark @+1 {{attn-quantize: KV cache at 4 bits in groups of 32: 0.688 bytes per element, 5.82x smaller than f32}}
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>,
      tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

// -----

// Checks that causal masking, the scale, the LSE result and the softmax
// attribute carry over, on f16.
// INT4-LABEL: func.func @prefill
// INT4: attn.quantized_sdpa {{.*}} bits(4) group_size(32) causal scale(1.250000e-01) {softmax_exp = #attn.poly_exp<degree = 3>} : {{.*}} -> tensor<2x4x64x64xf16>, tensor<2x4x64xf32>
func.func @prefill(%q: tensor<2x4x64x64xf16>, %k: tensor<2x4x64x64xf16>,
                   %v: tensor<2x4x64x64xf16>)
    -> (tensor<2x4x64x64xf16>, tensor<2x4x64xf32>) {
  // expected-remark @+1 {{0.688 bytes per element, 2.91x smaller than f16}}
  %o, %lse = attn.sdpa %q, %k, %v causal scale(0.125)
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<2x4x64x64xf16>, tensor<2x4x64x64xf16>, tensor<2x4x64x64xf16>
      -> tensor<2x4x64x64xf16>, tensor<2x4x64xf32>
  return %o, %lse : tensor<2x4x64x64xf16>, tensor<2x4x64xf32>
}

// -----

// Checks that a mask operand and a head dim that is no multiple of the
// group size leave attention dense, with warnings.
// INT4-LABEL: func.func @left_dense
// INT4-COUNT-2: attn.sdpa
// INT4-NOT: attn.quantized_sdpa
func.func @left_dense(%q: tensor<1x4x8x48xf32>, %k: tensor<1x4x8x48xf32>,
                      %v: tensor<1x4x8x48xf32>, %m: tensor<8x8xi1>,
                      %q2: tensor<1x4x8x64xf32>, %k2: tensor<1x4x8x64xf32>)
    -> (tensor<1x4x8x48xf32>, tensor<1x4x8x48xf32>) {
  // expected-warning @+1 {{attn-quantize: left dense: head dim 48 is no multiple of group-size 32}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x48xf32>, tensor<1x4x8x48xf32>,
      tensor<1x4x8x48xf32> -> tensor<1x4x8x48xf32>
  // expected-warning @+1 {{attn-quantize: left dense: a mask operand is not supported over a quantized cache}}
  %o2 = attn.sdpa %q, %k, %v mask(%m : tensor<8x8xi1>)
      : tensor<1x4x8x48xf32>, tensor<1x4x8x48xf32>,
      tensor<1x4x8x48xf32> -> tensor<1x4x8x48xf32>
  return %o, %o2 : tensor<1x4x8x48xf32>, tensor<1x4x8x48xf32>
}
