//===- SparqToGPU.cpp - attn.sparq to GPU kernels ---------------*- C++ -*-===//
//
// Host side of the GPU lowering of attn.sparq: sizes, scratch buffers and
// the three launches of SparqKernels.h on one stream (async tokens).
//
//===----------------------------------------------------------------------===//

#include "SparqKernels.h"
#include "attn/Conversion/AttnToGPU.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

using namespace mlir;
using namespace mlir::attn;

/// Shared memory of the attend kernel (227 KiB per block on sm_80 and
/// later), less room for its buffers that do not grow with top_k.
static constexpr int64_t kMaxAttendSharedBytes = 216 * 1024;
/// Most candidate keys the attend kernel stages in shared memory (32 KiB).
static constexpr int64_t kMaxStagedCandidates = 8192;
/// Largest top_k of the GPU kernels (their static buffers hold it).
static constexpr int64_t kMaxGpuTopK = 4096;
/// Largest head dims (one thread per dim in a block).
static constexpr int64_t kMaxGpuHeadDim = SparqGpuPlan::kScoresThreads;

/// Shared memory of the attend kernel per selected key: its key and value
/// rows, its position and weight.
static int64_t selectedKeysSharedBytes(const AttentionShape &shape,
                                       int64_t topK) {
  return topK * ((shape.headDim + shape.valueDim) *
                     (shape.elementType.getIntOrFloatBitWidth() / 8) +
                 8);
}

std::optional<std::string> mlir::attn::sparqGpuUnsupported(SparqOp op) {
  AttentionShape shape = AttentionShape::of(op);
  int64_t headDim = shape.headDim, valueDim = shape.valueDim;
  int64_t topK = op.getTopK();
  if (headDim > kMaxGpuHeadDim || valueDim > kMaxGpuHeadDim)
    return "head dims above " + std::to_string(kMaxGpuHeadDim);
  if (topK > kMaxGpuTopK)
    return "top_k above " + std::to_string(kMaxGpuTopK);
  if (selectedKeysSharedBytes(shape, topK) > kMaxAttendSharedBytes)
    return "top_k selected keys and values above " +
           std::to_string(kMaxAttendSharedBytes / 1024) +
           " KiB of shared memory";
  return std::nullopt;
}

namespace {

struct SparqToGPU : OpRewritePattern<SparqOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SparqOp op,
                                PatternRewriter &rewriter) const override {
    if (sparqGpuUnsupported(op))
      return rewriter.notifyMatchFailure(op, "no GPU kernel for this form");
    auto outType = cast<RankedTensorType>(op.getOutput().getType());
    SparqGpuPlan plan;
    static_cast<AttentionShape &>(plan) = AttentionShape::of(op);
    plan.rank = op.getRank();
    plan.topK = op.getTopK();
    plan.localWindow = op.getLocalWindowSize();
    plan.groupShared = op.getGroupShared();
    // What the selected rows leave of the attend kernel's shared memory
    // goes to the scores and queries of more heads at once (up to 16 KiB),
    // then to the candidates' keys, in whole warps of keys.
    int64_t spareBytes =
        kMaxAttendSharedBytes - selectedKeysSharedBytes(plan, plan.topK);
    auto extraHeadBytes = [&](int64_t heads) {
      return (heads - 1) * (plan.topK + plan.headDim + 2) * 4;
    };
    while (plan.unitHeads() % (2 * plan.attendHeadBatch) == 0 &&
           extraHeadBytes(2 * plan.attendHeadBatch) <=
               std::min<int64_t>(spareBytes, 16 * 1024))
      plan.attendHeadBatch *= 2;
    spareBytes -= extraHeadBytes(plan.attendHeadBatch);
    plan.stagedCandidates =
        std::min(kMaxStagedCandidates, spareBytes / 4 / 32 * 32);

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    GpuBuilder gb(b);
    std::string prefix = kernelPrefix(op);
    plan.query = gb.toBuffer(op.getQuery());
    plan.key = gb.toBuffer(op.getKey());
    plan.value = gb.toBuffer(op.getValue());
    if (Value keyTransposed = op.getKeyTransposed())
      plan.keyTransposed = gb.toBuffer(keyTransposed);
    if (Value valueMean = op.getValueMean())
      plan.valueMean = gb.toBuffer(valueMean);
    SmallVector<Value> querySizes = gb.dimSizes(plan.query);
    plan.batch = querySizes[0];
    plan.queryLen = querySizes[2];
    plan.keyLen = gb.dimSizes(plan.key)[2];
    plan.output = gb.allocLike(outType, {plan.batch, gb.idx(plan.queryHeads),
                                         plan.queryLen, gb.idx(plan.valueDim)});
    plan.chunks = gb.maxIdx(
        gb.ceilDiv(plan.keyLen, gb.idx(SparqGpuPlan::kChunkKeys)), gb.idx(1));

    // Scratch, freed after the last kernel.
    Value positions =
        gb.mul(gb.mul(plan.batch, gb.idx(plan.kvHeads)), plan.queryLen);
    Value rows = gb.mul(positions, gb.idx(plan.units()));
    Value unitRows = gb.mul(rows, gb.idx(plan.unitHeads()));
    auto tokenType = gpu::AsyncTokenType::get(b.getContext());
    Value token =
        gpu::WaitOp::create(b, tokenType, ValueRange{}).getAsyncToken();
    SmallVector<Value> scratch;
    auto scratchOf = [&](Type elementType, Value elements) {
      scratch.push_back(allocScratch(b, elementType, elements, token));
      return scratch.back();
    };
    Type f32 = b.getF32Type(), i32 = b.getI32Type();
    plan.logits = scratchOf(f32, gb.mul(unitRows, plan.keyLen));
    plan.chunkStats =
        scratchOf(f32, gb.mul(gb.mul(unitRows, plan.chunks), gb.idx(2)));
    plan.valueSums =
        scratchOf(f32, plan.valueMean ? gb.idx(1)
                                      : gb.mul(gb.mul(positions, plan.chunks),
                                               gb.idx(plan.valueDim)));
    Value candidates =
        gb.mul(gb.mul(rows, plan.chunks), gb.idx(plan.candidatesPerChunk()));
    plan.candidateKeys = scratchOf(i32, candidates);
    plan.candidatePositions = scratchOf(i32, candidates);

    gpu::LaunchOp scores =
        launchKernel(b, prefix + "sparq_scores", {plan.chunks, rows, gb.idx(1)},
                     SparqGpuPlan::kScoresThreads, 0, token);
    emitKernelBody(b, scores, [&] { emitSparqScoresKernel(b, scores, plan); });
    gpu::LaunchOp select =
        launchKernel(b, prefix + "sparq_select", {plan.chunks, rows, gb.idx(1)},
                     SparqGpuPlan::kSelectThreads, 0, token);
    emitKernelBody(b, select, [&] { emitSparqSelectKernel(b, select, plan); });
    gpu::LaunchOp attend =
        launchKernel(b, prefix + "sparq_attend", {rows, gb.idx(1), gb.idx(1)},
                     SparqGpuPlan::kAttendThreads, 0, token);
    emitKernelBody(b, attend, [&] { emitSparqAttendKernel(b, attend, plan); });

    for (Value buffer : scratch)
      freeScratch(b, buffer, token);
    gpu::WaitOp::create(b, Type(), token);
    rewriter.replaceOp(op, gb.toTensor(outType, plan.output));
    return success();
  }
};

} // namespace

void mlir::attn::populateSparqToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<SparqToGPU>(patterns.getContext());
}
