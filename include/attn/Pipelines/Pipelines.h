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

/// Options of `--attn-lower-to-nvvm`.
struct LowerToNVVMOptions : public PassPipelineOptions<LowerToNVVMOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("GPU architecture of the kernels"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features of the kernels (the PTX ISA version)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary format: isa (PTX text, needs no CUDA "
                     "toolkit), bin (cubin) or fatbin (both need ptxas)"),
      llvm::cl::init("fatbin")};
  PassOptions::Option<int> optLevel{
      *this, "opt-level",
      llvm::cl::desc("LLVM optimization level of the kernels"),
      llvm::cl::init(3)};
  PassOptions::Option<int64_t> numSMs{
      *this, "num-sms",
      llvm::cl::desc("Multiprocessors to fill (convert-attn-to-gpu)"),
      llvm::cl::init(132)};
  PassOptions::Option<int64_t> decodeStages{
      *this, "decode-stages",
      llvm::cl::desc("Key/value tiles in flight in the decode kernel"),
      llvm::cl::init(3)};
  PassOptions::Option<int64_t> prefillStages{
      *this, "prefill-stages",
      llvm::cl::desc("Key/value tiles in flight in the prefill kernel"),
      llvm::cl::init(2)};
  PassOptions::Option<int64_t> prefillRowTiles{
      *this, "prefill-row-tiles",
      llvm::cl::desc("16-row query tiles per warp in the prefill kernel"),
      llvm::cl::init(2)};
  PassOptions::Option<int64_t> int4DecodeBlocksPerSM{
      *this, "int4-decode-blocks-per-sm",
      llvm::cl::desc("Blocks per SM the INT4 decode kernel's registers "
                     "leave room for"),
      llvm::cl::init(8)};
};

/// Builds the pipeline from a module with attn ops on tensors to the LLVM
/// dialect: attn -> loops, one-shot bufferization, buffer deallocation,
/// polynomial math, OpenMP for parallel loops, and the upstream conversions
/// to LLVM.
void buildLowerToLLVMPipeline(OpPassManager &pm,
                              const LowerToLLVMOptions &options);

/// Builds the pipeline from a module with attn.sdpa on tensors to host code
/// in the LLVM dialect plus a `gpu.binary` of NVVM kernels: attn -> GPU
/// kernels, one-shot bufferization, results to out-params (the caller's
/// device buffers), C wrappers, kernel outlining and upstream's
/// gpu-lower-to-nvvm-pipeline.
void buildLowerToNVVMPipeline(OpPassManager &pm,
                              const LowerToNVVMOptions &options);

/// Registers `--attn-lower-to-llvm` and `--attn-lower-to-nvvm`.
void registerPipelines();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
