//===- SparqRewrite.cpp - attn.sdpa -> attn.sparq ---------------*- C++ -*-===//
//
// Replaces dense attention with SparQ attention (ALGORITHMS.md §3).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_SPARQREWRITE
#include "attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

struct SparqRewritePass : attn::impl::SparqRewriteBase<SparqRewritePass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(checkOptions()))
      return signalPassFailure();
    SmallVector<SdpaOp> ops;
    getOperation()->walk([&](SdpaOp op) { ops.push_back(op); });
    for (SdpaOp op : ops)
      if (failed(rewrite(op)))
        return signalPassFailure();
  }

  LogicalResult checkOptions() {
    auto fail = [&](const Twine &message) {
      return getOperation()->emitError() << "attn-sparq: " << message;
    };
    if (rank < 1)
      return fail("rank must be >= 1, got " + Twine(rank));
    if (topK < 1)
      return fail("top-k must be >= 1, got " + Twine(topK));
    if (localWindow < 0 || localWindow > topK)
      return fail("local-window must be in [0, top-k = " + Twine(topK) +
                  "], got " + Twine(localWindow));
    if (minKvLen < 0)
      return fail("min-kv-len must be >= 0, got " + Twine(minKvLen));
    return success();
  }

  LogicalResult rewrite(SdpaOp op) {
    if (op.getMask()) {
      op.emitWarning() << "attn-sparq: left dense: SparQ supports causal "
                          "masking only, not a mask operand";
      return success();
    }
    if (op.getLse()) {
      op.emitWarning() << "attn-sparq: left dense: SparQ attention has no "
                          "log-sum-exp result";
      return success();
    }
    int64_t headDim = op.getQuery().getType().getDimSize(3);
    if (rank > headDim)
      return op.emitError()
             << "attn-sparq: rank (" << static_cast<int64_t>(rank)
             << ") exceeds the head dim (" << headDim << ")";
    int64_t keyLen = op.getKey().getType().getDimSize(2);
    if (!ShapedType::isDynamic(keyLen) && keyLen < minKvLen)
      return success();

    reportTransferRatio(op, keyLen, headDim);
    ImplicitLocOpBuilder b(op.getLoc(), op);
    Value replacement;
    if (ShapedType::isDynamic(keyLen) && minKvLen > 0)
      replacement = buildLengthDispatch(b, op);
    else
      replacement = buildSparq(b, op);
    op.getOutput().replaceAllUsesWith(replacement);
    op.erase();
    ++numRewritten;
    return success();
  }

  Value buildSparq(ImplicitLocOpBuilder &b, SdpaOp op) {
    auto sparq = SparqOp::create(
        b, op.getOutput().getType(), op.getQuery(), op.getKey(), op.getValue(),
        /*keyTransposed=*/Value(), /*valueMean=*/Value(), rank, topK,
        localWindow ? b.getI64IntegerAttr(localWindow) : IntegerAttr(),
        groupShared, op.getCausal(), op.getScaleAttr(), op.getSoftmaxExpAttr());
    return sparq.getOutput();
  }

  /// Dynamic key length: SparQ from `min-kv-len` keys up, dense below.
  Value buildLengthDispatch(ImplicitLocOpBuilder &b, SdpaOp op) {
    Value keyLen = tensor::DimOp::create(b, op.getKey(), 2);
    Value isLong =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, keyLen,
                              arith::ConstantIndexOp::create(b, minKvLen));
    auto ifOp = scf::IfOp::create(b, op.getOutput().getType(), isLong,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, buildSparq(b, op));
      b.setInsertionPointToStart(ifOp.elseBlock());
      Operation *dense = b.clone(*op);
      scf::YieldOp::create(b, dense->getResult(0));
    }
    return ifOp.getResult(0);
  }

  void reportTransferRatio(SdpaOp op, int64_t keyLen, int64_t headDim) {
    int64_t fixed = 2 * topK * headDim;
    if (ShapedType::isDynamic(keyLen)) {
      op.emitRemark() << llvm::formatv(
          "SparQ: expected transfer ratio 2*Lk*D / (Lk*r + 2*k*D) with D = "
          "{0}, r = {1}, k = {2} ({3:F2}x as Lk grows)",
          headDim, rank, topK, 2.0 * headDim / rank);
      return;
    }
    int64_t dense = 2 * keyLen * headDim;
    int64_t sparq = keyLen * rank + fixed;
    op.emitRemark() << llvm::formatv(
        "SparQ: expected transfer ratio {0:F2}x (dense 2*Lk*D = {1} element "
        "reads per query row and head, SparQ Lk*r + 2*k*D = {2})",
        static_cast<double>(dense) / sparq, dense, sparq);
  }
};

} // namespace
