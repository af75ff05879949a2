//===- LoopBuilder.h - helpers for the attn loop lowerings ------*- C++ -*-===//
//
// Small builders shared by the lowerings of convert-attn-to-loops: constants,
// index arithmetic, structured loops built from lambdas, and a bounded top-k
// selector (a binary heap on stack buffers).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPBUILDER_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <functional>

namespace mlir {
namespace attn {

class AttnDialect;
class PolyExpAttr;

/// Constants, index arithmetic and loops on an ImplicitLocOpBuilder.
class LoopBuilder {
public:
  explicit LoopBuilder(ImplicitLocOpBuilder &b) : b(b) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value negInf() { return f32(-std::numeric_limits<float>::infinity()); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value minIdx(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value maxIdx(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value clamp(Value x, Value lo, Value hi) { return minIdx(maxIdx(x, lo), hi); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }
  Value cmpF(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, x, y); }
  Value splat(Type vectorType, Value scalar) {
    return vector::BroadcastOp::create(b, vectorType, scalar);
  }

  /// A vector of zeros of `type`.
  Value zeros(VectorType type) {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(type, b.getZeroAttr(type.getElementType())));
  }
  /// One past the last key query `i` sees under causal masking, aligned at
  /// the bottom right: key j is visible iff j <= i + (Lk - Lq).
  Value causalKeyEnd(Value i, Value queryLen, Value keyLen) {
    Value end = add(add(i, sub(keyLen, queryLen)), idx(1));
    return clamp(end, idx(0), keyLen);
  }

  /// exp of an f32 scalar or vector as an attention softmax takes it:
  /// math.exp, or attn.poly_exp when the op carries `softmax_exp`.
  Value softmaxExp(Value x, PolyExpAttr polyExp);

  /// Widens f16/bf16 scalars or vectors to f32.
  Value toF32(Value v);
  /// Narrows f32 scalars or vectors to `scalarType` (a float type).
  Value fromF32(Value v, Type scalarType);

  /// The size of every dim of a buffer.
  SmallVector<Value> dimSizes(Value buffer);
  /// A fresh 64-byte-aligned buffer of `type`'s shape and element type;
  /// `sizes` holds every dim's size (the dynamic ones are used).
  Value allocLike(RankedTensorType type, ArrayRef<Value> sizes);
  /// The tensor of a buffer this lowering filled (restrict, writable).
  Value toTensor(Type tensorType, Value buffer);
  /// toTensor of each buffer that is set (null ones are optional results
  /// not asked for).
  SmallVector<Value> toTensors(Type tensorType, ArrayRef<Value> buffers);

  /// A read-only identity-layout buffer of a tensor operand.
  Value toBuffer(Value tensor);

  /// scf.for over [lb, ub) by `step`; `body` receives the induction variable.
  void forEach(Value lb, Value ub, Value step,
               llvm::function_ref<void(Value)> body);
  /// scf.for carrying `init`; `body` returns the values for the next step.
  SmallVector<Value>
  forCarrying(Value lb, Value ub, Value step, ValueRange init,
              llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body);
  /// scf.parallel over [0, ub) for each bound; `body` receives the
  /// induction variables. With no bounds, `body` runs once, inline.
  void parallelFor(ValueRange upperBounds,
                   llvm::function_ref<void(ValueRange)> body);
  void ifThen(Value cond, llvm::function_ref<void()> then);
  void ifThenElse(Value cond, llvm::function_ref<void()> then,
                  llvm::function_ref<void()> otherwise);
  /// memref.alloca_scope around `body`: stack scratch dies with it.
  void allocaScope(llvm::function_ref<void()> body);

  ImplicitLocOpBuilder &b;
};

/// Keeps the `capacity` best (key, position) pairs offered so far: larger
/// keys are better, equal keys prefer the lower position, NaN keys rank as
/// -inf. The pairs live in a binary heap on stack buffers whose root is the
/// worst kept pair, so a new pair costs one compare unless it displaces the
/// root (O(log capacity)). Positions must be offered in increasing order.
class TopkSelector {
public:
  /// Allocates the heap for up to `capacity` (index) pairs on the stack of
  /// the enclosing memref.alloca_scope.
  TopkSelector(LoopBuilder &lb, Value capacity);

  /// Offers the positions [begin, end). `loadChunk(p)` returns the keys of
  /// positions [p, p + chunkWidth) as a vector<chunkWidth x f32>; chunks
  /// that cannot beat the worst kept key are skipped with one vector compare.
  /// `loadKey(p)` returns one key.
  void offerRange(Value begin, Value end, int64_t chunkWidth,
                  llvm::function_ref<Value(Value)> loadChunk,
                  llvm::function_ref<Value(Value)> loadKey);

  /// Orders the kept pairs best first and returns their number.
  Value sortBestFirst();

  /// Number of kept pairs.
  Value count();
  /// Key and position of kept pair `slot` (after sortBestFirst, the
  /// slot-th best).
  Value keyAt(Value slot);
  Value positionAt(Value slot);

private:
  void offer(Value key, Value position);
  Value isWorse(Value slotA, Value slotB);
  void swap(Value slotA, Value slotB);
  void siftUp(Value slot);
  void siftDown(Value slot, Value size);

  LoopBuilder &lb;
  Value capacity, keys, positions, countBuf;
};

/// Pattern population of each lowering of convert-attn-to-loops.
void populateSdpaToLoopsPatterns(RewritePatternSet &patterns, int64_t rowBlock,
                                 int64_t keyTile);
void populateMergeToLinalgPatterns(RewritePatternSet &patterns);
void populateTopkToLoopsPatterns(RewritePatternSet &patterns);
void populateGatherToLinalgPatterns(RewritePatternSet &patterns);
void populateSparqToLoopsPatterns(RewritePatternSet &patterns);
void populateLshSortBucketToLoopsPatterns(RewritePatternSet &patterns);
void populatePolyExpToArithPatterns(RewritePatternSet &patterns);
void populateQuantizeToLoopsPatterns(RewritePatternSet &patterns);
void populateQuantizedSdpaToLoopsPatterns(RewritePatternSet &patterns,
                                          int64_t rowBlock, int64_t keyTile);

} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPBUILDER_H
