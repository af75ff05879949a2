//===- Passes.td - attn rewrite passes ---------------------*- tablegen -*-===//
//
// Passes that replace dense attention with an approximation, on the attn
// dialect itself.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SparqRewrite : Pass<"attn-sparq"> {
  let summary = "Replace dense attention with SparQ attention";
  let description = [{
    Rewrites `attn.sdpa` into `attn.sparq` (ALGORITHMS.md §3): each query
    row fetches only the `top-k` keys that a `rank`-component
    approximation of its scores ranks highest, plus the `local-window` most
    recent ones, and interpolates with the mean of the values for the rest.
    Decode (`Lq = 1`) and prefill, MHA, GQA and MQA, and causal attention
    are rewritten.

    Left dense, with a warning: `attn.sdpa` with a `mask` operand (SparQ
    is defined here for causal masking only) or with an `lse` result
    (SparQ's output is not a softmax over a key set, so it has none). Left
    dense silently: attention over fewer than `min-kv-len` keys; when the
    key length is dynamic the choice is made at run time with `scf.if`.

    Each rewritten op gets a remark with the expected transfer ratio, the
    element reads per query row and head of dense attention (`2*Lk*D`)
    over SparQ's (`Lk*r + 2*k*D`). The plain form this pass produces reads
    the `r` components strided from `key` and computes the value mean from
    `value`; a model that keeps a transposed key cache and a running value
    mean passes them to `attn.sparq` directly (its bandwidth form).

    Options that make no sense are errors: `rank` or `top-k` below 1,
    `local-window` outside `[0, top-k]`, `rank` above an op's head dim.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v
        : tensor<1x32x1x128xf32>, tensor<1x8x4096x128xf32>,
          tensor<1x8x4096x128xf32> -> tensor<1x32x1x128xf32>
    ```

    After (`--attn-sparq="rank=16 top-k=128 group-shared=true"`):

    ```mlir
    // remark: SparQ: expected transfer ratio 10.67x (dense 2*Lk*D = 1048576
    //         element reads per query row and head, SparQ Lk*r + 2*k*D = 98304)
    %o = attn.sparq %q, %k, %v rank(16) top_k(128) group_shared
        : tensor<1x32x1x128xf32>, tensor<1x8x4096x128xf32>,
          tensor<1x8x4096x128xf32> -> tensor<1x32x1x128xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"rank", "rank", "int64_t", /*default=*/"32",
           "Query components used for the approximate scores (r, >= 1)">,
    Option<"topK", "top-k", "int64_t", /*default=*/"128",
           "Keys fetched per query row (k, >= 1)">,
    Option<"localWindow", "local-window", "int64_t", /*default=*/"0",
           "Most recent visible keys always fetched (l, 0..k)">,
    Option<"groupShared", "group-shared", "bool", /*default=*/"false",
           "GQA: select once per key/value head from the sum over its query "
           "heads (false: every query head selects on its own)">,
    Option<"minKvLen", "min-kv-len", "int64_t", /*default=*/"0",
           "Attention over fewer keys stays dense">,
  ];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "attn.sdpa ops rewritten">,
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
