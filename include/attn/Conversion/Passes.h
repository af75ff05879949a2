//===- Passes.h - attn conversion passes ------------------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_PASSES_H
#define ATTN_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace attn {

#define GEN_PASS_DECL
#include "attn/Conversion/Passes.h.inc"

/// Memory effects of the GPU host ops that declare none (gpu.launch_func
/// reads and writes its memref arguments, gpu.wait orders device work), so
/// that buffer deallocation can run on host code with kernel launches.
void registerGpuHostEffects(DialectRegistry &registry);

#define GEN_PASS_REGISTRATION
#include "attn/Conversion/Passes.h.inc"

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_PASSES_H
