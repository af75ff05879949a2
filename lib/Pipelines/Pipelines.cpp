//===- Pipelines.cpp - attn pass pipelines ----------------------*- C++ -*-===//

#include "attn/Pipelines/Pipelines.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

/// One-shot bufferization with function arguments and results as plain
/// identity-layout memrefs (the calling convention of attn-run and of the
/// C wrappers), where loops that carry tensors (HyperAttention's causal
/// levels) yield fresh buffers.
static bufferization::OneShotBufferizePassOptions
functionBoundaryBufferization() {
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  options.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  options.allowReturnAllocsFromLoops = true;
  return options;
}

void attn::buildLowerToLLVMPipeline(OpPassManager &pm,
                                    const LowerToLLVMOptions &options) {
  // attn -> scf/vector/memref loops and linalg on tensors.
  ConvertAttnToLoopsOptions loopOptions;
  loopOptions.rowBlock = options.rowBlock;
  loopOptions.keyTile = options.keyTile;
  pm.addPass(createConvertAttnToLoops(loopOptions));
  pm.addPass(createCanonicalizerPass());

  // Tensors -> buffers. Results inserted into slices of another tensor
  // (HyperAttention's merges) are computed in those slices; CSE first, so
  // that the slices they read and write are seen to be the same.
  pm.addPass(createCSEPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  pm.addPass(bufferization::createOneShotBufferizePass(
      functionBoundaryBufferization()));
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

void attn::buildLowerToNVVMPipeline(OpPassManager &pm,
                                    const LowerToNVVMOptions &options) {
  ConvertAttnToGPUOptions gpuOptions;
  gpuOptions.numSMs = options.numSMs;
  gpuOptions.decodeStages = options.decodeStages;
  gpuOptions.prefillStages = options.prefillStages;
  gpuOptions.prefillRowTiles = options.prefillRowTiles;
  gpuOptions.int4DecodeBlocksPerSM = options.int4DecodeBlocksPerSM;
  pm.addPass(createConvertAttnToGPU(gpuOptions));
  pm.addPass(createCanonicalizerPass());

  // Tensors -> buffers; results become out-params, so the result buffers
  // the kernels write are the caller's (device memory). Results inserted
  // into slices of another tensor are computed in those slices.
  pm.addPass(createCSEPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  pm.addPass(bufferization::createOneShotBufferizePass(
      functionBoundaryBufferization()));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  // Constants and dims move into the launches first: outlined, they would
  // be kernel parameters, opaque to the kernels' compiler.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutlining());
  // Intermediate buffers (the rewrites' glue) are freed after their last
  // use; with the kernels outlined, the host code is all deallocation
  // needs to see.
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createCanonicalizerPass());
  // The glue's linalg ops and copies become kernels and its buffers device
  // memory; exp and log in them become polynomials (no libdevice).
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createExpandMath());
  pm.addPass(createOffloadToGPU());
  pm.addPass(createCanonicalizerPass());
  // _mlir_ciface_<name>(descriptor pointers...): the documented C ABI.
  pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  // The glue kernels are outlined by the NVVM pipeline below.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());

  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.chip;
  nvvm.cubinFeatures = options.features;
  nvvm.cubinFormat = options.format;
  nvvm.optLevel = options.optLevel;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void attn::registerPipelines() {
  PassPipelineRegistration<LowerToNVVMOptions>(
      "attn-lower-to-nvvm",
      "Lower a module with attn ops on tensors (attention, SparQ, "
      "TurboAttention's cache, HyperAttention's rewrite) to host code in the "
      "LLVM dialect and NVVM kernels in gpu.binary ops; results become "
      "out-params",
      buildLowerToNVVMPipeline);
  PassPipelineRegistration<LowerToLLVMOptions>(
      "attn-lower-to-llvm",
      "Lower a module with attn ops on tensors to the LLVM dialect (tiled "
      "online-softmax loops, parallel over OpenMP threads)",
      buildLowerToLLVMPipeline);
}
