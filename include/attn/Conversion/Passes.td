//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops"> {
  let summary = "Lower attn ops to a tiled online-softmax loop nest";
  let description = [{
    Replaces every `attn.sdpa` with a FlashAttention-style loop nest written
    in upstream dialects (`scf`, `vector`, `memref`, `arith`, `math`), and
    every `attn.merge` with `linalg.generic` ops on tensors.

    `attn.sdpa` becomes one `scf.parallel` over (batch, key/value head, block
    of `row-block` query rows). The rows of a block are the query rows of
    all query heads that share the key/value head (head-major), so a
    grouped-query decode step reads each key/value tile once for the whole
    group. Each work item walks the visible keys in tiles of `key-tile`,
    keeping the running row maximum, row sum and output accumulator (f32) in
    stack scratch of `row-block x (Dv + 2)` floats plus one `key-tile` score
    row: scratch does not grow with `Lq` or `Lk`. Dot products and the
    P·V update are vectors over the head dims; causal tiles past a block's
    last visible key are never visited.

    Operands enter and leave through `bufferization.to_buffer` /
    `bufferization.to_tensor`, so the result still lives in a module on
    tensors that one-shot bufferization finishes.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v causal
        : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
        -> tensor<1x8x?x64xf32>
    ```

    After (abridged):

    ```mlir
    %qb = bufferization.to_buffer %q read_only : ... to memref<1x8x?x64xf32>
    %out = memref.alloc(%lq) {alignment = 64 : i64} : memref<1x8x?x64xf32>
    scf.parallel (%b, %hkv, %blk) = (%c0, %c0, %c0) to (%c1, %c8, %nblk) ... {
      memref.alloca_scope {
        %acc = memref.alloca() : memref<16x64xf32>
        ...
        scf.for %k0 = %c0 to %kend step %c256 {     // key tiles
          scf.for %r = %c0 to %rows step %c1 {      // rows of the block
            // scores, online max/sum update, acc += P V
          }
        }
        // out = acc / sum, lse = max + log(sum)
      }
    }
    %o = bufferization.to_tensor %out restrict writable : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
  let options = [
    Option<"rowBlock", "row-block", "int64_t", /*default=*/"16",
           "Query rows per parallel work item (> 0)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"256",
           "Keys per tile of the online softmax (> 0)">,
  ];
}

def ExpandMath : Pass<"attn-expand-math"> {
  let summary = "Replace math.exp and math.log with vectorizable polynomials";
  let description = [{
    Rewrites f32 `math.exp` and `math.log` (scalars or vectors) into
    upstream's polynomial approximations, built from `arith` and `math.fma`
    ops and exponent-bit manipulation, so that vector code stays vector code
    instead of becoming one libm call per lane. Other `math` ops are left
    alone. The approximations are accurate to about 1e-7 relative on f32
    (the execution tests compare whole attention results with a float64
    reference at 2e-5).

    Before:

    ```mlir
    %e = math.exp %x : vector<64xf32>
    ```

    After (abridged):

    ```mlir
    %e = ... arith.mulf / math.fma / arith.bitcast ... : vector<64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // ATTN_CONVERSION_PASSES_TD
