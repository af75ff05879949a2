//===- Passes.td - attn rewrite passes ---------------------*- tablegen -*-===//
//
// Passes that replace dense attention with an approximation, on the attn
// dialect itself.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def RaiseSdpa : Pass<"attn-raise-sdpa"> {
  let summary = "Find dense attention written with linalg and raise it to "
                "attn.sdpa";
  let description = [{
    Rewrites `softmax(scale * Q K^T + mask) V`, as frontends such as
    torch-mlir emit it on tensors, into `attn.sdpa`, so that the rewrites
    (`--attn-sparq`, `--attn-hyper`, ...) and lowerings of this project apply
    to it. The match starts at the `P V` contraction and walks up; it
    recognises:

    - Contractions (`Q K^T` and `P V`) as `linalg.matmul`,
      `linalg.batch_matmul` (default or explicit `indexing_maps`) or a
      `linalg.generic` multiply-add contraction, on 2-D, 3-D or 4-D tensors,
      with a zero-filled accumulator. `K` is read as `[.., Lk, D]` by the
      contraction's indexing map or through a `linalg.transpose` (or
      transposing `linalg.generic`) of its last two dims.
    - 4-D tensors collapsed to `[B*H, L, D]` around a batched matmul
      (`tensor.collapse_shape` / `tensor.expand_shape`, as torch-mlir lowers
      `torch.matmul`), traced back to the `[B, H, L, D]` operands.
    - Grouped-query attention written as a broadcast of `K` and `V` over the
      group: `[B, Hkv, L, D]` broadcast to `[B, Hkv, G, L, D]`
      (`linalg.broadcast`, or a copying `linalg.generic` of an
      `expand_shape`) and collapsed to `[B, Hkv*G, L, D]`.
    - The scale as constant multiplies or divides (`linalg.generic`,
      `linalg.mul`, `linalg.div`) on the scores, on `Q`, or on both `Q` and
      `K`; their product becomes `scale` (1.0 when there is none).
    - An additive mask on the scores (`arith.addf` in a `linalg.generic`,
      or `linalg.add`), read right-aligned. A mask built in a
      `linalg.generic` from `linalg.index`, `arith.cmpi` and `arith.select`
      that is 0 where `j <= i` and `-inf` elsewhere becomes `causal` when
      `Lq = Lk` is known statically; any other mask becomes the `mask`
      operand.
    - The softmax over the key (last) dimension as `linalg.softmax`, or
      written out: row max, subtract, `math.exp`, row sum, divide (in one
      or several `linalg.generic`s, keepdim or not, or `linalg.reduce`),
      also without the max subtraction.

    Near misses are left alone: a softmax over another dimension, a
    contraction over the wrong dimension, a mask that is not added, a
    non-causal mask under a scale (`attn.sdpa` does not scale its mask), a
    contraction whose accumulator is not zero, or operands that `attn.sdpa`
    cannot take (dynamic head counts or head dims, mixed element types).

    Before (torch-mlir's `scaled_dot_product_attention`, shortened):

    ```mlir
    %kt = linalg.transpose ins(%k : tensor<1x8x128x64xf32>)
        outs(%e0 : tensor<1x8x64x128xf32>) permutation = [0, 1, 3, 2]
    %qc = tensor.collapse_shape %q [[0, 1], [2], [3]]
        : tensor<1x8x128x64xf32> into tensor<8x128x64xf32>
    %kc = tensor.collapse_shape %kt [[0, 1], [2], [3]] ...
    %s3 = linalg.batch_matmul ins(%qc, %kc : ...) outs(%zero : ...)
    %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] ...
    %scaled = linalg.generic ... { arith.mulf %in, %cst_0_125 }
    %max = linalg.generic ... { arith.maximumf }  // row max
    ...                                           // sub, exp, sum, div
    %pc = tensor.collapse_shape %p [[0, 1], [2], [3]] ...
    %o3 = linalg.batch_matmul ins(%pc, %vc : ...) outs(%zero2 : ...)
    %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] ...
    ```

    After (`--attn-raise-sdpa --canonicalize`):

    ```mlir
    %o = attn.sdpa %q, %k, %v scale(1.250000e-01)
        : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>,
          tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::attn::AttnDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

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

def HyperRewrite : Pass<"attn-hyper"> {
  let summary = "Replace dense attention over long sequences with HyperAttention";
  let description = [{
    Rewrites `attn.sdpa` into HyperAttention (ALGORITHMS.md §4,
    docs/HyperAttention.md), built from `attn.lsh_hash`, `attn.lsh_sort`,
    `attn.gather`, `attn.sdpa` on small blocks and `attn.merge`:

    1. queries and keys are hashed by `attn.lsh_hash` with `num-projs`
       Gaussian projections (a constant drawn from `seed`) and sorted by
       their hashes (`attn.lsh_sort`);
    2. each block of `bucket-size` sorted keys is attended exactly by its
       block of sorted queries (`attn.sdpa` with log-sum-exp over
       `[B * blocks, H, block, D]` tensors, each filled by one gather;
       keys that only fill the last block are masked out), and the results
       go back to the original query order (one gather through the sort's
       `rank`);
    3. `sample-size` sorted keys drawn uniformly at run time (stream
       `1 + level` of the §6 generator) are attended by every query in its
       own order, except those in the block of the query's sorted position;
       their log-sum-exp gets `log(Lk / sample-size)`;
    4. `attn.merge` combines the two parts.

    Causal attention follows Algorithm 4: segments longer than
    `min-seq-len` are split into halves whose off-diagonal block goes
    through steps 1-4; all segments of one recursion level are one batched
    call, and the number of levels is computed at run time from the
    sequence length (an `scf.for` over levels). Every query and key is
    hashed once, before the levels (a row's hash does not depend on its
    level); each level sorts its segments by their rows' hashes and reads
    key and value rows through a row table, so only the queries are copied
    into the segments' layout. Each level's result is
    merged into the rows of the second halves only, one slice per segment
    (`tensor.extract_slice`, `attn.merge`, `linalg.copy` into the slice,
    `tensor.insert_slice`; the lowering pipelines make the merge write the
    slice in place). Non-causal attention may
    have `Lq != Lk`; GQA is kept (the queries of a group share their key
    head's sort and samples). An `lse` result is produced as well.

    Left dense, with a warning: a `mask` operand (only causal masking is
    supported), and causal attention with `Lq != Lk` (Algorithm 4 splits
    one square matrix). Left dense silently: fewer than `min-seq-len`
    queries (non-causal) or at most `min-seq-len` keys (causal). With
    dynamic lengths these checks become an `scf.if` between HyperAttention
    and the original `attn.sdpa`. Each rewritten op gets a remark with the
    scores per query row it computes instead of `Lk`.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v
        : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
        -> tensor<1x8x?x64xf32>
    ```

    After (`--attn-hyper`, abridged):

    ```mlir
    %r = arith.constant dense<...> : tensor<64x7xf32>
    %o = scf.if %long -> (tensor<1x8x?x64xf32>) {
      %hq = attn.lsh_hash %q, %r : ... -> tensor<?x8x?xi32>
      %hk = attn.lsh_hash %k, %r : ... -> tensor<?x8x?xi32>
      %pq, %rank = attn.lsh_sort %hq {bits = 7} : ... -> tensor<?x8x?xi32>, tensor<?x8x?xi32>
      %pk = attn.lsh_sort %hk {bits = 7} : ... -> tensor<?x8x?xi32>
      %qb = linalg.generic ...      // sorted query blocks, one gather
      %kb = linalg.generic ...      // sorted key blocks (and %vb)
      %ob, %lb = attn.sdpa %qb, %kb, %vb mask(%pad : tensor<?x1x1x256xi1>) : ...
      %obq = linalg.generic ...     // block results in query order (%rank)
      %os, %ls = attn.sdpa %q, %ksamp, %vsamp mask(%own : tensor<?x8x?x256xi1>) : ...
      %out, %l = attn.merge %obq, %lbq, %os, %ls2 : ...
      scf.yield %out : tensor<1x8x?x64xf32>
    } else {
      %dense = attn.sdpa %q, %k, %v : ...
      scf.yield %dense : tensor<1x8x?x64xf32>
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"bucketSize", "bucket-size", "int64_t", /*default=*/"256",
           "Sorted keys per block of the block-diagonal part (b, >= 1)">,
    Option<"sampleSize", "sample-size", "int64_t", /*default=*/"256",
           "Keys sampled for the residual (m, >= 0; 0 drops the residual)">,
    Option<"numProjs", "num-projs", "int64_t", /*default=*/"7",
           "Random hyperplanes of the LSH sort (P, 1..16)">,
    Option<"minSeqLen", "min-seq-len", "int64_t", /*default=*/"4096",
           "Shorter attention stays exact (>= 1)">,
    Option<"seed", "seed", "int64_t", /*default=*/"0",
           "Seed of the projections and samples (ALGORITHMS.md §6)">,
  ];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "attn.sdpa ops rewritten">,
  ];
}

def PolyExpRewrite : Pass<"attn-poly-exp"> {
  let summary = "Make attention softmaxes use the polynomial exp";
  let description = [{
    Marks every `attn.sdpa`, `attn.sparq` and `attn.quantized_sdpa` with
    `softmax_exp = #attn.poly_exp<...>`: their lowerings then weigh scores
    with `attn.poly_exp` (TurboAttention's SAS, ALGORITHMS.md §5: `2^-n`
    from the exponent bits times a degree-2 or -3 polynomial, no exp unit)
    in place of `math.exp`, in the softmax and in the online rescaling.

    The pass composes with the other rewrites in either order:
    `--attn-sparq` and `--attn-hyper` carry the attribute from the
    `attn.sdpa` they replace to every attention op they build, and this
    pass marks what they produced when it runs after them.

    Options that make no sense are errors: `degree` other than 2 or 3,
    `n-max` below 0.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v causal
        : tensor<1x8x512x64xf32>, tensor<1x8x512x64xf32>,
          tensor<1x8x512x64xf32> -> tensor<1x8x512x64xf32>
    ```

    After (`--attn-poly-exp="degree=3 n-max=16"`):

    ```mlir
    %o = attn.sdpa %q, %k, %v causal
        {softmax_exp = #attn.poly_exp<degree = 3, n_max = 16>}
        : tensor<1x8x512x64xf32>, tensor<1x8x512x64xf32>,
          tensor<1x8x512x64xf32> -> tensor<1x8x512x64xf32>
    ```
  }];
  let options = [
    Option<"degree", "degree", "int64_t", /*default=*/"3",
           "Degree of the polynomial for 2^-f on [0, 1) (2 or 3)">,
    Option<"nMax", "n-max", "int64_t", /*default=*/"0",
           "Sparsification: weights with n >= n-max (scores more than "
           "n-max / log2(e) below the row max) are 0; 0 disables it">,
  ];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "attention ops marked">,
  ];
}

def QuantizeRewrite : Pass<"attn-quantize"> {
  let summary = "Read keys and values from an INT8/INT4/INT2 cache";
  let description = [{
    Rewrites `attn.sdpa` into `attn.quantized_sdpa` over keys and values
    quantized by `attn.quantize` (TurboAttention's progressive quantization,
    ALGORITHMS.md §5): keys in groups of `group-size` channels, values in
    groups of `group-size` keys, INT8 symmetric, then for `kv-bits` 4 or 2
    asymmetric with integer step and zero point, packed. The attention
    decodes rows in registers; with `qk-int8` it multiplies INT8 queries and
    keys into i32, with `pv-int8` INT8 weights and values.

    With `kv-bits=4`, `low-priority-heads=n` stores the `n` key heads and
    the `n` value heads of lowest §5 priority (each tensor ranks its own) at
    2-bit levels.

    A model that keeps its cache quantized calls `attn.quantized_sdpa` on
    the codes directly; this pass builds the same thing from float K and V.

    Left dense, with a warning: `attn.sdpa` with a `mask` operand, or a head
    dim that is no multiple of `group-size`. Options that make no sense are
    errors: `kv-bits` other than 8, 4 or 2; `group-size` below 1 or no
    multiple of the codes per byte; `low-priority-heads` below 0, with
    `kv-bits` other than 4, or above an op's key/value head count.

    Each rewritten op gets a remark with the cache's bytes per element and
    the ratio to its float element type.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v
        : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>,
          tensor<1x8x?x128xf32> -> tensor<1x32x1x128xf32>
    ```

    After (`--attn-quantize="kv-bits=4 group-size=32 qk-int8=true"`):

    ```mlir
    // remark: attn-quantize: KV cache at 4 bits in groups of 32: 0.688
    //         bytes per element, 5.82x smaller than f32
    %kc, %ks, %kst, %kz = attn.quantize %k axis(3) group_size(32) bits(4)
        : tensor<1x8x?x128xf32> -> tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>,
          tensor<1x8x?x4xi8>, tensor<1x8x?x4xi8>
    %vc, %vs, %vst, %vz = attn.quantize %v axis(2) group_size(32) bits(4)
        : tensor<1x8x?x128xf32> -> tensor<1x8x?x64xi8>,
          tensor<1x8x?x128xf32>, tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>
    %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
        value(%vc, %vs, %vst, %vz) bits(4) group_size(32) qk_int8
        : tensor<1x32x1x128xf32>, key(...), value(...)
        -> tensor<1x32x1x128xf32>
    ```
  }];
  let options = [
    Option<"kvBits", "kv-bits", "int64_t", /*default=*/"4",
           "Bits per stored key/value code (8, 4 or 2)">,
    Option<"lowPriorityHeads", "low-priority-heads", "int64_t",
           /*default=*/"0",
           "With kv-bits=4: key/value heads of lowest priority kept at "
           "2-bit levels">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"32",
           "Elements per quantization group (channels of a key, keys of "
           "a value channel)">,
    Option<"qkInt8", "qk-int8", "bool", /*default=*/"false",
           "Q K^T as int8 x int8 -> i32, scales applied after">,
    Option<"pvInt8", "pv-int8", "bool", /*default=*/"false",
           "P V as int8 x int8 -> i32, scales applied after">,
  ];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "attn.sdpa ops rewritten">,
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
