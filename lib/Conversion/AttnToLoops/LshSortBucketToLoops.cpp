//===- LshSortBucketToLoops.cpp - sortLSH to a counting sort ----*- C++ -*-===//
//
// Lowers attn.lsh_hash, attn.lsh_sort and attn.lsh_sort_bucket (the two in
// one) to loops. The hash of a row evaluates all P projections in one vector
// register and Gray-codes the sign bits; the sort of one row set is a
// counting sort: a histogram of the 2^P keys, its exclusive prefix sum, and
// a stable placement pass. O(N) per row set, no comparison sort.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Projections evaluated per vector FMA; the ops allow at most this many.
constexpr int64_t kMaxProjections = 16;

/// The Gray-coded keys of the rows of `input` ([..., N, D] buffer) under
/// `projections` ([D, P] buffer).
class RowHasher {
public:
  RowHasher(LoopBuilder &lb, Value input, Value projections, int64_t numProjs)
      : lb(lb), b(lb.b), input(input) {
    auto inputType = cast<MemRefType>(input.getType());
    headDim = memref::DimOp::create(b, input, inputType.getRank() - 1);
    laneType = VectorType::get({kMaxProjections}, b.getF32Type());
    auto codeType = VectorType::get({kMaxProjections}, b.getI32Type());
    // R padded to 16 f32 lanes per row, so that one FMA per input element
    // advances all P dot products; the zero lanes never set a bit.
    table = memref::AllocOp::create(
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
    // Lane p contributes 2^p to the code when its dot product is positive.
    SmallVector<int32_t> powers;
    for (int64_t p = 0; p < kMaxProjections; ++p)
      powers.push_back(1 << p);
    lanePowers = arith::ConstantOp::create(
        b, DenseElementsAttr::get(codeType, ArrayRef<int32_t>(powers)));
    laneZero = lb.zeros(laneType);
    codeZero = lb.zeros(codeType);
  }

  /// The key (i32) of the row at `rowIvs` (all indices but the last).
  Value key(ValueRange rowIvs) {
    Value dots = lb.forCarrying(
        lb.idx(0), headDim, lb.idx(1), {laneZero},
        [&](Value d, ValueRange acc) -> SmallVector<Value> {
          SmallVector<Value> ivs(rowIvs);
          ivs.push_back(d);
          Value x = lb.toF32(memref::LoadOp::create(b, input, ivs));
          Value r = vector::LoadOp::create(b, laneType, table,
                                           ValueRange{d, lb.idx(0)});
          return {vector::FMAOp::create(b, lb.splat(laneType, x), r, acc[0])};
        })[0];
    Value bits = lb.cmpF(arith::CmpFPredicate::OGT, dots, laneZero);
    Value code = vector::ReductionOp::create(
        b, vector::CombiningKind::ADD, lb.select(bits, lanePowers, codeZero));
    return arith::XOrIOp::create(
        b, code,
        arith::ShRUIOp::create(
            b, code, arith::ConstantIntOp::create(b, b.getI32Type(), 1)));
  }

private:
  LoopBuilder &lb;
  ImplicitLocOpBuilder &b;
  Value input, headDim, table, lanePowers, laneZero, codeZero;
  VectorType laneType;
};

/// The permutation and, with `withRank`, rank buffers of a sort whose
/// results have type `resultType`, sized like the rows of `source` (a
/// buffer whose leading dims are the row sets' and then the rows').
std::pair<Value, Value> allocSortResults(LoopBuilder &lb,
                                         RankedTensorType resultType,
                                         Value source, bool withRank) {
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    if (resultType.isDynamicDim(d))
      dynSizes.push_back(memref::DimOp::create(lb.b, source, d));
  auto bufferType =
      MemRefType::get(resultType.getShape(), resultType.getElementType());
  IntegerAttr alignment = lb.b.getI64IntegerAttr(64);
  Value permutation =
      memref::AllocOp::create(lb.b, bufferType, dynSizes, alignment);
  Value rank =
      withRank ? memref::AllocOp::create(lb.b, bufferType, dynSizes, alignment)
               : Value();
  return {permutation, rank};
}

/// A stable counting sort of every row set of a [..., N] key space
/// (`setCounts` leading dims, `rowLen` rows, keys in [0, 2^bits)):
/// `keyOf(setIvs, row)` gives a row's key (i32, read once),
/// and the results go to `permutation` and `rank` (or null).
void emitCountingSorts(LoopBuilder &lb, ValueRange setCounts, Value rowLen,
                       int64_t bits,
                       function_ref<Value(ValueRange, Value)> keyOf,
                       Value permutation, Value rank) {
  ImplicitLocOpBuilder &b = lb.b;
  Type resultType = cast<MemRefType>(permutation.getType()).getElementType();
  auto toResult = [&](Value position) -> Value {
    return resultType.isIndex()
               ? position
               : arith::IndexCastOp::create(b, resultType, position);
  };
  Value numKeys = lb.idx(int64_t(1) << bits);
  lb.parallelFor(setCounts, [&](ValueRange setIvs) {
    auto at = [&](Value row) {
      SmallVector<Value> ivs(setIvs);
      ivs.push_back(row);
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

    // Keys and histogram.
    lb.forEach(lb.idx(0), rowLen, lb.idx(1), [&](Value row) {
      Value key =
          arith::IndexCastOp::create(b, b.getIndexType(), keyOf(setIvs, row));
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
      memref::StoreOp::create(b, toResult(row), permutation, at(position));
      if (rank)
        memref::StoreOp::create(b, toResult(position), rank, at(row));
    });
  });
}

/// The leading dims (row sets) of a buffer of rank `rank` whose last
/// `trailing` dims are per row set.
SmallVector<Value> setCountsOf(ImplicitLocOpBuilder &b, Value buffer,
                               int64_t trailing) {
  SmallVector<Value> counts;
  int64_t rank = cast<MemRefType>(buffer.getType()).getRank();
  for (int64_t d = 0; d + trailing < rank; ++d)
    counts.push_back(memref::DimOp::create(b, buffer, d));
  return counts;
}

/// The results of a sort as tensors of `resultType`.
SmallVector<Value> sortResults(ImplicitLocOpBuilder &b,
                               RankedTensorType resultType, Value permutation,
                               Value rank) {
  SmallVector<Value> results;
  for (Value buffer : {permutation, rank})
    if (buffer)
      results.push_back(bufferization::ToTensorOp::create(
          b, resultType, buffer, /*restrict=*/true, /*writable=*/true));
  return results;
}

struct LshHashToLoops : OpConversionPattern<LshHashOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LshHashOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    auto keysType = op.getKeys().getType();
    Value input = lb.toBuffer(op.getInput());
    RowHasher hasher(lb, input, lb.toBuffer(op.getProjections()),
                     op.getProjections().getType().getDimSize(1));
    SmallVector<Value> rows = setCountsOf(b, input, 1), dynSizes;
    for (int64_t d = 0; d < keysType.getRank(); ++d)
      if (keysType.isDynamicDim(d))
        dynSizes.push_back(rows[d]);
    Value keys = memref::AllocOp::create(
        b, MemRefType::get(keysType.getShape(), keysType.getElementType()),
        dynSizes, b.getI64IntegerAttr(64));
    lb.parallelFor(rows, [&](ValueRange ivs) {
      memref::StoreOp::create(b, hasher.key(ivs), keys, ivs);
    });
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               b, keysType, keys, /*restrict=*/true,
                               /*writable=*/true));
    return success();
  }
};

struct LshSortToLoops : OpConversionPattern<LshSortOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LshSortOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    auto resultType = op.getPermutation().getType();
    Value keys = lb.toBuffer(op.getKeys());
    int64_t rank = resultType.getRank();
    auto [permutation, ranks] =
        allocSortResults(lb, resultType, keys, (bool)op.getRank());
    emitCountingSorts(
        lb, setCountsOf(b, keys, 1), memref::DimOp::create(b, keys, rank - 1),
        op.getBits(),
        [&](ValueRange setIvs, Value row) -> Value {
          SmallVector<Value> ivs(setIvs);
          ivs.push_back(row);
          return memref::LoadOp::create(b, keys, ivs);
        },
        permutation, ranks);
    rewriter.replaceOp(op, sortResults(b, resultType, permutation, ranks));
    return success();
  }
};

struct LshSortBucketToLoops : OpConversionPattern<LshSortBucketOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LshSortBucketOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    LoopBuilder lb(b);
    auto resultType = op.getPermutation().getType();
    int64_t rank = op.getInput().getType().getRank();
    int64_t numProjs = op.getProjections().getType().getDimSize(1);
    Value input = lb.toBuffer(op.getInput());
    RowHasher hasher(lb, input, lb.toBuffer(op.getProjections()), numProjs);
    auto [permutation, ranks] =
        allocSortResults(lb, resultType, input, (bool)op.getRank());
    // Each row is hashed as the histogram counts it.
    emitCountingSorts(
        lb, setCountsOf(b, input, 2), memref::DimOp::create(b, input, rank - 2),
        numProjs,
        [&](ValueRange setIvs, Value row) {
          SmallVector<Value> ivs(setIvs);
          ivs.push_back(row);
          return hasher.key(ivs);
        },
        permutation, ranks);
    rewriter.replaceOp(op, sortResults(b, resultType, permutation, ranks));
    return success();
  }
};

} // namespace

void mlir::attn::populateLshSortBucketToLoopsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LshHashToLoops, LshSortToLoops, LshSortBucketToLoops>(
      patterns.getContext());
}
