// RUN: attn-opt %s --convert-attn-to-loops -split-input-file | FileCheck %s

// Checks that attn.poly_exp on a vector expands without any exp: clamp to
// x <= 0, y = x * -log2(e), n = floor(min(y, limit)) as i32, f = y - n,
// the cubic in Horner form (three multiply-adds, no fma), 2^-n as
// (127 - n) << 23 bitcast to f32, and 0 from y >= n_max = 20.
// CHECK-LABEL: func.func @poly_exp_vector
// CHECK-NOT:   math.exp
// CHECK:       arith.minimumf
// CHECK:       arith.constant dense<-1.44269502> : vector<16xf32>
// CHECK:       %[[LIMIT:.*]] = arith.constant dense<2.000000e+01> : vector<16xf32>
// CHECK:       arith.minnumf %{{.*}}, %[[LIMIT]]
// CHECK:       math.floor
// CHECK:       arith.fptosi %{{.*}} : vector<16xf32> to vector<16xi32>
// CHECK-COUNT-3: arith.mulf
// CHECK:       arith.shli
// CHECK:       arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:       arith.cmpf oge, %{{.*}}, %[[LIMIT]]
// CHECK:       arith.select
// CHECK-NOT:   math.exp
// CHECK-NOT:   math.fma
func.func @poly_exp_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %y = attn.poly_exp %x {n_max = 20} : vector<16xf32>
  return %y : vector<16xf32>
}

// -----

// Checks that a tensor is processed in 16-lane chunks in parallel with a
// masked tail.
// CHECK-LABEL: func.func @poly_exp_tensor
// CHECK:       scf.parallel
// CHECK:         vector.create_mask
// CHECK:         vector.maskedload {{.*}} : memref<?xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK:         math.floor
// CHECK:         vector.maskedstore
// CHECK-NOT:   math.exp
func.func @poly_exp_tensor(%x: tensor<?x7xf32>) -> tensor<?x7xf32> {
  %y = attn.poly_exp %x : tensor<?x7xf32>
  return %y : tensor<?x7xf32>
}

// -----

// Checks that a softmax marked with #attn.poly_exp uses the polynomial in
// the online softmax (weights and rescaling) and no math.exp.
// CHECK-LABEL: func.func @sdpa_poly
// CHECK-NOT:   math.exp
// CHECK:       math.floor %{{.*}} : vector<{{[0-9]+}}xf32>
// CHECK:       math.floor %{{.*}} : f32
// CHECK-NOT:   math.exp
func.func @sdpa_poly(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x?x16xf32>,
                     %v: tensor<1x2x?x16xf32>) -> tensor<1x2x4x16xf32> {
  %o = attn.sdpa %q, %k, %v {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<1x2x4x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
      -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Checks that attention over an INT4 cache decodes each key tile once per
// work item into INT8 stack scratch shared by the block's rows (no heap
// buffer of decoded K or V): nibbles split with and/shift, interleaved back
// into order, widened and put through code * step + zero, for keys and
// values; with qk_int8 and pv_int8 the products are i32.
// CHECK-LABEL: func.func @quantized_int4
// CHECK-NOT:   memref.alloc({{.*}}) {{.*}} : memref<1x1x?x16x
// CHECK:       memref.alloca() : memref<256x16xi8>
// CHECK:       memref.alloca() : memref<256x16xi8>
// CHECK:       vector.interleave %{{.*}}, %{{.*}} : vector<8xi8> -> vector<16xi8>
// CHECK:       arith.muli %{{.*}} : vector<16xi16>
// CHECK:       vector.interleave %{{.*}}, %{{.*}} : vector<8xi8> -> vector<16xi8>
// CHECK:       arith.muli %{{.*}} : vector<16xi16>
// CHECK:       arith.muli %{{.*}} : vector<16xi32>
// CHECK:       arith.muli %{{.*}} : vector<16xi32>
// CHECK-NOT:   attn.
func.func @quantized_int4(%q: tensor<1x2x1x16xf32>,
    %kc: tensor<1x1x?x8xi8>, %ks: tensor<1x1x?x2xf32>,
    %kst: tensor<1x1x?x2xi8>, %kz: tensor<1x1x?x2xi8>,
    %vc: tensor<1x1x?x8xi8>, %vs: tensor<1x1x?x16xf32>,
    %vst: tensor<1x1x?x16xi8>, %vz: tensor<1x1x?x16xi8>)
    -> tensor<1x2x1x16xf32> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(8) qk_int8 pv_int8
      : tensor<1x2x1x16xf32>,
        key(tensor<1x1x?x8xi8>, tensor<1x1x?x2xf32>, tensor<1x1x?x2xi8>,
            tensor<1x1x?x2xi8>),
        value(tensor<1x1x?x8xi8>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xi8>,
              tensor<1x1x?x16xi8>)
      -> tensor<1x2x1x16xf32>
  return %o : tensor<1x2x1x16xf32>
}
