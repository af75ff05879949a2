//===- PolyExpToArith.cpp - attn.poly_exp to exponent-bit arithmetic ------===//
//
// Lowers attn.poly_exp without any exp: 2^-n is assembled in the exponent
// bits of an f32 and the fractional part goes through the polynomial in
// Horner form. Scalars and vectors expand in place; tensors become a
// parallel loop over 16-lane vector chunks of the flattened elements.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Lanes per vector chunk of a tensor operand.
constexpr int64_t kLanes = 16;
/// 2^-n leaves the normal f32 range at n = 127.
constexpr int64_t kMaxExponent = 127;

/// Expands poly_exp on an f32 scalar or vector `x`.
Value expandPolyExp(ImplicitLocOpBuilder &b, Value x,
                    ArrayRef<float> coefficients, std::optional<int64_t> nMax) {
  Type type = x.getType();
  Type intType = b.getI32Type();
  if (auto vectorType = dyn_cast<VectorType>(type))
    intType = VectorType::get(vectorType.getShape(), intType);
  auto floatConstant = [&](float v) -> Value {
    Attribute attr = b.getF32FloatAttr(v);
    if (auto vectorType = dyn_cast<VectorType>(type))
      attr = DenseElementsAttr::get(vectorType, v);
    return arith::ConstantOp::create(b, type, cast<TypedAttr>(attr));
  };
  auto intConstant = [&](int32_t v) -> Value {
    Attribute attr = b.getI32IntegerAttr(v);
    if (auto vectorType = dyn_cast<VectorType>(intType))
      attr = DenseElementsAttr::get(vectorType, v);
    return arith::ConstantOp::create(b, intType, cast<TypedAttr>(attr));
  };

  // y = -min(x, 0) * log2(e); minimumf keeps NaN.
  Value clamped = arith::MinimumFOp::create(b, x, floatConstant(0.0f));
  Value y =
      arith::MulFOp::create(b, clamped, floatConstant(-1.44269504088896341f));
  // n >= limit weighs 0; clamping first keeps fptosi defined for inf/NaN.
  int64_t limit = std::min(nMax.value_or(kMaxExponent), kMaxExponent);
  Value limitF = floatConstant(static_cast<float>(limit));
  Value n = arith::FPToSIOp::create(
      b, intType,
      math::FloorOp::create(b, arith::MinNumFOp::create(b, y, limitF)));
  Value f = arith::SubFOp::create(b, y, arith::SIToFPOp::create(b, type, n));

  // p(f) in Horner form, one multiply and one add per coefficient (no FMA,
  // so that the result is the formula's, bit for bit).
  Value p = floatConstant(coefficients.back());
  for (float c : llvm::reverse(coefficients.drop_back()))
    p = arith::AddFOp::create(b, arith::MulFOp::create(b, p, f),
                              floatConstant(c));

  // 2^-n = float with biased exponent 127 - n and zero mantissa.
  Value bits = arith::ShLIOp::create(
      b, arith::SubIOp::create(b, intConstant(127), n), intConstant(23));
  Value power = arith::BitcastOp::create(b, type, bits);
  Value result = arith::MulFOp::create(b, p, power);
  Value dropped =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, y, limitF);
  return arith::SelectOp::create(b, dropped, floatConstant(0.0f), result);
}

struct PolyExpToArith : OpConversionPattern<PolyExpOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PolyExpOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    SmallVector<float> coefficients = op.getEffectiveCoefficients();
    std::optional<int64_t> nMax;
    if (std::optional<uint64_t> attr = op.getNMax())
      nMax = static_cast<int64_t>(*attr);
    Type elementType = getElementTypeOrSelf(op.getType());

    auto tensorType = dyn_cast<RankedTensorType>(op.getType());
    if (!tensorType) {
      Value result =
          expandPolyExp(b, lb.toF32(op.getInput()), coefficients, nMax);
      rewriter.replaceOp(op, lb.fromF32(result, elementType));
      return success();
    }

    // Tensors: flatten, then 16 lanes at a time with a masked tail.
    Value input = lb.toBuffer(op.getInput());
    Value output = lb.allocLike(tensorType, lb.dimSizes(input));
    if (tensorType.getRank() == 0) {
      Value x = lb.toF32(memref::LoadOp::create(b, input, ValueRange{}));
      memref::StoreOp::create(
          b, lb.fromF32(expandPolyExp(b, x, coefficients, nMax), elementType),
          output, ValueRange{});
    } else {
      SmallVector<ReassociationIndices> all(1);
      for (int64_t d = 0; d < tensorType.getRank(); ++d)
        all[0].push_back(d);
      Value flatInput = input, flatOutput = output;
      if (tensorType.getRank() > 1) {
        flatInput = memref::CollapseShapeOp::create(b, input, all);
        flatOutput = memref::CollapseShapeOp::create(b, output, all);
      }
      Value size = memref::DimOp::create(b, flatInput, 0);
      Value numChunks = arith::CeilDivUIOp::create(b, size, lb.idx(kLanes));
      auto chunkType = VectorType::get({kLanes}, elementType);
      lb.parallelFor(numChunks, [&](ValueRange ivs) {
        Value begin = lb.mul(ivs[0], lb.idx(kLanes));
        Value mask = vector::CreateMaskOp::create(
            b, VectorType::get({kLanes}, b.getI1Type()),
            ValueRange{lb.sub(size, begin)});
        Value passThrough = lb.zeros(chunkType);
        Value x = vector::MaskedLoadOp::create(
            b, chunkType, flatInput, ValueRange{begin}, mask, passThrough);
        Value result = expandPolyExp(b, lb.toF32(x), coefficients, nMax);
        vector::MaskedStoreOp::create(b, flatOutput, ValueRange{begin}, mask,
                                      lb.fromF32(result, elementType));
      });
    }
    rewriter.replaceOp(op, lb.toTensor(tensorType, output));
    return success();
  }
};

} // namespace

void mlir::attn::populatePolyExpToArithPatterns(RewritePatternSet &patterns) {
  patterns.add<PolyExpToArith>(patterns.getContext());
}
