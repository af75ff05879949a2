// Checks attn.topk against NumPy exactly (values and indices): random rows
// with NaNs (ranked as -inf), a row length that is not a multiple of the
// 16-wide vector chunk, i64 indices.
// RUN: %check-attn %s --function=largest --op=topk --input=3x5x301 --top-k=20

// Checks ties: entries drawn from the integers -3..3 tie everywhere, and
// ties go to the lower index; by magnitude, with i32 indices.
// RUN: %check-attn %s --function=largest --op=topk --ties --input=3x5x301 --top-k=20
// RUN: %check-attn %s --function=magnitude --op=topk --ties --input=3x5x301 --top-k=20 --magnitude

// Checks a run-time k (here n / 4 = 75 of a dynamic row) on a rank-1 input.
// RUN: %check-attn %s --function=dynamic_k --op=topk --ties --input=300 --top-k=75

func.func @largest(%x: tensor<3x5x301xf32>)
    -> (tensor<3x5x20xf32>, tensor<3x5x20xi64>) {
  %v, %i = attn.topk %x
      : tensor<3x5x301xf32> -> tensor<3x5x20xf32>, tensor<3x5x20xi64>
  return %v, %i : tensor<3x5x20xf32>, tensor<3x5x20xi64>
}

func.func @magnitude(%x: tensor<3x5x301xf32>)
    -> (tensor<3x5x20xf32>, tensor<3x5x20xi32>) {
  %v, %i = attn.topk %x magnitude
      : tensor<3x5x301xf32> -> tensor<3x5x20xf32>, tensor<3x5x20xi32>
  return %v, %i : tensor<3x5x20xf32>, tensor<3x5x20xi32>
}

func.func @dynamic_k(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xi64>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %k = arith.divui %n, %c4 : index
  %v, %i = attn.topk %x k(%k) : tensor<?xf32> -> tensor<?xf32>, tensor<?xi64>
  return %v, %i : tensor<?xf32>, tensor<?xi64>
}
