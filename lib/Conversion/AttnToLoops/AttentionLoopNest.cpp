//===- AttentionLoopNest.cpp - shared online-softmax loop nest -*- C++ -*-===//

#include "AttentionLoopNest.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::attn;

AttentionLoopNest::AttentionLoopNest(const AttentionSpec &spec,
                                     ImplicitLocOpBuilder &b, int64_t rowBlock,
                                     int64_t keyTile)
    : b(b), lb(b), spec(spec), rowBlock(rowBlock), keyTile(keyTile),
      f32(b.getF32Type()) {
  auto queryType = cast<RankedTensorType>(spec.query.getType());
  elementType = queryType.getElementType();
  numQueryHeads = queryType.getDimSize(1);
  numKvHeads = spec.numKvHeads;
  groupSize = numQueryHeads / numKvHeads;
  headDim = queryType.getDimSize(3);
  valueDim = spec.outputType.getDimSize(3);
  fastMath = arith::FastMathFlagsAttr::get(b.getContext(),
                                           arith::FastMathFlags::contract |
                                               arith::FastMathFlags::reassoc);
}

std::pair<Value, Value> AttentionLoopNest::rowToHeadAndIndex(Value row) {
  Value g = arith::DivUIOp::create(b, row, queryLen);
  Value i = arith::RemUIOp::create(b, row, queryLen);
  return {lb.add(lb.mul(kvHead, lb.idx(groupSize)), g), i};
}

Value AttentionLoopNest::visibleKeyEnd(Value i) {
  return spec.causal ? lb.causalKeyEnd(i, queryLen, keyLen) : keyLen;
}

SmallVector<Value> AttentionLoopNest::maskIndices(Value head, Value i,
                                                  Value key) {
  auto maskType = cast<MemRefType>(maskBuf.getType());
  SmallVector<Value> full = {batch, head, i, key};
  SmallVector<Value> indices;
  int64_t offset = 4 - maskType.getRank();
  for (int64_t d = 0; d < maskType.getRank(); ++d)
    indices.push_back(maskType.getDimSize(d) == 1 ? lb.idx(0)
                                                  : full[offset + d]);
  return indices;
}

SmallVector<Value> AttentionLoopNest::loadQueryRow(Value head, Value i) {
  // q is pre-scaled once per row and tile, so each score is one dot product.
  auto queryVecType = VectorType::get({headDim}, elementType);
  Value q = lb.toF32(vector::LoadOp::create(
      b, queryVecType, queryBuf, ValueRange{batch, head, i, lb.idx(0)}));
  return {arith::MulFOp::create(
      b, q, vector::BroadcastOp::create(b, q.getType(), scaleValue))};
}

SmallVector<Value> AttentionLoopNest::emit() {
  queryBuf = lb.toBuffer(spec.query);
  if (spec.mask)
    maskBuf = lb.toBuffer(spec.mask);
  keyLen = loadKeysAndValues();

  Value batchSize = memref::DimOp::create(b, queryBuf, 0);
  queryLen = memref::DimOp::create(b, queryBuf, 2);
  scaleValue = lb.f32(spec.scale);

  // Results: [B, Hq, Lq, Dv] in the query type, [B, Hq, Lq] f32.
  RankedTensorType outType = spec.outputType;
  SmallVector<Value> outDynSizes;
  if (outType.isDynamicDim(0))
    outDynSizes.push_back(batchSize);
  if (outType.isDynamicDim(2))
    outDynSizes.push_back(queryLen);
  IntegerAttr alignment = b.getI64IntegerAttr(64);
  outBuf = memref::AllocOp::create(
      b, MemRefType::get(outType.getShape(), elementType), outDynSizes,
      alignment);
  if (spec.lseType) {
    auto lseType = cast<RankedTensorType>(spec.lseType);
    lseBuf = memref::AllocOp::create(
        b, MemRefType::get(lseType.getShape(), f32), outDynSizes, alignment);
  }

  // One work item per (batch, kv head, block of rows of the kv group).
  rowsPerGroup = lb.mul(queryLen, lb.idx(groupSize));
  Value numBlocks =
      arith::CeilDivUIOp::create(b, rowsPerGroup, lb.idx(rowBlock));
  auto parallel = scf::ParallelOp::create(
      b, ValueRange{lb.idx(0), lb.idx(0), lb.idx(0)},
      ValueRange{batchSize, lb.idx(numKvHeads), numBlocks},
      ValueRange{lb.idx(1), lb.idx(1), lb.idx(1)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(parallel.getBody()->getTerminator());
    batch = parallel.getInductionVars()[0];
    kvHead = parallel.getInductionVars()[1];
    // Stack scratch is released at the end of every work item.
    auto scope = memref::AllocaScopeOp::create(b, TypeRange{});
    Block *body = new Block();
    scope.getBodyRegion().push_back(body);
    b.setInsertionPointToStart(body);
    memref::AllocaScopeReturnOp::create(b, ValueRange{});
    b.setInsertionPointToStart(body);
    emitWorkItem(parallel.getInductionVars()[2]);
  }

  SmallVector<Value> results;
  results.push_back(bufferization::ToTensorOp::create(
      b, outType, outBuf, /*restrict=*/true, /*writable=*/true));
  if (spec.lseType)
    results.push_back(bufferization::ToTensorOp::create(
        b, spec.lseType, lseBuf, /*restrict=*/true, /*writable=*/true));
  return results;
}

void AttentionLoopNest::emitWorkItem(Value blockIndex) {
  rowBegin = lb.mul(blockIndex, lb.idx(rowBlock));
  Value numRows = lb.minIdx(lb.idx(rowBlock), lb.sub(rowsPerGroup, rowBegin));

  rowMax = memref::AllocaOp::create(b, MemRefType::get({rowBlock}, f32));
  rowSum = memref::AllocaOp::create(b, MemRefType::get({rowBlock}, f32));
  acc = memref::AllocaOp::create(b, MemRefType::get({rowBlock, valueDim}, f32));
  scores = memref::AllocaOp::create(b, MemRefType::get({keyTile}, f32));
  allocateTileScratch();

  // Empty running state: max -inf, sum 0, accumulator 0.
  auto init = scf::ForOp::create(b, lb.idx(0), lb.idx(rowBlock), lb.idx(1));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(init.getBody()->getTerminator());
    Value r = init.getInductionVar();
    memref::StoreOp::create(b, lb.negInf(), rowMax, r);
    memref::StoreOp::create(b, lb.f32(0.0f), rowSum, r);
    Value zeros = lb.zeros(VectorType::get({valueDim}, f32));
    vector::StoreOp::create(b, zeros, acc, ValueRange{r, lb.idx(0)});
  }

  // The block's keys end at the last visible key of its last query index;
  // with causal masking, tiles past it are never visited.
  Value keyEnd = keyLen;
  if (spec.causal) {
    Value lastRow = lb.sub(lb.add(rowBegin, numRows), lb.idx(1));
    Value firstHead = arith::DivUIOp::create(b, rowBegin, queryLen);
    Value lastHead = arith::DivUIOp::create(b, lastRow, queryLen);
    Value spansHeads =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ne, firstHead, lastHead);
    Value lastIndex =
        arith::SelectOp::create(b, spansHeads, lb.sub(queryLen, lb.idx(1)),
                                arith::RemUIOp::create(b, lastRow, queryLen));
    keyEnd = visibleKeyEnd(lastIndex);
  }

  auto tiles = scf::ForOp::create(b, lb.idx(0), keyEnd, lb.idx(keyTile));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(tiles.getBody()->getTerminator());
    Value k0 = tiles.getInductionVar();
    Value tileLen = lb.minIdx(lb.idx(keyTile), lb.sub(keyEnd, k0));
    emitPrefetchNextTile(lb.add(k0, tileLen), keyEnd);
    prepareTile(k0, tileLen);
    auto rows = scf::ForOp::create(b, lb.idx(0), numRows, lb.idx(1));
    b.setInsertionPoint(rows.getBody()->getTerminator());
    emitRowTileUpdate(rows.getInductionVar(), k0, tileLen);
  }

  auto finalize = scf::ForOp::create(b, lb.idx(0), numRows, lb.idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(finalize.getBody()->getTerminator());
  emitRowFinalize(finalize.getInductionVar());
}

void AttentionLoopNest::emitPrefetchNextTile(Value next, Value keyEnd) {
  // The rows of a block revisit the tile from cache; asking for the next
  // tile now keeps memory busy while they do.
  Value nextLen = lb.minIdx(lb.idx(keyTile), lb.sub(keyEnd, next));
  auto keys = scf::ForOp::create(b, lb.idx(0), nextLen, lb.idx(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(keys.getBody()->getTerminator());
  prefetchKey(lb.add(next, keys.getInductionVar()));
}

void AttentionLoopNest::emitRowTileUpdate(Value r, Value k0, Value tileLen) {
  auto [head, i] = rowToHeadAndIndex(lb.add(rowBegin, r));
  // Causal visibility is a prefix of the keys: the visible part of this tile
  // is its first `numVisible` keys.
  Value numVisible = lb.clamp(lb.sub(visibleKeyEnd(i), k0), lb.idx(0), tileLen);
  Value anyVisible = arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                           numVisible, lb.idx(0));
  auto ifVisible = scf::IfOp::create(b, anyVisible, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifVisible.thenBlock()->getTerminator());

  SmallVector<Value> queryRow = loadQueryRow(head, i);

  // Scores of the visible keys of this tile, mask applied.
  auto scoreLoop = scf::ForOp::create(b, lb.idx(0), numVisible, lb.idx(1));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(scoreLoop.getBody()->getTerminator());
    Value j = scoreLoop.getInductionVar();
    Value key = lb.add(k0, j);
    Value score = scoreKey(queryRow, key);
    if (maskBuf) {
      Value maskValue =
          memref::LoadOp::create(b, maskBuf, maskIndices(head, i, key));
      if (maskValue.getType().isInteger(1))
        score = arith::SelectOp::create(b, maskValue, score, lb.negInf());
      else
        score = arith::AddFOp::create(b, score, lb.toF32(maskValue));
    }
    memref::StoreOp::create(b, score, scores, j);
  }

  // Online softmax update with the whole tile as one vector; positions past
  // the visible keys read as -inf and so weigh exp(-inf) = 0.
  auto tileType = VectorType::get({keyTile}, f32);
  Value visibleMask = vector::CreateMaskOp::create(
      b, VectorType::get({keyTile}, b.getI1Type()), ValueRange{numVisible});
  Value s = vector::MaskedLoadOp::create(
      b, tileType, scores, ValueRange{lb.idx(0)}, visibleMask,
      vector::BroadcastOp::create(b, tileType, lb.negInf()));
  Value tileMax =
      vector::ReductionOp::create(b, vector::CombiningKind::MAXNUMF, s);
  Value oldMax = memref::LoadOp::create(b, rowMax, r);
  Value newMax = arith::MaxNumFOp::create(b, oldMax, tileMax);
  // Until some key is visible (max > -inf) there is nothing to accumulate.
  Value hasKey =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, newMax, lb.negInf());
  auto ifHasKey = scf::IfOp::create(b, hasKey, /*withElse=*/false);
  b.setInsertionPoint(ifHasKey.thenBlock()->getTerminator());

  Value p = roundWeights(
      lb.softmaxExp(arith::SubFOp::create(
                        b, s, vector::BroadcastOp::create(b, tileType, newMax)),
                    spec.softmaxExp));
  Value correction =
      lb.softmaxExp(arith::SubFOp::create(b, oldMax, newMax), spec.softmaxExp);
  Value tileSum = vector::ReductionOp::create(b, vector::CombiningKind::ADD, p,
                                              Value(), fastMath.getValue());
  Value oldSum = memref::LoadOp::create(b, rowSum, r);
  Value newSum = arith::AddFOp::create(
      b, arith::MulFOp::create(b, oldSum, correction), tileSum);
  memref::StoreOp::create(b, newSum, rowSum, r);
  memref::StoreOp::create(b, newMax, rowMax, r);
  vector::StoreOp::create(b, p, scores, ValueRange{lb.idx(0)});

  // acc = acc * correction + sum_j p_j * V_j
  auto accType = VectorType::get({valueDim}, f32);
  Value accRow =
      vector::LoadOp::create(b, accType, acc, ValueRange{r, lb.idx(0)});
  accRow = arith::MulFOp::create(
      b, accRow, vector::BroadcastOp::create(b, accType, correction));
  vector::StoreOp::create(b, accumulateValues(accRow, k0, numVisible), acc,
                          ValueRange{r, lb.idx(0)});
}

void AttentionLoopNest::emitRowFinalize(Value r) {
  auto [head, i] = rowToHeadAndIndex(lb.add(rowBegin, r));
  auto accType = VectorType::get({valueDim}, f32);
  Value sum = memref::LoadOp::create(b, rowSum, r);
  Value max = memref::LoadOp::create(b, rowMax, r);
  // A row that saw no key has sum 0: its output is 0 and its LSE -inf.
  Value hasKey =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, sum, lb.f32(0));
  Value safeSum = arith::SelectOp::create(b, hasKey, sum, lb.f32(1));
  Value inv = arith::DivFOp::create(b, lb.f32(1), safeSum);
  Value accRow =
      vector::LoadOp::create(b, accType, acc, ValueRange{r, lb.idx(0)});
  Value out = arith::MulFOp::create(
      b, accRow, vector::BroadcastOp::create(b, accType, inv));
  vector::StoreOp::create(b, lb.fromF32(out, elementType), outBuf,
                          ValueRange{batch, head, i, lb.idx(0)});
  if (lseBuf) {
    Value lse = arith::AddFOp::create(b, max, math::LogOp::create(b, safeSum));
    lse = arith::SelectOp::create(b, hasKey, lse, lb.negInf());
    memref::StoreOp::create(b, lse, lseBuf, ValueRange{batch, head, i});
  }
}
