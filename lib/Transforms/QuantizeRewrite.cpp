//===- QuantizeRewrite.cpp - attn.sdpa over a quantized cache ---*- C++ -*-===//
//
// Replaces dense attention with attention over INT8/INT4/INT2 keys and
// values (ALGORITHMS.md §5, progressive quantization).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_QUANTIZEREWRITE
#include "attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

struct QuantizeRewritePass
    : attn::impl::QuantizeRewriteBase<QuantizeRewritePass> {
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
      return getOperation()->emitError() << "attn-quantize: " << message;
    };
    if (kvBits != 8 && kvBits != 4 && kvBits != 2)
      return fail("kv-bits must be 8, 4 or 2, got " + Twine(kvBits));
    if (groupSize < 1 || groupSize % (8 / kvBits) != 0)
      return fail("group-size must be a positive multiple of " +
                  Twine(8 / kvBits) + " (codes per byte), got " +
                  Twine(groupSize));
    if (lowPriorityHeads < 0)
      return fail("low-priority-heads must be >= 0, got " +
                  Twine(lowPriorityHeads));
    if (lowPriorityHeads > 0 && kvBits != 4)
      return fail("low-priority-heads needs kv-bits=4, got kv-bits=" +
                  Twine(kvBits));
    return success();
  }

  LogicalResult rewrite(SdpaOp op) {
    if (op.getMask()) {
      op.emitWarning() << "attn-quantize: left dense: a mask operand is not "
                          "supported over a quantized cache";
      return success();
    }
    auto keyType = op.getKey().getType();
    int64_t headDim = keyType.getDimSize(3);
    if (headDim % groupSize != 0) {
      op.emitWarning() << "attn-quantize: left dense: head dim " << headDim
                       << " is no multiple of group-size "
                       << static_cast<int64_t>(groupSize);
      return success();
    }
    if (lowPriorityHeads > keyType.getDimSize(1))
      return op.emitError() << "attn-quantize: low-priority-heads ("
                            << static_cast<int64_t>(lowPriorityHeads)
                            << ") exceeds the key/value head count ("
                            << keyType.getDimSize(1) << ")";

    reportFootprint(op);
    ImplicitLocOpBuilder b(op.getLoc(), op);
    IntegerAttr lowHeads;
    if (lowPriorityHeads > 0)
      lowHeads = b.getI64IntegerAttr(lowPriorityHeads);
    auto unit = [&](bool set) { return set ? b.getUnitAttr() : UnitAttr(); };
    auto quantize = [&](Value x, int64_t axis) {
      auto [codes, scale, step, zero] = getQuantizedLayoutTypes(
          cast<RankedTensorType>(x.getType()), axis, groupSize, kvBits);
      return QuantizeOp::create(b, codes, scale, step, zero, x,
                                b.getI64IntegerAttr(axis),
                                b.getI64IntegerAttr(groupSize),
                                b.getI64IntegerAttr(kvBits), lowHeads);
    };
    // Keys in groups of channels (scales constant along a dot product's
    // group), values in groups of keys (constant along P V's sum).
    QuantizeOp key = quantize(op.getKey(), 3);
    QuantizeOp value = quantize(op.getValue(), 2);
    auto quantized = QuantizedSdpaOp::create(
        b, op.getResultTypes(), op.getQuery(), key.getCodes(), key.getScale(),
        key.getStep(), key.getZero(), value.getCodes(), value.getScale(),
        value.getStep(), value.getZero(), b.getI64IntegerAttr(kvBits),
        b.getI64IntegerAttr(groupSize), unit(qkInt8), unit(pvInt8),
        op.getCausalAttr(), op.getScaleAttr(), op.getSoftmaxExpAttr());
    op.replaceAllUsesWith(quantized.getResults());
    op.erase();
    ++numRewritten;
    return success();
  }

  /// Remarks on the cache's bytes per element: codes plus, per group, an
  /// f32 scale and (below 8 bits) an i8 step and zero point.
  void reportFootprint(SdpaOp op) {
    double perGroup = 4.0 + (kvBits < 8 ? 2.0 : 0.0);
    double bytes = kvBits / 8.0 + perGroup / groupSize;
    Type elementType = op.getKey().getType().getElementType();
    double floatBytes = elementType.getIntOrFloatBitWidth() / 8.0;
    op.emitRemark() << llvm::formatv(
        "attn-quantize: KV cache at {0} bits in groups of {1}: {2:F3} bytes "
        "per element, {3:F2}x smaller than {4}",
        static_cast<int64_t>(kvBits), static_cast<int64_t>(groupSize), bytes,
        floatBytes / bytes, elementType);
  }
};

} // namespace
