//===- SparqToLoops.cpp - attn.sparq to a fused loop nest -------*- C++ -*-===//
//
// Lowers attn.sparq (ALGORITHMS.md §3) to one fused loop nest per query row
// and selection unit: the approximate scores are computed, normalised and
// ranked while the row of scores is still in cache, and only the selected
// keys and values are read in full.
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

/// Keys per vector step of the approximate-score and ranking passes: four
/// AVX-512 registers, so the `rank`-long FMA chains run four abreast.
constexpr int64_t kKeyChunk = 64;
/// Keys per block of the score pass over key_transposed: the partial scores
/// of a block (8 KiB per head) stay in L1 between groups of components.
constexpr int64_t kKeyBlock = 16384;
/// Rows of Kt read together by the score pass.
constexpr int64_t kComponentsPerPass = 16;
/// Components per vector step when ranking |q|.
constexpr int64_t kComponentChunk = 16;

/// Emits the loop nest of one attn.sparq.
///
/// Work item = (batch b, key/value head g, query index i, selection unit u).
/// A unit is one query head, or with group_shared all G heads of g; its
/// heads share the selected components and keys. Per work item:
///   1. i1 = top `rank` of sum over the unit's heads of |q|; per head the
///      query restricted to i1, divided by tau.
///   2. approximate scores of every visible key (r FMAs per key per head,
///      reading K's i1 components: rows of key_transposed, or strided
///      gathers from key), then each head's row max and log-sum-exp.
///   3. ranking key (the scores, or the sum of the heads' softmax), local
///      window, heap selection of the rest.
///   4. per head: exact attention on the selected keys, alpha, and the
///      interpolation with the value mean.
class SparqLoopNestEmitter {
public:
  SparqLoopNestEmitter(SparqOp op, ImplicitLocOpBuilder &b)
      : op(op), b(b), lb(b), f32(b.getF32Type()) {
    auto queryType = op.getQuery().getType();
    elementType = queryType.getElementType();
    numKvHeads = op.getKey().getType().getDimSize(1);
    groupSize = queryType.getDimSize(1) / numKvHeads;
    headDim = queryType.getDimSize(3);
    valueDim = op.getValue().getType().getDimSize(3);
    rank = op.getRank();
    topK = op.getTopK();
    window = op.getLocalWindowSize();
    headsPerUnit = op.getGroupShared() ? groupSize : 1;
  }

  Value emit();

private:
  void emitWorkItem();
  void emitUnit(Value visibleEnd);
  void emitComponentSelection();
  void emitApproximateScores(Value visibleEnd, Value paddedEnd);
  void emitScoresFromTransposedKeys(Value visibleEnd, Value paddedEnd);
  void emitScoresFromStridedKeys(Value visibleEnd, Value paddedEnd);
  Value visibleLanes(Value visibleEnd, Value j0);
  /// Scales a chunk of dot products by 1/tau, masks invisible keys to -inf,
  /// stores the scores and returns the updated running maxima.
  SmallVector<Value> finishScoreChunk(Value visibleEnd, Value j0,
                                      ValueRange dots, ValueRange maxes);
  void storeRowMax(ValueRange maxes);
  /// acc[t] += q^[t][c] * keys for each head t of the unit.
  SmallVector<Value> accumulateComponent(Value c, Value keys, ValueRange acc);
  void emitNormalizers(Value paddedEnd);
  Value emitKeySelection(Value visibleEnd, Value paddedEnd);
  Value emitValueMean(Value visibleEnd);
  void emitExactAttention(int64_t t, Value numSelected, Value valueMean);

  Value head(int64_t t) {
    return lb.add(lb.add(lb.mul(kvHead, lb.idx(groupSize)),
                         lb.mul(unit, lb.idx(headsPerUnit))),
                  lb.idx(t));
  }
  Value loadQuery(int64_t t) {
    return lb.toF32(vector::LoadOp::create(
        b, VectorType::get({headDim}, elementType), queryBuf,
        ValueRange{batch, head(t), queryIndex, lb.idx(0)}));
  }
  Value reduce(vector::CombiningKind kind, Value v) {
    return vector::ReductionOp::create(b, kind, v);
  }

  SparqOp op;
  ImplicitLocOpBuilder &b;
  LoopBuilder lb;
  Type f32, elementType;
  int64_t numKvHeads, groupSize, headDim, valueDim, rank, topK, window,
      headsPerUnit;

  Value queryBuf, keyBuf, keyFlat, keyTransposedBuf, valueBuf, valueMeanBuf,
      outBuf;
  Value queryLen, keyLen;
  Value batch, kvHead, queryIndex, unit;
  // Per work item scratch.
  Value components, queryHat, inverseTau, scores, rankKeys, rowMax, rowLse,
      rowInvSum, selected;
};

Value SparqLoopNestEmitter::emit() {
  queryBuf = lb.toBuffer(op.getQuery());
  keyBuf = lb.toBuffer(op.getKey());
  valueBuf = lb.toBuffer(op.getValue());
  if (op.getKeyTransposed()) {
    keyTransposedBuf = lb.toBuffer(op.getKeyTransposed());
  } else {
    // Strided reads of the i1 components are gathers on the flat cache.
    keyFlat = memref::CollapseShapeOp::create(
        b, keyBuf, ArrayRef<ReassociationIndices>{{0, 1, 2, 3}});
  }
  if (op.getValueMean())
    valueMeanBuf = lb.toBuffer(op.getValueMean());

  Value batchSize = memref::DimOp::create(b, queryBuf, 0);
  queryLen = memref::DimOp::create(b, queryBuf, 2);
  keyLen = memref::DimOp::create(b, keyBuf, 2);

  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<Value> outDynSizes;
  if (outType.isDynamicDim(0))
    outDynSizes.push_back(batchSize);
  if (outType.isDynamicDim(2))
    outDynSizes.push_back(queryLen);
  outBuf = memref::AllocOp::create(
      b, MemRefType::get(outType.getShape(), elementType), outDynSizes,
      b.getI64IntegerAttr(64));

  Value unitsPerGroup = lb.idx(groupSize / headsPerUnit);
  auto parallel = scf::ParallelOp::create(
      b, ValueRange{lb.idx(0), lb.idx(0), lb.idx(0), lb.idx(0)},
      ValueRange{batchSize, lb.idx(numKvHeads), queryLen, unitsPerGroup},
      ValueRange{lb.idx(1), lb.idx(1), lb.idx(1), lb.idx(1)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(parallel.getBody()->getTerminator());
    batch = parallel.getInductionVars()[0];
    kvHead = parallel.getInductionVars()[1];
    queryIndex = parallel.getInductionVars()[2];
    unit = parallel.getInductionVars()[3];
    lb.allocaScope([&] { emitWorkItem(); });
  }
  return bufferization::ToTensorOp::create(b, outType, outBuf,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

void SparqLoopNestEmitter::emitWorkItem() {
  Value visibleEnd =
      op.getCausal() ? lb.causalKeyEnd(queryIndex, queryLen, keyLen) : keyLen;
  Value anyVisible = lb.cmp(arith::CmpIPredicate::sgt, visibleEnd, lb.idx(0));
  lb.ifThenElse(
      anyVisible, [&] { emitUnit(visibleEnd); },
      [&] {
        // No visible key: the output row is 0, as for attn.sdpa.
        Value zeros = lb.zeros(VectorType::get({valueDim}, elementType));
        for (int64_t t = 0; t < headsPerUnit; ++t)
          vector::StoreOp::create(
              b, zeros, outBuf,
              ValueRange{batch, head(t), queryIndex, lb.idx(0)});
      });
}

void SparqLoopNestEmitter::emitUnit(Value visibleEnd) {
  Value chunk = lb.idx(kKeyChunk);
  Value paddedEnd =
      lb.mul(arith::CeilDivUIOp::create(b, visibleEnd, chunk), chunk);
  components =
      memref::AllocaOp::create(b, MemRefType::get({rank}, b.getIndexType()));
  queryHat =
      memref::AllocaOp::create(b, MemRefType::get({headsPerUnit, rank}, f32));
  inverseTau =
      memref::AllocaOp::create(b, MemRefType::get({headsPerUnit}, f32));
  rowMax = memref::AllocaOp::create(b, MemRefType::get({headsPerUnit}, f32));
  rowLse = memref::AllocaOp::create(b, MemRefType::get({headsPerUnit}, f32));
  rowInvSum = memref::AllocaOp::create(b, MemRefType::get({headsPerUnit}, f32));
  selected =
      memref::AllocaOp::create(b, MemRefType::get({topK}, b.getIndexType()));
  // The score rows grow with Lk: heap, not stack. Buffer deallocation frees
  // them at the end of the work item.
  scores = memref::AllocOp::create(
      b, MemRefType::get({headsPerUnit, ShapedType::kDynamic}, f32),
      ValueRange{paddedEnd}, b.getI64IntegerAttr(64));
  rankKeys = scores;
  if (headsPerUnit > 1)
    rankKeys =
        memref::AllocOp::create(b, MemRefType::get({ShapedType::kDynamic}, f32),
                                ValueRange{paddedEnd}, b.getI64IntegerAttr(64));

  emitComponentSelection();
  emitApproximateScores(visibleEnd, paddedEnd);
  emitNormalizers(paddedEnd);
  Value numSelected = emitKeySelection(visibleEnd, paddedEnd);
  Value valueMean = emitValueMean(visibleEnd);
  for (int64_t t = 0; t < headsPerUnit; ++t)
    emitExactAttention(t, numSelected, valueMean);
}

void SparqLoopNestEmitter::emitComponentSelection() {
  // Rank the components by sum over the unit's heads of |q|.
  auto vecType = VectorType::get({headDim}, f32);
  Value absSum = lb.splat(vecType, lb.f32(0));
  SmallVector<Value> queries, absSums;
  for (int64_t t = 0; t < headsPerUnit; ++t) {
    queries.push_back(loadQuery(t));
    Value magnitude = math::AbsFOp::create(b, queries.back());
    absSums.push_back(reduce(vector::CombiningKind::ADD, magnitude));
    absSum = arith::AddFOp::create(b, absSum, magnitude);
  }
  Value absBuf = memref::AllocaOp::create(b, MemRefType::get({headDim}, f32));
  vector::StoreOp::create(b, absSum, absBuf, ValueRange{lb.idx(0)});
  TopkSelector selector(lb, lb.idx(rank));
  selector.offerRange(
      lb.idx(0), lb.idx(headDim), kComponentChunk,
      [&](Value p) {
        return vector::LoadOp::create(
            b, VectorType::get({kComponentChunk}, f32), absBuf, p);
      },
      [&](Value p) { return memref::LoadOp::create(b, absBuf, p); });

  // q^ = q[i1] and 1 / tau with tau = sqrt(D * sum|q^| / sum|q|), per head.
  // The scores are (q^ . K^) / tau: scaling after the dot product keeps
  // keys with equal exact dot products tied.
  Value dim = lb.f32(static_cast<float>(headDim));
  for (int64_t t = 0; t < headsPerUnit; ++t) {
    SmallVector<Value> sums = lb.forCarrying(
        lb.idx(0), lb.idx(rank), lb.idx(1), ValueRange{lb.f32(0)},
        [&](Value c, ValueRange carried) -> SmallVector<Value> {
          Value component = selector.positionAt(c);
          memref::StoreOp::create(b, component, components, c);
          Value q = lb.toF32(memref::LoadOp::create(
              b, queryBuf, ValueRange{batch, head(t), queryIndex, component}));
          memref::StoreOp::create(b, q, queryHat, ValueRange{lb.idx(t), c});
          return {
              arith::AddFOp::create(b, carried[0], math::AbsFOp::create(b, q))};
        });
    Value selectedSum = sums[0];
    // q = 0 gives tau = sqrt(D); q^ = 0 (possible only with group_shared)
    // gives scores 0.
    Value tauSquared = lb.select(
        lb.cmpF(arith::CmpFPredicate::OGT, absSums[t], lb.f32(0)),
        arith::DivFOp::create(b, arith::MulFOp::create(b, dim, selectedSum),
                              absSums[t]),
        dim);
    Value invTau =
        lb.select(lb.cmpF(arith::CmpFPredicate::OGT, tauSquared, lb.f32(0)),
                  math::RsqrtOp::create(b, tauSquared), lb.f32(0));
    memref::StoreOp::create(b, invTau, inverseTau, lb.idx(t));
  }
}

void SparqLoopNestEmitter::emitApproximateScores(Value visibleEnd,
                                                 Value paddedEnd) {
  if (keyTransposedBuf)
    emitScoresFromTransposedKeys(visibleEnd, paddedEnd);
  else
    emitScoresFromStridedKeys(visibleEnd, paddedEnd);
}

Value SparqLoopNestEmitter::visibleLanes(Value visibleEnd, Value j0) {
  return vector::CreateMaskOp::create(
      b, VectorType::get({kKeyChunk}, b.getI1Type()),
      ValueRange{lb.sub(visibleEnd, j0)});
}

SmallVector<Value> SparqLoopNestEmitter::finishScoreChunk(Value visibleEnd,
                                                          Value j0,
                                                          ValueRange dots,
                                                          ValueRange maxes) {
  auto chunkType = VectorType::get({kKeyChunk}, f32);
  Value lanes = visibleLanes(visibleEnd, j0);
  SmallVector<Value> next;
  for (int64_t t = 0; t < headsPerUnit; ++t) {
    Value invTau =
        lb.splat(chunkType, memref::LoadOp::create(b, inverseTau, lb.idx(t)));
    // Keys past the visible end score -inf: they weigh exp(-inf) = 0.
    Value s = lb.select(lanes, arith::MulFOp::create(b, dots[t], invTau),
                        lb.splat(chunkType, lb.negInf()));
    vector::StoreOp::create(b, s, scores, ValueRange{lb.idx(t), j0});
    next.push_back(arith::MaxNumFOp::create(b, maxes[t], s));
  }
  return next;
}

void SparqLoopNestEmitter::storeRowMax(ValueRange maxes) {
  for (int64_t t = 0; t < headsPerUnit; ++t)
    memref::StoreOp::create(b, reduce(vector::CombiningKind::MAXNUMF, maxes[t]),
                            rowMax, lb.idx(t));
}

void SparqLoopNestEmitter::emitScoresFromTransposedKeys(Value visibleEnd,
                                                        Value paddedEnd) {
  // Blocks of keys; within a block, groups of up to kComponentsPerPass rows
  // of Kt are read together with the dot products in registers, and the
  // partial sums of earlier groups wait in the (L1-sized) block of scores.
  // Reading more rows at once runs more streams, Lk * 4 bytes apart, than
  // the hardware prefetchers follow.
  auto chunkType = VectorType::get({kKeyChunk}, f32);
  auto elementChunkType = VectorType::get({kKeyChunk}, elementType);
  Value zeroChunk = lb.splat(chunkType, lb.f32(0));
  Value elementZeros = lb.zeros(elementChunkType);
  Value chunk = lb.idx(kKeyChunk);
  int64_t numGroups = llvm::divideCeil(rank, kComponentsPerPass);
  SmallVector<Value> initMax(headsPerUnit, lb.splat(chunkType, lb.negInf()));
  // One group streams the whole row: restarting the streams at block
  // boundaries costs more than it saves.
  Value blockLen = numGroups == 1 ? paddedEnd : lb.idx(kKeyBlock);
  Value numBlocks =
      numGroups == 1
          ? lb.idx(1)
          : arith::CeilDivUIOp::create(b, paddedEnd, blockLen).getResult();
  SmallVector<Value> maxes = lb.forCarrying(
      lb.idx(0), numBlocks, lb.idx(1), initMax,
      [&](Value blockIndex, ValueRange blockMax) -> SmallVector<Value> {
        Value block = lb.mul(blockIndex, blockLen);
        Value blockEnd = lb.minIdx(lb.add(block, blockLen), paddedEnd);
        SmallVector<Value> maxes(blockMax);
        for (int64_t group = 0; group < numGroups; ++group) {
          int64_t first = group * kComponentsPerPass;
          int64_t last = std::min(rank, first + kComponentsPerPass);
          bool isLast = group + 1 == numGroups;
          maxes = lb.forCarrying(
              block, blockEnd, chunk, maxes,
              [&](Value j0, ValueRange runningMax) -> SmallVector<Value> {
                Value lanes = visibleLanes(visibleEnd, j0);
                SmallVector<Value> partial;
                for (int64_t t = 0; t < headsPerUnit; ++t)
                  partial.push_back(group == 0 ? zeroChunk
                                               : vector::LoadOp::create(
                                                     b, chunkType, scores,
                                                     ValueRange{lb.idx(t), j0})
                                                     .getResult());
                SmallVector<Value> dots = lb.forCarrying(
                    lb.idx(first), lb.idx(last), lb.idx(1), partial,
                    [&](Value c, ValueRange acc) -> SmallVector<Value> {
                      Value component =
                          memref::LoadOp::create(b, components, c);
                      Value keys = lb.toF32(vector::MaskedLoadOp::create(
                          b, elementChunkType, keyTransposedBuf,
                          ValueRange{batch, kvHead, component, j0}, lanes,
                          elementZeros));
                      return accumulateComponent(c, keys, acc);
                    });
                if (isLast)
                  return finishScoreChunk(visibleEnd, j0, dots, runningMax);
                for (int64_t t = 0; t < headsPerUnit; ++t)
                  vector::StoreOp::create(b, dots[t], scores,
                                          ValueRange{lb.idx(t), j0});
                return SmallVector<Value>(runningMax);
              });
        }
        return maxes;
      });
  storeRowMax(maxes);
}

SmallVector<Value>
SparqLoopNestEmitter::accumulateComponent(Value c, Value keys, ValueRange acc) {
  auto chunkType = VectorType::get({kKeyChunk}, f32);
  SmallVector<Value> next;
  for (int64_t t = 0; t < headsPerUnit; ++t) {
    Value q = memref::LoadOp::create(b, queryHat, ValueRange{lb.idx(t), c});
    next.push_back(
        vector::FMAOp::create(b, lb.splat(chunkType, q), keys, acc[t]));
  }
  return next;
}

void SparqLoopNestEmitter::emitScoresFromStridedKeys(Value visibleEnd,
                                                     Value paddedEnd) {
  // Key-major: a chunk of 64 keys is gathered component by component, so
  // the chunk's 64 key rows are read from memory once and then from cache.
  auto chunkType = VectorType::get({kKeyChunk}, f32);
  auto elementChunkType = VectorType::get({kKeyChunk}, elementType);
  Value zeroChunk = lb.splat(chunkType, lb.f32(0));
  Value elementZeros = lb.zeros(elementChunkType);
  // Lane l of a chunk is D elements after lane l - 1.
  SmallVector<int64_t> strides;
  for (int64_t l = 0; l < kKeyChunk; ++l)
    strides.push_back(l * headDim);
  Value laneStrides = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({kKeyChunk}, b.getIndexType()),
                                ArrayRef<int64_t>(strides)));
  Value keyRowBase =
      lb.mul(lb.mul(lb.add(lb.mul(batch, lb.idx(numKvHeads)), kvHead), keyLen),
             lb.idx(headDim));

  SmallVector<Value> initMax(headsPerUnit, lb.splat(chunkType, lb.negInf()));
  SmallVector<Value> maxes = lb.forCarrying(
      lb.idx(0), paddedEnd, lb.idx(kKeyChunk), initMax,
      [&](Value j0, ValueRange runningMax) -> SmallVector<Value> {
        Value lanes = visibleLanes(visibleEnd, j0);
        SmallVector<Value> zeros(headsPerUnit, zeroChunk);
        SmallVector<Value> dots = lb.forCarrying(
            lb.idx(0), lb.idx(rank), lb.idx(1), zeros,
            [&](Value c, ValueRange acc) -> SmallVector<Value> {
              Value component = memref::LoadOp::create(b, components, c);
              Value base = lb.add(
                  keyRowBase, lb.add(lb.mul(j0, lb.idx(headDim)), component));
              Value keys = lb.toF32(vector::GatherOp::create(
                  b, elementChunkType, keyFlat, ValueRange{base}, laneStrides,
                  lanes, elementZeros));
              return accumulateComponent(c, keys, acc);
            });
        return finishScoreChunk(visibleEnd, j0, dots, runningMax);
      });
  storeRowMax(maxes);
}

void SparqLoopNestEmitter::emitNormalizers(Value paddedEnd) {
  // One exp pass per head: Z = sum exp(s - max). With group_shared the
  // probabilities exp(s - max) replace the scores, so that ranking and
  // alpha need no second exp pass; a lone head keeps its raw scores and
  // ranks by them (the same order, without exp's underflow ties).
  bool keepProbabilities = headsPerUnit > 1;
  auto chunkType = VectorType::get({kKeyChunk}, f32);
  Value zeroChunk = lb.splat(chunkType, lb.f32(0));
  for (int64_t t = 0; t < headsPerUnit; ++t) {
    Value max = memref::LoadOp::create(b, rowMax, lb.idx(t));
    Value maxChunk = lb.splat(chunkType, max);
    SmallVector<Value> sums = lb.forCarrying(
        lb.idx(0), paddedEnd, lb.idx(kKeyChunk), ValueRange{zeroChunk},
        [&](Value j0, ValueRange acc) -> SmallVector<Value> {
          SmallVector<Value> at = {lb.idx(t), j0};
          Value s = vector::LoadOp::create(b, chunkType, scores, at);
          Value p = lb.softmaxExp(arith::SubFOp::create(b, s, maxChunk),
                                  op.getSoftmaxExpAttr());
          if (keepProbabilities)
            vector::StoreOp::create(b, p, scores, at);
          return {arith::AddFOp::create(b, acc[0], p)};
        });
    Value sum = reduce(vector::CombiningKind::ADD, sums[0]);
    memref::StoreOp::create(
        b, arith::AddFOp::create(b, max, math::LogOp::create(b, sum)), rowLse,
        lb.idx(t));
    memref::StoreOp::create(b, arith::DivFOp::create(b, lb.f32(1), sum),
                            rowInvSum, lb.idx(t));
  }
  if (!keepProbabilities)
    return;
  // group_shared ranks keys by the sum of the heads' softmax probabilities.
  lb.forEach(lb.idx(0), paddedEnd, lb.idx(kKeyChunk), [&](Value j0) {
    Value total = zeroChunk;
    for (int64_t t = 0; t < headsPerUnit; ++t) {
      Value p = vector::LoadOp::create(b, chunkType, scores,
                                       ValueRange{lb.idx(t), j0});
      Value invSum =
          lb.splat(chunkType, memref::LoadOp::create(b, rowInvSum, lb.idx(t)));
      total = vector::FMAOp::create(b, p, invSum, total);
    }
    vector::StoreOp::create(b, total, rankKeys, ValueRange{j0});
  });
}

Value SparqLoopNestEmitter::emitKeySelection(Value visibleEnd,
                                             Value paddedEnd) {
  // The last min(l, |J|) visible keys are always in; the rest of the
  // min(k, |J|) come from the heap over the keys before them.
  Value windowLen = lb.minIdx(lb.idx(window), visibleEnd);
  Value candidateEnd = lb.sub(visibleEnd, windowLen);
  Value numRanked = lb.idx(0);
  if (topK > window) {
    auto rankKeyAt = [&](Value p) -> SmallVector<Value> {
      if (headsPerUnit > 1)
        return {p};
      return {lb.idx(0), p};
    };
    TopkSelector selector(lb, lb.idx(topK - window));
    auto chunkType = VectorType::get({kKeyChunk}, f32);
    selector.offerRange(
        lb.idx(0), candidateEnd, kKeyChunk,
        [&](Value p) {
          return vector::LoadOp::create(b, chunkType, rankKeys, rankKeyAt(p));
        },
        [&](Value p) {
          return memref::LoadOp::create(b, rankKeys, rankKeyAt(p));
        });
    numRanked = selector.count();
    lb.forEach(lb.idx(0), numRanked, lb.idx(1), [&](Value s) {
      memref::StoreOp::create(b, selector.positionAt(s), selected, s);
    });
  }
  lb.forEach(lb.idx(0), windowLen, lb.idx(1), [&](Value w) {
    memref::StoreOp::create(b, lb.add(candidateEnd, w), selected,
                            lb.add(numRanked, w));
  });
  return lb.add(numRanked, windowLen);
}

Value SparqLoopNestEmitter::emitValueMean(Value visibleEnd) {
  auto vecType = VectorType::get({valueDim}, f32);
  auto elementVecType = VectorType::get({valueDim}, elementType);
  if (valueMeanBuf)
    return lb.toF32(vector::LoadOp::create(
        b, elementVecType, valueMeanBuf, ValueRange{batch, kvHead, lb.idx(0)}));
  // Plain form: the mean of V over the visible keys, which reads all of V.
  SmallVector<Value> sum =
      lb.forCarrying(lb.idx(0), visibleEnd, lb.idx(1),
                     ValueRange{lb.splat(vecType, lb.f32(0))},
                     [&](Value j, ValueRange acc) -> SmallVector<Value> {
                       Value v = lb.toF32(vector::LoadOp::create(
                           b, elementVecType, valueBuf,
                           ValueRange{batch, kvHead, j, lb.idx(0)}));
                       return {arith::AddFOp::create(b, acc[0], v)};
                     });
  Value count = arith::UIToFPOp::create(
      b, f32, arith::IndexCastUIOp::create(b, b.getI64Type(), visibleEnd));
  return arith::DivFOp::create(b, sum[0], lb.splat(vecType, count));
}

void SparqLoopNestEmitter::emitExactAttention(int64_t t, Value numSelected,
                                              Value valueMean) {
  auto queryVecType = VectorType::get({headDim}, f32);
  auto keyVecType = VectorType::get({headDim}, elementType);
  auto valueVecType = VectorType::get({valueDim}, elementType);
  auto accType = VectorType::get({valueDim}, f32);
  Value scale = lb.f32(op.getEffectiveScale());
  Value q =
      arith::MulFOp::create(b, loadQuery(t), lb.splat(queryVecType, scale));
  Value lse = memref::LoadOp::create(b, rowLse, lb.idx(t));
  Value invSum = memref::LoadOp::create(b, rowInvSum, lb.idx(t));
  Value exact = memref::AllocaOp::create(b, MemRefType::get({topK}, f32));

  // Exact scores of the selected keys, their max, and alpha (the
  // approximate softmax mass of the selection).
  SmallVector<Value> maxAndAlpha = lb.forCarrying(
      lb.idx(0), numSelected, lb.idx(1), ValueRange{lb.negInf(), lb.f32(0)},
      [&](Value s, ValueRange acc) -> SmallVector<Value> {
        Value key = memref::LoadOp::create(b, selected, s);
        Value k = lb.toF32(vector::LoadOp::create(
            b, keyVecType, keyBuf, ValueRange{batch, kvHead, key, lb.idx(0)}));
        Value score =
            reduce(vector::CombiningKind::ADD, arith::MulFOp::create(b, q, k));
        memref::StoreOp::create(b, score, exact, s);
        Value approx =
            memref::LoadOp::create(b, scores, ValueRange{lb.idx(t), key});
        Value mass = headsPerUnit > 1
                         ? arith::MulFOp::create(b, approx, invSum).getResult()
                         : lb.softmaxExp(arith::SubFOp::create(b, approx, lse),
                                         op.getSoftmaxExpAttr());
        return {arith::MaxNumFOp::create(b, acc[0], score),
                arith::AddFOp::create(b, acc[1], mass)};
      });
  Value max = maxAndAlpha[0];
  Value alpha = maxAndAlpha[1];

  SmallVector<Value> sumAndAcc = lb.forCarrying(
      lb.idx(0), numSelected, lb.idx(1),
      ValueRange{lb.f32(0), lb.splat(accType, lb.f32(0))},
      [&](Value s, ValueRange acc) -> SmallVector<Value> {
        Value key = memref::LoadOp::create(b, selected, s);
        Value p = lb.softmaxExp(
            arith::SubFOp::create(b, memref::LoadOp::create(b, exact, s), max),
            op.getSoftmaxExpAttr());
        Value v = lb.toF32(
            vector::LoadOp::create(b, valueVecType, valueBuf,
                                   ValueRange{batch, kvHead, key, lb.idx(0)}));
        return {arith::AddFOp::create(b, acc[0], p),
                vector::FMAOp::create(b, lb.splat(accType, p), v, acc[1])};
      });
  // out = alpha * y + (1 - alpha) * vmean with y = acc / sum.
  Value yWeight = arith::DivFOp::create(b, alpha, sumAndAcc[0]);
  Value meanWeight = arith::SubFOp::create(b, lb.f32(1), alpha);
  Value out = vector::FMAOp::create(
      b, lb.splat(accType, yWeight), sumAndAcc[1],
      arith::MulFOp::create(b, lb.splat(accType, meanWeight), valueMean));
  vector::StoreOp::create(b, lb.fromF32(out, elementType), outBuf,
                          ValueRange{batch, head(t), queryIndex, lb.idx(0)});
}

struct SparqToLoops : OpConversionPattern<SparqOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SparqOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    SparqLoopNestEmitter emitter(op, b);
    rewriter.replaceOp(op, emitter.emit());
    return success();
  }
};

} // namespace

void mlir::attn::populateSparqToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<SparqToLoops>(patterns.getContext());
}
