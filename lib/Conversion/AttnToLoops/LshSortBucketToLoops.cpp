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
/// results have type `resultType` and sizes `sizes`.
std::pair<Value, Value> allocSortResults(LoopBuilder &lb,
                                         RankedTensorType resultType,
                                         ArrayRef<Value> sizes, bool withRank) {
  return {lb.allocLike(resultType, sizes),
          withRank ? lb.allocLike(resultType, sizes) : Value()};
}

/// A stable counting sort of every row set of a [..., N] key space
/// (`setCounts` leading dims, `rowLen` rows, keys in [0, 2^bits)):
/// `keyOf(rowIvs)` gives the key (i32, read once) of the row at `rowIvs`
/// (the set's indices, then the row), and the results go to `permutation`
/// and `rank` (or null).
void emitCountingSorts(LoopBuilder &lb, ValueRange setCounts, Value rowLen,
                       int64_t bits, function_ref<Value(ValueRange)> keyOf,
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
          arith::IndexCastOp::create(b, b.getIndexType(), keyOf(at(row)));
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
    SmallVector<Value> rows = lb.dimSizes(input);
    rows.pop_back();
    Value keys = lb.allocLike(keysType, rows);
    lb.parallelFor(rows, [&](ValueRange ivs) {
      memref::StoreOp::create(b, hasher.key(ivs), keys, ivs);
    });
    rewriter.replaceOp(op, lb.toTensor(keysType, keys));
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
    SmallVector<Value> sizes = lb.dimSizes(keys);
    auto [permutation, ranks] =
        allocSortResults(lb, resultType, sizes, (bool)op.getRank());
    emitCountingSorts(
        lb, ArrayRef<Value>(sizes).drop_back(), sizes.back(), op.getBits(),
        [&](ValueRange ivs) -> Value {
          return memref::LoadOp::create(b, keys, ivs);
        },
        permutation, ranks);
    rewriter.replaceOp(op, lb.toTensors(resultType, {permutation, ranks}));
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
    int64_t numProjs = op.getProjections().getType().getDimSize(1);
    Value input = lb.toBuffer(op.getInput());
    RowHasher hasher(lb, input, lb.toBuffer(op.getProjections()), numProjs);
    SmallVector<Value> sizes = lb.dimSizes(input);
    sizes.pop_back();
    auto [permutation, ranks] =
        allocSortResults(lb, resultType, sizes, (bool)op.getRank());
    // Each row is hashed as the histogram counts it.
    emitCountingSorts(
        lb, ArrayRef<Value>(sizes).drop_back(), sizes.back(), numProjs,
        [&](ValueRange ivs) { return hasher.key(ivs); }, permutation, ranks);
    rewriter.replaceOp(op, lb.toTensors(resultType, {permutation, ranks}));
    return success();
  }
};

} // namespace

void mlir::attn::populateLshSortBucketToLoopsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LshHashToLoops, LshSortToLoops, LshSortBucketToLoops>(
      patterns.getContext());
}
