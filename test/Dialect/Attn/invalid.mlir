// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Checks that a query of the wrong rank is named.
func.func @query_rank(%q: tensor<4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                      %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query must have rank 4 ([B, Hq, Lq, D]), got rank 3}}
  %o = attn.sdpa %q, %k, %v : tensor<4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that a key of the wrong rank is named.
func.func @key_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<4x8x16xf32>,
                    %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{key must have rank 4 ([B, Hkv, Lk, D]), got rank 3}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that a value of the wrong rank is named.
func.func @value_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                      %v: tensor<1x4x8x16x1xf32>) {
  // expected-error @+1 {{value must have rank 4 ([B, Hkv, Lk, Dv]), got rank 5}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16x1xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that head counts must be static.
func.func @dynamic_heads(%q: tensor<1x?x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                         %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query head count (dim 1) must be static}}
  %o = attn.sdpa %q, %k, %v : tensor<1x?x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x?x8x16xf32>
  return
}

// -----

// Checks that head dims must be static.
func.func @dynamic_head_dim(%q: tensor<1x4x8x?xf32>, %k: tensor<1x4x8x16xf32>,
                            %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query head dim (dim 3) must be static}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x?xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that query heads must be a multiple of key/value heads.
func.func @heads_not_dividing(%q: tensor<1x6x8x16xf32>,
                              %k: tensor<1x4x8x16xf32>,
                              %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %o = attn.sdpa %q, %k, %v : tensor<1x6x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x6x8x16xf32>
  return
}

// -----

// Checks that key and value head counts must agree.
func.func @kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                    %v: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{key heads (4) and value heads (2) differ}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x2x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that the query and key head dims (D) must agree.
func.func @head_dim(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x32xf32>,
                    %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query head dim (16) does not match key head dim (32)}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x32xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that the output's last dim must be the value head dim (Dv).
func.func @value_dim(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                     %v: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{output shape must be [B, Hq, Lq, Dv] = [1, 4, 8, 32], got 'tensor<1x4x8x16xf32>'}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x32xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that static batch sizes must agree.
func.func @batch(%q: tensor<2x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                 %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{batch sizes differ: query 2, key 1, value 1}}
  %o = attn.sdpa %q, %k, %v : tensor<2x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<2x4x8x16xf32>
  return
}

// -----

// Checks that static key and value lengths must agree.
func.func @kv_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                     %v: tensor<1x4x9x16xf32>) {
  // expected-error @+1 {{key length (8) and value length (9) differ}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x9x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that query, key and value must share one element type.
func.func @element_types(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf16>,
                         %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{query, key and value element types differ: 'f32', 'f16', 'f32'}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf16>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that integer operands are refused by the type constraint.
func.func @integer_query(%q: tensor<1x4x8x16xi8>, %k: tensor<1x4x8x16xi8>,
                         %v: tensor<1x4x8x16xi8>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %o = "attn.sdpa"(%q, %k, %v) : (tensor<1x4x8x16xi8>, tensor<1x4x8x16xi8>,
      tensor<1x4x8x16xi8>) -> tensor<1x4x8x16xi8>
  return
}

// -----

// Checks that the output keeps the query's element type.
func.func @output_type(%q: tensor<1x4x8x16xf16>, %k: tensor<1x4x8x16xf16>,
                       %v: tensor<1x4x8x16xf16>) {
  // expected-error @+1 {{output element type 'f32' does not match query element type 'f16'}}
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>,
      tensor<1x4x8x16xf16> -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that the LSE must be [B, Hq, Lq].
func.func @lse_shape(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                     %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{lse shape must be [B, Hq, Lq] = [1, 4, 8], got 'tensor<1x4x9xf32>'}}
  %o, %l = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x8x16xf32>, tensor<1x4x9xf32>
  return
}

// -----

// Checks that the LSE must be f32.
func.func @lse_type(%q: tensor<1x4x8x16xf16>, %k: tensor<1x4x8x16xf16>,
                    %v: tensor<1x4x8x16xf16>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit float values}}
  %o, %l = attn.sdpa %q, %k, %v : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>,
      tensor<1x4x8x16xf16> -> tensor<1x4x8x16xf16>, tensor<1x4x8xf16>
  return
}

// -----

// Checks that a mask dim that is neither 1 nor the target size is refused.
func.func @mask_broadcast(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x10x16xf32>,
                          %v: tensor<1x4x10x16xf32>, %m: tensor<8x9xf32>) {
  // expected-error @+1 {{mask of shape 'tensor<8x9xf32>' is not broadcastable to [B, Hq, Lq, Lk] = [1, 4, 8, 10]: dim 1 is 9, expected 1 or 10}}
  %o = attn.sdpa %q, %k, %v mask(%m : tensor<8x9xf32>)
      : tensor<1x4x8x16xf32>, tensor<1x4x10x16xf32>, tensor<1x4x10x16xf32>
      -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that a mask must have rank 2 to 4.
func.func @mask_rank(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                     %v: tensor<1x4x8x16xf32>, %m: tensor<8xi1>) {
  // expected-error @+1 {{mask must have rank 2 to 4, got rank 1}}
  %o = attn.sdpa %q, %k, %v mask(%m : tensor<8xi1>)
      : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
      -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that an integer mask other than i1 is refused.
func.func @mask_type(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                     %v: tensor<1x4x8x16xf32>, %m: tensor<8x8xi8>) {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type or 1-bit signless integer values}}
  %o = "attn.sdpa"(%q, %k, %v, %m)
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>,
         tensor<8x8xi8>) -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that a non-finite scale is refused.
func.func @scale(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>,
                 %v: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{scale must be finite}}
  %o = "attn.sdpa"(%q, %k, %v) <{scale = 0x7F800000 : f32}>
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
      -> tensor<1x4x8x16xf32>
  return
}

// -----

// Checks that attn.merge wants LSEs shaped like the outputs minus Dv.
func.func @merge_lse_shape(%o1: tensor<2x8x64xf32>, %l1: tensor<2x9xf32>,
                           %o2: tensor<2x8x64xf32>, %l2: tensor<2x9xf32>) {
  // expected-error @+1 {{lse shape 'tensor<2x9xf32>' must be the output shape 'tensor<2x8x64xf32>' without its last dimension}}
  %o, %l = attn.merge %o1, %l1, %o2, %l2 : tensor<2x8x64xf32>, tensor<2x9xf32>
  return
}

// -----

// Checks that attn.merge wants both partial outputs of one type.
func.func @merge_types(%o1: tensor<2x8x64xf32>, %l1: tensor<2x8xf32>,
                       %o2: tensor<2x8x64xf16>, %l2: tensor<2x8xf32>) {
  // expected-error @+1 {{all of {out1, out2, output} have same type}}
  %o, %l = "attn.merge"(%o1, %l1, %o2, %l2)
      : (tensor<2x8x64xf32>, tensor<2x8xf32>, tensor<2x8x64xf16>,
         tensor<2x8xf32>) -> (tensor<2x8x64xf32>, tensor<2x8xf32>)
  return
}

// -----

// Checks that a static k larger than the row is refused.
func.func @topk_k_too_large(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{k (9) exceeds the input's last dim (8)}}
  %v, %i = attn.topk %x : tensor<4x8xf32> -> tensor<4x9xf32>, tensor<4x9xi64>
  return
}

// -----

// Checks that a dynamic result length needs the k operand.
func.func @topk_missing_k(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{give the `k` operand exactly when that dimension is dynamic}}
  %v, %i = attn.topk %x : tensor<4x8xf32> -> tensor<4x?xf32>, tensor<4x?xi64>
  return
}

// -----

// Checks that a k operand next to a static result length is refused.
func.func @topk_extra_k(%x: tensor<4x8xf32>, %k: index) {
  // expected-error @+1 {{give the `k` operand exactly when that dimension is dynamic}}
  %v, %i = attn.topk %x k(%k) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi64>
  return
}

// -----

// Checks that values and indices must have one shape.
func.func @topk_shapes(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{values 'tensor<4x2xf32>' and indices 'tensor<4x3xi64>' must have one shape}}
  %v, %i = attn.topk %x : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x3xi64>
  return
}

// -----

// Checks that the leading result dims must match the input's.
func.func @topk_rows(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result dim 0 is 3 but input dim 0 is 4}}
  %v, %i = attn.topk %x : tensor<4x8xf32> -> tensor<3x2xf32>, tensor<3x2xi64>
  return
}

// -----

// Checks that a gather axis beyond the source rank is refused.
func.func @gather_axis(%s: tensor<2x8x16xf32>, %i: tensor<2x8x4xi64>) {
  // expected-error @+1 {{axis 3 is out of range for source 'tensor<2x8x16xf32>'}}
  %r = attn.gather %s[%i] axis(3) : tensor<2x8x16xf32>, tensor<2x8x4xi64> -> tensor<2x8x4xf32>
  return
}

// -----

// Checks that index batch dims must equal the source's or be 1.
func.func @gather_batch(%s: tensor<2x8x16xf32>, %i: tensor<3x4xi64>) {
  // expected-error @+1 {{indices dim 0 is 3, expected 1 or the source's 2}}
  %r = attn.gather %s[%i] axis(1) : tensor<2x8x16xf32>, tensor<3x4xi64> -> tensor<2x4x16xf32>
  return
}

// -----

// Checks that the gather result shape is spelled out when wrong.
func.func @gather_result(%s: tensor<2x8x16xf32>, %i: tensor<2x4xi64>) {
  // expected-error @+1 {{result shape must be source[:axis] ++ indices[axis:] ++ source[axis+1:] = [2, 4, 16], got 'tensor<2x4x8xf32>'}}
  %r = attn.gather %s[%i] axis(1) : tensor<2x8x16xf32>, tensor<2x4xi64> -> tensor<2x4x8xf32>
  return
}

// -----

// Checks that a SparQ rank above the head dim is refused.
func.func @sparq_rank(%q: tensor<1x4x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                      %v: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{rank (64) exceeds the head dim (32)}}
  %o = attn.sparq %q, %k, %v rank(64) top_k(4) : tensor<1x4x1x32xf32>,
      tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x1x32xf32>
  return
}

// -----

// Checks that top_k = 0 is refused.
func.func @sparq_top_k(%q: tensor<1x4x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                       %v: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{attribute 'topK' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o = attn.sparq %q, %k, %v rank(4) top_k(0) : tensor<1x4x1x32xf32>,
      tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x1x32xf32>
  return
}

// -----

// Checks that a local window larger than top_k is refused.
func.func @sparq_window(%q: tensor<1x4x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                        %v: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{local_window (8) exceeds top_k (4)}}
  %o = attn.sparq %q, %k, %v rank(4) top_k(4) local_window(8)
      : tensor<1x4x1x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>
      -> tensor<1x4x1x32xf32>
  return
}

// -----

// Checks that a transposed key cache of the wrong shape is named.
func.func @sparq_key_transposed(%q: tensor<1x4x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                                %v: tensor<1x4x8x32xf32>, %kt: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{key_transposed must be [B, Hkv, D, Lk] = [1, 4, 32, 8] of 'f32', got 'tensor<1x4x8x32xf32>'}}
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x4x8x32xf32>)
      rank(4) top_k(4) : tensor<1x4x1x32xf32>, tensor<1x4x8x32xf32>,
      tensor<1x4x8x32xf32> -> tensor<1x4x1x32xf32>
  return
}

// -----

// Checks that a value mean of the wrong shape is named.
func.func @sparq_value_mean(%q: tensor<1x4x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                            %v: tensor<1x4x8x16xf32>, %vm: tensor<1x4x32xf32>) {
  // expected-error @+1 {{value_mean must be [B, Hkv, Dv] = [1, 4, 16] of 'f32', got 'tensor<1x4x32xf32>'}}
  %o = attn.sparq %q, %k, %v value_mean(%vm : tensor<1x4x32xf32>)
      rank(4) top_k(4) : tensor<1x4x1x32xf32>, tensor<1x4x8x32xf32>,
      tensor<1x4x8x16xf32> -> tensor<1x4x1x16xf32>
  return
}

// -----

// Checks that SparQ shares the shape checks of attn.sdpa.
func.func @sparq_heads(%q: tensor<1x6x1x32xf32>, %k: tensor<1x4x8x32xf32>,
                       %v: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %o = attn.sparq %q, %k, %v rank(4) top_k(4) : tensor<1x6x1x32xf32>,
      tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x6x1x32xf32>
  return
}

// -----

// Checks that the projections must have one row per input component.
func.func @lsh_projection_rows(%x: tensor<2x100x64xf32>, %r: tensor<32x7xf32>) {
  // expected-error @+1 {{projections have 32 rows, expected the input's row length 64}}
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<2x100x64xf32>, tensor<32x7xf32> -> tensor<2x100xi32>
  return
}

// -----

// Checks that more than 16 projections (65536 keys) are refused.
func.func @lsh_too_many_projections(%x: tensor<2x100x8xf32>,
                                    %r: tensor<8x17xf32>) {
  // expected-error @+1 {{the number of projections must be static and in [1, 16], got 17}}
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<2x100x8xf32>, tensor<8x17xf32> -> tensor<2x100xi32>
  return
}

// -----

// Checks that a dynamic number of projections is refused (the key space of
// the counting sort must be known).
func.func @lsh_dynamic_projections(%x: tensor<2x100x8xf32>,
                                   %r: tensor<8x?xf32>) {
  // expected-error @+1 {{the number of projections must be static and in [1, 16], got ?}}
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<2x100x8xf32>, tensor<8x?xf32> -> tensor<2x100xi32>
  return
}

// -----

// Checks that the permutation has the shape of the rows.
func.func @lsh_result_shape(%x: tensor<2x100x8xf32>, %r: tensor<8x7xf32>) {
  // expected-error @+1 {{result 'tensor<2x99xi32>' must have the input's shape without its last dim}}
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<2x100x8xf32>, tensor<8x7xf32> -> tensor<2x99xi32>
  return
}

// -----

// Checks that the rank result has the permutation's type.
func.func @lsh_rank_type(%x: tensor<2x100x8xf32>, %r: tensor<8x7xf32>) {
  // expected-error @+1 {{rank type 'tensor<2x100xi64>' differs from permutation type 'tensor<2x100xi32>'}}
  %p, %q = attn.lsh_sort_bucket %x, %r
      : tensor<2x100x8xf32>, tensor<8x7xf32> -> tensor<2x100xi32>, tensor<2x100xi64>
  return
}

// -----

// Checks that attn.lsh_hash checks its projections as attn.lsh_sort_bucket
// does.
func.func @lsh_hash_projection_rows(%x: tensor<2x100x64xf32>,
                                    %r: tensor<32x7xf32>) {
  // expected-error @+1 {{projections have 32 rows, expected the input's row length 64}}
  %k = attn.lsh_hash %x, %r
      : tensor<2x100x64xf32>, tensor<32x7xf32> -> tensor<2x100xi32>
  return
}

// -----

// Checks that attn.lsh_hash gives one key per row.
func.func @lsh_hash_shape(%x: tensor<2x100x8xf32>, %r: tensor<8x7xf32>) {
  // expected-error @+1 {{result 'tensor<2x100x8xi32>' must have the input's shape without its last dim}}
  %k = attn.lsh_hash %x, %r
      : tensor<2x100x8xf32>, tensor<8x7xf32> -> tensor<2x100x8xi32>
  return
}

// -----

// Checks that attn.lsh_sort's results have the keys' shape.
func.func @lsh_sort_shape(%keys: tensor<2x100xi32>) {
  // expected-error @+1 {{result 'tensor<2x99xi32>' must have the keys' shape}}
  %p = attn.lsh_sort %keys {bits = 7} : tensor<2x100xi32> -> tensor<2x99xi32>
  return
}

// -----

// Checks that attn.lsh_sort's rank has the permutation's type.
func.func @lsh_sort_rank_type(%keys: tensor<2x100xi32>) {
  // expected-error @+1 {{rank type 'tensor<2x100xi64>' differs from permutation type 'tensor<2x100xi32>'}}
  %p, %r = attn.lsh_sort %keys {bits = 7}
      : tensor<2x100xi32> -> tensor<2x100xi32>, tensor<2x100xi64>
  return
}

// -----

// Checks that attn.lsh_sort's key bits are in [1, 16].
func.func @lsh_sort_bits(%keys: tensor<2x100xi32>) {
  // expected-error @+1 {{attribute 'bits' failed to satisfy constraint}}
  %p = attn.lsh_sort %keys {bits = 17} : tensor<2x100xi32> -> tensor<2x100xi32>
  return
}

// -----

// Checks that a row needs a length: a 1-D input is refused.
func.func @lsh_rank1(%x: tensor<8xf32>, %r: tensor<8x7xf32>) {
  // expected-error @+1 {{input must be [..., N, D], got 'tensor<8xf32>'}}
  %p = attn.lsh_sort_bucket %x, %r : tensor<8xf32>, tensor<8x7xf32> -> tensor<i32>
  return
}

// -----

// Checks that attn.poly_exp rejects a degree other than 2 or 3.
func.func @poly_exp_degree(%x: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'degree' failed to satisfy constraint}}
  %y = attn.poly_exp %x {degree = 4} : tensor<8xf32>
  return
}

// -----

// Checks that attn.poly_exp needs degree + 1 coefficients.
func.func @poly_exp_coefficients(%x: tensor<8xf32>) {
  // expected-error @+1 {{a degree-3 polynomial needs 4 coefficients, got 3}}
  %y = attn.poly_exp %x {coefficients = array<f32: 1.0, -0.7, 0.2>}
      : tensor<8xf32>
  return
}

// -----

// Checks that attn.poly_exp takes floats only.
func.func @poly_exp_integer(%x: tensor<8xi32>) {
  // expected-error @+1 {{operand #0 must be}}
  %y = attn.poly_exp %x : tensor<8xi32>
  return
}

// -----

// Checks that #attn.poly_exp verifies its degree.
func.func @softmax_exp_degree(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{poly_exp degree must be 2 or 3, got 5}}
  %o = attn.sdpa %q, %q, %q {softmax_exp = #attn.poly_exp<degree = 5>}
      : tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>
      -> tensor<1x1x4x8xf32>
  return
}

// -----

// Checks that attn.quantize rejects bit widths other than 8, 4 and 2.
func.func @quantize_bits(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{bits must be 8, 4 or 2, got 3}}
  %c, %s, %st, %z = attn.quantize %x axis(1) group_size(4) bits(3)
      : tensor<4x8xf32> -> tensor<4x3xi8>, tensor<4x2xf32>, tensor<4x2xi8>,
        tensor<4x2xi8>
  return
}

// -----

// Checks that attn.quantize needs step and zero below 8 bits.
func.func @quantize_missing_step(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{bits 4 needs step and zero tensors}}
  %c, %s = attn.quantize %x axis(1) group_size(4) bits(4)
      : tensor<4x8xf32> -> tensor<4x4xi8>, tensor<4x2xf32>
  return
}

// -----

// Checks that the packed codes' last dim is checked.
func.func @quantize_codes_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{codes dim 1 is 8, expected 2}}
  %c, %s, %st, %z = attn.quantize %x axis(1) group_size(4) bits(2)
      : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x2xi8>,
        tensor<4x2xi8>
  return
}

// -----

// Checks that the scale has one entry per group along the axis.
func.func @quantize_scale_shape(%x: tensor<4x10xf32>) {
  // expected-error @+1 {{scale dim 0 is 4, expected 2}}
  %c, %s = attn.quantize %x axis(0) group_size(3) bits(8)
      : tensor<4x10xf32> -> tensor<4x10xi8>, tensor<4x10xf32>
  return
}

// -----

// Checks that groups along the packed dim must start a byte.
func.func @quantize_group_alignment(%x: tensor<4x12xf32>) {
  // expected-error @+1 {{group_size 6 must be a multiple of 4}}
  %c, %s, %st, %z = attn.quantize %x axis(1) group_size(6) bits(2)
      : tensor<4x12xf32> -> tensor<4x3xi8>, tensor<4x2xf32>, tensor<4x2xi8>,
        tensor<4x2xi8>
  return
}

// -----

// Checks that the axis is in range.
func.func @quantize_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for input of rank 2}}
  %c, %s = attn.quantize %x axis(2) group_size(4) bits(8)
      : tensor<4x8xf32> -> tensor<4x8xi8>, tensor<4x2xf32>
  return
}

// -----

// Checks that low_priority_heads needs 4 bits.
func.func @quantize_low_heads_bits(%x: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{low_priority_heads needs bits 4, got 2}}
  %c, %s, %st, %z = attn.quantize %x axis(3) group_size(8) bits(2)
      low_priority_heads(1)
      : tensor<1x4x8x16xf32> -> tensor<1x4x8x4xi8>, tensor<1x4x8x2xf32>,
        tensor<1x4x8x2xi8>, tensor<1x4x8x2xi8>
  return
}

// -----

// Checks that low_priority_heads cannot exceed the head count.
func.func @quantize_low_heads_count(%x: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{low_priority_heads (5) exceeds the head count (4)}}
  %c, %s, %st, %z = attn.quantize %x axis(3) group_size(8) bits(4)
      low_priority_heads(5)
      : tensor<1x4x8x16xf32> -> tensor<1x4x8x8xi8>, tensor<1x4x8x2xf32>,
        tensor<1x4x8x2xi8>, tensor<1x4x8x2xi8>
  return
}

// -----

// Checks that attn.dequantize at 8 bits takes no step or zero.
func.func @dequantize_extra(%c: tensor<4x8xi8>, %s: tensor<4x2xf32>,
                            %st: tensor<4x2xi8>) {
  // expected-error @+1 {{bits 8 takes no step or zero tensor}}
  %x = attn.dequantize %c, %s, %st, %st axis(1) group_size(4) bits(8)
      : tensor<4x8xi8>, tensor<4x2xf32>, tensor<4x2xi8>, tensor<4x2xi8>
      -> tensor<4x8xf32>
  return
}

// -----

// Checks that attn.quantized_sdpa needs a head dim that is a multiple of
// the group size.
func.func @quantized_sdpa_group(%q: tensor<1x4x1x48xf32>,
    %kc: tensor<1x2x?x48xi8>, %ks: tensor<1x2x?x2xf32>,
    %vc: tensor<1x2x?x48xi8>, %vs: tensor<1x2x?x48xf32>) {
  // expected-error @+1 {{head dim 48 must be a multiple of group_size 32}}
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs) bits(8)
      group_size(32)
      : tensor<1x4x1x48xf32>, key(tensor<1x2x?x48xi8>, tensor<1x2x?x2xf32>),
        value(tensor<1x2x?x48xi8>, tensor<1x2x?x48xf32>)
      -> tensor<1x4x1x48xf32>
  return
}

// -----

// Checks that value scales must be grouped along the keys.
func.func @quantized_sdpa_value_scale(%q: tensor<1x4x1x64xf32>,
    %kc: tensor<1x2x64x64xi8>, %ks: tensor<1x2x64x2xf32>,
    %vc: tensor<1x2x64x64xi8>, %vs: tensor<1x2x64x64xf32>) {
  // expected-error @+1 {{scale dim 2 is 64, expected 2}}
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs) bits(8)
      group_size(32)
      : tensor<1x4x1x64xf32>, key(tensor<1x2x64x64xi8>, tensor<1x2x64x2xf32>),
        value(tensor<1x2x64x64xi8>, tensor<1x2x64x64xf32>)
      -> tensor<1x4x1x64xf32>
  return
}

// -----

// Checks that the quantized op checks heads as attn.sdpa does.
func.func @quantized_sdpa_heads(%q: tensor<1x3x1x64xf32>,
    %kc: tensor<1x2x64x64xi8>, %ks: tensor<1x2x64x2xf32>,
    %vc: tensor<1x2x64x64xi8>, %vs: tensor<1x2x2x64xf32>) {
  // expected-error @+1 {{query heads (3) must be a multiple of key/value heads (2)}}
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs) bits(8)
      group_size(32)
      : tensor<1x3x1x64xf32>, key(tensor<1x2x64x64xi8>, tensor<1x2x64x2xf32>),
        value(tensor<1x2x64x64xi8>, tensor<1x2x2x64xf32>)
      -> tensor<1x3x1x64xf32>
  return
}

// -----

// Checks that low_priority_heads needs groups within a head.
func.func @quantize_low_heads_axis(%x: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{low_priority_heads needs groups along axis 2 or 3 (within a head), got axis 1}}
  %c, %s, %st, %z = attn.quantize %x axis(1) group_size(2) bits(4)
      low_priority_heads(1)
      : tensor<1x4x8x16xf32> -> tensor<1x4x8x8xi8>, tensor<1x2x8x16xf32>,
        tensor<1x2x8x16xi8>, tensor<1x2x8x16xi8>
  return
}
