//===- QuantizeToLoops.cpp - attn.quantize/dequantize to loops --*- C++ -*-===//
//
// Lowers the staged group quantization ops: one parallel work item per
// group computes the INT8 scale, the stage-2 integer step and zero point and
// the codes; a second parallel pass packs the codes along the last dim.
// Dequantization is elementwise: unpack, undo stage 2 in integers, scale.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Integer helpers on i32 scalars.
struct IntOps {
  explicit IntOps(ImplicitLocOpBuilder &b) : b(b) {}
  Value c(int32_t v) { return arith::ConstantIntOp::create(b, v, 32); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value clamp(Value x, int32_t lo, Value hi) { return min(max(x, c(lo)), hi); }
  Value clamp(Value x, int32_t lo, int32_t hi) { return clamp(x, lo, c(hi)); }
  /// round_half_even(n / d) for n >= 0, d > 0, in integers.
  Value divRoundHalfEven(Value n, Value d) {
    Value q = arith::DivUIOp::create(b, n, d);
    Value twiceRem = arith::ShLIOp::create(
        b, arith::SubIOp::create(b, n, arith::MulIOp::create(b, q, d)), c(1));
    Value above =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, twiceRem, d);
    Value tie = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, twiceRem, d);
    Value odd = arith::TruncIOp::create(b, b.getI1Type(), q);
    Value up =
        arith::OrIOp::create(b, above, arith::AndIOp::create(b, tie, odd));
    return arith::AddIOp::create(b, q,
                                 arith::ExtUIOp::create(b, q.getType(), up));
  }
  ImplicitLocOpBuilder &b;
};

/// Bit widths per head (dim 1 of a [B, H, L, D] input) for
/// low_priority_heads: head h has priority std_c(gap_c), gap_c the range of
/// channel c over batch and positions; the `numLow` lowest (ties: lower
/// head) get 2 bits, the others 4. Ranks by the variance (same order).
Value emitHeadBits(LoopBuilder &lb, IntOps &io, Value input,
                   ArrayRef<Value> sizes, int64_t numLow) {
  ImplicitLocOpBuilder &b = lb.b;
  Type f32 = b.getF32Type();
  int64_t dynamic = ShapedType::kDynamic;
  Value heads = sizes[1], channels = sizes[3];
  auto rangeType = MemRefType::get({dynamic, dynamic}, f32);
  Value low =
      memref::AllocOp::create(b, rangeType, ValueRange{heads, channels});
  Value high =
      memref::AllocOp::create(b, rangeType, ValueRange{heads, channels});
  Value variance = memref::AllocOp::create(b, MemRefType::get({dynamic}, f32),
                                           ValueRange{heads});
  Value headBits = memref::AllocOp::create(
      b, MemRefType::get({dynamic}, b.getI32Type()), ValueRange{heads});
  Value numChannels = arith::UIToFPOp::create(
      b, f32, arith::IndexCastOp::create(b, b.getI64Type(), channels));

  lb.parallelFor(heads, [&](ValueRange h) {
    lb.forEach(lb.idx(0), channels, lb.idx(1), [&](Value c) {
      memref::StoreOp::create(b, lb.f32(INFINITY), low, ValueRange{h[0], c});
      memref::StoreOp::create(b, lb.f32(-INFINITY), high, ValueRange{h[0], c});
    });
    // Positions outside, channels inside: one streaming pass over the head.
    lb.forEach(lb.idx(0), sizes[0], lb.idx(1), [&](Value batch) {
      lb.forEach(lb.idx(0), sizes[2], lb.idx(1), [&](Value t) {
        lb.forEach(lb.idx(0), channels, lb.idx(1), [&](Value c) {
          Value x = lb.toF32(
              memref::LoadOp::create(b, input, ValueRange{batch, h[0], t, c}));
          SmallVector<Value> at = {h[0], c};
          memref::StoreOp::create(b,
                                  arith::MinNumFOp::create(
                                      b, memref::LoadOp::create(b, low, at), x),
                                  low, at);
          memref::StoreOp::create(
              b,
              arith::MaxNumFOp::create(b, memref::LoadOp::create(b, high, at),
                                       x),
              high, at);
        });
      });
    });
    auto gap = [&](Value c) -> Value {
      SmallVector<Value> at = {h[0], c};
      return arith::SubFOp::create(b, memref::LoadOp::create(b, high, at),
                                   memref::LoadOp::create(b, low, at));
    };
    Value mean = arith::DivFOp::create(
        b,
        lb.forCarrying(lb.idx(0), channels, lb.idx(1), lb.f32(0.0f),
                       [&](Value c, ValueRange acc) -> SmallVector<Value> {
                         return {arith::AddFOp::create(b, acc[0], gap(c))};
                       })[0],
        numChannels);
    Value sumSquares =
        lb.forCarrying(lb.idx(0), channels, lb.idx(1), lb.f32(0.0f),
                       [&](Value c, ValueRange acc) -> SmallVector<Value> {
                         Value d = arith::SubFOp::create(b, gap(c), mean);
                         return {arith::AddFOp::create(
                             b, acc[0], arith::MulFOp::create(b, d, d))};
                       })[0];
    memref::StoreOp::create(
        b, arith::DivFOp::create(b, sumSquares, numChannels), variance, h[0]);
  });

  lb.parallelFor(heads, [&](ValueRange h) {
    Value mine = memref::LoadOp::create(b, variance, h[0]);
    Value below = lb.forCarrying(
        lb.idx(0), heads, lb.idx(1), lb.idx(0),
        [&](Value other, ValueRange count) -> SmallVector<Value> {
          Value theirs = memref::LoadOp::create(b, variance, other);
          Value lower = lb.cmpF(arith::CmpFPredicate::OLT, theirs, mine);
          Value tiedBefore =
              lb.andI(lb.cmpF(arith::CmpFPredicate::OEQ, theirs, mine),
                      lb.cmp(arith::CmpIPredicate::ult, other, h[0]));
          return {lb.select(lb.orI(lower, tiedBefore),
                            lb.add(count[0], lb.idx(1)), count[0])};
        })[0];
    Value isLow = lb.cmp(arith::CmpIPredicate::ult, below, lb.idx(numLow));
    memref::StoreOp::create(b, lb.select(isLow, io.c(2), io.c(4)), headBits,
                            h[0]);
  });
  return headBits;
}

struct QuantizeToLoops : OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    IntOps io(b);
    int64_t axis = op.getAxis(), groupSize = op.getGroupSize();
    int64_t bits = op.getBits();
    auto inputType = op.getInput().getType();
    int64_t rank = inputType.getRank();
    Type i8 = b.getI8Type(), i32 = b.getI32Type();

    Value input = lb.toBuffer(op.getInput());
    SmallVector<Value> sizes = lb.dimSizes(input);
    Value headBits;
    if (std::optional<uint64_t> numLow = op.getLowPriorityHeads())
      headBits = emitHeadBits(lb, io, input, sizes, *numLow);
    SmallVector<Value> groupSizes(sizes);
    groupSizes[axis] =
        arith::CeilDivUIOp::create(b, sizes[axis], lb.idx(groupSize));

    // Unpacked codes (one per element) first; packing reads them after.
    auto unpackedType = RankedTensorType::get(inputType.getShape(), i8);
    Value unpacked = lb.allocLike(unpackedType, sizes);
    Value scale = lb.allocLike(op.getScale().getType(), groupSizes);
    Value step, zero;
    if (bits < 8) {
      step = lb.allocLike(op.getStep().getType(), groupSizes);
      zero = lb.allocLike(op.getZero().getType(), groupSizes);
    }

    lb.parallelFor(groupSizes, [&](ValueRange group) {
      Value begin = lb.mul(group[axis], lb.idx(groupSize));
      Value end = lb.minIdx(lb.add(begin, lb.idx(groupSize)), sizes[axis]);
      auto at = [&](Value e) {
        SmallVector<Value> indices(group);
        indices[axis] = e;
        return indices;
      };
      auto forGroup =
          [&](ValueRange init,
              llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
            return lb.forCarrying(begin, end, lb.idx(1), init, body);
          };

      // Stage 1: s1 = max|x| / 127, q8 = clamp(round_half_even(x / s1)).
      Value absMax = forGroup(
          lb.f32(0.0f), [&](Value e, ValueRange acc) -> SmallVector<Value> {
            Value x = lb.toF32(memref::LoadOp::create(b, input, at(e)));
            return {arith::MaxNumFOp::create(b, acc[0],
                                             math::AbsFOp::create(b, x))};
          })[0];
      Value s1 = arith::DivFOp::create(b, absMax, lb.f32(127.0f));
      memref::StoreOp::create(b, s1, scale, group);
      Value zeroScale = lb.cmpF(arith::CmpFPredicate::OEQ, s1, lb.f32(0.0f));
      auto int8Code = [&](Value e) {
        Value x = lb.toF32(memref::LoadOp::create(b, input, at(e)));
        Value rounded =
            math::RoundEvenOp::create(b, arith::DivFOp::create(b, x, s1));
        Value clamped = arith::MinNumFOp::create(
            b, arith::MaxNumFOp::create(b, rounded, lb.f32(-127.0f)),
            lb.f32(127.0f));
        Value q8 = arith::FPToSIOp::create(b, i32, clamped);
        return lb.select(zeroScale, io.c(0), q8);
      };
      if (bits == 8) {
        lb.forEach(begin, end, lb.idx(1), [&](Value e) {
          memref::StoreOp::create(
              b, arith::TruncIOp::create(b, i8, int8Code(e)), unpacked, at(e));
        });
        return;
      }

      // Stage 2: z = min(q8), s2 = max(1, ceil((max - z) / levels)).
      SmallVector<Value> range =
          forGroup(ValueRange{io.c(127), io.c(-127)},
                   [&](Value e, ValueRange acc) -> SmallVector<Value> {
                     Value q8 = int8Code(e);
                     return {io.min(acc[0], q8), io.max(acc[1], q8)};
                   });
      Value groupBits = io.c(bits);
      if (headBits)
        groupBits = memref::LoadOp::create(b, headBits, group[1]);
      Value levels = arith::SubIOp::create(
          b, arith::ShLIOp::create(b, io.c(1), groupBits), io.c(1));
      Value z = range[0];
      Value s2 = io.max(io.c(1),
                        arith::CeilDivUIOp::create(
                            b, arith::SubIOp::create(b, range[1], z), levels));
      memref::StoreOp::create(b, arith::TruncIOp::create(b, i8, s2), step,
                              group);
      memref::StoreOp::create(b, arith::TruncIOp::create(b, i8, z), zero,
                              group);
      lb.forEach(begin, end, lb.idx(1), [&](Value e) {
        Value shifted = arith::SubIOp::create(b, int8Code(e), z);
        Value code = io.clamp(io.divRoundHalfEven(shifted, s2), 0, levels);
        memref::StoreOp::create(b, arith::TruncIOp::create(b, i8, code),
                                unpacked, at(e));
      });
    });

    Value codes = unpacked;
    if (bits < 8) {
      // Pack along the last dim, first code in the low bits; codes past the
      // end of the dim are 0.
      int64_t perByte = 8 / bits;
      SmallVector<Value> packedSizes(sizes);
      Value lastSize = sizes[rank - 1];
      packedSizes[rank - 1] =
          arith::CeilDivUIOp::create(b, lastSize, lb.idx(perByte));
      codes = lb.allocLike(op.getCodes().getType(), packedSizes);
      lb.parallelFor(packedSizes, [&](ValueRange byteIndex) {
        Value byte = io.c(0);
        for (int64_t k = 0; k < perByte; ++k) {
          SmallVector<Value> element(byteIndex);
          Value position =
              lb.add(lb.mul(byteIndex[rank - 1], lb.idx(perByte)), lb.idx(k));
          Value inRange = lb.cmp(arith::CmpIPredicate::ult, position, lastSize);
          element[rank - 1] = lb.select(inRange, position, lb.idx(0));
          Value code = arith::ExtUIOp::create(
              b, i32, memref::LoadOp::create(b, unpacked, element));
          code = lb.select(inRange, code, io.c(0));
          byte = arith::OrIOp::create(
              b, byte, arith::ShLIOp::create(b, code, io.c(k * bits)));
        }
        memref::StoreOp::create(b, arith::TruncIOp::create(b, i8, byte), codes,
                                byteIndex);
      });
    }

    SmallVector<Value> results = {lb.toTensor(op.getCodes().getType(), codes),
                                  lb.toTensor(op.getScale().getType(), scale)};
    if (bits < 8) {
      results.push_back(lb.toTensor(op.getStep().getType(), step));
      results.push_back(lb.toTensor(op.getZero().getType(), zero));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct DequantizeToLoops : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    IntOps io(b);
    int64_t axis = op.getAxis(), groupSize = op.getGroupSize();
    int64_t bits = op.getBits(), perByte = 8 / bits;
    auto outputType = op.getOutput().getType();
    int64_t rank = outputType.getRank();
    Type i32 = b.getI32Type();

    Value codes = lb.toBuffer(op.getCodes());
    Value scale = lb.toBuffer(op.getScale());
    Value step = op.getStep() ? lb.toBuffer(op.getStep()) : Value();
    Value zero = op.getZero() ? lb.toBuffer(op.getZero()) : Value();
    // Output sizes: the scale's, with the group dim and the packed dim taken
    // from the result type where static and from the codes otherwise.
    SmallVector<Value> sizes = lb.dimSizes(scale);
    for (int64_t d = 0; d < rank; ++d) {
      if (!outputType.isDynamicDim(d))
        sizes[d] = lb.idx(outputType.getDimSize(d));
      else if (d == rank - 1)
        sizes[d] = lb.mul(memref::DimOp::create(b, codes, d), lb.idx(perByte));
      else if (d == axis)
        sizes[d] = memref::DimOp::create(b, codes, d);
    }
    Value output = lb.allocLike(outputType, sizes);

    lb.parallelFor(sizes, [&](ValueRange index) {
      SmallVector<Value> byteIndex(index), groupIndex(index);
      Value last = index[rank - 1];
      byteIndex[rank - 1] = arith::DivUIOp::create(b, last, lb.idx(perByte));
      groupIndex[axis] =
          arith::DivUIOp::create(b, index[axis], lb.idx(groupSize));
      Value byte = memref::LoadOp::create(b, codes, byteIndex);
      Value q8;
      if (bits == 8) {
        q8 = arith::ExtSIOp::create(b, i32, byte);
      } else {
        Value shift = arith::IndexCastOp::create(
            b, i32,
            lb.mul(arith::RemUIOp::create(b, last, lb.idx(perByte)),
                   lb.idx(bits)));
        Value code = arith::AndIOp::create(
            b,
            arith::ShRUIOp::create(b, arith::ExtUIOp::create(b, i32, byte),
                                   shift),
            io.c((1 << bits) - 1));
        Value s2 = arith::ExtSIOp::create(
            b, i32, memref::LoadOp::create(b, step, groupIndex));
        Value z = arith::ExtSIOp::create(
            b, i32, memref::LoadOp::create(b, zero, groupIndex));
        q8 = io.clamp(
            arith::AddIOp::create(b, arith::MulIOp::create(b, code, s2), z),
            -127, 127);
      }
      Value x = arith::MulFOp::create(
          b, arith::SIToFPOp::create(b, b.getF32Type(), q8),
          memref::LoadOp::create(b, scale, groupIndex));
      memref::StoreOp::create(b, lb.fromF32(x, outputType.getElementType()),
                              output, index);
    });
    rewriter.replaceOp(op, lb.toTensor(outputType, output));
    return success();
  }
};

} // namespace

void mlir::attn::populateQuantizeToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<QuantizeToLoops, DequantizeToLoops>(patterns.getContext());
}
