//===- SplitMergeKernel.cpp - split-KV merge kernel -------------*- C++ -*-===//
//
// Combines the partial results of the key/value splits of each query row
// (ALGORITHMS.md §2): with m the largest partial log-sum-exp,
// O = sum_s exp(lse_s - m) O_s / sum_s exp(lse_s - m) and
// lse = m + log(sum_s exp(lse_s - m)). One block per query row; its
// threads are splitMergeThreads(plan) / Dv groups of one thread per output
// dim, group p taking the splits p, p + P, ..., four loads in flight per
// thread, and the groups' sums meet in shared memory.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

/// Dims one pass of the block covers, and the groups of threads per dim.
static std::pair<int64_t, int64_t> mergeShape(const SdpaGpuPlan &plan) {
  int64_t dims = std::min<int64_t>(plan.valueDim, 256);
  return {dims, std::clamp<int64_t>(1024 / dims, 1, 8)};
}

int64_t mlir::attn::splitMergeThreads(const SdpaGpuPlan &plan) {
  auto [dims, groups] = mergeShape(plan);
  return llvm::alignTo(dims * groups, 32);
}

void mlir::attn::emitSplitMergeKernel(ImplicitLocOpBuilder &b,
                                      gpu::LaunchOp launch,
                                      const SdpaGpuPlan &plan) {
  GpuBuilder gb(b);
  const int64_t threads = splitMergeThreads(plan);
  const auto [dims, groups] = mergeShape(plan);
  const int64_t unroll = 4;
  SharedMemory shared(gb, launch);
  BlockOps block(gb, shared, launch, threads);
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
      tid, plan.splits, gb.idx(threads), {gb.negInf()},
      [&](Value split, ValueRange carried) {
        return SmallVector<Value>{gb.fmax(carried[0], partialLse(split))};
      })[0];
  Value maxLse = block.max(localMax);
  Value base =
      gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, maxLse, gb.negInf()),
                gb.f32(0), maxLse);
  Value log2e = gb.f32(M_LOG2E);

  // Thread (p, d) of a pass: the splits p + P k of dim d0 + d, `unroll` at
  // a time (past the last split: weight 0, the last split's address).
  Value active = gb.cmp(arith::CmpIPredicate::ult, tid, gb.idx(groups * dims));
  Value group = gb.minIdx(gb.divIdx(tid, dims), gb.idx(groups - 1));
  Value laneDim = gb.remIdx(tid, dims);
  Value weightTotal;
  for (int64_t d0 = 0; d0 < plan.valueDim; d0 += dims) {
    Value dim =
        gb.minIdx(gb.add(laneDim, gb.idx(d0)), gb.idx(plan.valueDim - 1));
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
    gb.ifThen(active, [&] {
      memref::StoreOp::create(b, sums[1], groupSums, tid);
      if (d0 == 0)
        gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, laneDim, gb.idx(0)), [&] {
          memref::StoreOp::create(b, sums[0], groupWeights, group);
        });
    });
    gpu::BarrierOp::create(b);

    auto total = [&](Value buffer, Value at, int64_t stride) {
      Value t = gb.f32(0);
      for (int64_t p = 0; p < groups; ++p)
        t = gb.fadd(t, memref::LoadOp::create(b, buffer,
                                              gb.add(at, gb.idx(p * stride))));
      return t;
    };
    if (d0 == 0)
      weightTotal = total(groupWeights, gb.idx(0), 1);
    Value seen = gb.cmpF(arith::CmpFPredicate::OGT, weightTotal, gb.f32(0));
    Value outDim = gb.add(tid, gb.idx(d0));
    gb.ifThen(gb.andI(gb.cmp(arith::CmpIPredicate::ult, tid, gb.idx(dims)),
                      gb.cmp(arith::CmpIPredicate::ult, outDim,
                             gb.idx(plan.valueDim))),
              [&] {
                Value sum = total(groupSums, tid, dims);
                Value out =
                    gb.select(seen, arith::DivFOp::create(b, sum, weightTotal),
                              gb.f32(0));
                memref::StoreOp::create(
                    b, gb.fromF32(out, plan.elementType), plan.output,
                    ValueRange{batch, head, queryIdx, outDim});
              });
    // The next pass reuses the group sums.
    gpu::BarrierOp::create(b);
  }

  if (!plan.lse)
    return;
  Value seen = gb.cmpF(arith::CmpFPredicate::OGT, weightTotal, gb.f32(0));
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, tid, gb.idx(0)), [&] {
    Value lse =
        gb.fadd(base, gb.fmul(gb.log2(gb.select(seen, weightTotal, gb.f32(1))),
                              gb.f32(M_LN2)));
    memref::StoreOp::create(b, gb.select(seen, lse, gb.negInf()), plan.lse,
                            ValueRange{batch, head, queryIdx});
  });
}
