//===- SimtAttentionKernel.cpp - CUDA-core attention kernel -----*- C++ -*-===//
//
// The attention kernel of convert-attn-to-gpu for what the tensor-core
// kernel does not take (f32, head dims that are not multiples of 16): one
// warp per query row, lanes striped over the head dims, one key at a time
// with an online softmax. Scores are warp-wide sums of lane products; every
// lane keeps its own slice of the output accumulator in registers.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::emitSimtAttentionKernel(ImplicitLocOpBuilder &b,
                                         gpu::LaunchOp launch,
                                         const SdpaGpuPlan &plan) {
  GpuBuilder gb(b);
  Value tid = launch.getThreadIds().x;
  Value lane = gb.remIdx(tid, 32);
  Value warp = gb.divIdx(tid, 32);
  Value kvHead, batch, split, rows;
  std::tie(kvHead, batch, split, rows) =
      AttentionBlock::of(gb, launch, plan).values();
  Value row =
      gb.add(gb.mul(launch.getBlockIds().x, gb.idx(kSimtRowsPerBlock)), warp);

  // Whole warps take this branch or skip it, so shuffles stay converged.
  gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, row, rows), [&] {
    Value group = gb.divIdx(row, plan.queryLen);
    Value queryIdx = gb.remIdx(row, plan.queryLen);
    Value head = gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())), group);
    auto [firstKey, splitEnd] = plan.splitKeys(gb, split);
    Value keyEnd = gb.minIdx(plan.keyLen, splitEnd);
    if (plan.causal)
      keyEnd = gb.minIdx(
          keyEnd,
          gb.maxIdx(gb.add(queryIdx, gb.add(gb.sub(plan.keyLen, plan.queryLen),
                                            gb.idx(1))),
                    gb.idx(0)));

    // Lane l owns dims l, l + 32, ...; out-of-range dims load a clamped
    // element and contribute 0.
    auto laneDims = [&](int64_t dims) {
      SmallVector<std::pair<Value, Value>> out;
      for (int64_t i = 0; i * 32 < dims; ++i) {
        Value dim = gb.add(lane, gb.idx(32 * i));
        Value valid = gb.cmp(arith::CmpIPredicate::ult, dim, gb.idx(dims));
        out.push_back({gb.minIdx(dim, gb.idx(dims - 1)), valid});
      }
      return out;
    };
    auto headDims = laneDims(plan.headDim);
    auto valueDims = laneDims(plan.valueDim);
    auto loadF32 = [&](Value buffer, ValueRange indices) {
      return gb.toF32(memref::LoadOp::create(b, buffer, indices));
    };

    Value scaleLog2 = gb.f32(plan.scale * M_LOG2E);
    SmallVector<Value> query;
    for (auto [dim, valid] : headDims)
      query.push_back(gb.select(
          valid,
          gb.fmul(loadF32(plan.query, {batch, head, queryIdx, dim}), scaleLog2),
          gb.f32(0)));

    SmallVector<Value> init = {gb.negInf(), gb.f32(0)};
    for (size_t i = 0; i < valueDims.size(); ++i)
      init.push_back(gb.f32(0));
    SmallVector<Value> result = gb.forCarrying(
        firstKey, gb.maxIdx(keyEnd, firstKey), gb.idx(1), init,
        [&](Value key, ValueRange carried) {
          Value dot = gb.f32(0);
          for (auto [i, dimValid] : llvm::enumerate(headDims))
            dot = gb.fadd(
                dot, gb.fmul(query[i], loadF32(plan.key, {batch, kvHead, key,
                                                          dimValid.first})));
          Value score = gb.warpSum(dot, {16, 8, 4, 2, 1});
          Value newMax = gb.fmax(carried[0], score);
          Value base = newMax, kept;
          if (plan.mask) {
            Value term = loadMaskTerm(gb, plan, batch, head, queryIdx, key);
            if (term.getType().isInteger(1)) {
              kept = term;
              newMax = gb.select(kept, newMax, carried[0]);
            } else {
              score = gb.fadd(score, term);
              newMax = gb.fmax(carried[0], score);
            }
            // Nothing visible yet: subtract 0 rather than -inf.
            base = gb.select(
                gb.cmpF(arith::CmpFPredicate::OEQ, newMax, gb.negInf()),
                gb.f32(0), newMax);
          }
          // Exact rescale: see the tensor-core kernel.
          Value alpha = gb.exp2(gb.fsub(carried[0], base));
          Value weight = gb.softmaxExp2(score, base, plan.softmaxExp);
          if (kept)
            weight = gb.select(kept, weight, gb.f32(0));
          SmallVector<Value> next = {
              newMax, gb.fadd(gb.fmul(carried[1], alpha), weight)};
          for (auto [i, dimValid] : llvm::enumerate(valueDims)) {
            Value v = loadF32(plan.value, {batch, kvHead, key, dimValid.first});
            next.push_back(
                gb.fadd(gb.fmul(carried[2 + i], alpha), gb.fmul(weight, v)));
          }
          return next;
        });

    for (auto [i, dimValid] : llvm::enumerate(valueDims)) {
      Value dim = dimValid.first;
      Value value = result[2 + i];
      gb.ifThen(dimValid.second, [&] {
        storeRowValues(gb, plan, batch, head, queryIdx, split, dim, {value},
                       result[1]);
      });
    }
    gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, lane, gb.idx(0)), [&] {
      storeRowLse(gb, plan, batch, head, queryIdx, split, result[0], result[1]);
    });
  });
}
