//===- DialectPlugin.cpp - the attn dialect for mlir-opt --------*- C++ -*-===//
//
// Lets upstream tools parse and print attn IR (AttnPlugin.so, with
// PassPlugin.cpp):
//
//   mlir-opt --load-dialect-plugin=build/release/lib/AttnPlugin.so
//
//===----------------------------------------------------------------------===//

#include "attn/InitAllAttn.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"

#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "AttnDialect", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            mlir::attn::registerAllDialects(*registry);
          }};
}
