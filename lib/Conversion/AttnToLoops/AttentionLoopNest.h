//===- AttentionLoopNest.h - shared online-softmax loop nest ----*- C++ -*-===//
//
// The tiled online-softmax (FlashAttention-style) loop nest that attn.sdpa
// and attn.quantized_sdpa lower to. The nest owns the work split, the
// running max/sum/accumulator and the softmax; subclasses say how a query
// row is prepared, how a key is scored and how weighted values are summed,
// which is all that differs between float and quantized key/value caches.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_ATTENTIONLOOPNEST_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_ATTENTIONLOOPNEST_H

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Transforms/DialectConversion.h"

namespace mlir {
namespace attn {

/// What the loop nest needs to know of an attention op.
struct AttentionSpec {
  Value query; // [B, Hq, Lq, D]
  Value mask;  // optional, as attn.sdpa takes it
  bool causal = false;
  float scale = 1.0f;
  PolyExpAttr softmaxExp;
  RankedTensorType outputType; // [B, Hq, Lq, Dv]
  Type lseType;                // [B, Hq, Lq] f32, or null
  int64_t numKvHeads = 1;
};

/// Emits the loop nest of one attention op. The operands are read through
/// identity-layout memrefs; the results are fresh buffers.
///
/// Structure (per work item = batch b, key/value head hk, block of rows):
///   rows of the block: query rows of the G heads of hk, head-major
///   for each key tile [k0, k0 + tk) up to the block's last visible key:
///     for each row r: s = scoreKey(q_r, key) (+ mask), masked to -inf
///                     m' = max(m, max(s)); p = exp(s - m')
///                     l = l * exp(m - m') + sum(p); acc = acc * exp(m - m')
///                     acc = accumulateValues(acc, tile, p)
///   out = acc / l, lse = m + log(l) (0 and -inf for rows with no key)
class AttentionLoopNest {
public:
  AttentionLoopNest(const AttentionSpec &spec, ImplicitLocOpBuilder &b,
                    int64_t rowBlock, int64_t keyTile);
  virtual ~AttentionLoopNest() = default;

  /// Builds the loop nest and returns the replacement values.
  SmallVector<Value> emit();

protected:
  /// Takes buffers of the keys and values; returns Lk.
  virtual Value loadKeysAndValues() = 0;
  /// Allocates per-work-item stack scratch for prepareTile.
  virtual void allocateTileScratch() {}
  /// Runs once per key tile [k0, k0 + tileLen), before the block's rows
  /// visit it (e.g. to decode the tile's keys and values once for all rows).
  virtual void prepareTile(Value k0, Value tileLen) {}
  /// The query row (head, i) in the form scoreKey takes; by default the
  /// f32 row times the scale.
  virtual SmallVector<Value> loadQueryRow(Value head, Value i);
  /// The scaled score of key `key` (of the work item's kv head).
  virtual Value scoreKey(ArrayRef<Value> queryRow, Value key) = 0;
  /// Asks for the key/value data of `key` ahead of use.
  virtual void prefetchKey(Value key) {}
  /// The weights a tile's P V uses, given p = exp(s - max) as a vector.
  virtual Value roundWeights(Value p) { return p; }
  /// accRow + sum over j < numVisible of scores[j] * V[k0 + j].
  virtual Value accumulateValues(Value accRow, Value k0, Value numVisible) = 0;

  ImplicitLocOpBuilder &b;
  LoopBuilder lb;
  AttentionSpec spec;
  int64_t rowBlock, keyTile;
  Type f32, elementType;
  int64_t numQueryHeads, numKvHeads, groupSize, headDim, valueDim;
  arith::FastMathFlagsAttr fastMath;

  // Values live across the nest.
  Value queryBuf, maskBuf, outBuf, lseBuf;
  Value queryLen, keyLen, rowsPerGroup, scaleValue;
  Value batch, kvHead, rowBegin;
  Value rowMax, rowSum, acc, scores;

private:
  /// Decomposes the flat row index of a block into (query head, query index).
  std::pair<Value, Value> rowToHeadAndIndex(Value row);
  /// One past the last key that query index `i` may see.
  Value visibleKeyEnd(Value i);
  /// Index of the mask element for (head, query index, key index), with
  /// broadcast dimensions (static size 1) pinned to 0.
  SmallVector<Value> maskIndices(Value head, Value i, Value key);

  void emitWorkItem(Value blockIndex);
  void emitPrefetchNextTile(Value next, Value keyEnd);
  void emitRowTileUpdate(Value r, Value k0, Value tileLen);
  void emitRowFinalize(Value r);
};

/// Lowers an attention op of type OpTy through the loop nest NestTy, built
/// as NestTy(op, builder, rowBlock, keyTile).
template <typename OpTy, typename NestTy>
struct AttentionToLoops : OpConversionPattern<OpTy> {
  AttentionToLoops(MLIRContext *ctx, int64_t rowBlock, int64_t keyTile)
      : OpConversionPattern<OpTy>(ctx), rowBlock(rowBlock), keyTile(keyTile) {}

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    NestTy nest(op, b, rowBlock, keyTile);
    rewriter.replaceOp(op, nest.emit());
    return success();
  }

  int64_t rowBlock, keyTile;
};

} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_ATTENTIONLOOPNEST_H
