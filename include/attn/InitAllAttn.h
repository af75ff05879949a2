//===- InitAllAttn.h - register the attn project ----------------*- C++ -*-===//
//
// One call that makes the attn dialect, passes and pipelines available to a
// tool or a compiler that embeds them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_INITALLATTN_H
#define ATTN_INITALLATTN_H

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir {
namespace attn {

inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<AttnDialect>();
}

inline void registerAllPasses() {
  registerAttnConversionPasses();
  registerAttnTransformsPasses();
  registerPipelines();
}

} // namespace attn
} // namespace mlir

#endif // ATTN_INITALLATTN_H
