//===- ConvertAttnToLoops.cpp - attn ops to loops ---------------*- C++ -*-===//
//
// The convert-attn-to-loops pass: every attn op becomes upstream loops,
// vectors and linalg. Each op's lowering lives in its own file.
//
//===----------------------------------------------------------------------===//

#include "LoopBuilder.h"
#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_CONVERTATTNTOLOOPS
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

struct ConvertAttnToLoopsPass
    : attn::impl::ConvertAttnToLoopsBase<ConvertAttnToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (rowBlock <= 0 || keyTile <= 0) {
      getOperation()->emitError()
          << "convert-attn-to-loops: row-block and key-tile must be positive";
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<AttnDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateSdpaToLoopsPatterns(patterns, rowBlock, keyTile);
    populateMergeToLinalgPatterns(patterns);
    populateTopkToLoopsPatterns(patterns);
    populateGatherToLinalgPatterns(patterns);
    populateSparqToLoopsPatterns(patterns);
    populateLshSortBucketToLoopsPatterns(patterns);
    populatePolyExpToArithPatterns(patterns);
    populateQuantizeToLoopsPatterns(patterns);
    populateQuantizedSdpaToLoopsPatterns(patterns, rowBlock, keyTile);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
