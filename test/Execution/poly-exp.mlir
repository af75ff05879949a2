// Checks attn.poly_exp bit for bit against the float32 NumPy evaluation of
// the same formula (ALGORITHMS.md §5): the cubic with no threshold on a
// dynamic 2-D tensor whose inputs include 0, -0, -inf, NaN, positive
// numbers, exact powers of two and values below the f32 normal range.
// RUN: %check-attn %s --function=cubic --op=poly_exp --input=100x37

// Checks that the cubic stays within 2e-4 relative of exp on [-20, 0]
// (measured: 1.9e-4), bit-exact as well.
// RUN: %check-attn %s --function=cubic --op=poly_exp --input=2000x37 --range=-20,0 --exp-bound=2e-4

// Checks the quadratic with the sparsification threshold n_max = 12 on a
// rank-3 tensor whose size is no multiple of the 16-lane chunks.
// RUN: %check-attn %s --function=quadratic --op=poly_exp --input=3x5x7 --degree=2 --n-max=12

// Checks explicit coefficients on f16 (computed in f32, rounded once).
// RUN: %check-attn %s --function=custom_f16 --op=poly_exp --input=4x64 --dtype=f16 --coefficients=1.0,-0.6875,0.1875 --degree=2

func.func @cubic(%x: tensor<?x37xf32>) -> tensor<?x37xf32> {
  %y = attn.poly_exp %x : tensor<?x37xf32>
  return %y : tensor<?x37xf32>
}

func.func @quadratic(%x: tensor<3x5x7xf32>) -> tensor<3x5x7xf32> {
  %y = attn.poly_exp %x {degree = 2, n_max = 12} : tensor<3x5x7xf32>
  return %y : tensor<3x5x7xf32>
}

func.func @custom_f16(%x: tensor<4x64xf16>) -> tensor<4x64xf16> {
  %y = attn.poly_exp %x {degree = 2, coefficients = array<f32: 1.0, -0.6875, 0.1875>}
      : tensor<4x64xf16>
  return %y : tensor<4x64xf16>
}
