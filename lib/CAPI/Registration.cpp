//===- Registration.cpp - everything attn-opt has ---------------*- C++ -*-===//

#include "attn-c/Registration.h"
#include "attn-c/Passes.h"

#include "attn/InitAllAttn.h"

#include "mlir/CAPI/IR.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void attnRegisterAllDialects(MlirDialectRegistry registry) {
  mlir::DialectRegistry &unwrapped = *unwrap(registry);
  mlir::registerAllDialects(unwrapped);
  mlir::registerAllExtensions(unwrapped);
  mlir::attn::registerAllDialects(unwrapped);
}

void attnRegisterAllPasses(void) {
  // Once, like attnRegisterPasses.
  static const bool registered = (mlir::registerAllPasses(), true);
  (void)registered;
  attnRegisterPasses();
}

void attnRegisterAllLLVMTranslations(MlirContext context) {
  mlir::DialectRegistry registry;
  mlir::registerAllToLLVMIRTranslations(registry);
  unwrap(context)->appendDialectRegistry(registry);
}
