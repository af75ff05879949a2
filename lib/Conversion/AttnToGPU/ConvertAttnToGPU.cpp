//===- ConvertAttnToGPU.cpp - attn ops to GPU kernels -----------*- C++ -*-===//
//
// The convert-attn-to-gpu pass. attn.sdpa is the op with GPU kernels; the
// pass reports every attn op it cannot lower instead of leaving it behind.
//
//===----------------------------------------------------------------------===//

#include "../AttnToLoops/LoopBuilder.h"
#include "attn/Conversion/AttnToGPU.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_CONVERTATTNTOGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

struct ConvertAttnToGPUPass
    : attn::impl::ConvertAttnToGPUBase<ConvertAttnToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (numSMs <= 0 || decodeStages < 2 || decodeStages > 4 ||
        prefillStages < 2 || prefillStages > 4 || prefillRowTiles < 1 ||
        prefillRowTiles > 2 || int4DecodeBlocksPerSM < 1 ||
        int4DecodeBlocksPerSM > 32) {
      module.emitError() << "convert-attn-to-gpu: num-sms must be positive, "
                            "decode-stages/prefill-stages in [2, 4], "
                            "prefill-row-tiles 1 or 2 and "
                            "int4-decode-blocks-per-sm in [1, 32]";
      return signalPassFailure();
    }
    bool unsupported = false;
    module.walk([&](Operation *op) {
      if (!isa<AttnDialect>(op->getDialect()))
        return;
      // Ops whose kernels have limits say which one they exceed.
      std::optional<std::string> why =
          llvm::TypeSwitch<Operation *, std::optional<std::string>>(op)
              .Case([](SparqOp sparq) { return sparqGpuUnsupported(sparq); })
              .Case([](QuantizedSdpaOp quantized) {
                return quantizedSdpaGpuUnsupported(quantized);
              })
              .Case([](LshSortBucketOp sort) {
                return lshSortGpuUnsupported(
                    sort.getProjections().getType().getDimSize(1));
              })
              .Case([](LshSortOp sort) {
                return lshSortGpuUnsupported(sort.getBits());
              })
              .Default([](Operation *) { return std::nullopt; });
      if (why) {
        op->emitError() << op->getName() << " has no GPU kernel for " << *why;
        unsupported = true;
        return;
      }
      if (!isa<SdpaOp, SparqOp, QuantizedSdpaOp, LshHashOp, LshSortOp,
               LshSortBucketOp, GatherOp, MergeOp, QuantizeOp, DequantizeOp,
               TopkOp>(op)) {
        op->emitError() << "'" << op->getName()
                        << "' has no GPU lowering yet; lower it on the CPU "
                           "(--attn-lower-to-llvm)";
        unsupported = true;
      }
    });
    if (unsupported)
      return signalPassFailure();

    SdpaGpuOptions options;
    options.numSMs = numSMs;
    options.decodeStages = decodeStages;
    options.prefillStages = prefillStages;
    options.prefillRowTiles = prefillRowTiles;
    options.int4DecodeBlocksPerSM = int4DecodeBlocksPerSM;
    RewritePatternSet patterns(&getContext());
    populateSdpaToGPUPatterns(patterns, options);
    populateSparqToGPUPatterns(patterns);
    populateLshSortBucketToGPUPatterns(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();
    // attn.gather and attn.merge become linalg ops on tensors,
    // attn.quantize, attn.dequantize and attn.topk parallel loops on
    // buffers; attn-offload-to-gpu runs both as kernels after
    // bufferization.
    RewritePatternSet linalgPatterns(&getContext());
    populateGatherToLinalgPatterns(linalgPatterns);
    populateMergeToLinalgPatterns(linalgPatterns);
    populateQuantizeToLoopsPatterns(linalgPatterns);
    populateTopkToLoopsPatterns(linalgPatterns);
    ConversionTarget target(getContext());
    target.addIllegalOp<GatherOp, MergeOp, QuantizeOp, DequantizeOp, TopkOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(
            applyPartialConversion(module, target, std::move(linalgPatterns))))
      return signalPassFailure();
    WalkResult left = module.walk([](Operation *op) {
      if (!isa<SdpaOp, QuantizedSdpaOp>(op))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName()
                      << "' could not be lowered to GPU kernels (its tiles "
                         "exceed shared memory)";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
