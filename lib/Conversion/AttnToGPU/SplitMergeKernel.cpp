//===- SplitMergeKernel.cpp - split-KV merge kernel -------------*- C++ -*-===//
//
// Combines the partial results of the key/value splits of each query row
// (ALGORITHMS.md §2): with m the largest partial log-sum-exp,
// O = sum_s exp(lse_s - m) O_s / sum_s exp(lse_s - m) and
// lse = m + log(sum_s exp(lse_s - m)). One block per query row and
// kSplitMergeDims output dims (grid y over the dims); its threads are
// groups of one thread per dim, group p taking the splits p, p + P, ...,
// four loads in flight per thread, and the groups' sums meet in shared
// memory.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

int64_t mlir::attn::splitMergeDimBlocks(const SdpaGpuPlan &plan) {
  return llvm::divideCeil(plan.valueDim, kSplitMergeDims);
}

void mlir::attn::emitSplitMergeKernel(ImplicitLocOpBuilder &b,
                                      gpu::LaunchOp launch,
                                      const SdpaGpuPlan &plan) {
  GpuBuilder gb(b);
  const int64_t dims = kSplitMergeDims;
  const int64_t groups = kSplitMergeThreads / dims;
  const int64_t unroll = 4;
  SharedMemory shared(gb, launch);
  BlockOps block(gb, shared, launch, kSplitMergeThreads);
  Type f32 = b.getF32Type();
  Value groupSums = shared.buffer({groups * dims}, f32);
  Value groupWeights = shared.buffer({groups}, f32);
  shared.finish();

  Value tid = block.tid;
  Value row = launch.getBlockIds().x;
  Value queryIdx = gb.remIdx(row, plan.queryLen);
  Value head = gb.remIdx(gb.divIdx(row, plan.queryLen), plan.queryHeads);
  Value batch = gb.divIdx(row, gb.mul(plan.queryLen, gb.idx(plan.queryHeads)));
  Value firstPartial = gb.mul(row, plan.splits);
  Value lastSplit = gb.sub(plan.splits, gb.idx(1));

  auto partialLse = [&](Value split) {
    return memref::LoadOp::create(b, plan.partialLse,
                                  gb.add(firstPartial, split))
        .getResult();
  };
  Value localMax = gb.forCarrying(
      tid, plan.splits, gb.idx(kSplitMergeThreads), {gb.negInf()},
      [&](Value split, ValueRange carried) {
        return SmallVector<Value>{gb.fmax(carried[0], partialLse(split))};
      })[0];
  Value maxLse = block.max(localMax);
  Value base =
      gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, maxLse, gb.negInf()),
                gb.f32(0), maxLse);
  Value log2e = gb.f32(M_LOG2E);

  // Thread (p, d): the splits p + P k of dim d of the block's slice,
  // `unroll` at a time (past the last split: weight 0, the last split's
  // address; past the last dim: the last dim, not stored).
  Value group = gb.divIdx(tid, dims);
  Value laneDim = gb.remIdx(tid, dims);
  Value outDim = gb.add(gb.mul(launch.getBlockIds().y, gb.idx(dims)), laneDim);
  Value dim = gb.minIdx(outDim, gb.idx(plan.valueDim - 1));
  SmallVector<Value> sums = gb.forCarrying(
      group, plan.splits, gb.idx(groups * unroll), {gb.f32(0), gb.f32(0)},
      [&](Value first, ValueRange carried) {
        SmallVector<Value> weights, partials;
        for (int64_t u = 0; u < unroll; ++u) {
          Value split = gb.add(first, gb.idx(u * groups));
          Value valid = gb.cmp(arith::CmpIPredicate::ult, split, plan.splits);
          Value at = gb.minIdx(split, lastSplit);
          weights.push_back(gb.select(
              valid, gb.exp2(gb.fmul(gb.fsub(partialLse(at), base), log2e)),
              gb.f32(0)));
          Value flat = gb.add(
              gb.mul(gb.add(firstPartial, at), gb.idx(plan.valueDim)), dim);
          partials.push_back(
              memref::LoadOp::create(b, plan.partialOutput, flat));
        }
        Value weightSum = carried[0], sum = carried[1];
        for (int64_t u = 0; u < unroll; ++u) {
          weightSum = gb.fadd(weightSum, weights[u]);
          sum = gb.fadd(sum, gb.fmul(weights[u], partials[u]));
        }
        return SmallVector<Value>{weightSum, sum};
      });
  memref::StoreOp::create(b, sums[1], groupSums, tid);
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, laneDim, gb.idx(0)),
            [&] { memref::StoreOp::create(b, sums[0], groupWeights, group); });
  gpu::BarrierOp::create(b);

  auto total = [&](Value buffer, Value at, int64_t stride) {
    Value t = gb.f32(0);
    for (int64_t p = 0; p < groups; ++p)
      t = gb.fadd(
          t, memref::LoadOp::create(b, buffer, gb.add(at, gb.idx(p * stride))));
    return t;
  };
  Value weightTotal = total(groupWeights, gb.idx(0), 1);
  Value seen = gb.cmpF(arith::CmpFPredicate::OGT, weightTotal, gb.f32(0));
  gb.ifThen(
      gb.andI(gb.cmp(arith::CmpIPredicate::ult, tid, gb.idx(dims)),
              gb.cmp(arith::CmpIPredicate::ult, outDim, gb.idx(plan.valueDim))),
      [&] {
        Value sum = total(groupSums, tid, dims);
        Value out = gb.select(seen, arith::DivFOp::create(b, sum, weightTotal),
                              gb.f32(0));
        memref::StoreOp::create(b, gb.fromF32(out, plan.elementType),
                                plan.output,
                                ValueRange{batch, head, queryIdx, outDim});
      });

  if (!plan.lse)
    return;
  Value first = gb.andI(
      gb.cmp(arith::CmpIPredicate::eq, tid, gb.idx(0)),
      gb.cmp(arith::CmpIPredicate::eq, launch.getBlockIds().y, gb.idx(0)));
  gb.ifThen(first, [&] {
    Value lse =
        gb.fadd(base, gb.fmul(gb.log2(gb.select(seen, weightTotal, gb.f32(1))),
                              gb.f32(M_LN2)));
    memref::StoreOp::create(b, gb.select(seen, lse, gb.negInf()), plan.lse,
                            ValueRange{batch, head, queryIdx});
  });
}
