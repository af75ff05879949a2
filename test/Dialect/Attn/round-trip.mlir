// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Checks that the minimal form (no mask, default scale) round-trips.
// CHECK-LABEL: func.func @sdpa_plain
// CHECK: attn.sdpa %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32> -> tensor<2x4x8x16xf32>
func.func @sdpa_plain(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>,
                      %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>,
      tensor<2x4x8x16xf32> -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// Checks every optional piece at once: mask, causal, scale, LSE result,
// GQA head counts, dynamic B/Lq/Lk and Dv != D.
// CHECK-LABEL: func.func @sdpa_all
// CHECK: %{{.*}}, %{{.*}} = attn.sdpa %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : tensor<?x1x?x?xi1>) causal scale(1.250000e-01) : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16> -> tensor<?x8x?x32xf16>, tensor<?x8x?xf32>
func.func @sdpa_all(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>,
                    %v: tensor<?x2x?x32xf16>, %m: tensor<?x1x?x?xi1>)
    -> (tensor<?x8x?x32xf16>, tensor<?x8x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v mask(%m : tensor<?x1x?x?xi1>) causal
      scale(0.125)
      : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>
      -> tensor<?x8x?x32xf16>, tensor<?x8x?xf32>
  return %o, %lse : tensor<?x8x?x32xf16>, tensor<?x8x?xf32>
}

// Checks that the generic form with properties parses, additive rank-2
// mask included.
// CHECK-LABEL: func.func @sdpa_generic
// CHECK: attn.sdpa %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : tensor<1x6xbf16>) causal :
func.func @sdpa_generic(%q: tensor<1x2x1x8xbf16>, %k: tensor<1x1x6x8xbf16>,
                        %v: tensor<1x1x6x8xbf16>, %m: tensor<1x6xbf16>)
    -> tensor<1x2x1x8xbf16> {
  %o = "attn.sdpa"(%q, %k, %v, %m) <{causal}>
      : (tensor<1x2x1x8xbf16>, tensor<1x1x6x8xbf16>, tensor<1x1x6x8xbf16>,
         tensor<1x6xbf16>) -> tensor<1x2x1x8xbf16>
  return %o : tensor<1x2x1x8xbf16>
}

// Checks the generic form without properties.
// CHECK-LABEL: func.func @sdpa_generic_plain
// CHECK: attn.sdpa %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x1x8xf32>
func.func @sdpa_generic_plain(%q: tensor<1x1x1x8xf32>,
                              %k: tensor<1x1x3x8xf32>,
                              %v: tensor<1x1x3x8xf32>) -> tensor<1x1x1x8xf32> {
  %o = "attn.sdpa"(%q, %k, %v)
      : (tensor<1x1x1x8xf32>, tensor<1x1x3x8xf32>, tensor<1x1x3x8xf32>)
      -> tensor<1x1x1x8xf32>
  return %o : tensor<1x1x1x8xf32>
}

// Checks attn.merge, whose operand and result types follow from two types.
// CHECK-LABEL: func.func @merge
// CHECK: attn.merge %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
func.func @merge(%o1: tensor<2x8x?x64xf32>, %l1: tensor<2x8x?xf32>,
                 %o2: tensor<2x8x?x64xf32>, %l2: tensor<2x8x?xf32>)
    -> (tensor<2x8x?x64xf32>, tensor<2x8x?xf32>) {
  %o, %l = attn.merge %o1, %l1, %o2, %l2
      : tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
  return %o, %l : tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
}

// Checks attn.topk with a static k, by magnitude, and with a run-time k.
// CHECK-LABEL: func.func @topk
// CHECK: attn.topk %{{.*}} magnitude : tensor<1x4x1x64xf32> -> tensor<1x4x1x16xf32>, tensor<1x4x1x16xi64>
// CHECK: attn.topk %{{.*}} k(%{{.*}}) : tensor<8x?xf16> -> tensor<8x?xf16>, tensor<8x?xi32>
func.func @topk(%q: tensor<1x4x1x64xf32>, %s: tensor<8x?xf16>, %k: index)
    -> (tensor<1x4x1x16xf32>, tensor<1x4x1x16xi64>, tensor<8x?xf16>,
        tensor<8x?xi32>) {
  %v, %i = attn.topk %q magnitude
      : tensor<1x4x1x64xf32> -> tensor<1x4x1x16xf32>, tensor<1x4x1x16xi64>
  %v2, %i2 = attn.topk %s k(%k)
      : tensor<8x?xf16> -> tensor<8x?xf16>, tensor<8x?xi32>
  return %v, %i, %v2, %i2 : tensor<1x4x1x16xf32>, tensor<1x4x1x16xi64>,
      tensor<8x?xf16>, tensor<8x?xi32>
}

// Checks attn.gather of selected rows, with a broadcast batch dim.
// CHECK-LABEL: func.func @gather
// CHECK: attn.gather %{{.*}}[%{{.*}}] axis(2) : tensor<2x8x?x128xf32>, tensor<2x1x4x32xindex> -> tensor<2x8x4x32x128xf32>
func.func @gather(%k: tensor<2x8x?x128xf32>, %idx: tensor<2x1x4x32xindex>)
    -> tensor<2x8x4x32x128xf32> {
  %r = attn.gather %k[%idx] axis(2)
      : tensor<2x8x?x128xf32>, tensor<2x1x4x32xindex> -> tensor<2x8x4x32x128xf32>
  return %r : tensor<2x8x4x32x128xf32>
}

// Checks attn.sparq in its plain form with the defaults elided.
// CHECK-LABEL: func.func @sparq_plain
// CHECK: attn.sparq %{{.*}}, %{{.*}}, %{{.*}} rank(16) top_k(128) : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
func.func @sparq_plain(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x?x128xf32>,
                       %v: tensor<1x8x?x128xf32>) -> tensor<1x32x1x128xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(128)
      : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32>
      -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

// Checks attn.sparq in its bandwidth form with every option.
// CHECK-LABEL: func.func @sparq_bandwidth
// CHECK: attn.sparq %{{.*}}, %{{.*}}, %{{.*}} key_transposed(%{{.*}} : tensor<?x8x64x?xbf16>) value_mean(%{{.*}} : tensor<?x8x32xbf16>) rank(8) top_k(64) local_window(16) group_shared causal scale(2.500000e-01) : tensor<?x32x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x32xbf16> -> tensor<?x32x?x32xbf16>
func.func @sparq_bandwidth(%q: tensor<?x32x?x64xbf16>, %k: tensor<?x8x?x64xbf16>,
                           %v: tensor<?x8x?x32xbf16>, %kt: tensor<?x8x64x?xbf16>,
                           %vm: tensor<?x8x32xbf16>) -> tensor<?x32x?x32xbf16> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<?x8x64x?xbf16>)
      value_mean(%vm : tensor<?x8x32xbf16>) rank(8) top_k(64) local_window(16)
      group_shared causal scale(0.25)
      : tensor<?x32x?x64xbf16>, tensor<?x8x?x64xbf16>, tensor<?x8x?x32xbf16>
      -> tensor<?x32x?x32xbf16>
  return %o : tensor<?x32x?x32xbf16>
}

// Checks attn.lsh_sort_bucket with its optional rank result, dynamic row
// count and f16 rows.
// CHECK-LABEL: func.func @lsh_with_rank
// CHECK: %{{.*}}, %{{.*}} = attn.lsh_sort_bucket %{{.*}}, %{{.*}} : tensor<1x8x?x64xf16>, tensor<64x7xf32> -> tensor<1x8x?xi32>, tensor<1x8x?xi32>
func.func @lsh_with_rank(%x: tensor<1x8x?x64xf16>, %r: tensor<64x7xf32>)
    -> (tensor<1x8x?xi32>, tensor<1x8x?xi32>) {
  %perm, %rank = attn.lsh_sort_bucket %x, %r
      : tensor<1x8x?x64xf16>, tensor<64x7xf32>
      -> tensor<1x8x?xi32>, tensor<1x8x?xi32>
  return %perm, %rank : tensor<1x8x?xi32>, tensor<1x8x?xi32>
}

// Checks attn.lsh_sort_bucket with the permutation alone, as index.
// CHECK-LABEL: func.func @lsh_permutation_only
// CHECK: attn.lsh_sort_bucket %{{.*}}, %{{.*}} : tensor<100x16xf32>, tensor<16x3xf32> -> tensor<100xindex>
func.func @lsh_permutation_only(%x: tensor<100x16xf32>, %r: tensor<16x3xf32>)
    -> tensor<100xindex> {
  %perm = attn.lsh_sort_bucket %x, %r
      : tensor<100x16xf32>, tensor<16x3xf32> -> tensor<100xindex>
  return %perm : tensor<100xindex>
}

// Checks attn.lsh_hash on bf16 rows with a dynamic row count, and
// attn.lsh_sort of its keys with and without the rank, as i32 and index.
// CHECK-LABEL: func.func @lsh_hash_then_sort
// CHECK: %[[KEYS:.*]] = attn.lsh_hash %{{.*}}, %{{.*}} : tensor<1x8x?x64xbf16>, tensor<64x7xf32> -> tensor<1x8x?xi32>
// CHECK: attn.lsh_sort %[[KEYS]] {bits = 7 : i64} : tensor<1x8x?xi32> -> tensor<1x8x?xi32>, tensor<1x8x?xi32>
// CHECK: attn.lsh_sort %[[KEYS]] {bits = 7 : i64} : tensor<1x8x?xi32> -> tensor<1x8x?xindex>{{$}}
func.func @lsh_hash_then_sort(%x: tensor<1x8x?x64xbf16>, %r: tensor<64x7xf32>)
    -> (tensor<1x8x?xi32>, tensor<1x8x?xi32>, tensor<1x8x?xindex>) {
  %keys = attn.lsh_hash %x, %r
      : tensor<1x8x?x64xbf16>, tensor<64x7xf32> -> tensor<1x8x?xi32>
  %perm, %rank = attn.lsh_sort %keys {bits = 7}
      : tensor<1x8x?xi32> -> tensor<1x8x?xi32>, tensor<1x8x?xi32>
  %perm_only = attn.lsh_sort %keys {bits = 7}
      : tensor<1x8x?xi32> -> tensor<1x8x?xindex>
  return %perm, %rank, %perm_only
      : tensor<1x8x?xi32>, tensor<1x8x?xi32>, tensor<1x8x?xindex>
}

// Checks attn.poly_exp with default attributes (the cubic, no threshold) on
// a tensor, and with every attribute on a vector and a scalar.
// CHECK-LABEL: func.func @poly_exp
// CHECK: attn.poly_exp %{{.*}} : tensor<4x?xf32>
// CHECK: attn.poly_exp %{{.*}} {coefficients = array<f32: 1.000000e+00, -0.699999988, 2.000000e-01>, degree = 2 : i64, n_max = 12 : i64} : vector<16xf16>
// CHECK: attn.poly_exp %{{.*}} {n_max = 8 : i64} : bf16
func.func @poly_exp(%t: tensor<4x?xf32>, %v: vector<16xf16>, %s: bf16)
    -> (tensor<4x?xf32>, vector<16xf16>, bf16) {
  %0 = attn.poly_exp %t : tensor<4x?xf32>
  %1 = attn.poly_exp %v {degree = 2, coefficients = array<f32: 1.0, -0.7, 0.2>,
                          n_max = 12} : vector<16xf16>
  %2 = attn.poly_exp %s {n_max = 8} : bf16
  return %0, %1, %2 : tensor<4x?xf32>, vector<16xf16>, bf16
}

// Checks the softmax_exp attribute on the attention ops.
// CHECK-LABEL: func.func @softmax_exp
// CHECK: attn.sdpa {{.*}} {softmax_exp = #attn.poly_exp<degree = 3>}
// CHECK: attn.sparq {{.*}} {softmax_exp = #attn.poly_exp<degree = 2, n_max = 10>}
func.func @softmax_exp(%q: tensor<1x4x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                       %v: tensor<1x2x?x64xf32>)
    -> (tensor<1x4x1x64xf32>, tensor<1x4x1x64xf32>) {
  %0 = attn.sdpa %q, %k, %v {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x4x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x4x1x64xf32>
  %1 = attn.sparq %q, %k, %v rank(8) top_k(16)
      {softmax_exp = #attn.poly_exp<degree = 2, n_max = 10>}
      : tensor<1x4x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x4x1x64xf32>
  return %0, %1 : tensor<1x4x1x64xf32>, tensor<1x4x1x64xf32>
}

// Checks attn.quantize and attn.dequantize at 4 bits (with step and zero,
// mixed heads) and at 8 bits (codes and scales only), dynamic lengths.
// CHECK-LABEL: func.func @quantize
// CHECK: attn.quantize %{{.*}} axis(3) group_size(32) bits(4) low_priority_heads(2) : tensor<1x8x?x128xf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
// CHECK: attn.dequantize %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} axis(3) group_size(32) bits(4) : tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8> -> tensor<1x8x?x128xf16>
// CHECK: attn.quantize %{{.*}} axis(2) group_size(16) bits(8) : tensor<1x8x?x128xf16> -> tensor<1x8x?x128xi8>, tensor<1x8x?x128xf32>
// CHECK: attn.dequantize %{{.*}}, %{{.*}} axis(2) group_size(16) bits(8) : tensor<1x8x?x128xi8>, tensor<1x8x?x128xf32> -> tensor<1x8x?x128xf32>
func.func @quantize(%x: tensor<1x8x?x128xf16>)
    -> (tensor<1x8x?x128xf16>, tensor<1x8x?x128xf32>) {
  %c, %s, %st, %z = attn.quantize %x axis(3) group_size(32) bits(4)
      low_priority_heads(2)
      : tensor<1x8x?x128xf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>,
        tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
  %y = attn.dequantize %c, %s, %st, %z axis(3) group_size(32) bits(4)
      : tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
        tensor<1x8x?x4xi8> -> tensor<1x8x?x128xf16>
  %c8, %s8 = attn.quantize %x axis(2) group_size(16) bits(8)
      : tensor<1x8x?x128xf16> -> tensor<1x8x?x128xi8>, tensor<1x8x?x128xf32>
  %y8 = attn.dequantize %c8, %s8 axis(2) group_size(16) bits(8)
      : tensor<1x8x?x128xi8>, tensor<1x8x?x128xf32> -> tensor<1x8x?x128xf32>
  return %y, %y8 : tensor<1x8x?x128xf16>, tensor<1x8x?x128xf32>
}

// Checks attn.quantized_sdpa over a 2-bit cache with every option, and over
// an 8-bit cache (no step or zero) with an LSE result.
// CHECK-LABEL: func.func @quantized_sdpa
// CHECK: attn.quantized_sdpa %{{.*}}, key(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}), value(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) bits(2) group_size(32) qk_int8 pv_int8 causal scale(1.250000e-01) {softmax_exp = #attn.poly_exp<degree = 3>}
// CHECK: attn.quantized_sdpa %{{.*}}, key(%{{.*}}, %{{.*}}), value(%{{.*}}, %{{.*}}) bits(8) group_size(64) : {{.*}} -> tensor<1x32x1x128xf32>, tensor<1x32x1xf32>
func.func @quantized_sdpa(%q: tensor<1x32x1x128xf32>,
    %kc: tensor<1x8x?x32xi8>, %ks: tensor<1x8x?x4xf32>,
    %kst: tensor<1x8x?x4xi8>, %kz: tensor<1x8x?x4xi8>,
    %vc: tensor<1x8x?x32xi8>, %vs: tensor<1x8x?x128xf32>,
    %vst: tensor<1x8x?x128xi8>, %vz: tensor<1x8x?x128xi8>,
    %kc8: tensor<1x8x?x128xi8>, %ks8: tensor<1x8x?x2xf32>,
    %vc8: tensor<1x8x?x128xi8>, %vs8: tensor<1x8x?x128xf32>)
    -> (tensor<1x32x1x128xf32>, tensor<1x32x1x128xf32>, tensor<1x32x1xf32>) {
  %0 = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(2) group_size(32) qk_int8 pv_int8 causal
      scale(0.125) {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x32x1x128xf32>,
        key(tensor<1x8x?x32xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
            tensor<1x8x?x4xi8>),
        value(tensor<1x8x?x32xi8>, tensor<1x8x?x128xf32>,
              tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
      -> tensor<1x32x1x128xf32>
  %1, %lse = attn.quantized_sdpa %q, key(%kc8, %ks8), value(%vc8, %vs8)
      bits(8) group_size(64)
      : tensor<1x32x1x128xf32>, key(tensor<1x8x?x128xi8>, tensor<1x8x?x2xf32>),
        value(tensor<1x8x?x128xi8>, tensor<1x8x?x128xf32>)
      -> tensor<1x32x1x128xf32>, tensor<1x32x1xf32>
  return %0, %1, %lse
      : tensor<1x32x1x128xf32>, tensor<1x32x1x128xf32>, tensor<1x32x1xf32>
}
