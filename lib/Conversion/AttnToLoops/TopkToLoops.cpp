//===- TopkToLoops.cpp - attn.topk to a heap selection ----------*- C++ -*-===//
//
// Lowers attn.topk to one heap selection per row: a single pass over the row
// that skips, with one vector compare, every chunk that cannot enter the
// current top k.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Entries per vector compare of the skip test.
constexpr int64_t kChunkWidth = 16;

struct TopkToLoops : OpConversionPattern<TopkOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(TopkOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    auto inputType = op.getInput().getType();
    auto valuesType = op.getValues().getType();
    auto indicesType = op.getIndices().getType();
    int64_t rank = inputType.getRank();
    Type elementType = inputType.getElementType();
    Type indexElementType = indicesType.getElementType();
    bool magnitude = op.getMagnitude();

    Value input = lb.toBuffer(op.getInput());
    Value rowLen = memref::DimOp::create(b, input, rank - 1);
    Value k = op.getK() ? op.getK() : lb.idx(valuesType.getShape().back());

    SmallVector<Value> dynSizes, rowCounts;
    for (int64_t d = 0; d + 1 < rank; ++d) {
      Value size = memref::DimOp::create(b, input, d);
      rowCounts.push_back(size);
      if (valuesType.isDynamicDim(d))
        dynSizes.push_back(size);
    }
    if (valuesType.isDynamicDim(rank - 1))
      dynSizes.push_back(k);
    IntegerAttr alignment = b.getI64IntegerAttr(64);
    Value values = memref::AllocOp::create(
        b, MemRefType::get(valuesType.getShape(), elementType), dynSizes,
        alignment);
    Value indices = memref::AllocOp::create(
        b, MemRefType::get(indicesType.getShape(), indexElementType), dynSizes,
        alignment);

    auto emitRow = [&](ValueRange rowIvs) {
      auto at = [&](Value position) {
        SmallVector<Value> ivs(rowIvs);
        ivs.push_back(position);
        return ivs;
      };
      auto rankKey = [&](Value v) {
        v = lb.toF32(v);
        return magnitude ? math::AbsFOp::create(b, v).getResult() : v;
      };
      lb.allocaScope([&] {
        TopkSelector selector(lb, k);
        selector.offerRange(
            lb.idx(0), rowLen, kChunkWidth,
            [&](Value p) {
              return rankKey(vector::LoadOp::create(
                  b, VectorType::get({kChunkWidth}, elementType), input,
                  at(p)));
            },
            [&](Value p) {
              return rankKey(memref::LoadOp::create(b, input, at(p)));
            });
        Value kept = selector.sortBestFirst();
        lb.forEach(lb.idx(0), k, lb.idx(1), [&](Value slot) {
          // A run-time k beyond the row pads with value 0 and index -1.
          Value valid = lb.cmp(arith::CmpIPredicate::ult, slot, kept);
          Value safeSlot = lb.select(valid, slot, lb.idx(0));
          Value position =
              lb.select(valid, selector.positionAt(safeSlot), lb.idx(-1));
          Value safePosition = lb.select(valid, position, lb.idx(0));
          Value value = memref::LoadOp::create(b, input, at(safePosition));
          Value zero =
              arith::ConstantOp::create(b, b.getFloatAttr(elementType, 0.0));
          memref::StoreOp::create(b, lb.select(valid, value, zero), values,
                                  at(slot));
          Value index = position;
          if (!indexElementType.isIndex())
            index = arith::IndexCastOp::create(b, indexElementType, position);
          memref::StoreOp::create(b, index, indices, at(slot));
        });
      });
    };

    lb.parallelFor(rowCounts, emitRow);

    rewriter.replaceOp(
        op, {bufferization::ToTensorOp::create(b, valuesType, values,
                                               /*restrict=*/true,
                                               /*writable=*/true),
             bufferization::ToTensorOp::create(b, indicesType, indices,
                                               /*restrict=*/true,
                                               /*writable=*/true)});
    return success();
  }
};

} // namespace

void mlir::attn::populateTopkToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<TopkToLoops>(patterns.getContext());
}
