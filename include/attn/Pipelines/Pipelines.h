//===- Pipelines.h - attn pass pipelines ------------------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
namespace attn {

/// Options of `--attn-lower-to-llvm`.
struct LowerToLLVMOptions : public PassPipelineOptions<LowerToLLVMOptions> {
  PassOptions::Option<int64_t> rowBlock{
      *this, "row-block",
      llvm::cl::desc("Query rows per parallel work item of attn.sdpa"),
      llvm::cl::init(16)};
  PassOptions::Option<int64_t> keyTile{
      *this, "key-tile",
      llvm::cl::desc("Keys per online-softmax tile of attn.sdpa"),
      llvm::cl::init(256)};
  PassOptions::Option<unsigned> numThreads{
      *this, "num-threads",
      llvm::cl::desc("OpenMP threads of parallel loops (0: the runtime's "
                     "default, all cores or OMP_NUM_THREADS)"),
      llvm::cl::init(0)};
};

/// Builds the pipeline from a module with attn ops on tensors to the LLVM
/// dialect: attn -> loops, one-shot bufferization, buffer deallocation,
/// polynomial math, OpenMP for parallel loops, and the upstream conversions
/// to LLVM.
void buildLowerToLLVMPipeline(OpPassManager &pm,
                              const LowerToLLVMOptions &options);

/// Registers `--attn-lower-to-llvm`.
void registerPipelines();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
