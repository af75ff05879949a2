// RUN: attn-opt %s --attn-raise-sdpa --canonicalize --split-input-file | FileCheck %s

// Checks the 2-D form: matmul on a transposed K (linalg.transpose), a
// divide by a constant on the scores, linalg.softmax over the last dim;
// [L, D] operands become [1, 1, L, D] and the result is collapsed back.

// CHECK-LABEL: func.func @matmul_2d(
// CHECK-SAME:      %[[Q:.*]]: tensor<64x32xf32>, %[[K:.*]]: tensor<96x32xf32>, %[[V:.*]]: tensor<96x16xf32>)
// CHECK-DAG:     %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0, 1, 2], [3]] output_shape [1, 1, 64, 32]
// CHECK-DAG:     %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1, 2], [3]] output_shape [1, 1, 96, 32]
// CHECK-DAG:     %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1, 2], [3]] output_shape [1, 1, 96, 16]
// CHECK:         %[[O:.*]] = attn.sdpa %[[Q4]], %[[K4]], %[[V4]] scale(2.500000e-01)
// CHECK:         %[[O2:.*]] = tensor.collapse_shape %[[O]] {{\[\[}}0, 1, 2], [3]] : tensor<1x1x64x16xf32> into tensor<64x16xf32>
// CHECK:         return %[[O2]]
func.func @matmul_2d(%q: tensor<64x32xf32>, %k: tensor<96x32xf32>,
                     %v: tensor<96x16xf32>) -> tensor<64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %four = arith.constant 4.0 : f32
  %ekt = tensor.empty() : tensor<32x96xf32>
  %kt = linalg.transpose ins(%k : tensor<96x32xf32>) outs(%ekt : tensor<32x96xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<64x96xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<64x96xf32>) -> tensor<64x96xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<64x32xf32>, tensor<32x96xf32>) outs(%fs : tensor<64x96xf32>) -> tensor<64x96xf32>
  %scaled = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<64x96xf32>) outs(%es : tensor<64x96xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %four : f32
    linalg.yield %d : f32
  } -> tensor<64x96xf32>
  %p = linalg.softmax dimension(1) ins(%scaled : tensor<64x96xf32>) outs(%es : tensor<64x96xf32>) -> tensor<64x96xf32>
  %eo = tensor.empty() : tensor<64x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<64x16xf32>) -> tensor<64x16xf32>
  %o = linalg.matmul ins(%p, %v : tensor<64x96xf32>, tensor<96x16xf32>) outs(%fo : tensor<64x16xf32>) -> tensor<64x16xf32>
  return %o : tensor<64x16xf32>
}

// -----

// Checks Q.K^T as a linalg.batch_matmul whose indexing maps read K as
// [N, Lk, D] (no transpose op), a softmax without the max subtraction
// (exp, sum, divide), no scale (scale 1.0) and a dynamic batch of 3-D
// operands viewed as [N, 1, L, D].

#qmap = affine_map<(b, m, n, k) -> (b, m, k)>
#kmap = affine_map<(b, m, n, k) -> (b, n, k)>
#smap = affine_map<(b, m, n, k) -> (b, m, n)>
#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row3 = affine_map<(b, i, j) -> (b, i)>

// CHECK-LABEL: func.func @batch_matmul_maps_no_max(
// CHECK-SAME:      %[[Q:.*]]: tensor<?x32x16xf16>, %[[K:.*]]: tensor<?x48x16xf16>, %[[V:.*]]: tensor<?x48x16xf16>)
// CHECK:         %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0, 1], [2], [3]] {{.*}} : tensor<?x32x16xf16> into tensor<?x1x32x16xf16>
// CHECK:         %[[O:.*]] = attn.sdpa %[[Q4]], %{{.*}}, %{{.*}} scale(1.000000e+00) : tensor<?x1x32x16xf16>, tensor<?x1x48x16xf16>, tensor<?x1x48x16xf16> -> tensor<?x1x32x16xf16>
// CHECK:         tensor.collapse_shape %[[O]] {{\[\[}}0, 1], [2], [3]]
func.func @batch_matmul_maps_no_max(%q: tensor<?x32x16xf16>, %k: tensor<?x48x16xf16>,
                                    %v: tensor<?x48x16xf16>) -> tensor<?x32x16xf16> {
  %zero = arith.constant 0.0 : f16
  %c0 = arith.constant 0 : index
  %n = tensor.dim %q, %c0 : tensor<?x32x16xf16>
  %es = tensor.empty(%n) : tensor<?x32x48xf16>
  %fs = linalg.fill ins(%zero : f16) outs(%es : tensor<?x32x48xf16>) -> tensor<?x32x48xf16>
  %s = linalg.batch_matmul indexing_maps = [#qmap, #kmap, #smap]
      ins(%q, %k : tensor<?x32x16xf16>, tensor<?x48x16xf16>) outs(%fs : tensor<?x32x48xf16>) -> tensor<?x32x48xf16>
  %e = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<?x32x48xf16>) outs(%es : tensor<?x32x48xf16>) {
  ^bb0(%in: f16, %out: f16):
    %x = math.exp %in : f16
    linalg.yield %x : f16
  } -> tensor<?x32x48xf16>
  %er = tensor.empty(%n) : tensor<?x32xf16>
  %fr = linalg.fill ins(%zero : f16) outs(%er : tensor<?x32xf16>) -> tensor<?x32xf16>
  %sum = linalg.reduce ins(%e : tensor<?x32x48xf16>) outs(%fr : tensor<?x32xf16>) dimensions = [2]
    (%in: f16, %acc: f16) {
      %a = arith.addf %in, %acc : f16
      linalg.yield %a : f16
    }
  %p = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %sum : tensor<?x32x48xf16>, tensor<?x32xf16>) outs(%es : tensor<?x32x48xf16>) {
  ^bb0(%in: f16, %r: f16, %out: f16):
    %d = arith.divf %in, %r : f16
    linalg.yield %d : f16
  } -> tensor<?x32x48xf16>
  %eo = tensor.empty(%n) : tensor<?x32x16xf16>
  %fo = linalg.fill ins(%zero : f16) outs(%eo : tensor<?x32x16xf16>) -> tensor<?x32x16xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<?x32x48xf16>, tensor<?x48x16xf16>)
      outs(%fo : tensor<?x32x16xf16>) -> tensor<?x32x16xf16>
  return %o : tensor<?x32x16xf16>
}

// -----

// Checks 4-D linalg.generic contractions (K read transposed by the map),
// the scale on Q, a fused exp(s - max) generic with the max from a
// linalg.generic reduction, an additive mask broadcast from [Lq, Lk], and a
// dynamic sequence length.

#q4 = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#k4 = affine_map<(b, h, m, n, k) -> (b, h, n, k)>
#s4 = affine_map<(b, h, m, n, k) -> (b, h, m, n)>
#id4 = affine_map<(b, h, i, j) -> (b, h, i, j)>
#row4 = affine_map<(b, h, i, j) -> (b, h, i)>
#mask4 = affine_map<(b, h, i, j) -> (i, j)>
#p4 = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#v4 = affine_map<(b, h, m, n, k) -> (b, h, k, n)>

// CHECK-LABEL: func.func @generic_4d_masked(
// CHECK-SAME:      %[[Q:.*]]: tensor<1x4x?x32xbf16>, %[[K:.*]]: tensor<1x4x?x32xbf16>, %[[V:.*]]: tensor<1x4x?x32xbf16>, %[[M:.*]]: tensor<?x?xbf16>)
// CHECK-NEXT:    %[[O:.*]] = attn.sdpa %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<?x?xbf16>) scale(5.000000e-01)
// CHECK-NEXT:    return %[[O]]
func.func @generic_4d_masked(%q: tensor<1x4x?x32xbf16>, %k: tensor<1x4x?x32xbf16>,
                             %v: tensor<1x4x?x32xbf16>, %mask: tensor<?x?xbf16>) -> tensor<1x4x?x32xbf16> {
  %zero = arith.constant 0.0 : bf16
  %ninf = arith.constant 0xFF80 : bf16
  %half = arith.constant 0.5 : bf16
  %c2 = arith.constant 2 : index
  %lq = tensor.dim %q, %c2 : tensor<1x4x?x32xbf16>
  %lk = tensor.dim %k, %c2 : tensor<1x4x?x32xbf16>
  %eq = tensor.empty(%lq) : tensor<1x4x?x32xbf16>
  %qs = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<1x4x?x32xbf16>) outs(%eq : tensor<1x4x?x32xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %m = arith.mulf %half, %in : bf16
    linalg.yield %m : bf16
  } -> tensor<1x4x?x32xbf16>
  %es = tensor.empty(%lq, %lk) : tensor<1x4x?x?xbf16>
  %fs = linalg.fill ins(%zero : bf16) outs(%es : tensor<1x4x?x?xbf16>) -> tensor<1x4x?x?xbf16>
  %s = linalg.generic {indexing_maps = [#q4, #k4, #s4], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%qs, %k : tensor<1x4x?x32xbf16>, tensor<1x4x?x32xbf16>) outs(%fs : tensor<1x4x?x?xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %m = arith.mulf %a, %b : bf16
    %r = arith.addf %acc, %m : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4x?x?xbf16>
  %sm = linalg.generic {indexing_maps = [#id4, #mask4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %mask : tensor<1x4x?x?xbf16>, tensor<?x?xbf16>) outs(%es : tensor<1x4x?x?xbf16>) {
  ^bb0(%in: bf16, %mv: bf16, %out: bf16):
    %a = arith.addf %in, %mv : bf16
    linalg.yield %a : bf16
  } -> tensor<1x4x?x?xbf16>
  %er = tensor.empty(%lq) : tensor<1x4x?xbf16>
  %fr = linalg.fill ins(%ninf : bf16) outs(%er : tensor<1x4x?xbf16>) -> tensor<1x4x?xbf16>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%sm : tensor<1x4x?x?xbf16>) outs(%fr : tensor<1x4x?xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %m = arith.maxnumf %in, %out : bf16
    linalg.yield %m : bf16
  } -> tensor<1x4x?xbf16>
  %e = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sm, %max : tensor<1x4x?x?xbf16>, tensor<1x4x?xbf16>) outs(%es : tensor<1x4x?x?xbf16>) {
  ^bb0(%in: bf16, %mx: bf16, %out: bf16):
    %d = arith.subf %in, %mx : bf16
    %x = math.exp %d : bf16
    linalg.yield %x : bf16
  } -> tensor<1x4x?x?xbf16>
  %fz = linalg.fill ins(%zero : bf16) outs(%er : tensor<1x4x?xbf16>) -> tensor<1x4x?xbf16>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%e : tensor<1x4x?x?xbf16>) outs(%fz : tensor<1x4x?xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %a = arith.addf %in, %out : bf16
    linalg.yield %a : bf16
  } -> tensor<1x4x?xbf16>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%e, %sum : tensor<1x4x?x?xbf16>, tensor<1x4x?xbf16>) outs(%es : tensor<1x4x?x?xbf16>) {
  ^bb0(%in: bf16, %r: bf16, %out: bf16):
    %d = arith.divf %in, %r : bf16
    linalg.yield %d : bf16
  } -> tensor<1x4x?x?xbf16>
  %eo = tensor.empty(%lq) : tensor<1x4x?x32xbf16>
  %fo = linalg.fill ins(%zero : bf16) outs(%eo : tensor<1x4x?x32xbf16>) -> tensor<1x4x?x32xbf16>
  %o = linalg.generic {indexing_maps = [#p4, #v4, #s4], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<1x4x?x?xbf16>, tensor<1x4x?x32xbf16>) outs(%fo : tensor<1x4x?x32xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %m = arith.mulf %a, %b : bf16
    %r = arith.addf %acc, %m : bf16
    linalg.yield %r : bf16
  } -> tensor<1x4x?x32xbf16>
  return %o : tensor<1x4x?x32xbf16>
}

// -----

// Checks grouped-query attention written as linalg.broadcast of K and V over
// the group and collapse_shape, the scale split as sqrt(scale) on Q and on
// K (linalg.mul with splat constants on either side, as PyTorch's math
// kernel scales), a causal mask from linalg.index/cmpi/select added with
// linalg.add, and linalg.softmax: one causal attn.sdpa on the 2 key/value
// heads.

#id = affine_map<(b, h, i, j) -> (b, h, i, j)>

// CHECK-LABEL: func.func @gqa_causal(
// CHECK-SAME:      %[[Q:.*]]: tensor<1x8x16x16xf32>, %[[K:.*]]: tensor<1x2x16x16xf32>, %[[V:.*]]: tensor<1x2x16x16xf32>)
// CHECK-NEXT:    %[[O:.*]] = attn.sdpa %[[Q]], %[[K]], %[[V]] causal scale(2.500000e-01) : tensor<1x8x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32> -> tensor<1x8x16x16xf32>
// CHECK-NEXT:    return %[[O]]
func.func @gqa_causal(%q: tensor<1x8x16x16xf32>, %k: tensor<1x2x16x16xf32>,
                      %v: tensor<1x2x16x16xf32>) -> tensor<1x8x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %root = arith.constant dense<0.5> : tensor<1x8x16x16xf32>
  %eg = tensor.empty() : tensor<1x2x4x16x16xf32>
  %kg = linalg.broadcast ins(%k : tensor<1x2x16x16xf32>) outs(%eg : tensor<1x2x4x16x16xf32>) dimensions = [2]
  %vg = linalg.broadcast ins(%v : tensor<1x2x16x16xf32>) outs(%eg : tensor<1x2x4x16x16xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kg [[0], [1, 2], [3], [4]] : tensor<1x2x4x16x16xf32> into tensor<1x8x16x16xf32>
  %vr = tensor.collapse_shape %vg [[0], [1, 2], [3], [4]] : tensor<1x2x4x16x16xf32> into tensor<1x8x16x16xf32>
  %e = tensor.empty() : tensor<1x8x16x16xf32>
  %qs = linalg.mul ins(%q, %root : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %kt = linalg.transpose ins(%kr : tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) permutation = [0, 1, 3, 2]
  %kts = linalg.mul ins(%root, %kt : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %qc = tensor.collapse_shape %qs [[0, 1], [2], [3]] : tensor<1x8x16x16xf32> into tensor<8x16x16xf32>
  %kc = tensor.collapse_shape %kts [[0, 1], [2], [3]] : tensor<1x8x16x16xf32> into tensor<8x16x16xf32>
  %e3 = tensor.empty() : tensor<8x16x16xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s3 = linalg.batch_matmul ins(%qc, %kc : tensor<8x16x16xf32>, tensor<8x16x16xf32>) outs(%f3 : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [1, 8, 16, 16] : tensor<8x16x16xf32> into tensor<1x8x16x16xf32>
  %mask = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      outs(%e : tensor<1x8x16x16xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 2 : index
    %j = linalg.index 3 : index
    %above = arith.cmpi ugt, %j, %i : index
    %m = arith.select %above, %ninf, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x8x16x16xf32>
  %sm = linalg.add ins(%s, %mask : tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<1x8x16x16xf32>) outs(%e : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x8x16x16xf32> into tensor<8x16x16xf32>
  %vc = tensor.collapse_shape %vr [[0, 1], [2], [3]] : tensor<1x8x16x16xf32> into tensor<8x16x16xf32>
  %o3 = linalg.batch_matmul ins(%pc, %vc : tensor<8x16x16xf32>, tensor<8x16x16xf32>) outs(%f3 : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 8, 16, 16] : tensor<8x16x16xf32> into tensor<1x8x16x16xf32>
  return %o : tensor<1x8x16x16xf32>
}

// -----

// Checks Q.K^T as a linalg.matmul whose indexing maps read K as [Lk, D]
// (no transpose op), with a divide by sqrt(D) on Q.

#mk = affine_map<(m, n, k) -> (m, k)>
#nk = affine_map<(m, n, k) -> (n, k)>
#mn = affine_map<(m, n, k) -> (m, n)>
#id2 = affine_map<(i, j) -> (i, j)>

// CHECK-LABEL: func.func @matmul_maps(
// CHECK:         attn.sdpa {{.*}} scale(1.250000e-01) : tensor<1x1x16x64xf32>, tensor<1x1x32x64xf32>, tensor<1x1x32x64xf32> -> tensor<1x1x16x64xf32>
func.func @matmul_maps(%q: tensor<16x64xf32>, %k: tensor<32x64xf32>,
                       %v: tensor<32x64xf32>) -> tensor<16x64xf32> {
  %zero = arith.constant 0.0 : f32
  %eight = arith.constant 8.0 : f32
  %eq = tensor.empty() : tensor<16x64xf32>
  %qs = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<16x64xf32>) outs(%eq : tensor<16x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %eight : f32
    linalg.yield %d : f32
  } -> tensor<16x64xf32>
  %es = tensor.empty() : tensor<16x32xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<16x32xf32>) -> tensor<16x32xf32>
  %s = linalg.matmul indexing_maps = [#mk, #nk, #mn]
      ins(%qs, %k : tensor<16x64xf32>, tensor<32x64xf32>) outs(%fs : tensor<16x32xf32>) -> tensor<16x32xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<16x32xf32>) outs(%es : tensor<16x32xf32>) -> tensor<16x32xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eq : tensor<16x64xf32>) -> tensor<16x64xf32>
  %o = linalg.matmul ins(%p, %v : tensor<16x32xf32>, tensor<32x64xf32>) outs(%fo : tensor<16x64xf32>) -> tensor<16x64xf32>
  return %o : tensor<16x64xf32>
}
