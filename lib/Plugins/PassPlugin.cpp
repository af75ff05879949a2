//===- PassPlugin.cpp - the attn passes for mlir-opt ------------*- C++ -*-===//
//
// Lets upstream tools run the passes and pipelines of the project (with the
// dialect plugin, to parse attn IR):
//
//   mlir-opt --load-dialect-plugin=build/release/lib/AttnPlugin.so \
//            --load-pass-plugin=build/release/lib/AttnPlugin.so \
//            --pass-pipeline='builtin.module(attn-raise-sdpa)'
//
//===----------------------------------------------------------------------===//

#include "attn/InitAllAttn.h"

#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnPasses", LLVM_VERSION_STRING,
          []() { mlir::attn::registerAllPasses(); }};
}
