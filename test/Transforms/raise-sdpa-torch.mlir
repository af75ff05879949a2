// RUN: attn-opt %s --attn-raise-sdpa --canonicalize --split-input-file | FileCheck %s

// Checks that attention in the form torch-mlir lowers
// torch.nn.functional.scaled_dot_product_attention to (linalg-on-tensors):
// K transposed on 4-D, batch_matmul on [B*H, L, D] between collapse_shape
// and expand_shape, the scale as a multiply by an f64 constant truncated in
// the body, and the decomposed softmax (keepdim max, subtract, exp, keepdim
// sum, divide, with (d0, d1, d2, 0) broadcasts) becomes one attn.sdpa.

#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map_row = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#map_red_in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map_red_out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>

// CHECK-LABEL: func.func @torch_sdpa(
// CHECK-SAME:      %[[Q:.*]]: tensor<2x8x128x64xf32>, %[[K:.*]]: tensor<2x8x128x64xf32>, %[[V:.*]]: tensor<2x8x128x64xf32>)
// CHECK-NEXT:    %[[O:.*]] = attn.sdpa %[[Q]], %[[K]], %[[V]] scale(1.250000e-01) : tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32> -> tensor<2x8x128x64xf32>
// CHECK-NEXT:    return %[[O]]
func.func @torch_sdpa(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x128x64xf32>,
                      %v: tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 1.250000e-01 : f64
  // k.transpose(-2, -1)
  %e0 = tensor.empty() : tensor<2x8x64x128xf32>
  %kt = linalg.transpose ins(%k : tensor<2x8x128x64xf32>)
      outs(%e0 : tensor<2x8x64x128xf32>) permutation = [0, 1, 3, 2]
  // q @ kT
  %qc = tensor.collapse_shape %q [[0, 1], [2], [3]]
      : tensor<2x8x128x64xf32> into tensor<16x128x64xf32>
  %ktc = tensor.collapse_shape %kt [[0, 1], [2], [3]]
      : tensor<2x8x64x128xf32> into tensor<16x64x128xf32>
  %e1 = tensor.empty() : tensor<16x128x128xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<16x128x128xf32>) -> tensor<16x128x128xf32>
  %s3 = linalg.batch_matmul ins(%qc, %ktc : tensor<16x128x64xf32>, tensor<16x64x128xf32>)
      outs(%f1 : tensor<16x128x128xf32>) -> tensor<16x128x128xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [2, 8, 128, 128]
      : tensor<16x128x128xf32> into tensor<2x8x128x128xf32>
  // * scale
  %e2 = tensor.empty() : tensor<2x8x128x128xf32>
  %scaled = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x8x128x128xf32>) outs(%e2 : tensor<2x8x128x128xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = arith.truncf %scale : f64 to f32
    %m = arith.mulf %in, %t : f32
    linalg.yield %m : f32
  } -> tensor<2x8x128x128xf32>
  // softmax(dim=-1): amax keepdim
  %e3 = tensor.empty() : tensor<2x8x128xf32>
  %f3 = linalg.fill ins(%ninf : f32) outs(%e3 : tensor<2x8x128xf32>) -> tensor<2x8x128xf32>
  %max = linalg.generic {indexing_maps = [#map_red_in, #map_red_out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%scaled : tensor<2x8x128x128xf32>) outs(%f3 : tensor<2x8x128xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<2x8x128xf32>
  %maxk = tensor.expand_shape %max [[0], [1], [2, 3]] output_shape [2, 8, 128, 1]
      : tensor<2x8x128xf32> into tensor<2x8x128x1xf32>
  %sub = linalg.generic {indexing_maps = [#map, #map_row, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%scaled, %maxk : tensor<2x8x128x128xf32>, tensor<2x8x128x1xf32>) outs(%e2 : tensor<2x8x128x128xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %d = arith.subf %in, %in1 : f32
    linalg.yield %d : f32
  } -> tensor<2x8x128x128xf32>
  %exp = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sub : tensor<2x8x128x128xf32>) outs(%e2 : tensor<2x8x128x128xf32>) {
  ^bb0(%in: f32, %out: f32):
    %x = math.exp %in : f32
    linalg.yield %x : f32
  } -> tensor<2x8x128x128xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x8x128xf32>) -> tensor<2x8x128xf32>
  %sum = linalg.generic {indexing_maps = [#map_red_in, #map_red_out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%exp : tensor<2x8x128x128xf32>) outs(%f4 : tensor<2x8x128xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<2x8x128xf32>
  %sumk = tensor.expand_shape %sum [[0], [1], [2, 3]] output_shape [2, 8, 128, 1]
      : tensor<2x8x128xf32> into tensor<2x8x128x1xf32>
  %p = linalg.generic {indexing_maps = [#map, #map_row, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%exp, %sumk : tensor<2x8x128x128xf32>, tensor<2x8x128x1xf32>) outs(%e2 : tensor<2x8x128x128xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %d = arith.divf %in, %in1 : f32
    linalg.yield %d : f32
  } -> tensor<2x8x128x128xf32>
  // @ v
  %pc = tensor.collapse_shape %p [[0, 1], [2], [3]]
      : tensor<2x8x128x128xf32> into tensor<16x128x128xf32>
  %vc = tensor.collapse_shape %v [[0, 1], [2], [3]]
      : tensor<2x8x128x64xf32> into tensor<16x128x64xf32>
  %e5 = tensor.empty() : tensor<16x128x64xf32>
  %f5 = linalg.fill ins(%zero : f32) outs(%e5 : tensor<16x128x64xf32>) -> tensor<16x128x64xf32>
  %o3 = linalg.batch_matmul ins(%pc, %vc : tensor<16x128x128xf32>, tensor<16x128x64xf32>)
      outs(%f5 : tensor<16x128x64xf32>) -> tensor<16x128x64xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 8, 128, 64]
      : tensor<16x128x64xf32> into tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}
