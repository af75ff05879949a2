// Grouped-query decode attention (8 query heads, 2 key/value heads, one
// query row, 1024 cached keys) in the linalg form torch-mlir lowers
// torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
// to: repeat_interleave of K and V as an expand/broadcast/collapse, K
// transposed, batch_matmul on [B*H, L, D], the scale as a multiply, and the
// softmax decomposed. docs/Embedding.md raises, rewrites and runs it.
func.func @sdpa(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x1024x64xf32>, %v: tensor<1x2x1024x64xf32>) -> tensor<1x8x1x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.125 : f64
  %tscale = arith.truncf %scale : f64 to f32
  %root = arith.constant 0.3535533905932738 : f32
  %sqrtd = arith.constant 8.0 : f32
  %u1 = tensor.expand_shape %k [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 1024, 64] : tensor<1x2x1024x64xf32> into tensor<1x2x1x1024x64xf32>
  %e2 = tensor.empty() : tensor<1x2x4x1024x64xf32>
  %b3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%u1 : tensor<1x2x1x1024x64xf32>) outs(%e2 : tensor<1x2x4x1024x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x4x1024x64xf32>
  %r4 = tensor.collapse_shape %b3 [[0], [1, 2], [3], [4]] : tensor<1x2x4x1024x64xf32> into tensor<1x8x1024x64xf32>
  %u5 = tensor.expand_shape %v [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 1024, 64] : tensor<1x2x1024x64xf32> into tensor<1x2x1x1024x64xf32>
  %e6 = tensor.empty() : tensor<1x2x4x1024x64xf32>
  %b7 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%u5 : tensor<1x2x1x1024x64xf32>) outs(%e6 : tensor<1x2x4x1024x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x4x1024x64xf32>
  %r8 = tensor.collapse_shape %b7 [[0], [1, 2], [3], [4]] : tensor<1x2x4x1024x64xf32> into tensor<1x8x1024x64xf32>
  %e10 = tensor.empty() : tensor<1x8x64x1024xf32>
  %kt9 = linalg.transpose ins(%r4 : tensor<1x8x1024x64xf32>) outs(%e10 : tensor<1x8x64x1024xf32>) permutation = [0, 1, 3, 2]
  %c11 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x8x1x64xf32> into tensor<8x1x64xf32>
  %c12 = tensor.collapse_shape %kt9 [[0, 1], [2], [3]] : tensor<1x8x64x1024xf32> into tensor<8x64x1024xf32>
  %e14 = tensor.empty() : tensor<8x1x1024xf32>
  %f13 = linalg.fill ins(%zero : f32) outs(%e14 : tensor<8x1x1024xf32>) -> tensor<8x1x1024xf32>
  %mm15 = linalg.batch_matmul ins(%c11, %c12 : tensor<8x1x64xf32>, tensor<8x64x1024xf32>) outs(%f13 : tensor<8x1x1024xf32>) -> tensor<8x1x1024xf32>
  %x16 = tensor.expand_shape %mm15 [[0, 1], [2], [3]] output_shape [1, 8, 1, 1024] : tensor<8x1x1024xf32> into tensor<1x8x1x1024xf32>
  %e18 = tensor.empty() : tensor<1x8x1x1024xf32>
  %g17 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x16 : tensor<1x8x1x1024xf32>) outs(%e18 : tensor<1x8x1x1024xf32>) {
  ^bb0(%a0: f32, %out: f32):
    %t = arith.truncf %scale : f64 to f32
    %r = arith.mulf %a0, %t : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1024xf32>
  %e20 = tensor.empty() : tensor<1x8x1xf32>
  %f19 = linalg.fill ins(%ninf : f32) outs(%e20 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %g21 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%g17 : tensor<1x8x1x1024xf32>) outs(%f19 : tensor<1x8x1xf32>) {
  ^bb0(%a0: f32, %out: f32):
    %r = arith.maximumf %a0, %out : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1xf32>
  %k22 = tensor.expand_shape %g21 [[0], [1], [2, 3]] output_shape [1, 8, 1, 1] : tensor<1x8x1xf32> into tensor<1x8x1x1xf32>
  %e24 = tensor.empty() : tensor<1x8x1x1024xf32>
  %g23 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%g17, %k22 : tensor<1x8x1x1024xf32>, tensor<1x8x1x1xf32>) outs(%e24 : tensor<1x8x1x1024xf32>) {
  ^bb0(%a0: f32, %a1: f32, %out: f32):
    %r = arith.subf %a0, %a1 : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1024xf32>
  %e26 = tensor.empty() : tensor<1x8x1x1024xf32>
  %g25 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%g23 : tensor<1x8x1x1024xf32>) outs(%e26 : tensor<1x8x1x1024xf32>) {
  ^bb0(%a0: f32, %out: f32):
    %r = math.exp %a0 : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1024xf32>
  %e28 = tensor.empty() : tensor<1x8x1xf32>
  %f27 = linalg.fill ins(%zero : f32) outs(%e28 : tensor<1x8x1xf32>) -> tensor<1x8x1xf32>
  %g29 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%g25 : tensor<1x8x1x1024xf32>) outs(%f27 : tensor<1x8x1xf32>) {
  ^bb0(%a0: f32, %out: f32):
    %r = arith.addf %a0, %out : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1xf32>
  %k30 = tensor.expand_shape %g29 [[0], [1], [2, 3]] output_shape [1, 8, 1, 1] : tensor<1x8x1xf32> into tensor<1x8x1x1xf32>
  %e32 = tensor.empty() : tensor<1x8x1x1024xf32>
  %g31 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%g25, %k30 : tensor<1x8x1x1024xf32>, tensor<1x8x1x1xf32>) outs(%e32 : tensor<1x8x1x1024xf32>) {
  ^bb0(%a0: f32, %a1: f32, %out: f32):
    %r = arith.divf %a0, %a1 : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x1024xf32>
  %c33 = tensor.collapse_shape %g31 [[0, 1], [2], [3]] : tensor<1x8x1x1024xf32> into tensor<8x1x1024xf32>
  %c34 = tensor.collapse_shape %r8 [[0, 1], [2], [3]] : tensor<1x8x1024x64xf32> into tensor<8x1024x64xf32>
  %e36 = tensor.empty() : tensor<8x1x64xf32>
  %f35 = linalg.fill ins(%zero : f32) outs(%e36 : tensor<8x1x64xf32>) -> tensor<8x1x64xf32>
  %mm37 = linalg.batch_matmul ins(%c33, %c34 : tensor<8x1x1024xf32>, tensor<8x1024x64xf32>) outs(%f35 : tensor<8x1x64xf32>) -> tensor<8x1x64xf32>
  %x38 = tensor.expand_shape %mm37 [[0, 1], [2], [3]] output_shape [1, 8, 1, 64] : tensor<8x1x64xf32> into tensor<1x8x1x64xf32>
  return %x38 : tensor<1x8x1x64xf32>
}
