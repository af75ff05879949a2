//===- Passes.cpp - C API of the attn passes --------------------*- C++ -*-===//

#include "attn-c/Passes.h"

#include "attn/InitAllAttn.h"

#include "mlir/CAPI/Pass.h"
#include "mlir/Pass/Pass.h"

using namespace mlir;
using namespace mlir::attn;

// The generated constructors and registrations call these unqualified.
#include "attn/Conversion/Passes.capi.cpp.inc"
#include "attn/Transforms/Passes.capi.cpp.inc"

// Embedders may call these from several places: each registration runs once
// (a pass or pipeline name is registered only once).
void attnRegisterPipelines(void) {
  static const bool registered = (registerPipelines(), true);
  (void)registered;
}

void attnRegisterPasses(void) {
  static const bool registered =
      (registerAttnConversionPasses(), registerAttnTransformsPasses(), true);
  (void)registered;
  attnRegisterPipelines();
}
