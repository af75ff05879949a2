//===- GatherToLinalg.cpp - attn.gather to linalg.generic -------*- C++ -*-===//
//
// Lowers attn.gather to a linalg.generic over the result whose body reads
// the source with tensor.extract at the (clamped) gathered index.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

struct GatherToLinalg : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    Value source = op.getSource();
    Value indices = op.getIndices();
    auto sourceType = op.getSource().getType();
    auto indicesType = op.getIndices().getType();
    auto resultType = op.getResult().getType();
    int64_t axis = op.getAxis();
    int64_t numIndexDims = indicesType.getRank() - axis;
    int64_t resultRank = resultType.getRank();
    MLIRContext *ctx = b.getContext();

    // Result sizes: source batch dims, index dims, source trailing dims.
    SmallVector<Value> dynSizes;
    for (int64_t d = 0; d < resultRank; ++d) {
      if (!resultType.isDynamicDim(d))
        continue;
      if (d < axis)
        dynSizes.push_back(tensor::DimOp::create(b, source, d));
      else if (d < axis + numIndexDims)
        dynSizes.push_back(tensor::DimOp::create(b, indices, d));
      else
        dynSizes.push_back(
            tensor::DimOp::create(b, source, d - numIndexDims + 1));
    }
    Value init = tensor::EmptyOp::create(b, resultType, dynSizes);

    // indices[b..., i...]: a static 1 batch dim broadcasts.
    SmallVector<AffineExpr> indexExprs;
    for (int64_t d = 0; d < indicesType.getRank(); ++d) {
      bool broadcast = d < axis && indicesType.getDimSize(d) == 1 &&
                       sourceType.getDimSize(d) != 1;
      indexExprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                     : getAffineDimExpr(d, ctx));
    }
    AffineMap indexMap = AffineMap::get(resultRank, 0, indexExprs, ctx);
    AffineMap resultMap = AffineMap::getMultiDimIdentityMap(resultRank, ctx);

    Value lastRow = lb.sub(tensor::DimOp::create(b, source, axis), lb.idx(1));
    auto generic = linalg::GenericOp::create(
        b, TypeRange{resultType}, ValueRange{indices}, ValueRange{init},
        ArrayRef<AffineMap>{indexMap, resultMap},
        SmallVector<utils::IteratorType>(resultRank,
                                         utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          LoopBuilder ilb(ib);
          Value index = args[0];
          if (!index.getType().isIndex())
            index = arith::IndexCastOp::create(ib, ib.getIndexType(), index);
          index = ilb.minIdx(ilb.maxIdx(index, ilb.idx(0)), lastRow);
          SmallVector<Value> at;
          for (int64_t d = 0; d < axis; ++d)
            at.push_back(linalg::IndexOp::create(ib, d));
          at.push_back(index);
          for (int64_t d = axis + numIndexDims; d < resultRank; ++d)
            at.push_back(linalg::IndexOp::create(ib, d));
          linalg::YieldOp::create(
              ib, tensor::ExtractOp::create(ib, source, at).getResult());
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

} // namespace

void mlir::attn::populateGatherToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<GatherToLinalg>(patterns.getContext());
}
