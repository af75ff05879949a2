//===- AttnToGPU.h - attn to GPU kernels ------------------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOGPU_H
#define ATTN_CONVERSION_ATTNTOGPU_H

#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <string>

namespace mlir {
namespace attn {

class LshSortBucketOp;
class QuantizedSdpaOp;
class SdpaOp;
class SparqOp;

/// Tuning of the attn.sdpa kernels (options of convert-attn-to-gpu).
struct SdpaGpuOptions {
  /// Multiprocessors of the target GPU: key/value splits are chosen so that
  /// small launches still fill them.
  int64_t numSMs = 132;
  /// Shared-memory key/value tiles in flight in the decode (one warp) and
  /// prefill (four warps) tensor-core kernels.
  int64_t decodeStages = 3;
  int64_t prefillStages = 2;
  /// 16-row query tiles per warp of the prefill kernel (1 or 2): two reuse
  /// every K/V fragment twice but re-read Q from shared memory.
  int64_t prefillRowTiles = 2;
  /// Blocks per SM the INT4 decode kernel's registers leave room for.
  int64_t int4DecodeBlocksPerSM = 8;
};

/// Whether attn.sdpa takes the tensor-core kernel (f16/bf16, head dims
/// multiples of 16 up to 256) rather than the CUDA-core one.
bool sdpaUsesTensorCores(SdpaOp op);

/// Why attn.quantized_sdpa has no GPU kernel (queries other than f16/bf16,
/// head dims that are not multiples of 16 up to 256), or nothing.
std::optional<std::string> quantizedSdpaGpuUnsupported(QuantizedSdpaOp op);

/// attn.sdpa and attn.quantized_sdpa -> gpu.launch kernels on tensors'
/// buffers.
void populateSdpaToGPUPatterns(RewritePatternSet &patterns,
                               const SdpaGpuOptions &options);

/// Why attn.sparq has no GPU kernel (head dims above 256, top_k above 4096,
/// or selected keys and values that do not fit in shared memory), or
/// nothing when it has one.
std::optional<std::string> sparqGpuUnsupported(SparqOp op);

/// attn.sparq -> the three SparQ kernels (scores, chunk select, attend).
void populateSparqToGPUPatterns(RewritePatternSet &patterns);

/// Why a sort of `bits`-bit keys (attn.lsh_sort, or attn.lsh_sort_bucket
/// with `bits` projections) has no GPU kernel (more than 12 bits), or
/// nothing.
std::optional<std::string> lshSortGpuUnsupported(int64_t bits);

/// attn.lsh_hash -> a hash kernel, attn.lsh_sort -> a counting-sort kernel,
/// attn.lsh_sort_bucket -> both.
void populateLshSortBucketToGPUPatterns(RewritePatternSet &patterns);

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTOGPU_H
