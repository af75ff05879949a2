//===- GpuKernelOutlining.cpp - outlining that keeps nvvm attrs -*- C++ -*-===//
//
// Upstream's gpu-kernel-outlining, then the nvvm.* attributes of each
// gpu.launch moved onto the gpu.func it became.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_GPUKERNELOUTLINING
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;

namespace {

struct GpuKernelOutliningPass
    : attn::impl::GpuKernelOutliningBase<GpuKernelOutliningPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Kernel (module, function) -> the launch's nvvm.* attributes.
    llvm::DenseMap<std::pair<StringAttr, StringAttr>,
                   SmallVector<NamedAttribute>>
        kernelAttributes;
    module.walk([&](gpu::LaunchOp launch) {
      SmallVector<NamedAttribute> nvvm;
      for (NamedAttribute attr : launch->getDiscardableAttrs())
        if (attr.getName().strref().starts_with("nvvm."))
          nvvm.push_back(attr);
      auto moduleName = launch.getModuleAttr();
      auto functionName = launch.getFunctionAttr();
      if (nvvm.empty() || !moduleName || !functionName)
        return;
      kernelAttributes[{moduleName.getAttr(), functionName.getAttr()}] = nvvm;
    });

    OpPassManager outlining(ModuleOp::getOperationName());
    outlining.addPass(createGpuKernelOutliningPass());
    if (failed(runPipeline(outlining, module)))
      return signalPassFailure();

    module.walk([&](gpu::GPUFuncOp func) {
      auto gpuModule = func->getParentOfType<gpu::GPUModuleOp>();
      auto it = kernelAttributes.find(
          {gpuModule.getSymNameAttr(), SymbolTable::getSymbolName(func)});
      if (it == kernelAttributes.end())
        return;
      for (NamedAttribute attr : it->second)
        func->setAttr(attr.getName(), attr.getValue());
    });
  }
};

} // namespace
