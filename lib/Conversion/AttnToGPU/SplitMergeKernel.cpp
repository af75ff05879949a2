//===- SplitMergeKernel.cpp - split-KV merge kernel -------------*- C++ -*-===//
//
// Combines the partial results of the key/value splits of each query row
// (ALGORITHMS.md §2): with m the largest partial log-sum-exp,
// O = sum_s exp(lse_s - m) O_s / sum_s exp(lse_s - m) and
// lse = m + log(sum_s exp(lse_s - m)). One block per query row, one thread
// per output dim (striding when Dv exceeds the block).
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::emitSplitMergeKernel(ImplicitLocOpBuilder &b,
                                      gpu::LaunchOp launch,
                                      const SdpaGpuPlan &plan) {
  GpuBuilder gb(b);
  Value tid = launch.getThreadIds().x;
  Value threads = launch.getBlockSize().x;
  Value row = launch.getBlockIds().x;
  Value queryIdx = gb.remIdx(row, plan.queryLen);
  Value head = gb.remIdx(gb.divIdx(row, plan.queryLen), plan.queryHeads);
  Value batch = gb.divIdx(row, gb.mul(plan.queryLen, gb.idx(plan.queryHeads)));
  Value firstPartial = gb.mul(row, plan.splits);

  auto partialLse = [&](Value split) {
    return memref::LoadOp::create(b, plan.partialLse,
                                  gb.add(firstPartial, split))
        .getResult();
  };
  Value maxLse = gb.forCarrying(
      gb.idx(0), plan.splits, gb.idx(1), {gb.negInf()},
      [&](Value split, ValueRange carried) {
        return SmallVector<Value>{gb.fmax(carried[0], partialLse(split))};
      })[0];
  Value base =
      gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, maxLse, gb.negInf()),
                gb.f32(0), maxLse);
  Value log2e = gb.f32(M_LOG2E);
  auto weightOf = [&](Value split) {
    return gb.exp2(gb.fmul(gb.fsub(partialLse(split), base), log2e));
  };

  gb.forEach(tid, gb.idx(plan.valueDim), threads, [&](Value dim) {
    SmallVector<Value> sums = gb.forCarrying(
        gb.idx(0), plan.splits, gb.idx(1), {gb.f32(0), gb.f32(0)},
        [&](Value split, ValueRange carried) {
          Value weight = weightOf(split);
          Value flat = gb.add(
              gb.mul(gb.add(firstPartial, split), gb.idx(plan.valueDim)), dim);
          Value partial = memref::LoadOp::create(b, plan.partialOutput, flat);
          return SmallVector<Value>{
              gb.fadd(carried[0], weight),
              gb.fadd(carried[1], gb.fmul(weight, partial))};
        });
    Value seen = gb.cmpF(arith::CmpFPredicate::OGT, sums[0], gb.f32(0));
    Value out =
        gb.select(seen, arith::DivFOp::create(b, sums[1], sums[0]), gb.f32(0));
    memref::StoreOp::create(b, gb.fromF32(out, plan.elementType), plan.output,
                            ValueRange{batch, head, queryIdx, dim});
  });

  if (!plan.lse)
    return;
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, tid, gb.idx(0)), [&] {
    Value sum = gb.forCarrying(gb.idx(0), plan.splits, gb.idx(1), {gb.f32(0)},
                               [&](Value split, ValueRange carried) {
                                 return SmallVector<Value>{
                                     gb.fadd(carried[0], weightOf(split))};
                               })[0];
    Value seen = gb.cmpF(arith::CmpFPredicate::OGT, sum, gb.f32(0));
    Value lse = gb.fadd(
        base, gb.fmul(gb.log2(gb.select(seen, sum, gb.f32(1))), gb.f32(M_LN2)));
    memref::StoreOp::create(b, gb.select(seen, lse, gb.negInf()), plan.lse,
                            ValueRange{batch, head, queryIdx});
  });
}
