//===- AttnOps.td - attn dialect ops -----------------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinAttributes.td"

def Attn_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Attn_MaskTensor : RankedTensorOf<[F32, F16, BF16, I1]>;
def Attn_LseTensor : RankedTensorOf<[F32]>;
def Attn_CodeTensor : RankedTensorOf<[I8]>;
def Attn_ScaleTensor : RankedTensorOf<[F32]>;

//===----------------------------------------------------------------------===//
// PolyExpAttr
//===----------------------------------------------------------------------===//

def Attn_PolyExpAttr : AttrDef<Attn_Dialect, "PolyExp"> {
  let mnemonic = "poly_exp";
  let summary = "the polynomial exp an attention softmax uses";
  let description = [{
    Attached to an attention op as `softmax_exp`, makes its softmax weigh
    scores with `attn.poly_exp` of the given `degree` (2 or 3, the standard
    coefficients) and sparsification threshold `n_max` (none when absent)
    in place of `exp`. `--attn-poly-exp` sets it.

    ```mlir
    %o = attn.sdpa %q, %k, %v {softmax_exp = #attn.poly_exp<degree = 3, n_max = 16>}
        : tensor<1x8x512x64xf32>, tensor<1x8x512x64xf32>,
          tensor<1x8x512x64xf32> -> tensor<1x8x512x64xf32>
    ```
  }];
  let parameters = (ins "int64_t":$degree,
      OptionalParameter<"std::optional<int64_t>">:$nMax);
  let assemblyFormat = [{
    `<` `degree` `=` $degree (`,` `n_max` `=` $nMax^)? `>`
  }];
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// SdpaOp
//===----------------------------------------------------------------------===//

def Attn_SdpaOp : Attn_Op<"sdpa", [Pure]> {
  let summary = "dense scaled dot-product attention";
  let description = [{
    Computes `O = softmax(scale * Q K^T + mask) V` per batch and query head,
    and optionally the log-sum-exp of each row of scores.

    - `query` is `[B, Hq, Lq, D]`, `key` is `[B, Hkv, Lk, D]`, `value` is
      `[B, Hkv, Lk, Dv]`; `Hq` must be a multiple of `Hkv` (grouped-query
      attention; `Hkv = 1` is multi-query attention). Query head `h` reads
      key/value head `h / (Hq / Hkv)`. `B`, `Lq` and `Lk` may be dynamic;
      head counts and head dims are static.
    - `mask` (optional) has rank 2 to 4 and broadcasts, aligned on the right,
      to `[B, Hq, Lq, Lk]`: a float mask is added to the scaled scores, an
      `i1` mask keeps the keys where it is true.
    - `scale` defaults to `1/sqrt(D)`.
    - `causal`: query `i` sees key `j` iff `j <= i + (Lk - Lq)` (aligned at
      the bottom right, as with a KV cache).
    - f16 and bf16 inputs accumulate in f32; `output` has the query's element
      type; `lse` (optional, `[B, Hq, Lq]`) is f32.
    - A row with no visible key gives `output = 0` and `lse = -inf`.
    - `softmax_exp` (optional, `#attn.poly_exp`): the softmax uses
      `attn.poly_exp` in place of `exp`.

    Example:

    ```mlir
    // Grouped-query decode step: 32 query heads share 8 key/value heads.
    %o, %lse = attn.sdpa %q, %k, %v causal
        : tensor<1x32x1x128xf16>, tensor<1x8x?x128xf16>,
          tensor<1x8x?x128xf16> -> tensor<1x32x1x128xf16>, tensor<1x32x1xf32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
      Attn_FloatTensor:$value, Optional<Attn_MaskTensor>:$mask,
      OptionalAttr<F32Attr>:$scale, UnitAttr:$causal,
      OptionalAttr<Attn_PolyExpAttr>:$softmax_exp);
  let results = (outs Attn_FloatTensor:$output,
      Optional<Attn_LseTensor>:$lse);

  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`causal` $causal^)? (`scale` `(` $scale^ `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value)
    `->` type($output) (`,` type($lse)^)?
  }];

  let builders = [
    OpBuilder<(ins "Value":$query, "Value":$key, "Value":$value,
      "Value":$mask, "FloatAttr":$scale, "bool":$causal, "bool":$withLse)>
  ];

  let extraClassDeclaration = [{
    /// The scale applied to Q K^T: the `scale` attribute or 1/sqrt(D).
    float getEffectiveScale();
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// MergeOp
//===----------------------------------------------------------------------===//

def Attn_MergeOp : Attn_Op<"merge", [Pure,
    AllTypesMatch<["out1", "out2", "output"]>,
    AllTypesMatch<["lse1", "lse2", "lse"]>]> {
  let summary = "combine two partial attention results through their LSE";
  let description = [{
    Given the results of attention over two disjoint key sets, `(out1,
    lse1)` and `(out2, lse2)`, computes the result over their union:

    ```
    m   = max(lse1, lse2)
    lse = m + log(exp(lse1 - m) + exp(lse2 - m))
    out = exp(lse1 - lse) * out1 + exp(lse2 - lse) * out2
    ```

    Where both log-sum-exps are `-inf` (no visible key on either side) the
    result is `out = 0`, `lse = -inf`. `out1` and `out2` are `[..., Dv]`
    tensors of one type; `lse1` and `lse2` are f32 tensors of one type whose
    shape is that of the outputs without the last dimension.

    Example:

    ```mlir
    %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
        : tensor<2x8x?x64xf32>, tensor<2x8x?xf32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$out1, Attn_LseTensor:$lse1,
      Attn_FloatTensor:$out2, Attn_LseTensor:$lse2);
  let results = (outs Attn_FloatTensor:$output, Attn_LseTensor:$lse);

  let assemblyFormat = [{
    $out1 `,` $lse1 `,` $out2 `,` $lse2 attr-dict
    `:` type($out1) `,` type($lse1)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// TopkOp
//===----------------------------------------------------------------------===//

def Attn_TopkOp : Attn_Op<"topk", [Pure]> {
  let summary = "the k largest entries along the last dimension";
  let description = [{
    Selects, independently for every row of the last dimension of `input`,
    the `k` entries that are largest (or, with `magnitude`, largest in
    absolute value). `values` holds the selected entries themselves (signed,
    also with `magnitude`) and `indices` their positions, both ordered from
    the largest down. Equal keys go to the lower index first, so the result
    is fully determined. NaN entries are never preferred over numbers.

    `k` is the last dimension of the results: static when that dimension is
    static, otherwise given by the `k` operand. It must not exceed the
    length `n` of the row; the verifier checks this when both are static. At
    run time a `k > n` fills the trailing `k - n` places with value 0 and
    index -1.

    The CPU lowering is a selection, not a sort: one pass over the row keeps
    the best `k` so far in a binary heap (O(n log k)), and chunks of the row
    that cannot beat the heap's worst entry are skipped with one vector
    compare.

    Example:

    ```mlir
    // The 16 largest-magnitude components of each query row.
    %vals, %idx = attn.topk %q magnitude
        : tensor<1x32x1x128xf32> -> tensor<1x32x1x16xf32>, tensor<1x32x1x16xi64>
    // A run-time k.
    %v2, %i2 = attn.topk %scores k(%k)
        : tensor<8x?xf32> -> tensor<8x?xf32>, tensor<8x?xi32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$input, Optional<Index>:$k,
      UnitAttr:$magnitude);
  let results = (outs Attn_FloatTensor:$values,
      RankedTensorOf<[I32, I64, Index]>:$indices);

  let assemblyFormat = [{
    $input (`k` `(` $k^ `)`)? (`magnitude` $magnitude^)? attr-dict
    `:` type($input) `->` type($values) `,` type($indices)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// GatherOp
//===----------------------------------------------------------------------===//

def Attn_GatherOp : Attn_Op<"gather", [Pure]> {
  let summary = "gather slices along one dimension by an index tensor";
  let description = [{
    Gathers slices of `source` along dimension `axis`. The dimensions of
    `source` before `axis` are batch dimensions; `indices` starts with the
    same batch dimensions (each either equal to the source's or a static 1
    that broadcasts over it) and continues with any number of index
    dimensions. The result is

    ```
    result[b..., i..., t...] = source[b..., indices[b..., i...], t...]
    ```

    with shape `source[:axis] ++ indices[axis:] ++ source[axis+1:]`. Indices
    outside `[0, source.dim(axis))` are clamped into it, so no index reads
    out of bounds.

    This one shape covers what SparQ needs: the `r` components of every key
    that a query row selected, as rows of the transposed cache
    `Kt[B,H,D,Lk]` (`axis = 2`, indices `[B,H,Lq,r]` give `[B,H,Lq,r,Lk]`),
    and the `k` keys and values a query row selected (`axis = 2` on
    `K[B,H,Lk,D]`, indices `[B,H,Lq,k]` give `[B,H,Lq,k,D]`).

    Example:

    ```mlir
    // The 128 selected keys of every query row of every head.
    %ks = attn.gather %k[%idx] axis(2)
        : tensor<1x8x?x128xf32>, tensor<1x8x4x128xi64> -> tensor<1x8x4x128x128xf32>
    ```
  }];

  let arguments = (ins AnyRankedTensor:$source,
      RankedTensorOf<[I32, I64, Index]>:$indices,
      ConfinedAttr<I64Attr, [IntNonNegative]>:$axis);
  let results = (outs AnyRankedTensor:$result);

  let assemblyFormat = [{
    $source `[` $indices `]` `axis` `(` $axis `)` attr-dict
    `:` type($source) `,` type($indices) `->` type($result)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LshSortBucketOp
//===----------------------------------------------------------------------===//

def Attn_LshSortBucketOp : Attn_Op<"lsh_sort_bucket", [Pure]> {
  let summary = "sort rows by an angular locality-sensitive hash (sortLSH)";
  let description = [{
    Orders the rows of `input` (`[..., N, D]`) so that rows pointing in
    similar directions end up next to each other, as HyperAttention's
    sortLSH does (ALGORITHMS.md §4). With `projections` `R` (`[D, P]`,
    `1 <= P <= 16`), row `x` gets the bits `c_p = (x . R[:, p] > 0)`, the
    code `code = sum_p c_p * 2^p` and the sort key
    `gray(code) = code ^ (code >> 1)` (neighbouring keys differ in one
    hyperplane). Every leading index `[...]` is sorted on its own.

    - `permutation[..., i]` is the row at sorted position `i`: the rows in
      ascending key order, rows of equal key in their original order (a
      stable sort).
    - `rank` (optional second result) is the inverse permutation, the sorted
      position of each row. With buckets of `b` consecutive sorted rows,
      row `j` lies in bucket `rank[..., j] / b`.

    Both results are integer or index tensors of shape `input[:-1]`. The
    lowering is a counting sort on the `P`-bit keys: `O(N * (D * P + 1) +
    2^P)` per row set, no comparison sort.

    Example:

    ```mlir
    // Sort the 4096 keys of each of 8 heads by 7 random hyperplanes.
    %perm, %rank = attn.lsh_sort_bucket %k, %r
        : tensor<1x8x4096x64xf32>, tensor<64x7xf32>
        -> tensor<1x8x4096xi32>, tensor<1x8x4096xi32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$projections);
  let results = (outs RankedTensorOf<[I32, I64, Index]>:$permutation,
      Optional<RankedTensorOf<[I32, I64, Index]>>:$rank);

  let assemblyFormat = [{
    $input `,` $projections attr-dict `:` type($input) `,` type($projections)
    `->` type($permutation) (`,` type($rank)^)?
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LshHashOp
//===----------------------------------------------------------------------===//

def Attn_LshHashOp : Attn_Op<"lsh_hash", [Pure]> {
  let summary = "the Gray-coded angular hash of each row (sortLSH's keys)";
  let description = [{
    The sort keys of `attn.lsh_sort_bucket` alone (ALGORITHMS.md §4): with
    `projections` `R` (`[D, P]`, `1 <= P <= 16`), row `x` of `input`
    (`[..., N, D]`) gets the bits `c_p = (x . R[:, p] > 0)`, the code
    `code = sum_p c_p * 2^p` and the key `gray(code) = code ^ (code >> 1)`,
    an i32 in `[0, 2^P)`. `attn.lsh_sort` orders rows by these keys, so
    `attn.lsh_sort %keys {bits = P}` of `attn.lsh_hash %x, %r` is
    `attn.lsh_sort_bucket %x, %r`. A row's key does not depend on the rows
    beside it: HyperAttention's causal recursion hashes every query and key
    once and sorts each level's segments by their rows' keys.

    Example:

    ```mlir
    %keys = attn.lsh_hash %k, %r
        : tensor<1x8x4096x64xbf16>, tensor<64x7xf32> -> tensor<1x8x4096xi32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$projections);
  let results = (outs RankedTensorOf<[I32]>:$keys);

  let assemblyFormat = [{
    $input `,` $projections attr-dict `:` type($input) `,` type($projections)
    `->` type($keys)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// LshSortOp
//===----------------------------------------------------------------------===//

def Attn_LshSortOp : Attn_Op<"lsh_sort", [Pure]> {
  let summary = "stable counting sort of rows by small integer keys";
  let description = [{
    Orders the rows of each leading index `[...]` of `keys` (`[..., N]`
    i32 in `[0, 2^bits)`, `1 <= bits <= 16`, as `attn.lsh_hash` writes
    them) by ascending key, rows of equal key in their original order.

    - `permutation[..., i]` is the row at sorted position `i`.
    - `rank` (optional second result) is the inverse permutation, the
      sorted position of each row.

    Both results have the shape of `keys`. A key outside `[0, 2^bits)` is
    undefined behaviour. The lowering is a counting sort: `O(N + 2^bits)`
    per row set, no comparison sort.

    Example:

    ```mlir
    %perm, %rank = attn.lsh_sort %keys {bits = 7}
        : tensor<1x8x4096xi32> -> tensor<1x8x4096xi32>, tensor<1x8x4096xi32>
    ```
  }];

  let arguments = (ins RankedTensorOf<[I32]>:$keys,
      ConfinedAttr<I64Attr, [IntMinValue<1>, IntMaxValue<16>]>:$bits);
  let results = (outs RankedTensorOf<[I32, I64, Index]>:$permutation,
      Optional<RankedTensorOf<[I32, I64, Index]>>:$rank);

  let assemblyFormat = [{
    $keys attr-dict `:` type($keys) `->` type($permutation) (`,` type($rank)^)?
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// SparqOp
//===----------------------------------------------------------------------===//

def Attn_SparqOp : Attn_Op<"sparq", [Pure, AttrSizedOperandSegments]> {
  let summary = "SparQ attention: exact attention on keys picked by a low-rank query";
  let description = [{
    Approximates `attn.sdpa` (without a mask) by reading a small part of the
    key/value cache (SparQ, arXiv 2312.04985). Per query row `q` of head `h`
    with key/value head `g = h / G` and visible keys `J`:

    1. `i1` = the `rank` components of largest `|q|` (ties: lower index);
       approximate scores `s^ = softmax_J(q[i1] . K[g, :, i1] / tau)` with
       `tau = sqrt(D * sum|q[i1]| / sum|q|)` (`sqrt(D)` when `q = 0`).
    2. `I2` = the last `local_window` visible keys, plus the keys of largest
       `s^` among the other visible keys, `min(top_k, |J|)` in all (ties:
       lower index). `y` = exact attention of `q` over `I2`, with `scale`
       (default `1/sqrt(D)`).
    3. `alpha = sum over I2 of s^`; `output = alpha * y + (1 - alpha) *
       vmean`, `vmean` the mean of `V[g]` over `J`.

    With `group_shared`, the `G` query heads of a key/value head share `i1`
    (from the sum of their `|q|`) and `I2` (from the sum of their `s^`) at
    each query position; `alpha` stays per head. `causal` has the meaning
    of `attn.sdpa` (bottom-right aligned).

    **The bandwidth form.** Step 1 reads `rank` of the `D` components of
    every key. Models that keep the key cache a second time transposed pass
    it as `key_transposed` (`[B, Hkv, D, Lk]`, the element type of `key`):
    the components are then `rank` contiguous rows. Models that keep a
    running mean of the values pass it as `value_mean` (`[B, Hkv, Dv]`); it
    is then used for every query row, and V is read only at the selected
    keys. Without these operands the components are strided reads of `key`
    and the mean is computed from all of `value`.

    `softmax_exp` (optional, `#attn.poly_exp`) makes both softmaxes use
    `attn.poly_exp` in place of `exp`.

    Element reads per query row and head: dense `2 * Lk * D`, SparQ
    `Lk * rank + 2 * top_k * D` (plus `Dv` for the mean).

    Example:

    ```mlir
    // Decode step, bandwidth form, key/value heads shared by 4 query heads.
    %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x8x128x?xf32>)
        value_mean(%vm : tensor<1x8x128xf32>) rank(16) top_k(128)
        local_window(32) group_shared
        : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32>
        -> tensor<1x32x1x128xf32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
      Attn_FloatTensor:$value, Optional<Attn_FloatTensor>:$keyTransposed,
      Optional<Attn_FloatTensor>:$valueMean,
      ConfinedAttr<I64Attr, [IntPositive]>:$rank,
      ConfinedAttr<I64Attr, [IntPositive]>:$topK,
      OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$localWindow,
      UnitAttr:$groupShared, UnitAttr:$causal, OptionalAttr<F32Attr>:$scale,
      OptionalAttr<Attn_PolyExpAttr>:$softmax_exp);
  let results = (outs Attn_FloatTensor:$output);

  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`key_transposed` `(` $keyTransposed^ `:` type($keyTransposed) `)`)?
    (`value_mean` `(` $valueMean^ `:` type($valueMean) `)`)?
    `rank` `(` $rank `)` `top_k` `(` $topK `)`
    (`local_window` `(` $localWindow^ `)`)? (`group_shared` $groupShared^)?
    (`causal` $causal^)? (`scale` `(` $scale^ `)`)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($output)
  }];

  let extraClassDeclaration = [{
    /// The scale of the exact step: the `scale` attribute or 1/sqrt(D).
    float getEffectiveScale();
    /// The local window, 0 when absent.
    int64_t getLocalWindowSize() {
      return static_cast<int64_t>(getLocalWindow().value_or(0));
    }
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// PolyExpOp
//===----------------------------------------------------------------------===//

def Attn_PolyExpOp : Attn_Op<"poly_exp", [Pure, Elementwise,
    SameOperandsAndResultType]> {
  let summary = "exp of non-positive numbers without an exp unit";
  let description = [{
    Approximates `exp(x)` for `x <= 0` (TurboAttention's SAS), elementwise,
    computing in f32:

    ```
    y = -min(x, 0) * log2(e);  n = floor(y);  f = y - n
    result = 2^-n * p(f)       (p in Horner form: c0 + f*(c1 + f*(c2 + ...)))
    result = 0                 when n >= min(n_max, 127)
    ```

    `2^-n` is built in the exponent bits, so the result is exact in `n`; at
    `n >= 127` (`x < -88`) it would leave the normal f32 range and the
    result is 0. `x > 0` is treated as 0; NaN stays NaN.

    - `degree` (2 or 3, default 3) selects the least-squares fit of `2^-f`
      on `[0, 1)`: cubic `0.999899 - 0.691077 f + 0.230595 f^2 - 0.039510
      f^3` (within 1e-4), quadratic `0.997926 - 0.667377 f + 0.171329 f^2`.
    - `coefficients` (optional, `degree + 1` values, `c0` first) replaces
      the fit.
    - `n_max` (optional): the sparsification threshold; scores more than
      `n_max / log2(e)` below the row max weigh exactly 0.

    The input is a float (f32, f16, bf16) scalar, vector or ranked tensor.

    ```mlir
    %p = attn.poly_exp %s {degree = 2, n_max = 12} : tensor<8x1024xf32>
    ```
  }];

  let arguments = (ins
      AnyTypeOf<[F32, F16, BF16, VectorOfAnyRankOf<[F32, F16, BF16]>,
                 Attn_FloatTensor]>:$input,
      DefaultValuedAttr<ConfinedAttr<I64Attr, [IntMinValue<2>,
                                               IntMaxValue<3>]>, "3">:$degree,
      OptionalAttr<DenseF32ArrayAttr>:$coefficients,
      OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$n_max);
  let results = (outs AnyType:$output);

  let assemblyFormat = "$input attr-dict `:` type($input)";

  let extraClassDeclaration = [{
    /// The polynomial's coefficients, c0 first: `coefficients` or the
    /// standard fit of `degree`.
    SmallVector<float> getEffectiveCoefficients();
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

def Attn_QuantizeOp : Attn_Op<"quantize", [Pure, AttrSizedResultSegments]> {
  let summary = "staged INT8 -> INT4/INT2 group quantization, packed";
  let description = [{
    Quantizes `input` in groups of `group_size` consecutive elements along
    `axis` (the last group of a dimension may be shorter), TurboAttention's
    progressive quantization:

    - Stage 1, INT8 symmetric: `s1 = max|x| / 127`,
      `q8 = clamp(round_half_even(x / s1), -127, 127)`; `q8 = 0` when
      `s1 = 0`. `scale` holds `s1`.
    - Stage 2 (`bits` 4 or 2), asymmetric on the INT8 codes with integer
      step and zero point: `z = min(q8)`, `s2 = max(1, ceil((max(q8) - z) /
      (2^bits - 1)))`, `code = clamp(round_half_even((q8 - z) / s2), 0,
      2^bits - 1)`. `step` holds `s2` and `zero` holds `z`.
    - `bits = 8` stops after stage 1 and `codes` are the INT8 codes.

    Codes are packed along the last dimension: `8 / bits` codes per byte,
    the first in the low bits, so the last dimension of `codes` is
    `ceil(n * bits / 8)`. `scale`, `step` and `zero` have the input's shape
    with the `axis` dimension replaced by its group count.

    `low_priority_heads` (optional, `bits = 4`, rank-4 `[B, H, L, D]`
    input, `axis` 2 or 3): TurboAttention's head-wise mixed precision. Head `h` has priority
    `std_c(max_t x[., h, t, c] - min_t x[., h, t, c])` (over batch and
    positions `t`, per channel `c` of the last dim); the `n` heads of lowest
    priority (ties: the lower head) use the levels of 2 bits (codes 0..3)
    inside the 4-bit storage. Storage is not compacted.

    ```mlir
    // A key cache, INT4 in groups of 32 channels.
    %codes, %s1, %s2, %z = attn.quantize %k axis(3) group_size(32) bits(4)
        : tensor<1x8x?x128xf32> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>,
          tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$input,
      ConfinedAttr<I64Attr, [IntNonNegative]>:$axis,
      ConfinedAttr<I64Attr, [IntPositive]>:$groupSize,
      ConfinedAttr<I64Attr, [IntPositive]>:$bits,
      OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$lowPriorityHeads);
  let results = (outs Attn_CodeTensor:$codes, Attn_ScaleTensor:$scale,
      Optional<Attn_CodeTensor>:$step, Optional<Attn_CodeTensor>:$zero);

  let assemblyFormat = [{
    $input `axis` `(` $axis `)` `group_size` `(` $groupSize `)`
    `bits` `(` $bits `)`
    (`low_priority_heads` `(` $lowPriorityHeads^ `)`)?
    attr-dict `:` type($input) `->` type($codes) `,` type($scale)
    (`,` type($step)^ `,` type($zero))?
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

def Attn_DequantizeOp : Attn_Op<"dequantize", [Pure,
    AttrSizedOperandSegments]> {
  let summary = "inverse of attn.quantize";
  let description = [{
    Rebuilds `x' = q8' * s1` from the layout `attn.quantize` produces, with
    `q8' = clamp(code * s2 + z, -127, 127)` for `bits` 4 and 2 (integers
    only) and `q8' = code` for `bits = 8`. The result type gives the shape
    and the element type.

    ```mlir
    %k = attn.dequantize %codes, %s1, %s2, %z axis(3) group_size(32) bits(4)
        : tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
          tensor<1x8x?x4xi8> -> tensor<1x8x?x128xf32>
    ```
  }];

  let arguments = (ins Attn_CodeTensor:$codes, Attn_ScaleTensor:$scale,
      Optional<Attn_CodeTensor>:$step, Optional<Attn_CodeTensor>:$zero,
      ConfinedAttr<I64Attr, [IntNonNegative]>:$axis,
      ConfinedAttr<I64Attr, [IntPositive]>:$groupSize,
      ConfinedAttr<I64Attr, [IntPositive]>:$bits);
  let results = (outs Attn_FloatTensor:$output);

  let assemblyFormat = [{
    $codes `,` $scale (`,` $step^ `,` $zero)?
    `axis` `(` $axis `)` `group_size` `(` $groupSize `)` `bits` `(` $bits `)`
    attr-dict `:` type($codes) `,` type($scale)
    (`,` type($step)^ `,` type($zero))? `->` type($output)
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// QuantizedSdpaOp
//===----------------------------------------------------------------------===//

def Attn_QuantizedSdpaOp : Attn_Op<"quantized_sdpa", [Pure,
    AttrSizedOperandSegments]> {
  let summary = "attention over a quantized key/value cache";
  let description = [{
    `attn.sdpa` whose keys and values arrive in the layout of
    `attn.quantize` with `bits` 8, 4 or 2 and group size `group_size`
    (`G`), and are decoded on the fly: no float copy of K or V is made.

    - keys: `key(codes, scale[, step, zero])`, quantized along the head dim
      (`axis = 3`): codes `[B, Hkv, Lk, D * bits / 8]`, scales
      `[B, Hkv, Lk, D / G]`; `D` must be a multiple of `G`.
    - values: `value(codes, scale[, step, zero])`, quantized along the keys
      (`axis = 2`), so that a group's scale is constant along the sum over
      keys: codes `[B, Hkv, Lk, Dv * bits / 8]`, scales
      `[B, Hkv, ceil(Lk / G), Dv]`.
    - `qk_int8`: each query row is quantized to INT8 in groups of `G`
      (stage 1), `Q K^T` runs on the INT8 codes accumulated in i32, and
      `s1_Q * s1_K * scale` is applied per group after the sum. Without it
      keys are decoded to f32 and `q` stays in float.
    - `pv_int8`: the softmax weights (at most 1) become `round_half_even(p *
      127)` and `P V` runs on them and the values' INT8 codes in i32, the
      value scales applied per key group; the row sum uses the same
      rounded weights. Without it values are decoded to f32.
    - `causal`, `scale` and `softmax_exp` mean what they mean for
      `attn.sdpa`; `lse` (optional) is the log-sum-exp of the scores.

    ```mlir
    // Decode step over an INT4 cache, INT8 products.
    %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
        value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8 pv_int8
        : tensor<1x32x1x128xf32>,
          key(tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
              tensor<1x8x?x4xi8>),
          value(tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
                tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
        -> tensor<1x32x1x128xf32>
    ```
  }];

  let arguments = (ins Attn_FloatTensor:$query,
      Attn_CodeTensor:$keyCodes, Attn_ScaleTensor:$keyScale,
      Optional<Attn_CodeTensor>:$keyStep, Optional<Attn_CodeTensor>:$keyZero,
      Attn_CodeTensor:$valueCodes, Attn_ScaleTensor:$valueScale,
      Optional<Attn_CodeTensor>:$valueStep,
      Optional<Attn_CodeTensor>:$valueZero,
      ConfinedAttr<I64Attr, [IntPositive]>:$bits,
      ConfinedAttr<I64Attr, [IntPositive]>:$groupSize,
      UnitAttr:$qkInt8, UnitAttr:$pvInt8, UnitAttr:$causal,
      OptionalAttr<F32Attr>:$scale,
      OptionalAttr<Attn_PolyExpAttr>:$softmax_exp);
  let results = (outs Attn_FloatTensor:$output,
      Optional<Attn_LseTensor>:$lse);

  let assemblyFormat = [{
    $query `,` `key` `(` $keyCodes `,` $keyScale (`,` $keyStep^ `,` $keyZero)?
    `)` `,` `value` `(` $valueCodes `,` $valueScale
    (`,` $valueStep^ `,` $valueZero)? `)`
    `bits` `(` $bits `)` `group_size` `(` $groupSize `)`
    (`qk_int8` $qkInt8^)? (`pv_int8` $pvInt8^)? (`causal` $causal^)?
    (`scale` `(` $scale^ `)`)? attr-dict
    `:` type($query) `,`
    `key` `(` type($keyCodes) `,` type($keyScale)
    (`,` type($keyStep)^ `,` type($keyZero))? `)` `,`
    `value` `(` type($valueCodes) `,` type($valueScale)
    (`,` type($valueStep)^ `,` type($valueZero))? `)`
    `->` type($output) (`,` type($lse)^)?
  }];

  let extraClassDeclaration = [{
    /// The scale applied to Q K^T: the `scale` attribute or 1/sqrt(D).
    float getEffectiveScale();
  }];

  let hasVerifier = 1;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
