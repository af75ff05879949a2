//===- SparqKernels.h - the GPU kernels of attn.sparq -----------*- C++ -*-===//
//
// attn.sparq on the GPU is three kernels over "selection rows": one per
// (batch, key/value head, query position, unit), where a unit is one query
// head, or with group_shared the G query heads of a key/value head.
//
//  1. sparq_scores (grid: key chunks x rows): top-`rank` components of the
//     unit's |q|, approximate logits of the chunk's keys from those
//     components (rows of key_transposed when given), each head's softmax
//     max and sum over the chunk, and the chunk's sum of V when no
//     value_mean is given.
//  2. sparq_select (grid: key chunks x rows): each head's softmax over all
//     keys from the chunk statistics, the ranking score (the sum of the
//     unit's approximate softmaxes) of the chunk's keys, and the chunk's
//     best candidates by a block radix select.
//  3. sparq_attend (grid: rows): the final radix select over the
//     candidates, the local window, the selected keys and values staged in
//     shared memory, exact attention per head, alpha and the V-mean
//     interpolation.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_SPARQKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_SPARQKERNELS_H

#include "GpuBuilder.h"

namespace mlir {
namespace attn {

/// One attn.sparq as its kernels see it.
struct SparqGpuPlan : AttentionShape {
  // query [B, Hq, Lq, D], key [B, Hkv, Lk, D], value [B, Hkv, Lk, Dv],
  // keyTransposed [B, Hkv, D, Lk] or null, valueMean [B, Hkv, Dv] or null.
  Value query, key, value, keyTransposed, valueMean;
  // output [B, Hq, Lq, Dv].
  Value output;
  // Scratch (flat): approximate logits in the log2 domain [rows, Hu, Lk];
  // per-chunk (max, sum) of each head's softmax [rows, Hu, chunks, 2]; V
  // sums per chunk [B, Hkv, Lq, chunks, Dv] (without valueMean); candidate
  // keys and positions [rows, chunks, candidatesPerChunk()].
  Value logits, chunkStats, valueSums, candidateKeys, candidatePositions;
  Value batch, queryLen, keyLen, chunks;
  int64_t rank = 0, topK = 0, localWindow = 0;
  // Candidate keys the attend kernel stages in shared memory for its
  // select (0: it reads them from global memory).
  int64_t stagedCandidates = 0;
  // Unit heads the attend kernel works on at once (a power of two dividing
  // unitHeads()).
  int64_t attendHeadBatch = 1;
  bool groupShared = false;

  // Threads per block of each kernel. The attend kernel runs one block per
  // selection row, so its block is as wide as can be: its selection and
  // attention are latency-bound.
  static constexpr int64_t kScoresThreads = 256;
  static constexpr int64_t kSelectThreads = 512;
  static constexpr int64_t kAttendThreads = 1024;
  static constexpr int64_t kChunkKeys = 4096;

  /// Query heads per selection unit, and units per key/value head.
  int64_t unitHeads() const { return groupShared ? groupSize() : 1; }
  int64_t units() const { return groupShared ? 1 : groupSize(); }
  int64_t candidatesPerChunk() const { return std::min(topK, kChunkKeys); }
};

void emitSparqScoresKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                           const SparqGpuPlan &plan);
void emitSparqSelectKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                           const SparqGpuPlan &plan);
void emitSparqAttendKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                           const SparqGpuPlan &plan);

} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_SPARQKERNELS_H
