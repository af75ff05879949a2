//===- Pipelines.cpp - attn pass pipelines ----------------------*- C++ -*-===//

#include "attn/Pipelines/Pipelines.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void attn::buildLowerToLLVMPipeline(OpPassManager &pm,
                                    const LowerToLLVMOptions &options) {
  // attn -> scf/vector/memref loops and linalg on tensors.
  ConvertAttnToLoopsOptions loopOptions;
  loopOptions.rowBlock = options.rowBlock;
  loopOptions.keyTile = options.keyTile;
  pm.addPass(createConvertAttnToLoops(loopOptions));
  pm.addPass(createCanonicalizerPass());

  // Tensors -> buffers. Function arguments and results become plain
  // identity-layout memrefs, the calling convention attn-run relies on.
  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // Loops that carry tensors (HyperAttention's causal levels) yield fresh
  // buffers.
  bufferizeOptions.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  bufferization::buildBufferDeallocationPipeline(pm);
  // Ownership at scf.if/scf.for boundaries may leave bufferization.clone.
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createConvertLinalgToParallelLoopsPass());

  // Vector-friendly exp/log, then parallel loops onto OpenMP threads.
  pm.addPass(createExpandMath());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  ConvertSCFToOpenMPPassOptions ompOptions;
  ompOptions.numThreads = options.numThreads;
  pm.addPass(createConvertSCFToOpenMPPass(ompOptions));

  // Everything down to the LLVM dialect.
  // memref.alloca_scope must become LLVM before its body turns into a CFG.
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void attn::registerPipelines() {
  PassPipelineRegistration<LowerToLLVMOptions>(
      "attn-lower-to-llvm",
      "Lower a module with attn ops on tensors to the LLVM dialect (tiled "
      "online-softmax loops, parallel over OpenMP threads)",
      buildLowerToLLVMPipeline);
}
