//===- LoopBuilder.cpp - helpers for the attn loop lowerings ----*- C++ -*-===//

#include "LoopBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// LoopBuilder
//===----------------------------------------------------------------------===//

Value LoopBuilder::softmaxExp(Value x, PolyExpAttr polyExp) {
  if (!polyExp)
    return math::ExpOp::create(b, x);
  IntegerAttr nMax;
  if (std::optional<int64_t> value = polyExp.getNMax())
    nMax = b.getI64IntegerAttr(*value);
  return PolyExpOp::create(b, x.getType(), x,
                           b.getI64IntegerAttr(polyExp.getDegree()),
                           /*coefficients=*/nullptr, nMax);
}

Value LoopBuilder::toF32(Value v) {
  Type t = v.getType();
  if (getElementTypeOrSelf(t).isF32())
    return v;
  Type target = b.getF32Type();
  if (auto vt = dyn_cast<VectorType>(t))
    target = VectorType::get(vt.getShape(), target);
  return arith::ExtFOp::create(b, target, v);
}

Value LoopBuilder::fromF32(Value v, Type scalarType) {
  if (scalarType.isF32())
    return v;
  Type target = scalarType;
  if (auto vt = dyn_cast<VectorType>(v.getType()))
    target = VectorType::get(vt.getShape(), scalarType);
  return arith::TruncFOp::create(b, target, v);
}

SmallVector<Value> LoopBuilder::dimSizes(Value buffer) {
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < cast<MemRefType>(buffer.getType()).getRank(); ++d)
    sizes.push_back(memref::DimOp::create(b, buffer, d));
  return sizes;
}

Value LoopBuilder::allocLike(RankedTensorType type, ArrayRef<Value> sizes) {
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynSizes.push_back(sizes[d]);
  return memref::AllocOp::create(
      b, MemRefType::get(type.getShape(), type.getElementType()), dynSizes,
      b.getI64IntegerAttr(64));
}

Value LoopBuilder::toTensor(Type tensorType, Value buffer) {
  return bufferization::ToTensorOp::create(b, tensorType, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

SmallVector<Value> LoopBuilder::toTensors(Type tensorType,
                                          ArrayRef<Value> buffers) {
  SmallVector<Value> tensors;
  for (Value buffer : buffers)
    if (buffer)
      tensors.push_back(toTensor(tensorType, buffer));
  return tensors;
}

Value LoopBuilder::toBuffer(Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, memrefType, tensor,
                                           /*read_only=*/true);
}

void LoopBuilder::forEach(Value lb, Value ub, Value step,
                          llvm::function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, lb, ub, step);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

SmallVector<Value> LoopBuilder::forCarrying(
    Value lb, Value ub, Value step, ValueRange init,
    llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(b, lb, ub, step, init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(loop.getBody());
    if (!loop.getBody()->empty() &&
        loop.getBody()->back().hasTrait<OpTrait::IsTerminator>())
      b.setInsertionPoint(&loop.getBody()->back());
    SmallVector<Value> next =
        body(loop.getInductionVar(), loop.getRegionIterArgs());
    scf::YieldOp::create(b, next);
  }
  return SmallVector<Value>(loop.getResults());
}

void LoopBuilder::parallelFor(ValueRange upperBounds,
                              llvm::function_ref<void(ValueRange)> body) {
  if (upperBounds.empty())
    return body({});
  SmallVector<Value> zeros(upperBounds.size(), idx(0));
  SmallVector<Value> ones(upperBounds.size(), idx(1));
  auto parallel = scf::ParallelOp::create(b, zeros, upperBounds, ones);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(parallel.getBody()->getTerminator());
  body(parallel.getInductionVars());
}

void LoopBuilder::ifThen(Value cond, llvm::function_ref<void()> then) {
  auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  then();
}

void LoopBuilder::ifThenElse(Value cond, llvm::function_ref<void()> then,
                             llvm::function_ref<void()> otherwise) {
  auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  then();
  b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
  otherwise();
}

void LoopBuilder::allocaScope(llvm::function_ref<void()> body) {
  auto scope = memref::AllocaScopeOp::create(b, TypeRange{});
  Block *block = new Block();
  scope.getBodyRegion().push_back(block);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(block);
  auto terminator = memref::AllocaScopeReturnOp::create(b, ValueRange{});
  b.setInsertionPoint(terminator);
  body();
}

//===----------------------------------------------------------------------===//
// TopkSelector
//===----------------------------------------------------------------------===//

TopkSelector::TopkSelector(LoopBuilder &lb, Value capacity)
    : lb(lb), capacity(capacity) {
  ImplicitLocOpBuilder &b = lb.b;
  auto dynamic = ShapedType::kDynamic;
  keys = memref::AllocaOp::create(b, MemRefType::get({dynamic}, b.getF32Type()),
                                  ValueRange{capacity});
  positions = memref::AllocaOp::create(
      b, MemRefType::get({dynamic}, b.getIndexType()), ValueRange{capacity});
  countBuf = memref::AllocaOp::create(b, MemRefType::get({}, b.getIndexType()));
  memref::StoreOp::create(b, lb.idx(0), countBuf);
}

Value TopkSelector::count() { return memref::LoadOp::create(lb.b, countBuf); }
Value TopkSelector::keyAt(Value slot) {
  return memref::LoadOp::create(lb.b, keys, slot);
}
Value TopkSelector::positionAt(Value slot) {
  return memref::LoadOp::create(lb.b, positions, slot);
}

Value TopkSelector::isWorse(Value slotA, Value slotB) {
  using P = arith::CmpFPredicate;
  Value keyA = keyAt(slotA), keyB = keyAt(slotB);
  Value lower = lb.cmpF(P::OLT, keyA, keyB);
  Value equal = lb.cmpF(P::OEQ, keyA, keyB);
  Value later =
      lb.cmp(arith::CmpIPredicate::ugt, positionAt(slotA), positionAt(slotB));
  return lb.orI(lower, lb.andI(equal, later));
}

void TopkSelector::swap(Value slotA, Value slotB) {
  ImplicitLocOpBuilder &b = lb.b;
  Value keyA = keyAt(slotA), keyB = keyAt(slotB);
  Value posA = positionAt(slotA), posB = positionAt(slotB);
  memref::StoreOp::create(b, keyB, keys, slotA);
  memref::StoreOp::create(b, keyA, keys, slotB);
  memref::StoreOp::create(b, posB, positions, slotA);
  memref::StoreOp::create(b, posA, positions, slotB);
}

void TopkSelector::siftUp(Value slot) {
  ImplicitLocOpBuilder &b = lb.b;
  Type indexType = b.getIndexType();
  // The condition forwards (slot, slot to swap with) to the body.
  auto loop = scf::WhileOp::create(b, TypeRange{indexType, indexType},
                                   ValueRange{slot});
  Block *before =
      b.createBlock(&loop.getBefore(), {}, {indexType}, {b.getLoc()});
  {
    Value child = before->getArgument(0);
    Value hasParent = lb.cmp(arith::CmpIPredicate::ugt, child, lb.idx(0));
    Value parent = lb.select(
        hasParent,
        arith::DivUIOp::create(b, lb.sub(child, lb.idx(1)), lb.idx(2)),
        lb.idx(0));
    Value climb = lb.andI(hasParent, isWorse(child, parent));
    scf::ConditionOp::create(b, climb, ValueRange{child, parent});
  }
  Block *after = b.createBlock(&loop.getAfter(), {}, {indexType, indexType},
                               {b.getLoc(), b.getLoc()});
  swap(after->getArgument(0), after->getArgument(1));
  scf::YieldOp::create(b, ValueRange{after->getArgument(1)});
  // createBlock moved the insertion point into the loop; continue after it.
  b.setInsertionPointAfter(loop);
}

void TopkSelector::siftDown(Value slot, Value size) {
  ImplicitLocOpBuilder &b = lb.b;
  using P = arith::CmpIPredicate;
  Type indexType = b.getIndexType();
  // The condition forwards (slot, slot to swap with) to the body.
  auto loop = scf::WhileOp::create(b, TypeRange{indexType, indexType},
                                   ValueRange{slot});
  Block *before =
      b.createBlock(&loop.getBefore(), {}, {indexType}, {b.getLoc()});
  {
    Value parent = before->getArgument(0);
    Value left = lb.add(lb.mul(parent, lb.idx(2)), lb.idx(1));
    Value right = lb.add(left, lb.idx(1));
    Value hasLeft = lb.cmp(P::ult, left, size);
    Value hasRight = lb.cmp(P::ult, right, size);
    // Out-of-range children read the parent's slot instead; the selects
    // below ignore what they compare.
    Value safeLeft = lb.select(hasLeft, left, parent);
    Value safeRight = lb.select(hasRight, right, parent);
    Value pickRight = lb.andI(hasRight, isWorse(safeRight, safeLeft));
    Value child = lb.select(pickRight, safeRight, safeLeft);
    Value descend = lb.andI(hasLeft, isWorse(child, parent));
    scf::ConditionOp::create(b, descend, ValueRange{parent, child});
  }
  Block *after = b.createBlock(&loop.getAfter(), {}, {indexType, indexType},
                               {b.getLoc(), b.getLoc()});
  swap(after->getArgument(0), after->getArgument(1));
  scf::YieldOp::create(b, ValueRange{after->getArgument(1)});
  b.setInsertionPointAfter(loop);
}

void TopkSelector::offer(Value key, Value position) {
  ImplicitLocOpBuilder &b = lb.b;
  Value isNan = lb.cmpF(arith::CmpFPredicate::UNO, key, key);
  key = lb.select(isNan, lb.negInf(), key);
  Value n = count();
  Value notFull = lb.cmp(arith::CmpIPredicate::ult, n, capacity);
  lb.ifThenElse(
      notFull,
      [&] {
        memref::StoreOp::create(b, key, keys, n);
        memref::StoreOp::create(b, position, positions, n);
        memref::StoreOp::create(b, lb.add(n, lb.idx(1)), countBuf);
        siftUp(n);
      },
      [&] {
        // Offered in increasing position order, an equal key never beats
        // the root: only strictly larger keys enter.
        Value beatsRoot =
            lb.cmpF(arith::CmpFPredicate::OGT, key, keyAt(lb.idx(0)));
        lb.ifThen(beatsRoot, [&] {
          memref::StoreOp::create(b, key, keys, lb.idx(0));
          memref::StoreOp::create(b, position, positions, lb.idx(0));
          siftDown(lb.idx(0), n);
        });
      });
}

void TopkSelector::offerRange(Value begin, Value end, int64_t chunkWidth,
                              llvm::function_ref<Value(Value)> loadChunk,
                              llvm::function_ref<Value(Value)> loadKey) {
  ImplicitLocOpBuilder &b = lb.b;
  Value hasRoom = lb.cmp(arith::CmpIPredicate::ugt, capacity, lb.idx(0));
  Value nonEmpty = lb.cmp(arith::CmpIPredicate::slt, begin, end);
  lb.ifThen(lb.andI(hasRoom, nonEmpty), [&] {
    Value length = lb.sub(end, begin);
    Value width = lb.idx(chunkWidth);
    Value fullEnd =
        lb.add(begin, lb.mul(arith::DivUIOp::create(b, length, width), width));
    lb.forEach(begin, fullEnd, width, [&](Value p) {
      Value chunk = loadChunk(p);
      Value chunkMax =
          vector::ReductionOp::create(b, vector::CombiningKind::MAXNUMF, chunk);
      Value notFull = lb.cmp(arith::CmpIPredicate::ult, count(), capacity);
      Value beatsRoot =
          lb.cmpF(arith::CmpFPredicate::OGT, chunkMax, keyAt(lb.idx(0)));
      lb.ifThen(lb.orI(notFull, beatsRoot), [&] {
        lb.forEach(lb.idx(0), width, lb.idx(1), [&](Value lane) {
          Value key = vector::ExtractOp::create(b, chunk, lane);
          offer(key, lb.add(p, lane));
        });
      });
    });
    lb.forEach(fullEnd, end, lb.idx(1), [&](Value p) { offer(loadKey(p), p); });
  });
}

Value TopkSelector::sortBestFirst() {
  // Heapsort: the root is the worst kept pair; moving it behind the shrinking
  // heap leaves the slots ordered best first.
  Value n = count();
  Value last = lb.maxIdx(lb.sub(n, lb.idx(1)), lb.idx(0));
  lb.forEach(lb.idx(0), last, lb.idx(1), [&](Value t) {
    Value end = lb.sub(last, t);
    swap(lb.idx(0), end);
    siftDown(lb.idx(0), end);
  });
  return n;
}
