//===- LshSortBucketToLoops.cpp - attn.lsh_sort_bucket to a counting sort -===//
//
// Lowers attn.lsh_sort_bucket to one counting sort per row set: the P-bit
// Gray-coded hash of every row (all P projections in one vector register),
// a histogram of the 2^P keys, its exclusive prefix sum, and a stable
// placement pass. O(N) per row set, no comparison sort.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Projections evaluated per vector FMA; the op allows at most this many.
constexpr int64_t kMaxProjections = 16;

struct LshSortBucketToLoops : OpConversionPattern<LshSortBucketOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LshSortBucketOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    auto inputType = op.getInput().getType();
    auto resultType = op.getPermutation().getType();
    int64_t rank = inputType.getRank();
    int64_t numProjs = op.getProjections().getType().getDimSize(1);
    Type i32 = b.getI32Type();
    auto laneType = VectorType::get({kMaxProjections}, b.getF32Type());
    auto codeType = VectorType::get({kMaxProjections}, i32);

    Value input = lb.toBuffer(op.getInput());
    Value projections = lb.toBuffer(op.getProjections());
    Value rowLen = memref::DimOp::create(b, input, rank - 2);
    Value headDim = memref::DimOp::create(b, input, rank - 1);

    // R padded to 16 f32 lanes per row, so that one FMA per input element
    // advances all P dot products; the zero lanes never set a bit.
    Value table = memref::AllocOp::create(
        b,
        MemRefType::get({ShapedType::kDynamic, kMaxProjections},
                        b.getF32Type()),
        ValueRange{headDim});
    lb.forEach(lb.idx(0), headDim, lb.idx(1), [&](Value d) {
      lb.forEach(lb.idx(0), lb.idx(kMaxProjections), lb.idx(1), [&](Value p) {
        Value inRange = lb.cmp(arith::CmpIPredicate::ult, p, lb.idx(numProjs));
        Value safeP = lb.select(inRange, p, lb.idx(0));
        Value entry = lb.toF32(
            memref::LoadOp::create(b, projections, ValueRange{d, safeP}));
        memref::StoreOp::create(b, lb.select(inRange, entry, lb.f32(0.0f)),
                                table, ValueRange{d, p});
      });
    });

    SmallVector<Value> dynSizes, setCounts;
    for (int64_t d = 0; d + 2 < rank; ++d) {
      Value size = memref::DimOp::create(b, input, d);
      setCounts.push_back(size);
      if (resultType.isDynamicDim(d))
        dynSizes.push_back(size);
    }
    if (resultType.isDynamicDim(rank - 2))
      dynSizes.push_back(rowLen);
    auto resultBufferType =
        MemRefType::get(resultType.getShape(), resultType.getElementType());
    IntegerAttr alignment = b.getI64IntegerAttr(64);
    Value permutation =
        memref::AllocOp::create(b, resultBufferType, dynSizes, alignment);
    Value ranks = op.getRank() ? memref::AllocOp::create(b, resultBufferType,
                                                         dynSizes, alignment)
                               : Value();

    // Lane p contributes 2^p to the code when its dot product is positive.
    SmallVector<int32_t> powers;
    for (int64_t p = 0; p < kMaxProjections; ++p)
      powers.push_back(1 << p);
    Value lanePowers = arith::ConstantOp::create(
        b, DenseElementsAttr::get(codeType, ArrayRef<int32_t>(powers)));
    Value laneZero = lb.zeros(laneType);
    Value codeZero = lb.zeros(codeType);
    Value numKeys = lb.idx(int64_t(1) << numProjs);

    auto toResult = [&](Value position) -> Value {
      Type t = resultType.getElementType();
      return t.isIndex() ? position
                         : arith::IndexCastOp::create(b, t, position);
    };

    auto emitRowSet = [&](ValueRange setIvs) {
      auto at = [&](ValueRange tail) {
        SmallVector<Value> ivs(setIvs);
        llvm::append_range(ivs, tail);
        return ivs;
      };
      Value keys = memref::AllocOp::create(
          b, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
          ValueRange{rowLen});
      Value counts = memref::AllocOp::create(
          b, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
          ValueRange{numKeys});
      lb.forEach(lb.idx(0), numKeys, lb.idx(1), [&](Value key) {
        memref::StoreOp::create(b, lb.idx(0), counts, key);
      });

      // Hash and histogram.
      lb.forEach(lb.idx(0), rowLen, lb.idx(1), [&](Value row) {
        Value dots = lb.forCarrying(
            lb.idx(0), headDim, lb.idx(1), {laneZero},
            [&](Value d, ValueRange acc) -> SmallVector<Value> {
              Value x =
                  lb.toF32(memref::LoadOp::create(b, input, at({row, d})));
              Value r = vector::LoadOp::create(b, laneType, table,
                                               ValueRange{d, lb.idx(0)});
              return {
                  vector::FMAOp::create(b, lb.splat(laneType, x), r, acc[0])};
            })[0];
        Value bits = lb.cmpF(arith::CmpFPredicate::OGT, dots, laneZero);
        Value code =
            vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                        lb.select(bits, lanePowers, codeZero));
        Value gray = arith::XOrIOp::create(
            b, code,
            arith::ShRUIOp::create(b, code,
                                   arith::ConstantIntOp::create(b, i32, 1)));
        Value key = arith::IndexCastOp::create(b, b.getIndexType(), gray);
        memref::StoreOp::create(b, key, keys, row);
        Value count = memref::LoadOp::create(b, counts, key);
        memref::StoreOp::create(b, lb.add(count, lb.idx(1)), counts, key);
      });

      // Exclusive prefix sum: counts[key] becomes the first sorted position
      // of that key.
      lb.forCarrying(lb.idx(0), numKeys, lb.idx(1), {lb.idx(0)},
                     [&](Value key, ValueRange start) -> SmallVector<Value> {
                       Value count = memref::LoadOp::create(b, counts, key);
                       memref::StoreOp::create(b, start[0], counts, key);
                       return {lb.add(start[0], count)};
                     });

      // Stable placement: rows of one key keep their order.
      lb.forEach(lb.idx(0), rowLen, lb.idx(1), [&](Value row) {
        Value key = memref::LoadOp::create(b, keys, row);
        Value position = memref::LoadOp::create(b, counts, key);
        memref::StoreOp::create(b, lb.add(position, lb.idx(1)), counts, key);
        memref::StoreOp::create(b, toResult(row), permutation, at({position}));
        if (ranks)
          memref::StoreOp::create(b, toResult(position), ranks, at({row}));
      });
    };

    lb.parallelFor(setCounts, emitRowSet);

    SmallVector<Value> results;
    for (Value buffer : {permutation, ranks})
      if (buffer)
        results.push_back(bufferization::ToTensorOp::create(
            b, resultType, buffer, /*restrict=*/true, /*writable=*/true));
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void mlir::attn::populateLshSortBucketToLoopsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LshSortBucketToLoops>(patterns.getContext());
}
