//===- PolyExpRewrite.cpp - softmaxes with attn.poly_exp --------*- C++ -*-===//
//
// Marks attention ops so that their softmax uses the polynomial exp
// (ALGORITHMS.md §5).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_POLYEXPREWRITE
#include "attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

struct PolyExpRewritePass : attn::impl::PolyExpRewriteBase<PolyExpRewritePass> {
  using Base::Base;

  void runOnOperation() override {
    Operation *root = getOperation();
    if (degree != 2 && degree != 3) {
      root->emitError() << "attn-poly-exp: degree must be 2 or 3, got "
                        << static_cast<int64_t>(degree);
      return signalPassFailure();
    }
    if (nMax < 0) {
      root->emitError() << "attn-poly-exp: n-max must be >= 0, got "
                        << static_cast<int64_t>(nMax);
      return signalPassFailure();
    }
    std::optional<int64_t> threshold;
    if (nMax > 0)
      threshold = nMax;
    auto attr = PolyExpAttr::get(&getContext(), degree, threshold);
    root->walk([&](Operation *op) {
      if (auto sdpa = dyn_cast<SdpaOp>(op))
        sdpa.setSoftmaxExpAttr(attr);
      else if (auto sparq = dyn_cast<SparqOp>(op))
        sparq.setSoftmaxExpAttr(attr);
      else if (auto quantized = dyn_cast<QuantizedSdpaOp>(op))
        quantized.setSoftmaxExpAttr(attr);
      else
        return;
      ++numRewritten;
    });
  }
};

} // namespace
