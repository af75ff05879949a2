// RUN: attn-opt %s --attn-raise-sdpa --split-input-file | FileCheck %s

// Near misses of dense attention: --attn-raise-sdpa must leave each alone
// (or, for masks that are not causal, keep the mask as an operand).

// Checks that a softmax over the query dimension is not raised.

// CHECK-LABEL: func.func @softmax_over_queries
// CHECK-NOT:     attn.sdpa
// CHECK:         linalg.softmax dimension(0)
func.func @softmax_over_queries(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %p = linalg.softmax dimension(0) ins(%s : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that a written-out softmax whose sum runs over the query dimension
// (the numerator's row broadcast does not match) is not raised.

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
#row = affine_map<(i, j) -> (i)>
#t = affine_map<(i, j) -> (j, i)>

// CHECK-LABEL: func.func @sum_over_queries
// CHECK-NOT:     attn.sdpa
func.func @sum_over_queries(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %x = math.exp %in : f32
    linalg.yield %x : f32
  } -> tensor<8x8xf32>
  %er = tensor.empty() : tensor<8xf32>
  %fr = linalg.fill ins(%zero : f32) outs(%er : tensor<8xf32>) -> tensor<8xf32>
  %sum = linalg.reduce ins(%e : tensor<8x8xf32>) outs(%fr : tensor<8xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %a = arith.addf %in, %acc : f32
      linalg.yield %a : f32
    }
  %p = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%e, %sum : tensor<8x8xf32>, tensor<8xf32>) outs(%es : tensor<8x8xf32>) {
  ^bb0(%in: f32, %r: f32, %out: f32):
    %d = arith.divf %in, %r : f32
    linalg.yield %d : f32
  } -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that P^T V (the second contraction over the query dimension of P)
// is not raised.

#pt = affine_map<(m, n, k) -> (k, m)>
#v = affine_map<(m, n, k) -> (k, n)>
#o = affine_map<(m, n, k) -> (m, n)>

// CHECK-LABEL: func.func @pv_over_queries
// CHECK-NOT:     attn.sdpa
func.func @pv_over_queries(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.generic {indexing_maps = [#pt, #v, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that Q^T K (the first contraction over the sequence dimension)
// is not raised.

#qt = affine_map<(m, n, k) -> (k, m)>
#kk = affine_map<(m, n, k) -> (k, n)>
#s = affine_map<(m, n, k) -> (m, n)>

// CHECK-LABEL: func.func @qk_over_sequence
// CHECK-NOT:     attn.sdpa
func.func @qk_over_sequence(%q: tensor<8x8xf32>, %k: tensor<8x8xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.generic {indexing_maps = [#qt, #kk, #s], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<8x8xf32>, tensor<8x8xf32>) outs(%fs : tensor<8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that a mask multiplied into the scores (not additive) is not
// raised.

#id = affine_map<(i, j) -> (i, j)>

// CHECK-LABEL: func.func @multiplied_mask
// CHECK-NOT:     attn.sdpa
func.func @multiplied_mask(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>, %mask: tensor<8x8xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %sm = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s, %mask : tensor<8x8xf32>, tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %out: f32):
    %r = arith.mulf %a, %m : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%sm : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that an additive mask under a scale, (S + M) * c, is not raised:
// attn.sdpa would not scale the mask.

#id = affine_map<(i, j) -> (i, j)>

// CHECK-LABEL: func.func @mask_under_scale
// CHECK-NOT:     attn.sdpa
func.func @mask_under_scale(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>, %mask: tensor<8x8xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c = arith.constant 0.5 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %sm = linalg.add ins(%s, %mask : tensor<8x8xf32>, tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %ss = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%sm : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%ss : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that a contraction accumulating into a non-zero init is not
// raised.

// CHECK-LABEL: func.func @nonzero_accumulator
// CHECK-NOT:     attn.sdpa
func.func @nonzero_accumulator(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%one : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// -----

// Checks that a mask that is -inf below the diagonal (not causal) is raised
// as a mask operand, and that a causal mask with a dynamic sequence length
// (Lq = Lk unknown) stays a mask operand too.

#id = affine_map<(i, j) -> (i, j)>

// CHECK-LABEL: func.func @anti_causal
// CHECK:         %[[M:.*]] = linalg.generic
// CHECK:         attn.sdpa {{.*}} mask(%[[M]] : tensor<8x8xf32>) scale(1.000000e+00)
// CHECK-NOT:     causal
func.func @anti_causal(%q: tensor<8x4xf32>, %k: tensor<8x4xf32>, %v: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %ekt = tensor.empty() : tensor<4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4xf32>) outs(%ekt : tensor<4x8xf32>) permutation = [1, 0]
  %es = tensor.empty() : tensor<8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<8x4xf32>, tensor<4x8xf32>) outs(%fs : tensor<8x8xf32>) -> tensor<8x8xf32>
  %mask = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]} outs(%es : tensor<8x8xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %below = arith.cmpi slt, %j, %i : index
    %m = arith.select %below, %ninf, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x8xf32>
  %sm = linalg.add ins(%s, %mask : tensor<8x8xf32>, tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %p = linalg.softmax dimension(1) ins(%sm : tensor<8x8xf32>) outs(%es : tensor<8x8xf32>) -> tensor<8x8xf32>
  %eo = tensor.empty() : tensor<8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4xf32>) -> tensor<8x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<8x8xf32>, tensor<8x4xf32>) outs(%fo : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %o : tensor<8x4xf32>
}

// CHECK-LABEL: func.func @causal_dynamic_length
// CHECK:         %[[M:.*]] = linalg.generic
// CHECK:         attn.sdpa {{.*}} mask(%[[M]] : tensor<?x?xf32>) scale(1.000000e+00)
// CHECK-NOT:     causal
func.func @causal_dynamic_length(%q: tensor<?x4xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c0 = arith.constant 0 : index
  %lq = tensor.dim %q, %c0 : tensor<?x4xf32>
  %lk = tensor.dim %k, %c0 : tensor<?x4xf32>
  %ekt = tensor.empty(%lk) : tensor<4x?xf32>
  %kt = linalg.transpose ins(%k : tensor<?x4xf32>) outs(%ekt : tensor<4x?xf32>) permutation = [1, 0]
  %es = tensor.empty(%lq, %lk) : tensor<?x?xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<?x?xf32>) -> tensor<?x?xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<?x4xf32>, tensor<4x?xf32>) outs(%fs : tensor<?x?xf32>) -> tensor<?x?xf32>
  %mask = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]} outs(%es : tensor<?x?xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %above = arith.cmpi ugt, %j, %i : index
    %m = arith.select %above, %ninf, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x?xf32>
  %sm = linalg.add ins(%s, %mask : tensor<?x?xf32>, tensor<?x?xf32>) outs(%es : tensor<?x?xf32>) -> tensor<?x?xf32>
  %p = linalg.softmax dimension(1) ins(%sm : tensor<?x?xf32>) outs(%es : tensor<?x?xf32>) -> tensor<?x?xf32>
  %eo = tensor.empty(%lq) : tensor<?x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<?x4xf32>) -> tensor<?x4xf32>
  %o = linalg.matmul ins(%p, %v : tensor<?x?xf32>, tensor<?x4xf32>) outs(%fo : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %o : tensor<?x4xf32>
}

// -----

// Checks that a dynamic head count (4-D operands with dim 1 dynamic) is not
// raised: attn.sdpa needs static heads.

// CHECK-LABEL: func.func @dynamic_heads
// CHECK-NOT:     attn.sdpa
func.func @dynamic_heads(%q: tensor<1x?x8x4xf32>, %k: tensor<1x?x8x4xf32>, %v: tensor<1x?x8x4xf32>) -> tensor<1x?x8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %h = tensor.dim %q, %c1 : tensor<1x?x8x4xf32>
  %ekt = tensor.empty(%h) : tensor<1x?x4x8xf32>
  %kt = linalg.transpose ins(%k : tensor<1x?x8x4xf32>) outs(%ekt : tensor<1x?x4x8xf32>) permutation = [0, 1, 3, 2]
  %es = tensor.empty(%h) : tensor<1x?x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x?x8x8xf32>) -> tensor<1x?x8x8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>, affine_map<(b, h, m, n, k) -> (b, h, k, n)>, affine_map<(b, h, m, n, k) -> (b, h, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kt : tensor<1x?x8x4xf32>, tensor<1x?x4x8xf32>) outs(%fs : tensor<1x?x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x?x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x?x8x8xf32>) outs(%es : tensor<1x?x8x8xf32>) -> tensor<1x?x8x8xf32>
  %eo = tensor.empty(%h) : tensor<1x?x8x4xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x?x8x4xf32>) -> tensor<1x?x8x4xf32>
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>, affine_map<(b, h, m, n, k) -> (b, h, k, n)>, affine_map<(b, h, m, n, k) -> (b, h, m, n)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<1x?x8x8xf32>, tensor<1x?x8x4xf32>) outs(%fo : tensor<1x?x8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x?x8x4xf32>
  return %o : tensor<1x?x8x4xf32>
}
