//===- AttnOps.td - attn dialect ops -----------------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def Attn_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Attn_MaskTensor : RankedTensorOf<[F32, F16, BF16, I1]>;
def Attn_LseTensor : RankedTensorOf<[F32]>;

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
      OptionalAttr<F32Attr>:$scale, UnitAttr:$causal);
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

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
