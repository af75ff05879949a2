//===- MergeToLinalg.cpp - attn.merge to linalg.generic ---------*- C++ -*-===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct MergeToLinalg : OpConversionPattern<MergeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MergeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto outType = cast<RankedTensorType>(op.getOutput().getType());
    auto lseType = cast<RankedTensorType>(op.getLse().getType());
    int64_t rank = outType.getRank();
    Type f32 = b.getF32Type();
    Value negInf = arith::ConstantOp::create(
        b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0));

    SmallVector<Value> outSizes;
    for (int64_t d = 0; d < rank; ++d)
      if (outType.isDynamicDim(d))
        outSizes.push_back(tensor::DimOp::create(b, op.getOut1(), d));
    SmallVector<Value> lseSizes(outSizes);
    if (outType.isDynamicDim(rank - 1))
      lseSizes.pop_back();

    MLIRContext *ctx = b.getContext();
    AffineMap outMap = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap rowMap = AffineMap::getMultiDimIdentityMap(rank - 1, ctx);
    AffineMap outRowMap = outMap.dropResult(rank - 1);

    // Per row: lse = m + log(exp(l1 - m) + exp(l2 - m)) and the weights
    // w1 = exp(l1 - lse), w2 = exp(l2 - lse) (lse -inf when both are -inf,
    // and then w1 = w2 = 0), so that no exp is taken per output element.
    Value lseInit = tensor::EmptyOp::create(b, lseType, lseSizes);
    Value w1Init = tensor::EmptyOp::create(b, lseType, lseSizes);
    Value w2Init = tensor::EmptyOp::create(b, lseType, lseSizes);
    auto rowGeneric = linalg::GenericOp::create(
        b, TypeRange{lseType, lseType, lseType},
        ValueRange{op.getLse1(), op.getLse2()},
        ValueRange{lseInit, w1Init, w2Init},
        ArrayRef<AffineMap>{rowMap, rowMap, rowMap, rowMap, rowMap},
        SmallVector<utils::IteratorType>(rank - 1,
                                         utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value m = arith::MaximumFOp::create(ib, args[0], args[1]);
          Value finite =
              arith::CmpFOp::create(ib, arith::CmpFPredicate::OGT, m, negInf);
          Value safeM = arith::SelectOp::create(ib, finite, m, zero);
          Value e1 = math::ExpOp::create(
              ib, arith::SubFOp::create(ib, args[0], safeM));
          Value e2 = math::ExpOp::create(
              ib, arith::SubFOp::create(ib, args[1], safeM));
          Value sum = arith::AddFOp::create(ib, e1, e2);
          Value l =
              arith::AddFOp::create(ib, safeM, math::LogOp::create(ib, sum));
          // exp(li - lse) = ei / (e1 + e2).
          Value inverse = arith::SelectOp::create(
              ib, finite,
              arith::DivFOp::create(
                  ib, arith::ConstantOp::create(ib, ib.getF32FloatAttr(1)),
                  sum),
              zero);
          linalg::YieldOp::create(
              ib, ValueRange{arith::SelectOp::create(ib, finite, l, negInf),
                             arith::MulFOp::create(ib, e1, inverse),
                             arith::MulFOp::create(ib, e2, inverse)});
        });
    Value lse = rowGeneric.getResult(0);

    // out = w1 * o1 + w2 * o2.
    Value outInit = tensor::EmptyOp::create(b, outType, outSizes);
    Type elementType = outType.getElementType();
    auto outGeneric = linalg::GenericOp::create(
        b, TypeRange{outType},
        ValueRange{op.getOut1(), rowGeneric.getResult(1), op.getOut2(),
                   rowGeneric.getResult(2)},
        ValueRange{outInit},
        ArrayRef<AffineMap>{outMap, outRowMap, outMap, outRowMap, outMap},
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          auto ext = [&](Value v) -> Value {
            return elementType.isF32() ? v : arith::ExtFOp::create(ib, f32, v);
          };
          Value o = arith::AddFOp::create(
              ib, arith::MulFOp::create(ib, args[1], ext(args[0])),
              arith::MulFOp::create(ib, args[3], ext(args[2])));
          if (!elementType.isF32())
            o = arith::TruncFOp::create(ib, elementType, o);
          linalg::YieldOp::create(ib, o);
        });
    rewriter.replaceOp(op, {outGeneric.getResult(0), lse});
    return success();
  }
};

} // namespace

void mlir::attn::populateMergeToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<MergeToLinalg>(patterns.getContext());
}
