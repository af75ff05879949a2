// Checks attn.lsh_sort_bucket against the NumPy reference of ALGORITHMS.md
// §4, exactly: small-integer rows and projections, so that many dot
// products are exactly 0 (bit 0) and many rows share a key (the stable
// order decides); N = 100 is no multiple of anything; i32 results.
// RUN: %check-attn %s --function=ties --op=lsh --input=2x3x100x8 --projections=8x5 --ties

// Checks Gaussian rows with 7 projections (the HyperAttention default), a
// dynamic row count and i64 results.
// RUN: %check-attn %s --function=gaussian --op=lsh --input=1x2x1000x64 --projections=64x7

// Checks the largest key space (16 projections, 65536 keys) on a plain
// [N, D] input (no leading dims).
// RUN: %check-attn %s --function=wide --op=lsh --input=300x32 --projections=32x16

// Checks attn.lsh_hash followed by attn.lsh_sort against the same
// reference, with the ties of small-integer rows.
// RUN: %check-attn %s --function=hash_then_sort --op=lsh --input=2x3x100x8 --projections=8x5 --ties

func.func @ties(%x: tensor<2x3x100x8xf32>, %r: tensor<8x5xf32>)
    -> (tensor<2x3x100xi32>, tensor<2x3x100xi32>) {
  %perm, %rank = attn.lsh_sort_bucket %x, %r
      : tensor<2x3x100x8xf32>, tensor<8x5xf32>
      -> tensor<2x3x100xi32>, tensor<2x3x100xi32>
  return %perm, %rank : tensor<2x3x100xi32>, tensor<2x3x100xi32>
}

func.func @gaussian(%x: tensor<1x2x?x64xf32>, %r: tensor<64x7xf32>)
    -> (tensor<1x2x?xi64>, tensor<1x2x?xi64>) {
  %perm, %rank = attn.lsh_sort_bucket %x, %r
      : tensor<1x2x?x64xf32>, tensor<64x7xf32>
      -> tensor<1x2x?xi64>, tensor<1x2x?xi64>
  return %perm, %rank : tensor<1x2x?xi64>, tensor<1x2x?xi64>
}

func.func @wide(%x: tensor<?x32xf32>, %r: tensor<32x16xf32>)
    -> (tensor<?xi32>, tensor<?xi32>) {
  %perm, %rank = attn.lsh_sort_bucket %x, %r
      : tensor<?x32xf32>, tensor<32x16xf32> -> tensor<?xi32>, tensor<?xi32>
  return %perm, %rank : tensor<?xi32>, tensor<?xi32>
}

func.func @hash_then_sort(%x: tensor<2x3x100x8xf32>, %r: tensor<8x5xf32>)
    -> (tensor<2x3x100xi32>, tensor<2x3x100xi32>) {
  %keys = attn.lsh_hash %x, %r
      : tensor<2x3x100x8xf32>, tensor<8x5xf32> -> tensor<2x3x100xi32>
  %perm, %rank = attn.lsh_sort %keys {bits = 5}
      : tensor<2x3x100xi32> -> tensor<2x3x100xi32>, tensor<2x3x100xi32>
  return %perm, %rank : tensor<2x3x100xi32>, tensor<2x3x100xi32>
}
