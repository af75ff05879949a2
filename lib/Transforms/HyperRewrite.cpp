//===- HyperRewrite.cpp - attn.sdpa -> HyperAttention -----------*- C++ -*-===//
//
// Replaces dense attention over long sequences with HyperAttention
// (ALGORITHMS.md §4): an LSH sort, block-diagonal attention on the sorted
// rows, a sampled residual, and their log-sum-exp merge; causal attention by
// the recursion of Algorithm 4, one batched level at a time. The exact
// numbering of the random draws is documented in docs/HyperAttention.md.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_HYPERREWRITE
#include "attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

//===----------------------------------------------------------------------===//
// Counter-based random numbers (ALGORITHMS.md §6)
//===----------------------------------------------------------------------===//

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The projections R[D, P]: standard normal number d * P + p of stream 0.
DenseElementsAttr makeProjections(MLIRContext *ctx, uint64_t seed,
                                  int64_t headDim, int64_t numProjs) {
  auto uniform = [&](uint64_t j) {
    return static_cast<double>((splitmix64(seed ^ j) >> 11) + 1) * 0x1.0p-53;
  };
  SmallVector<float> values;
  for (int64_t j = 0; j < headDim * numProjs; ++j) {
    double radius = std::sqrt(-2.0 * std::log(uniform(2 * j)));
    values.push_back(
        static_cast<float>(radius * std::cos(2.0 * M_PI * uniform(2 * j + 1))));
  }
  auto type = RankedTensorType::get({headDim, numProjs}, Float32Type::get(ctx));
  return DenseElementsAttr::get(type, ArrayRef<float>(values));
}

//===----------------------------------------------------------------------===//
// HyperBuilder: the IR of one rewritten attn.sdpa
//===----------------------------------------------------------------------===//

struct HyperOptions {
  int64_t bucketSize, sampleSize, numProjs, minSeqLen;
  uint64_t seed;
};

/// Rows of `source` ([B, H, n, ...]) as they are, or, with `table` ([1, 1,
/// S, len] i32 row numbers), as the [B * S, H, len, ...] tensor whose batch
/// b * S + s holds at i row `table[0, 0, s, i]` of batch b, row n reading
/// as zeros: the segments of a causal level, read without a copy.
struct RowView {
  Value source;
  Value table = {};
};

class HyperBuilder {
public:
  HyperBuilder(ImplicitLocOpBuilder &b, SdpaOp op, const HyperOptions &opts)
      : b(b), op(op), opts(opts) {
    auto queryType = op.getQuery().getType();
    elementType = queryType.getElementType();
    queryHeads = queryType.getDimSize(1);
    kvHeads = op.getKey().getType().getDimSize(1);
    headDim = queryType.getDimSize(3);
    valueDim = op.getValue().getType().getDimSize(3);
    i32 = b.getI32Type();
  }

  /// HyperAttention of the op's operands: (output, lse) with the op's types
  /// (lse always f32 [B, Hq, Lq]).
  std::pair<Value, Value> build() {
    projections = arith::ConstantOp::create(
        b, makeProjections(b.getContext(), opts.seed, headDim, opts.numProjs));
    Value q = castTo(op.getQuery(), rowsType(queryHeads, headDim));
    Value k = castTo(op.getKey(), rowsType(kvHeads, headDim));
    Value v = castTo(op.getValue(), rowsType(kvHeads, valueDim));
    auto [out, lse] =
        op.getCausal() ? buildCausal(q, k, v)
                       : buildCore(q, hash(q), RowView{k}, hash(k), RowView{v},
                                   /*level=*/idx(0));
    return {castTo(out, op.getOutput().getType()),
            castTo(lse, RankedTensorType::get(
                            op.getOutput().getType().getShape().drop_back(),
                            b.getF32Type()))};
  }

private:
  //===--------------------------------------------------------------------===//
  // Small builders
  //===--------------------------------------------------------------------===//

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value dim(Value t, int64_t d) { return tensor::DimOp::create(b, t, d); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivUIOp::create(b, x, y);
  }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }

  /// [?, heads, ?, width] of the op's element type.
  RankedTensorType rowsType(int64_t heads, int64_t width) {
    return RankedTensorType::get({kDyn, heads, kDyn, width}, elementType);
  }
  Value castTo(Value t, Type type) {
    return t.getType() == type ? t : tensor::CastOp::create(b, type, t);
  }

  /// A tensor whose element at `ivs` is `body(ivs)`: a linalg.generic with
  /// no inputs over the iteration space of `type`.
  Value tabulate(RankedTensorType type, ValueRange dynSizes,
                 function_ref<Value(ImplicitLocOpBuilder &, ValueRange)> body) {
    Value init = tensor::EmptyOp::create(b, type.getShape(),
                                         type.getElementType(), dynSizes);
    int64_t rank = type.getRank();
    SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, type, ValueRange{}, ValueRange{init}, maps, iterators,
        [&](OpBuilder &nested, Location loc, ValueRange) {
          ImplicitLocOpBuilder nb(loc, nested);
          SmallVector<Value> ivs;
          for (int64_t d = 0; d < rank; ++d)
            ivs.push_back(linalg::IndexOp::create(nb, d));
          linalg::YieldOp::create(nb, body(nb, ivs));
        });
    return generic.getResult(0);
  }

  /// The dynamic sizes of a [?, H, ?, ...] tensor.
  SmallVector<Value> dynDims(Value t) {
    SmallVector<Value> sizes;
    auto type = cast<RankedTensorType>(t.getType());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        sizes.push_back(dim(t, d));
    return sizes;
  }

  /// The element at (batch, head, row, col) of `view`, or at (batch, head,
  /// row) without `col` (a view of [B, H, n] row values, such as hashes).
  Value readRow(ImplicitLocOpBuilder &nb, const RowView &view, Value batch,
                Value head, Value row, Value col = {}) {
    auto at = [&](Value b, Value r) {
      SmallVector<Value> indices{b, head, r};
      if (col)
        indices.push_back(col);
      return tensor::ExtractOp::create(nb, view.source, indices).getResult();
    };
    if (!view.table)
      return at(batch, row);
    Value zero = arith::ConstantIndexOp::create(nb, 0);
    Value segments = tensor::DimOp::create(nb, view.table, 2);
    Value segment = arith::RemUIOp::create(nb, batch, segments);
    Value sourceRow = arith::IndexCastUIOp::create(
        nb, nb.getIndexType(),
        tensor::ExtractOp::create(nb, view.table,
                                  ValueRange{zero, zero, segment, row}));
    Value real =
        arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, sourceRow,
                              tensor::DimOp::create(nb, view.source, 2));
    sourceRow = arith::SelectOp::create(nb, real, sourceRow, zero);
    Value value = at(arith::DivUIOp::create(nb, batch, segments), sourceRow);
    Value zeroValue = arith::ConstantOp::create(
        nb, nb.getZeroAttr(getElementTypeOrSelf(view.source.getType())));
    return arith::SelectOp::create(nb, real, value, zeroValue);
  }

  /// The row count of `view`.
  Value viewRows(const RowView &view) {
    return view.table ? dim(view.table, 3) : dim(view.source, 2);
  }

  /// The batch count of `view`.
  Value viewBatches(const RowView &view) {
    Value batches = dim(view.source, 0);
    return view.table ? mul(batches, dim(view.table, 2)) : batches;
  }

  /// Rows of `view` ([B, H, N, W]) gathered straight into blocks, in one
  /// pass: [B * blocks, H, len, W], where `rowOf(b, block, h, i)` is the
  /// row of the view (an integer) at position i of that block.
  Value gatherIntoBlocks(
      const RowView &view, Value blocks, Value len,
      llvm::function_ref<Value(ImplicitLocOpBuilder &, ValueRange)> rowOf) {
    auto sourceType = cast<RankedTensorType>(view.source.getType());
    auto type = RankedTensorType::get(
        {kDyn, kDyn, sourceType.getDimSize(1), kDyn, sourceType.getDimSize(3)},
        sourceType.getElementType());
    Value gathered =
        tabulate(type, {viewBatches(view), blocks, len},
                 [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
                   Value row = arith::IndexCastUIOp::create(
                       nb, nb.getIndexType(), rowOf(nb, ivs.take_front(4)));
                   return readRow(nb, view, ivs[0], ivs[2], row, ivs[4]);
                 });
    return mergeDims(gathered, 0);
  }

  /// Rows of `view` picked by `index` ([B, H, blocks * len]) into blocks of
  /// `len`: [B * blocks, H, len, W] (a gather and a transpose into blocks in
  /// one pass).
  Value gatherBlocks(const RowView &view, Value index, Value len) {
    Value blocks = arith::DivUIOp::create(b, dim(index, 2), len);
    return gatherIntoBlocks(
        view, blocks, len, [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
          Value position = arith::AddIOp::create(
              nb, arith::MulIOp::create(nb, ivs[1], len), ivs[3]);
          return tensor::ExtractOp::create(nb, index,
                                           ValueRange{ivs[0], ivs[2], position})
              .getResult();
        });
  }

  /// Rows of `view` picked by `rows` ([B, H, m] row numbers of the view):
  /// [B, H, m, W].
  Value gatherViewRows(const RowView &view, Value rows) {
    auto sourceType = cast<RankedTensorType>(view.source.getType());
    auto rowsType = cast<RankedTensorType>(rows.getType());
    auto type = RankedTensorType::get({kDyn, sourceType.getDimSize(1),
                                       rowsType.getDimSize(2),
                                       sourceType.getDimSize(3)},
                                      sourceType.getElementType());
    SmallVector<Value> sizes{viewBatches(view)};
    if (rowsType.isDynamicDim(2))
      sizes.push_back(dim(rows, 2));
    return tabulate(type, sizes,
                    [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
                      Value row = arith::IndexCastUIOp::create(
                          nb, nb.getIndexType(),
                          tensor::ExtractOp::create(nb, rows, ivs.drop_back()));
                      return readRow(nb, view, ivs[0], ivs[1], row, ivs[3]);
                    });
  }

  /// Results in blocks ([B * blocks, H, len, W], or without W) back on rows
  /// [B, H, rows, W]: row r of batch b is position `positionOf(b, h, r)` of
  /// b's blocks laid end to end. One pass (a transpose out of the blocks
  /// and a gather would copy twice).
  Value gatherFromBlocks(
      Value blocked, Value blocks, Value rows,
      function_ref<Value(ImplicitLocOpBuilder &, ValueRange)> positionOf) {
    auto blockedType = cast<RankedTensorType>(blocked.getType());
    SmallVector<int64_t> shape(blockedType.getShape());
    shape[0] = shape[2] = kDyn;
    auto type = RankedTensorType::get(shape, blockedType.getElementType());
    Value len = dim(blocked, 2);
    return tabulate(
        type, {arith::DivUIOp::create(b, dim(blocked, 0), blocks), rows},
        [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
          Value position = arith::IndexCastUIOp::create(
              nb, nb.getIndexType(), positionOf(nb, ivs.take_front(3)));
          SmallVector<Value> indices(ivs);
          indices[0] = arith::AddIOp::create(
              nb, arith::MulIOp::create(nb, ivs[0], blocks),
              arith::DivUIOp::create(nb, position, len));
          indices[2] = arith::RemUIOp::create(nb, position, len);
          return tensor::ExtractOp::create(nb, blocked, indices);
        });
  }

  /// Merges dims `first` and `first + 1`.
  Value mergeDims(Value t, int64_t first) {
    auto type = cast<RankedTensorType>(t.getType());
    SmallVector<ReassociationIndices> groups;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (d == first + 1)
        groups.back().push_back(d);
      else
        groups.push_back({d});
    }
    return tensor::CollapseShapeOp::create(b, t, groups);
  }

  /// attn.gather of `source` (a [B, H, L, ...] tensor) along its rows.
  Value gatherRows(Value source, Value indices) {
    auto sourceType = cast<RankedTensorType>(source.getType());
    auto indicesType = cast<RankedTensorType>(indices.getType());
    SmallVector<int64_t> shape(sourceType.getShape().take_front(2));
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < 2; ++d)
      if (sourceType.isDynamicDim(d))
        sizes.push_back(dim(source, d));
    for (int64_t d = 2; d < indicesType.getRank(); ++d)
      shape.push_back(indicesType.getDimSize(d));
    llvm::append_range(shape, sourceType.getShape().drop_front(3));
    return GatherOp::create(
        b, RankedTensorType::get(shape, sourceType.getElementType()), source,
        indices, /*axis=*/2);
  }

  /// The sortLSH keys of the rows of `x` ([B, H, L, D]): [B, H, L] i32.
  Value hash(Value x) {
    auto type = cast<RankedTensorType>(x.getType());
    return LshHashOp::create(
        b, RankedTensorType::get(type.getShape().drop_back(), i32), x,
        projections);
  }

  /// Permutation and, with `withRank`, rank of rows by their sortLSH keys
  /// ([B, H, L] i32).
  std::pair<Value, Value> sortByHash(Value hashes, bool withRank) {
    auto type = cast<RankedTensorType>(hashes.getType());
    SmallVector<Type> types(withRank ? 2 : 1, type);
    auto sort =
        LshSortOp::create(b, types, hashes, b.getI64IntegerAttr(opts.numProjs));
    return {sort.getPermutation(), sort.getRank()};
  }

  /// attn.sdpa with log-sum-exp.
  std::pair<Value, Value> attend(Value q, Value k, Value v, Value mask,
                                 bool causal) {
    auto sdpa = SdpaOp::create(b, q, k, v, mask, op.getScaleAttr(), causal,
                               /*withLse=*/true);
    // The pieces keep the softmax the original asked for.
    sdpa.setSoftmaxExpAttr(op.getSoftmaxExpAttr());
    return {sdpa.getOutput(), sdpa.getLse()};
  }

  //===--------------------------------------------------------------------===//
  // The non-causal core (steps 1-4 of §4)
  //===--------------------------------------------------------------------===//

  /// HyperAttention of q [B', Hq, Lq, D] over the key rows `k` and value
  /// rows `values` ([B', Hkv, Lk, D] and [B', Hkv, Lk, Dv], read through
  /// their views), with the rows' sortLSH keys `queryHashes` [B', Hq, Lq]
  /// and `keyHashes` [B', Hkv, Lk], drawing its samples from stream 1 +
  /// level.
  std::pair<Value, Value> buildCore(Value q, Value queryHashes,
                                    const RowView &k, Value keyHashes,
                                    const RowView &values, Value level) {
    Value batch = dim(q, 0), queryLen = dim(q, 2), keyLen = viewRows(k);
    auto permType = [&](int64_t heads) {
      return RankedTensorType::get({kDyn, heads, kDyn}, i32);
    };

    // 1. Sort queries and keys by their hash.
    Value queryPerm, queryRank;
    std::tie(queryPerm, queryRank) = sortByHash(queryHashes, /*withRank=*/true);
    Value keyPerm = sortByHash(keyHashes, /*withRank=*/false).first;

    // 2. Blocks: nb key blocks of b keys, query blocks of ceil(Lq / nb).
    Value bucket = idx(opts.bucketSize);
    Value numBlocks = ceilDiv(keyLen, bucket);
    Value queryBlock = ceilDiv(queryLen, numBlocks);
    Value paddedQueryLen = mul(numBlocks, queryBlock);
    // Sorted rows, padded to whole blocks (the padding repeats row 0 and
    // is never read back, or masked for keys).
    auto sortedIndex = [&](Value perm, Value len, ImplicitLocOpBuilder &nb,
                           ValueRange bhp) -> Value {
      Value position = bhp[2];
      Value inRange =
          arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, position, len);
      Value safe = arith::SelectOp::create(
          nb, inRange, position, arith::ConstantIndexOp::create(nb, 0));
      Value row =
          tensor::ExtractOp::create(nb, perm, ValueRange{bhp[0], bhp[1], safe});
      return arith::SelectOp::create(nb, inRange, row,
                                     arith::ConstantIntOp::create(nb, i32, 0));
    };
    Value queryIndex =
        tabulate(permType(queryHeads), {batch, paddedQueryLen},
                 [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
                   return sortedIndex(queryPerm, queryLen, nb, ivs);
                 });
    Value keyIndex =
        tabulate(permType(kvHeads), {batch, mul(numBlocks, bucket)},
                 [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
                   return sortedIndex(keyPerm, keyLen, nb, ivs);
                 });
    Value blockedQ = gatherBlocks(RowView{q}, queryIndex, queryBlock);
    Value blockedK = gatherBlocks(k, keyIndex, bucket);
    Value blockedV = gatherBlocks(values, keyIndex, bucket);
    // Keys past Lk only fill the last block.
    Value keyValid = tabulate(
        RankedTensorType::get({kDyn, 1, 1, opts.bucketSize}, b.getI1Type()),
        {mul(batch, numBlocks)}, [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
          Value block = arith::RemUIOp::create(nb, ivs[0], numBlocks);
          Value position = arith::AddIOp::create(
              nb, arith::MulIOp::create(nb, block, bucket), ivs[3]);
          return arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, position,
                                       keyLen)
              .getResult();
        });
    auto [blockOut, blockLse] =
        attend(blockedQ, blockedK, blockedV, keyValid, /*causal=*/false);
    // Back in the original query order: row r sits at its sorted position.
    auto sortedPosition = [&](ImplicitLocOpBuilder &nb, ValueRange bhr) {
      return tensor::ExtractOp::create(nb, queryRank, bhr).getResult();
    };
    Value out = gatherFromBlocks(blockOut, numBlocks, queryLen, sortedPosition);
    Value lse = gatherFromBlocks(blockLse, numBlocks, queryLen, sortedPosition);

    // 3. The sampled residual (in the original query order), merged with
    // the blocks.
    if (opts.sampleSize > 0) {
      auto [sampleOut, sampleLse] =
          buildResidual(q, k, values, keyPerm, queryRank, level, queryBlock);
      auto merge = MergeOp::create(b, out.getType(), lse.getType(), out, lse,
                                   sampleOut, sampleLse);
      out = merge.getOutput();
      lse = merge.getLse();
    }
    return {out, lse};
  }

  /// Attention of the queries over `sample-size` sorted key positions
  /// drawn uniformly, without those of the query's own block (its sorted
  /// position `queryRank` over `queryBlock`), with log(Lk / m) added to
  /// the log-sum-exp.
  std::pair<Value, Value> buildResidual(Value q, const RowView &k,
                                        const RowView &values, Value keyPerm,
                                        Value queryRank, Value level,
                                        Value queryBlock) {
    Value batch = dim(q, 0), keyLen = viewRows(k);
    int64_t m = opts.sampleSize;
    Value stream = arith::IndexCastUIOp::create(
        b, b.getI64Type(), arith::AddIOp::create(b, level, idx(1)));
    Value keyLen64 = arith::IndexCastUIOp::create(b, b.getI64Type(), keyLen);
    Value samples = tabulate(
        RankedTensorType::get({kDyn, kvHeads, m}, i32), {batch},
        [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
          // Draw (b' * Hkv + g) * m + i of the level's stream.
          auto i64 = [&](int64_t c) {
            return arith::ConstantIntOp::create(nb, nb.getI64Type(), c);
          };
          Value drawIndex = arith::IndexCastUIOp::create(
              nb, nb.getI64Type(),
              arith::AddIOp::create(
                  nb,
                  arith::MulIOp::create(
                      nb,
                      arith::AddIOp::create(
                          nb,
                          arith::MulIOp::create(
                              nb, ivs[0],
                              arith::ConstantIndexOp::create(nb, kvHeads)),
                          ivs[1]),
                      arith::ConstantIndexOp::create(nb, m)),
                  ivs[2]));
          Value counter = arith::XOrIOp::create(
              nb,
              arith::XOrIOp::create(nb, i64(static_cast<int64_t>(opts.seed)),
                                    arith::ShLIOp::create(nb, stream, i64(32))),
              drawIndex);
          Value draw = emitSplitmix64(nb, counter);
          return arith::TruncIOp::create(
                     nb, i32, arith::RemUIOp::create(nb, draw, keyLen64))
              .getResult();
        });
    // Samples index sorted positions; their keys are keyPerm[samples].
    Value sampledRows = gatherRows(keyPerm, samples);
    Value sampledK = gatherViewRows(k, sampledRows);
    Value sampledV = gatherViewRows(values, sampledRows);
    // Sample j is dropped for query i when the sample and the query's
    // sorted position lie in one block: compare precomputed block numbers
    // (i32, as the kernels that evaluate the mask read them), no division
    // per element.
    Value bucket = arith::ConstantIntOp::create(b, i32, opts.bucketSize);
    Value sampleBlocks =
        tabulate(RankedTensorType::get({kDyn, kvHeads, m}, i32), {batch},
                 [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
                   return arith::DivUIOp::create(
                       nb, tensor::ExtractOp::create(nb, samples, ivs), bucket);
                 });
    Value queryLen = dim(q, 2);
    Value queryBlock32 = arith::IndexCastUIOp::create(b, i32, queryBlock);
    Value queryBlocks = tabulate(
        RankedTensorType::get({kDyn, queryHeads, kDyn}, i32), {batch, queryLen},
        [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
          return arith::DivUIOp::create(
              nb, tensor::ExtractOp::create(nb, queryRank, ivs), queryBlock32);
        });
    auto maskType =
        RankedTensorType::get({kDyn, queryHeads, kDyn, m}, b.getI1Type());
    Value maskInit = tensor::EmptyOp::create(
        b, maskType.getShape(), b.getI1Type(), ValueRange{batch, queryLen});
    MLIRContext *ctx = b.getContext();
    AffineExpr bb, h, i, j;
    bindDims(ctx, bb, h, i, j);
    int64_t group = queryHeads / kvHeads;
    SmallVector<AffineMap> maskMaps{
        AffineMap::get(4, 0, {bb, h.floorDiv(group), j}, ctx),
        AffineMap::get(4, 0, {bb, h, i}, ctx), b.getMultiDimIdentityMap(4)};
    SmallVector<utils::IteratorType> maskIterators(
        4, utils::IteratorType::parallel);
    Value notOwnBlock =
        linalg::GenericOp::create(
            b, maskType, ValueRange{sampleBlocks, queryBlocks},
            ValueRange{maskInit}, maskMaps, maskIterators,
            [&](OpBuilder &nested, Location loc, ValueRange args) {
              Value keep = arith::CmpIOp::create(
                  nested, loc, arith::CmpIPredicate::ne, args[0], args[1]);
              linalg::YieldOp::create(nested, loc, keep);
            })
            .getResult(0);
    auto [out, lse] =
        attend(q, sampledK, sampledV, notOwnBlock, /*causal=*/false);
    // Each sample stands for Lk / m keys.
    Value weight = math::LogOp::create(
        b, arith::DivFOp::create(
               b, arith::UIToFPOp::create(b, b.getF32Type(), keyLen64),
               arith::ConstantOp::create(b, b.getF32FloatAttr(m))));
    auto lseType = cast<RankedTensorType>(lse.getType());
    SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(lseType.getRank()));
    SmallVector<utils::IteratorType> iterators(lseType.getRank(),
                                               utils::IteratorType::parallel);
    Value init = tensor::EmptyOp::create(b, lseType.getShape(), b.getF32Type(),
                                         dynDims(lse));
    Value shifted =
        linalg::GenericOp::create(
            b, lseType, ValueRange{lse}, ValueRange{init}, maps, iterators,
            [&](OpBuilder &nested, Location loc, ValueRange args) {
              Value sum = arith::AddFOp::create(nested, loc, args[0], weight);
              linalg::YieldOp::create(nested, loc, sum);
            })
            .getResult(0);
    return {out, shifted};
  }

  static Value emitSplitmix64(ImplicitLocOpBuilder &nb, Value x) {
    auto c = [&](uint64_t v) {
      return arith::ConstantIntOp::create(nb, nb.getI64Type(),
                                          static_cast<int64_t>(v));
    };
    auto mix = [&](Value z, int64_t shift, uint64_t factor) {
      Value shifted = arith::ShRUIOp::create(nb, z, c(shift));
      return arith::MulIOp::create(nb, arith::XOrIOp::create(nb, z, shifted),
                                   c(factor));
    };
    Value z = arith::AddIOp::create(nb, x, c(0x9E3779B97F4A7C15ull));
    z = mix(z, 30, 0xBF58476D1CE4E5B9ull);
    z = mix(z, 27, 0x94D049BB133111EBull);
    return arith::XOrIOp::create(nb, z, arith::ShRUIOp::create(nb, z, c(31)));
  }

  //===--------------------------------------------------------------------===//
  // Causal attention (Algorithm 4), one batched level at a time
  //===--------------------------------------------------------------------===//

  // Rows are numbered 0..n-1; level l has 2^l segments of length
  // ceil(n / 2^l), each a contiguous run of real rows followed by padding.
  // Segment s of level l + 1 is half (s & 1) of segment s >> 1 of level l:
  // the first half holds the parent's first ceil(n / 2^(l+1)) rows.

  /// ceil(n / 2^level), the segment length of a level.
  Value segmentLen(ImplicitLocOpBuilder &nb, Value n, Value level) {
    Value one = arith::ConstantIndexOp::create(nb, 1);
    Value width = arith::ShLIOp::create(nb, one, level);
    return arith::CeilDivUIOp::create(nb, n, width);
  }

  /// The real rows [start, end) of segment `segment` of level `level` (end
  /// below start when the segment is all padding).
  std::pair<Value, Value> segmentRange(ImplicitLocOpBuilder &nb, Value n,
                                       Value level, Value segment) {
    Value zero = arith::ConstantIndexOp::create(nb, 0);
    Value one = arith::ConstantIndexOp::create(nb, 1);
    // Walk down from the whole sequence [0, n), keeping the real range.
    auto walk = scf::ForOp::create(
        nb, one, arith::AddIOp::create(nb, level, one), one,
        ValueRange{zero, n},
        [&](OpBuilder &nested, Location loc, Value depth, ValueRange range) {
          ImplicitLocOpBuilder wb(loc, nested);
          Value half = segmentLen(wb, n, depth);
          Value bit = arith::AndIOp::create(
              wb,
              arith::ShRUIOp::create(wb, segment,
                                     arith::SubIOp::create(wb, level, depth)),
              arith::ConstantIndexOp::create(wb, 1));
          Value second =
              arith::CmpIOp::create(wb, arith::CmpIPredicate::ne, bit, zero);
          Value middle = arith::AddIOp::create(wb, range[0], half);
          Value start = arith::SelectOp::create(wb, second, middle, range[0]);
          Value end = arith::SelectOp::create(
              wb, second, range[1],
              arith::MinUIOp::create(wb, middle, range[1]));
          scf::YieldOp::create(wb, ValueRange{start, end});
        });
    return {walk.getResult(0), walk.getResult(1)};
  }

  /// The row at position `i` of segment `segment` of level `level`, or `n`
  /// (the zero padding row) when the position is padding.
  Value rowAt(ImplicitLocOpBuilder &nb, Value n, Value level, Value segment,
              Value i) {
    auto [start, end] = segmentRange(nb, n, level, segment);
    Value row = arith::AddIOp::create(nb, start, i);
    Value real = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, row, end);
    return arith::SelectOp::create(nb, real, row, n);
  }

  /// (segment, position) of row `row` at level `level`.
  std::pair<Value, Value> locate(ImplicitLocOpBuilder &nb, Value n, Value level,
                                 Value row) {
    Value zero = arith::ConstantIndexOp::create(nb, 0);
    Value one = arith::ConstantIndexOp::create(nb, 1);
    auto walk = scf::ForOp::create(
        nb, one, arith::AddIOp::create(nb, level, one), one,
        ValueRange{zero, zero},
        [&](OpBuilder &nested, Location loc, Value depth, ValueRange state) {
          ImplicitLocOpBuilder wb(loc, nested);
          Value half = segmentLen(wb, n, depth);
          Value second = arith::CmpIOp::create(
              wb, arith::CmpIPredicate::uge,
              arith::SubIOp::create(wb, row, state[0]), half);
          Value start = arith::SelectOp::create(
              wb, second, arith::AddIOp::create(wb, state[0], half), state[0]);
          Value segment = arith::AddIOp::create(
              wb, arith::ShLIOp::create(wb, state[1], one),
              arith::IndexCastUIOp::create(wb, wb.getIndexType(), second));
          scf::YieldOp::create(wb, ValueRange{start, segment});
        });
    return {walk.getResult(1),
            arith::SubIOp::create(nb, row, walk.getResult(0))};
  }

  /// The rows of `t` ([B, H, n, W], or [B, H, n] of one value per row)
  /// laid out as the segments of `rows` ([1, 1, segments, len] row numbers,
  /// n for the zero padding row): [B * segments, H, len(, W)], in one pass.
  Value segmentRows(Value t, Value rows) {
    RowView view{t, rows};
    auto type = cast<RankedTensorType>(t.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = shape[2] = kDyn;
    return tabulate(RankedTensorType::get(shape, type.getElementType()),
                    {viewBatches(view), dim(rows, 3)},
                    [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
                      return readRow(nb, view, ivs[0], ivs[1], ivs[2],
                                     type.getRank() == 4 ? ivs[3] : Value());
                    });
  }

  /// One row number table [1, 1, segments, len] of level `level`.
  Value levelRows(Value n, Value level, Value numSegments, Value len,
                  Value segmentOffset, Value segmentStride) {
    return tabulate(
        RankedTensorType::get({1, 1, kDyn, kDyn}, i32), {numSegments, len},
        [&](ImplicitLocOpBuilder &nb, ValueRange ivs) {
          Value segment = arith::AddIOp::create(
              nb, arith::MulIOp::create(nb, ivs[2], segmentStride),
              segmentOffset);
          Value row = rowAt(nb, n, level, segment, ivs[3]);
          return arith::IndexCastUIOp::create(nb, i32, row).getResult();
        });
  }

  /// Results [B * segments, H, len, *] of the deepest level back on the
  /// original rows [B, H, n, *]: row r is position `position(r)` of its
  /// batch's segments laid end to end (every row lies in one segment).
  std::pair<Value, Value>
  unsegment(Value out, Value lse, Value numSegments, Value n,
            function_ref<Value(ImplicitLocOpBuilder &, Value)> position) {
    // One walk per row, shared by the output and the lse.
    Value where = tabulate(
        RankedTensorType::get({1, 1, kDyn}, i32), {n},
        [&](ImplicitLocOpBuilder &nb, ValueRange ivs) -> Value {
          return arith::IndexCastUIOp::create(nb, i32, position(nb, ivs[2]));
        });
    auto positionOf = [&](ImplicitLocOpBuilder &nb, ValueRange bhr) -> Value {
      Value zero = arith::ConstantIndexOp::create(nb, 0);
      return tensor::ExtractOp::create(nb, where,
                                       ValueRange{zero, zero, bhr[2]});
    };
    return {gatherFromBlocks(out, numSegments, n, positionOf),
            gatherFromBlocks(lse, numSegments, n, positionOf)};
  }

  std::pair<Value, Value> buildCausal(Value q, Value k, Value v) {
    Value n = dim(q, 2);
    Value minLen = idx(opts.minSeqLen);

    // Depth: the first level whose segments are at most min-seq-len long.
    auto depthLoop = scf::WhileOp::create(
        b, TypeRange{b.getIndexType(), b.getIndexType()}, ValueRange{idx(0), n},
        [&](OpBuilder &nested, Location loc, ValueRange state) {
          ImplicitLocOpBuilder wb(loc, nested);
          Value longer = arith::CmpIOp::create(wb, arith::CmpIPredicate::ugt,
                                               state[1], minLen);
          scf::ConditionOp::create(wb, longer, state);
        },
        [&](OpBuilder &nested, Location loc, ValueRange state) {
          ImplicitLocOpBuilder wb(loc, nested);
          Value one = arith::ConstantIndexOp::create(wb, 1);
          Value two = arith::ConstantIndexOp::create(wb, 2);
          scf::YieldOp::create(
              wb, ValueRange{arith::AddIOp::create(wb, state[0], one),
                             arith::CeilDivUIOp::create(wb, state[1], two)});
        });
    Value depth = depthLoop.getResult(0);
    Value bottomLen = depthLoop.getResult(1);

    // Exact causal attention inside every segment of the deepest level.
    Value bottomSegments = arith::ShLIOp::create(b, idx(1), depth);
    Value bottomRows =
        levelRows(n, depth, bottomSegments, bottomLen, idx(0), idx(1));
    auto [bottomOut, bottomLse] =
        attend(segmentRows(q, bottomRows), segmentRows(k, bottomRows),
               segmentRows(v, bottomRows), Value(), /*causal=*/true);
    auto [out, lse] =
        unsegment(bottomOut, bottomLse, bottomSegments, n,
                  [&](ImplicitLocOpBuilder &nb, Value row) -> Value {
                    auto [segment, pos] = locate(nb, n, depth, row);
                    return arith::AddIOp::create(
                        nb, arith::MulIOp::create(nb, segment, bottomLen), pos);
                  });

    // A row's sortLSH key does not depend on its level: every query and key
    // is hashed once, and each level sorts its segments by their rows' keys.
    Value queryHashes = hash(q), keyHashes = hash(k);

    // Levels depth-1 .. 0: the off-diagonal block of every segment, merged
    // into the rows of its second half (deepest first, as the recursion
    // returns).
    auto levels = scf::ForOp::create(
        b, idx(0), depth, idx(1), ValueRange{out, lse},
        [&](OpBuilder &nested, Location loc, Value step, ValueRange acc) {
          // Build the body with `b` (the helpers use it), then restore it.
          OpBuilder::InsertionGuard levelGuard(b);
          b.setInsertionPointToEnd(nested.getInsertionBlock());
          Value level = arith::SubIOp::create(
              b, arith::SubIOp::create(b, depth, step), idx(1));
          Value child = arith::AddIOp::create(b, level, idx(1));
          Value numSegments = arith::ShLIOp::create(b, idx(1), level);
          Value halfLen = segmentLen(b, n, child);
          Value firstHalves =
              levelRows(n, child, numSegments, halfLen, idx(0), idx(2));
          Value secondHalves =
              levelRows(n, child, numSegments, halfLen, idx(1), idx(2));
          // Queries are copied into the segments' layout (the sampled
          // residual attends with them); keys and values are only gathered,
          // through the table.
          Value offQ = segmentRows(q, secondHalves);
          RowView offK{k, firstHalves}, offV{v, firstHalves};
          // The core is exact below min-seq-len queries (§4 step 1).
          Value exact = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                              halfLen, minLen);
          // The off-diagonal result, merged into the second halves' rows.
          // (Inside each branch: a reshape of an scf.if result would need a
          // strided copy.)
          auto mergeInto = [&](Value offOut, Value offLse) {
            scf::YieldOp::create(b, mergeSecondHalves(acc[0], acc[1], offOut,
                                                      offLse, numSegments, n,
                                                      child));
          };
          auto branch = scf::IfOp::create(b, acc.getTypes(), exact,
                                          /*withElseRegion=*/true);
          {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(branch.thenBlock());
            auto [o, l] = attend(offQ, segmentRows(k, firstHalves),
                                 segmentRows(v, firstHalves), Value(),
                                 /*causal=*/false);
            mergeInto(o, l);
            b.setInsertionPointToStart(branch.elseBlock());
            // The hashes of the segments' rows (a padding row, all zeros,
            // reads as key 0: its dot products are 0).
            auto [co, cl] =
                buildCore(offQ, segmentRows(queryHashes, secondHalves), offK,
                          segmentRows(keyHashes, firstHalves), offV, level);
            mergeInto(co, cl);
          }
          scf::YieldOp::create(b, branch.getResults());
        });
    return {levels.getResult(0), levels.getResult(1)};
  }

  /// `acc` and `accLse` ([B, H, n, *]) with the off-diagonal results
  /// ([B * segments, H, len, *], segment s of batch b at b * segments + s)
  /// merged into the real rows of each segment's second half (segment
  /// 2s + 1 of level `child`). Those rows are contiguous, so each segment
  /// is one slice of both, merged and inserted in place: the other rows
  /// are neither read nor written.
  SmallVector<Value> mergeSecondHalves(Value acc, Value accLse, Value offOut,
                                       Value offLse, Value numSegments, Value n,
                                       Value child) {
    auto loop = scf::ForOp::create(
        b, idx(0), numSegments, idx(1), ValueRange{acc, accLse},
        [&](OpBuilder &nested, Location loc, Value segment, ValueRange state) {
          ImplicitLocOpBuilder nb(loc, nested);
          Value one = arith::ConstantIndexOp::create(nb, 1);
          Value second = arith::AddIOp::create(
              nb, arith::ShLIOp::create(nb, segment, one), one);
          Value start, end;
          std::tie(start, end) = segmentRange(nb, n, child, second);
          Value nonEmpty =
              arith::CmpIOp::create(nb, arith::CmpIPredicate::ugt, end, start);
          auto branch = scf::IfOp::create(nb, state.getTypes(), nonEmpty,
                                          /*withElseRegion=*/true);
          {
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPointToStart(branch.thenBlock());
            Value count = arith::SubIOp::create(nb, end, start);
            // Rows [firstRow, firstRow + count) of every head and of the
            // batches firstBatch + i * batchStride.
            auto slice = [&](Value t, OpFoldResult firstBatch,
                             OpFoldResult batchStride,
                             OpFoldResult firstRow) -> tensor::ExtractSliceOp {
              int64_t rank = cast<RankedTensorType>(t.getType()).getRank();
              SmallVector<OpFoldResult> offsets(rank, nb.getIndexAttr(0)),
                  sizes = tensor::getMixedSizes(nb, loc, t),
                  strides(rank, nb.getIndexAttr(1));
              offsets[0] = firstBatch;
              offsets[2] = firstRow;
              strides[0] = batchStride;
              sizes[0] = tensor::DimOp::create(nb, acc, 0).getResult();
              sizes[2] = count;
              return tensor::ExtractSliceOp::create(nb, t, offsets, sizes,
                                                    strides);
            };
            OpFoldResult zeroAttr = nb.getIndexAttr(0),
                         oneAttr = nb.getIndexAttr(1);
            Value accRows = slice(state[0], zeroAttr, oneAttr, start);
            Value accRowsLse = slice(state[1], zeroAttr, oneAttr, start);
            Value offRows = slice(offOut, segment, numSegments, zeroAttr);
            Value offRowsLse = slice(offLse, segment, numSegments, zeroAttr);
            auto merge =
                MergeOp::create(nb, accRows.getType(), accRowsLse.getType(),
                                accRows, accRowsLse, offRows, offRowsLse);
            // linalg.copy into a slice of `into`, then inserted back: the
            // pipelines' empty-tensor elimination makes the merge write
            // into that slice, so the copy is a self-copy that folds away
            // (and an insert_slice of another tensor would be a memref.copy
            // of a strided view: a runtime call on the CPU).
            auto insert = [&](Value rows, Value into) {
              tensor::ExtractSliceOp target =
                  slice(into, zeroAttr, oneAttr, start);
              Value copied =
                  linalg::CopyOp::create(nb, rows, target.getResult())
                      .getResult(0);
              return tensor::InsertSliceOp::create(
                         nb, copied, into, target.getMixedOffsets(),
                         target.getMixedSizes(), target.getMixedStrides())
                  .getResult();
            };
            scf::YieldOp::create(nb,
                                 ValueRange{insert(merge.getOutput(), state[0]),
                                            insert(merge.getLse(), state[1])});
            nb.setInsertionPointToStart(branch.elseBlock());
            scf::YieldOp::create(nb, state);
          }
          scf::YieldOp::create(nb, branch.getResults());
        });
    return loop.getResults();
  }

  ImplicitLocOpBuilder &b;
  SdpaOp op;
  const HyperOptions &opts;
  Type elementType, i32;
  int64_t queryHeads, kvHeads, headDim, valueDim;
  Value projections;
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct HyperRewritePass : attn::impl::HyperRewriteBase<HyperRewritePass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(checkOptions()))
      return signalPassFailure();
    SmallVector<SdpaOp> ops;
    getOperation()->walk([&](SdpaOp op) { ops.push_back(op); });
    for (SdpaOp op : ops)
      rewrite(op);
  }

  LogicalResult checkOptions() {
    auto fail = [&](const Twine &message) {
      return getOperation()->emitError() << "attn-hyper: " << message;
    };
    if (bucketSize < 1)
      return fail("bucket-size must be >= 1, got " + Twine(bucketSize));
    if (sampleSize < 0)
      return fail("sample-size must be >= 0, got " + Twine(sampleSize));
    if (numProjs < 1 || numProjs > 16)
      return fail("num-projs must be in [1, 16], got " + Twine(numProjs));
    if (minSeqLen < 1)
      return fail("min-seq-len must be >= 1, got " + Twine(minSeqLen));
    return success();
  }

  void rewrite(SdpaOp op) {
    if (op.getMask()) {
      op.emitWarning() << "attn-hyper: left dense: HyperAttention supports "
                          "causal masking only, not a mask operand";
      return;
    }
    int64_t queryLen = op.getQuery().getType().getDimSize(2);
    int64_t keyLen = op.getKey().getType().getDimSize(2);
    bool causal = op.getCausal();
    bool staticLens =
        !ShapedType::isDynamic(queryLen) && !ShapedType::isDynamic(keyLen);
    if (causal && staticLens && queryLen != keyLen) {
      op.emitWarning() << "attn-hyper: left dense: causal HyperAttention "
                          "needs Lq == Lk, got Lq = "
                       << queryLen << ", Lk = " << keyLen;
      return;
    }
    // Short attention stays exact (§4 step 1, Algorithm 4's base case).
    if (!causal && !ShapedType::isDynamic(queryLen) && queryLen < minSeqLen)
      return;
    if (causal && !ShapedType::isDynamic(keyLen) && keyLen <= minSeqLen)
      return;

    reportCost(op, keyLen);
    ImplicitLocOpBuilder b(op.getLoc(), op);
    HyperOptions opts{bucketSize, sampleSize, numProjs, minSeqLen,
                      static_cast<uint64_t>(static_cast<int64_t>(seed))};
    SmallVector<Value> replacement;
    if (staticLens) {
      auto [out, lse] = HyperBuilder(b, op, opts).build();
      replacement = {out, lse};
    } else {
      replacement = buildLengthDispatch(b, op, opts);
    }
    op.getOutput().replaceAllUsesWith(replacement[0]);
    if (op.getLse())
      op.getLse().replaceAllUsesWith(replacement[1]);
    op.erase();
    ++numRewritten;
  }

  /// Dynamic lengths: HyperAttention where it applies, the original
  /// attn.sdpa otherwise.
  SmallVector<Value> buildLengthDispatch(ImplicitLocOpBuilder &b, SdpaOp op,
                                         const HyperOptions &opts) {
    Value queryLen = tensor::DimOp::create(b, op.getQuery(), 2);
    Value keyLen = tensor::DimOp::create(b, op.getKey(), 2);
    Value minLen = arith::ConstantIndexOp::create(b, minSeqLen);
    Value applies;
    if (op.getCausal())
      applies = arith::AndIOp::create(
          b,
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, queryLen, keyLen),
          arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, keyLen, minLen));
    else
      applies =
          arith::CmpIOp::create(b, arith::CmpIPredicate::uge, queryLen, minLen);
    Type lseType = RankedTensorType::get(
        op.getOutput().getType().getShape().drop_back(), b.getF32Type());
    auto ifOp = scf::IfOp::create(
        b, TypeRange{op.getOutput().getType(), lseType}, applies,
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    auto [out, lse] = HyperBuilder(b, op, opts).build();
    scf::YieldOp::create(b, ValueRange{out, lse});
    b.setInsertionPointToStart(ifOp.elseBlock());
    auto dense = SdpaOp::create(b, op.getQuery(), op.getKey(), op.getValue(),
                                Value(), op.getScaleAttr(), op.getCausal(),
                                /*withLse=*/true);
    dense.setSoftmaxExpAttr(op.getSoftmaxExpAttr());
    scf::YieldOp::create(b, dense.getResults());
    return SmallVector<Value>(ifOp.getResults());
  }

  void reportCost(SdpaOp op, int64_t keyLen) {
    int64_t perRow = bucketSize + sampleSize;
    if (op.getCausal()) {
      op.emitRemark() << llvm::formatv(
          "HyperAttention (causal): exact attention inside segments of at "
          "most {0} keys, and per recursion level {1} keys per query row "
          "(bucket {2} + samples {3})",
          minSeqLen, perRow, bucketSize, sampleSize);
      return;
    }
    if (ShapedType::isDynamic(keyLen)) {
      op.emitRemark() << llvm::formatv(
          "HyperAttention: {0} keys per query row (bucket {1} + samples {2}) "
          "instead of Lk",
          perRow, bucketSize, sampleSize);
      return;
    }
    op.emitRemark() << llvm::formatv(
        "HyperAttention: {0} keys per query row (bucket {1} + samples {2}) "
        "instead of Lk = {3} ({4:F1}x fewer scores)",
        perRow, bucketSize, sampleSize, keyLen,
        static_cast<double>(keyLen) / perRow);
  }
};

} // namespace
