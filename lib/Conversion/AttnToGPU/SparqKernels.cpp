//===- SparqKernels.cpp - the GPU kernels of attn.sparq ---------*- C++ -*-===//
//
// See SparqKernels.h for the split into kernels and their block sizes.
// Logits are kept in the log2 domain (natural logits times log2(e)), as the
// softmax of the attention kernels.
//
//===----------------------------------------------------------------------===//

#include "SparqKernels.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A selection row and what follows from its indices.
struct SelectionRow {
  Value row, batch, kvHead, queryIdx, unit;
  // Visible keys [0, keyEnd); the last `window` of them are always chosen
  // and `ranked` more are picked among [0, keyEnd - window).
  Value keyEnd, window, ranked;

  SelectionRow(GpuBuilder &gb, const SparqGpuPlan &plan, Value row) : row(row) {
    Value rest = gb.divIdx(row, plan.units());
    unit = gb.remIdx(row, plan.units());
    queryIdx = gb.remIdx(rest, plan.queryLen);
    rest = gb.divIdx(rest, plan.queryLen);
    kvHead = gb.remIdx(rest, plan.kvHeads);
    batch = gb.divIdx(rest, plan.kvHeads);
    keyEnd = plan.causal ? gb.causalKeyEnd(queryIdx, plan.queryLen, plan.keyLen)
                         : plan.keyLen;
    window = gb.minIdx(gb.idx(plan.localWindow), keyEnd);
    ranked = gb.sub(gb.minIdx(gb.idx(plan.topK), keyEnd), window);
  }

  /// The query head of member `m` of the unit.
  Value head(GpuBuilder &gb, const SparqGpuPlan &plan, Value m) const {
    Value first = gb.mul(kvHead, gb.idx(plan.groupSize()));
    return gb.add(first, plan.groupShared ? m : unit);
  }
  /// Flat index of (batch, kvHead, queryIdx) in per-position scratch.
  Value position(GpuBuilder &gb, const SparqGpuPlan &plan) const {
    return gb.add(gb.mul(gb.add(gb.mul(batch, gb.idx(plan.kvHeads)), kvHead),
                         plan.queryLen),
                  queryIdx);
  }
};

/// Flat index of logit (row, m, key).
Value logitIndex(GpuBuilder &gb, const SparqGpuPlan &plan, Value row, Value m,
                 Value key) {
  return gb.add(
      gb.mul(gb.add(gb.mul(row, gb.idx(plan.unitHeads())), m), plan.keyLen),
      key);
}

/// Flat index of the (max, sum) pair of (row, m, chunk).
Value statsIndex(GpuBuilder &gb, const SparqGpuPlan &plan, Value row, Value m,
                 Value chunk) {
  Value pair = gb.add(
      gb.mul(gb.add(gb.mul(row, gb.idx(plan.unitHeads())), m), plan.chunks),
      chunk);
  return gb.mul(pair, gb.idx(2));
}

/// Each unit head's softmax over all keys from the chunk statistics: the
/// max (log2 domain, 0 when no key is visible) into `globalMax` and the
/// inverse of the sum (0 when none) into `globalInvSum`. Warps take heads;
/// a lane folds its chunks' (max, sum) pairs as they come, so that their
/// loads are one round trip. The caller ends the phase with a barrier.
void loadGlobalStats(BlockOps &block, const SparqGpuPlan &plan,
                     const SelectionRow &row, Value globalMax,
                     Value globalInvSum) {
  GpuBuilder &gb = block.gb;
  ImplicitLocOpBuilder &b = gb.b;
  // (max, sum) of two partial softmaxes in one; sums are rescaled exactly,
  // as the running sums.
  auto combine = [&](Value maxA, Value sumA, Value maxB, Value sumB) {
    Value max = gb.fmax(maxA, maxB);
    auto scaled = [&](Value m, Value s) {
      return gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, m, gb.negInf()),
                       gb.f32(0), gb.fmul(s, gb.exp2(gb.fsub(m, max))));
    };
    return std::make_pair(max, gb.fadd(scaled(maxA, sumA), scaled(maxB, sumB)));
  };
  gb.forEach(
      block.warp, gb.idx(plan.unitHeads()), gb.idx(block.warps), [&](Value m) {
        SmallVector<Value> local = gb.forCarrying(
            block.lane, plan.chunks, gb.idx(32), {gb.negInf(), gb.f32(0)},
            [&](Value chunk, ValueRange carried) {
              Value at = statsIndex(gb, plan, row.row, m, chunk);
              Value chunkMax = memref::LoadOp::create(b, plan.chunkStats, at);
              Value chunkSum = memref::LoadOp::create(b, plan.chunkStats,
                                                      gb.add(at, gb.idx(1)));
              auto [max, sum] =
                  combine(carried[0], carried[1], chunkMax, chunkSum);
              return SmallVector<Value>{max, sum};
            });
        Value max = local[0], sum = local[1];
        for (int64_t mask : {16, 8, 4, 2, 1})
          std::tie(max, sum) = combine(max, sum, gb.shuffleXor(max, mask),
                                       gb.shuffleXor(sum, mask));
        max = gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, max, gb.negInf()),
                        gb.f32(0), max);
        Value inverse =
            gb.select(gb.cmpF(arith::CmpFPredicate::OGT, sum, gb.f32(0)),
                      arith::DivFOp::create(b, gb.f32(1), sum), gb.f32(0));
        gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, block.lane, gb.idx(0)), [&] {
          memref::StoreOp::create(b, max, globalMax, m);
          memref::StoreOp::create(b, inverse, globalInvSum, m);
        });
      });
}

/// The approximate softmax weight of `key` for unit head `m`.
Value approximateWeight(GpuBuilder &gb, const SparqGpuPlan &plan,
                        const SelectionRow &row, Value m, Value key,
                        Value globalMax, Value globalInvSum) {
  ImplicitLocOpBuilder &b = gb.b;
  Value logit = memref::LoadOp::create(b, plan.logits,
                                       logitIndex(gb, plan, row.row, m, key));
  Value max = memref::LoadOp::create(b, globalMax, m);
  Value weight = gb.softmaxExp2(logit, max, plan.softmaxExp);
  return gb.fmul(weight, memref::LoadOp::create(b, globalInvSum, m));
}

/// Copies the `count` keys `load(p)` into the shared buffer `staged`, 16
/// loads per thread in flight; ends with a barrier.
void stageCandidates(BlockOps &block, llvm::function_ref<Value(Value)> load,
                     Value count, Value staged) {
  GpuBuilder &gb = block.gb;
  ImplicitLocOpBuilder &b = gb.b;
  constexpr int64_t kInFlight = 16;
  Value last = gb.maxIdx(gb.sub(count, gb.idx(1)), gb.idx(0));
  gb.forEach(
      gb.idx(0), count, gb.idx(kInFlight * block.threads),
      [&](Value stepStart) {
        SmallVector<Value> positions, keys;
        for (int64_t i = 0; i < kInFlight; ++i) {
          positions.push_back(
              gb.add(stepStart, gb.add(block.tid, gb.idx(i * block.threads))));
          keys.push_back(load(gb.minIdx(positions.back(), last)));
        }
        for (int64_t i = 0; i < kInFlight; ++i)
          gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, positions[i], count),
                    [&] {
                      memref::StoreOp::create(b, keys[i], staged, positions[i]);
                    });
      });
  gpu::BarrierOp::create(b);
}

} // namespace

void mlir::attn::emitSparqScoresKernel(ImplicitLocOpBuilder &b,
                                       gpu::LaunchOp launch,
                                       const SparqGpuPlan &plan) {
  GpuBuilder gb(b);
  SharedMemory shared(gb, launch);
  BlockOps block(gb, shared, launch, SparqGpuPlan::kScoresThreads);
  const int64_t unitHeads = plan.unitHeads(), dims = plan.headDim;
  const int64_t rank = plan.rank;
  Type f32 = b.getF32Type();
  Value queryRows = shared.buffer({unitHeads, dims}, f32);
  Value absQuery = shared.buffer({dims}, f32);
  Value headTotals = shared.buffer({unitHeads}, f32);
  Value components = shared.buffer({rank}, b.getI32Type());
  Value queryHat = shared.buffer({unitHeads * rank}, f32);
  // With key_transposed: kScoreStages tiles of the component rows in
  // flight (cp.async), when they fit.
  const int64_t elementBytes = plan.elementType.getIntOrFloatBitWidth() / 8;
  constexpr int64_t kMaxThreadLogits = 32;
  constexpr int64_t kKeysPerThread = 4;
  constexpr int64_t kScoreStages = 3;
  constexpr int64_t kMaxScoreStageBytes = 100 * 1024;
  int64_t headGroups = 1;
  while (unitHeads / headGroups * kKeysPerThread > kMaxThreadLogits &&
         unitHeads % (2 * headGroups) == 0)
    headGroups *= 2;
  const int64_t groupThreads = block.threads / headGroups;
  const int64_t tileKeys = groupThreads * kKeysPerThread;
  // Stage rows are padded by 16 bytes, so that the eight rows an ldmatrix
  // reads start in distinct banks.
  const int64_t stageRow = tileKeys + 16 / elementBytes;
  Value stages;
  if (plan.keyTransposed &&
      kScoreStages * rank * stageRow * elementBytes <= kMaxScoreStageBytes)
    stages = shared.buffer({kScoreStages, rank, stageRow}, plan.elementType);
  // bf16 keys and up to 4 heads per unit: the logits of a tile on tensor
  // cores (see mmaTile).
  const bool useMma = stages && plan.elementType.isBF16() && rank % 16 == 0 &&
                      unitHeads <= 4 && headGroups == 1;
  shared.finish();
  Value chunk = launch.getBlockIds().x;
  SelectionRow row(gb, plan, launch.getBlockIds().y);
  Value threads = gb.idx(block.threads);
  // The unit's queries, read once (all loads in parallel); everything
  // after works from shared memory.
  gb.forEach(block.tid, gb.idx(unitHeads * dims), threads, [&](Value flat) {
    Value m = gb.divIdx(flat, dims), dim = gb.remIdx(flat, dims);
    Value q = memref::LoadOp::create(
        b, plan.query,
        ValueRange{row.batch, row.head(gb, plan, m), row.queryIdx, dim});
    memref::StoreOp::create(b, gb.toF32(q), queryRows, ValueRange{m, dim});
  });
  gpu::BarrierOp::create(b);
  auto queryAt = [&](Value m, Value dim) -> Value {
    return memref::LoadOp::create(b, queryRows, ValueRange{m, dim});
  };
  // |q| summed over the unit's heads per dim, and over the dims per head
  // (a warp per head).
  gb.forEach(block.tid, gb.idx(dims), threads, [&](Value dim) {
    Value sum = gb.f32(0);
    for (int64_t m = 0; m < unitHeads; ++m)
      sum = gb.fadd(sum, gb.absF(queryAt(gb.idx(m), dim)));
    memref::StoreOp::create(b, sum, absQuery, dim);
  });
  gb.forEach(block.warp, gb.idx(unitHeads), gb.idx(block.warps), [&](Value m) {
    Value sum = gb.forCarrying(block.lane, gb.idx(dims), gb.idx(32),
                               {gb.f32(0)}, [&](Value dim, ValueRange carried) {
                                 return SmallVector<Value>{gb.fadd(
                                     carried[0], gb.absF(queryAt(m, dim)))};
                               })[0];
    sum = gb.warpSum(sum, {16, 8, 4, 2, 1});
    gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, block.lane, gb.idx(0)),
              [&] { memref::StoreOp::create(b, sum, headTotals, m); });
  });
  gpu::BarrierOp::create(b);

  // The top-`rank` components: each component's place in the order by
  // decreasing |q| (ties: lower index first), counted by `parts` adjacent
  // lanes per component over their share of the others (unrolled, so that
  // the shared-memory loads are in flight together).
  {
    int64_t parts = 1;
    while (2 * parts * dims <= block.threads && 2 * parts <= 32)
      parts *= 2;
    const int64_t othersPerPart = llvm::divideCeil(dims, parts);
    constexpr int64_t kUnroll = 8;
    // Whole warps run each step (shuffles).
    int64_t items = llvm::divideCeil(dims * parts, 32) * 32;
    gb.forEach(block.tid, gb.idx(items), threads, [&](Value item) {
      Value dim = gb.divIdx(item, parts), part = gb.remIdx(item, parts);
      Value valid = gb.cmp(arith::CmpIPredicate::ult, dim, gb.idx(dims));
      dim = gb.minIdx(dim, gb.idx(dims - 1));
      Value mine = memref::LoadOp::create(b, absQuery, dim);
      Value first = gb.mul(part, gb.idx(othersPerPart));
      Value last =
          gb.minIdx(gb.add(first, gb.idx(othersPerPart)), gb.idx(dims));
      Value place = gb.forCarrying(
          first, last, gb.idx(kUnroll), {gb.i32(0)},
          [&](Value start, ValueRange carried) {
            Value count = carried[0];
            for (int64_t u = 0; u < kUnroll; ++u) {
              Value other = gb.add(start, gb.idx(u));
              Value theirs = memref::LoadOp::create(
                  b, absQuery, gb.minIdx(other, gb.idx(dims - 1)));
              Value before = gb.andI(
                  gb.cmp(arith::CmpIPredicate::ult, other, last),
                  gb.orI(
                      gb.cmpF(arith::CmpFPredicate::OGT, theirs, mine),
                      gb.andI(gb.cmpF(arith::CmpFPredicate::OEQ, theirs, mine),
                              gb.cmp(arith::CmpIPredicate::ult, other, dim))));
              count = arith::AddIOp::create(
                  b, count, arith::ExtUIOp::create(b, b.getI32Type(), before));
            }
            return SmallVector<Value>{count};
          })[0];
      for (int64_t mask = parts / 2; mask >= 1; mask /= 2)
        place = arith::AddIOp::create(b, place, gb.shuffleXor(place, mask));
      gb.ifThen(
          gb.andI(valid,
                  gb.andI(gb.cmp(arith::CmpIPredicate::eq, part, gb.idx(0)),
                          arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                                place, gb.i32(rank)))),
          [&] {
            memref::StoreOp::create(b, gb.toI32(dim), components,
                                    gb.toIndex(place));
          });
    });
  }
  gpu::BarrierOp::create(b);

  // q^ = q[i1] / tau per head, times log2(e): a warp per head.
  auto component = [&](Value t) {
    return gb.toIndex(memref::LoadOp::create(b, components, t));
  };
  gb.forEach(block.warp, gb.idx(unitHeads), gb.idx(block.warps), [&](Value m) {
    Value part =
        gb.forCarrying(block.lane, gb.idx(rank), gb.idx(32), {gb.f32(0)},
                       [&](Value t, ValueRange carried) {
                         return SmallVector<Value>{gb.fadd(
                             carried[0], gb.absF(queryAt(m, component(t))))};
                       })[0];
    part = gb.warpSum(part, {16, 8, 4, 2, 1});
    Value total = memref::LoadOp::create(b, headTotals, m);
    Value positive = gb.cmpF(arith::CmpFPredicate::OGT, total, gb.f32(0));
    Value ratio =
        arith::DivFOp::create(b, part, gb.select(positive, total, gb.f32(1)));
    Value tau = gb.select(positive, gb.sqrt(gb.fmul(gb.f32(dims), ratio)),
                          gb.f32(std::sqrt(static_cast<float>(dims))));
    Value factor =
        gb.select(gb.cmpF(arith::CmpFPredicate::OGT, tau, gb.f32(0)),
                  arith::DivFOp::create(b, gb.f32(M_LOG2E), tau), gb.f32(0));
    gb.forEach(block.lane, gb.idx(rank), gb.idx(32), [&](Value t) {
      memref::StoreOp::create(b, gb.fmul(queryAt(m, component(t)), factor),
                              queryHat,
                              gb.add(gb.mul(t, gb.idx(unitHeads)), m));
    });
  });
  gpu::BarrierOp::create(b);

  // Logits of the chunk's visible keys with each head's running max and
  // sum, kKeysPerThread consecutive keys per thread and pass (on tensor
  // cores, 128 per warp: see mmaTile). With
  // key_transposed and Lk a multiple of a 16-byte vector, the block copies
  // tiles of the component rows into shared memory with cp.async,
  // kScoreStages tiles deep, so that loads stay in flight while threads
  // compute (keys past the chunk's end are zero-filled and dropped); the
  // other forms go key by key (a loop, so that few addresses are live). A
  // thread keeps at most kMaxThreadLogits logits: larger units split their
  // heads among groups of threads, which read the same keys.
  const int64_t perThread = kKeysPerThread;
  const int64_t headsPerThread = unitHeads / headGroups;
  Value headGroup = gb.divIdx(block.tid, groupThreads);
  Value groupTid = gb.remIdx(block.tid, groupThreads);
  // Unit head of the thread's j-th head.
  auto headOf = [&](int64_t j) {
    return gb.add(gb.mul(headGroup, gb.idx(headsPerThread)), gb.idx(j));
  };
  Value chunkStart = gb.mul(chunk, gb.idx(SparqGpuPlan::kChunkKeys));
  Value chunkEnd =
      gb.maxIdx(gb.minIdx(gb.add(chunkStart, gb.idx(SparqGpuPlan::kChunkKeys)),
                          row.keyEnd),
                chunkStart);
  // Logits [k * headsPerThread + j] of keys whose component values are
  // keyValues[t * keys + k], component by component.
  auto logitsOf = [&](ArrayRef<Value> keyValues, int64_t keys) {
    SmallVector<Value> out(keys * headsPerThread, gb.f32(0));
    for (int64_t t = 0; t < rank; ++t) {
      SmallVector<Value> widened;
      for (int64_t k = 0; k < keys; ++k)
        widened.push_back(gb.toF32(keyValues[t * keys + k]));
      for (int64_t j = 0; j < headsPerThread; ++j) {
        Value qHat = memref::LoadOp::create(
            b, queryHat, gb.add(gb.idx(t * unitHeads), headOf(j)));
        for (int64_t k = 0; k < keys; ++k) {
          Value &logit = out[k * headsPerThread + j];
          logit = gb.fadd(logit, gb.fmul(qHat, widened[k]));
        }
      }
    }
    return out;
  };
  // Folds one head's logits into its running (max, sum): one exact
  // rescale per call.
  auto foldHead = [&](Value runningMax, Value runningSum,
                      ArrayRef<Value> logits) {
    Value max = runningMax;
    for (Value logit : logits)
      max = gb.fmax(max, logit);
    Value sum = gb.fmul(runningSum, gb.exp2(gb.fsub(runningMax, max)));
    for (Value logit : logits)
      sum = gb.fadd(sum, gb.softmaxExp2(logit, max, plan.softmaxExp));
    return SmallVector<Value>{max, sum};
  };
  // The same for each of the thread's heads; logits [k * headsPerThread + j]
  // are the j-th head's.
  auto fold = [&](ValueRange carried, ArrayRef<Value> logits) {
    SmallVector<Value> next;
    for (int64_t j = 0; j < headsPerThread; ++j) {
      SmallVector<Value> headLogits;
      for (size_t k = j; k < logits.size(); k += headsPerThread)
        headLogits.push_back(logits[k]);
      next.append(foldHead(carried[2 * j], carried[2 * j + 1], headLogits));
    }
    return next;
  };
  SmallVector<Value> running;
  for (int64_t j = 0; j < headsPerThread; ++j)
    running.append({gb.negInf(), gb.f32(0)});

  // Tensor-core logits (useMma): S = Q^ K^T on mma.sync m16n8k16 with K^T
  // straight from the stage (ldmatrix.trans). Each q^ is split into three
  // bf16 parts (hi + mid + lo carry its 24 bits, each product is exact in
  // f32), stacked as A rows: hi of head h in row h, mid in row 4 + h, lo in
  // row 8 + h. Lane l then holds rows l / 4 and l / 4 + 8 of its n-tile:
  // (hi + lo) of head l / 4 below lane 16, mid of head l / 4 - 4 above; one
  // exchange with lane l ^ 16 completes two n-tiles, one per half-warp. A
  // warp takes 128 consecutive keys of the tile.
  Value lane = block.lane;
  Value laneGroup = gb.divIdx(lane, 4), laneColumn = gb.remIdx(lane, 4);
  Value lowHalf = gb.cmp(arith::CmpIPredicate::ult, lane, gb.idx(16));
  Value laneHead = gb.remIdx(laneGroup, 4);
  // Lanes of heads past the unit's (units of fewer than 4 heads) hold zero
  // rows; their logits are dropped.
  Value laneHeadValid =
      unitHeads == 4
          ? arith::ConstantOp::create(b, b.getBoolAttr(true)).getResult()
          : gb.cmp(arith::CmpIPredicate::ult, laneHead, gb.idx(unitHeads));
  SmallVector<SmallVector<Value>> queryFragments;
  auto buildQueryFragments = [&] {
    Type bf16 = plan.elementType;
    Value head = gb.minIdx(laneHead, gb.idx(unitHeads - 1));
    // Row laneGroup (hi or mid) and row laneGroup + 8 (lo or 0) at t.
    auto rowsAt = [&](int64_t t0, Value tOffset) {
      Value t = gb.add(gb.idx(t0), tOffset);
      Value q = memref::LoadOp::create(
          b, queryHat, gb.add(gb.mul(t, gb.idx(unitHeads)), head));
      q = gb.select(laneHeadValid, q, gb.f32(0));
      auto [hi, mid, lo] = gb.splitIntoBf16Parts(q);
      return std::make_pair(gb.select(lowHalf, hi, mid),
                            gb.select(lowHalf, lo, gb.f32(0)));
    };
    Value twoC = gb.mul(laneColumn, gb.idx(2));
    for (int64_t ks = 0; ks < rank / 16; ++ks) {
      auto [r0, r8] = rowsAt(16 * ks, twoC);
      auto [r1, r9] = rowsAt(16 * ks + 1, twoC);
      auto [s0, s8] = rowsAt(16 * ks + 8, twoC);
      auto [s1, s9] = rowsAt(16 * ks + 9, twoC);
      queryFragments.push_back(
          {gb.packPair(bf16, r0, r1), gb.packPair(bf16, r8, r9),
           gb.packPair(bf16, s0, s1), gb.packPair(bf16, s8, s9)});
    }
  };
  // The lane's 16 logits of a tile (2 keys per n-tile pair) and their keys.
  auto mmaTile = [&](Value stage, Value tileStart, ValueRange carried) {
    const int64_t warpKeys = tileKeys / block.warps;
    Value warpStart = gb.mul(block.warp, gb.idx(warpKeys));
    // ldmatrix.x4.trans row addresses: matrix l / 8 is (comps 8 * (l / 8 %
    // 2) + [0, 8), keys 8 * (l / 16) + [0, 8)), lane l gives its row l % 8.
    Value matrix = gb.divIdx(lane, 8);
    Value compRow =
        gb.add(gb.remIdx(lane, 8), gb.mul(gb.remIdx(matrix, 2), gb.idx(8)));
    Value keyOffset = gb.mul(gb.divIdx(matrix, 2), gb.idx(8));
    // The lane's first key in its n-tile pair: the lower n-tile below
    // lane 16, the upper one above.
    Value laneKey = gb.add(gb.select(lowHalf, gb.idx(0), gb.idx(8)),
                           gb.mul(laneColumn, gb.idx(2)));
    SmallVector<Value> logits, keys;
    for (int64_t pair = 0; pair < warpKeys / 16; ++pair) {
      Value pairStart = gb.add(warpStart, gb.idx(16 * pair));
      SmallVector<Value> accA(4, gb.f32(0)), accB(4, gb.f32(0));
      for (int64_t ks = 0; ks < rank / 16; ++ks) {
        SmallVector<Value> frag =
            gb.ldmatrix(stages,
                        {stage, gb.add(gb.idx(16 * ks), compRow),
                         gb.add(pairStart, keyOffset)},
                        4, /*transpose=*/true);
        accA = gb.mma(plan.elementType, queryFragments[ks], {frag[0], frag[1]},
                      accA);
        accB = gb.mma(plan.elementType, queryFragments[ks], {frag[2], frag[3]},
                      accB);
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value a = gb.fadd(accA[e], accA[e + 2]);
        Value bSum = gb.fadd(accB[e], accB[e + 2]);
        Value sent = gb.select(lowHalf, bSum, a);
        Value kept = gb.select(lowHalf, a, bSum);
        logits.push_back(gb.fadd(kept, gb.shuffleXor(sent, 16)));
        keys.push_back(
            gb.add(gb.add(tileStart, pairStart), gb.add(laneKey, gb.idx(e))));
      }
    }
    // Stores: two consecutive keys of the lane's head per n-tile pair, 16
    // keys apart. A whole tile (the common case) needs no checks of keys;
    // otherwise keys past the chunk's end are neither stored nor folded.
    Value firstAt = logitIndex(
        gb, plan, row.row, gb.minIdx(laneHead, gb.idx(unitHeads - 1)), keys[0]);
    auto pairType = VectorType::get({2}, f32);
    auto storePair = [&](size_t i) {
      vector::StoreOp::create(
          b,
          vector::FromElementsOp::create(b, pairType,
                                         ValueRange{logits[i], logits[i + 1]}),
          plan.logits, gb.add(firstAt, gb.idx(8 * i)), /*nontemporal=*/false,
          llvm::Align(8));
    };
    Value wholeTile = gb.cmp(arith::CmpIPredicate::ule,
                             gb.add(tileStart, gb.idx(tileKeys)), chunkEnd);
    logits = gb.ifElseYield(
        gb.andI(laneHeadValid, wholeTile), ValueRange(logits).getTypes(),
        [&] {
          for (size_t i = 0; i < logits.size(); i += 2)
            storePair(i);
          return logits;
        },
        [&] {
          SmallVector<Value> valid;
          for (Value key : keys)
            valid.push_back(
                gb.andI(laneHeadValid,
                        gb.cmp(arith::CmpIPredicate::ult, key, chunkEnd)));
          for (size_t i = 0; i < logits.size(); i += 2)
            gb.ifThenElse(
                valid[i + 1], [&] { storePair(i); },
                [&] {
                  gb.ifThen(valid[i], [&] {
                    memref::StoreOp::create(b, logits[i], plan.logits,
                                            gb.add(firstAt, gb.idx(8 * i)));
                  });
                });
          SmallVector<Value> masked;
          for (size_t i = 0; i < logits.size(); ++i)
            masked.push_back(gb.select(valid[i], logits[i], gb.negInf()));
          return masked;
        });
    // One running (max, sum): the lane's head's.
    return foldHead(carried[0], carried[1], logits);
  };

  // The staged form. Tile i of the chunk goes to stage i % kScoreStages.
  auto stagedPasses = [&]() -> SmallVector<Value> {
    const int64_t vectorKeys = 16 / elementBytes;
    const int64_t piecesPerRow = tileKeys / vectorKeys;
    Value tiles = gb.ceilDiv(gb.sub(chunkEnd, chunkStart), gb.idx(tileKeys));
    Value lastVector = gb.sub(plan.keyLen, gb.idx(vectorKeys));
    // Each copy ends its own group, so that a tile's wait is one count.
    // When the pieces divide evenly, a thread copies the same pieces of
    // every tile: their component rows are read once, before the tiles.
    const int64_t pieces = rank * piecesPerRow;
    struct Piece {
      Value t, offset, dim;
    };
    SmallVector<Piece> myPieces;
    if (pieces % block.threads == 0)
      for (int64_t i = 0; i < pieces / block.threads; ++i) {
        Value piece = gb.add(block.tid, gb.idx(i * block.threads));
        Value t = gb.divIdx(piece, piecesPerRow);
        myPieces.push_back(
            {t, gb.mul(gb.remIdx(piece, piecesPerRow), gb.idx(vectorKeys)),
             component(t)});
      }
    auto issue = [&](Value tile) {
      Value stage = gb.remIdx(tile, kScoreStages);
      Value tileStart = gb.add(chunkStart, gb.mul(tile, gb.idx(tileKeys)));
      auto copy = [&](Value t, Value offset, Value dim) {
        Value key = gb.add(tileStart, offset);
        Value valid = gb.cmp(arith::CmpIPredicate::ult, key, chunkEnd);
        gb.copyAsync(stages, {stage, t, offset}, plan.keyTransposed,
                     {row.batch, row.kvHead, dim, gb.minIdx(key, lastVector)},
                     vectorKeys, valid);
      };
      if (!myPieces.empty()) {
        for (const Piece &piece : myPieces)
          copy(piece.t, piece.offset, piece.dim);
      } else {
        gb.forEach(block.tid, gb.idx(pieces), threads, [&](Value piece) {
          Value t = gb.divIdx(piece, piecesPerRow);
          copy(t, gb.mul(gb.remIdx(piece, piecesPerRow), gb.idx(vectorKeys)),
               component(t));
        });
      }
      NVVM::CpAsyncCommitGroupOp::create(b);
    };
    for (int64_t s = 0; s + 1 < kScoreStages; ++s)
      issue(gb.idx(s));
    auto rowType = VectorType::get({perThread}, plan.elementType);
    auto vectorType = VectorType::get({perThread}, b.getF32Type());
    Value firstInTile = gb.mul(groupTid, gb.idx(perThread));
    if (useMma)
      buildQueryFragments();
    SmallVector<Value> initial =
        useMma ? SmallVector<Value>{gb.negInf(), gb.f32(0)} : running;
    SmallVector<Value> result = gb.forCarrying(
        gb.idx(0), tiles, gb.idx(1), initial,
        [&](Value tile, ValueRange carried) {
          // Tile `tile` has landed for every thread, and every thread is
          // done with the stage the next copy overwrites.
          NVVM::CpAsyncWaitGroupOp::create(b, kScoreStages - 2);
          gpu::BarrierOp::create(b);
          issue(gb.add(tile, gb.idx(kScoreStages - 1)));
          Value stage = gb.remIdx(tile, kScoreStages);
          if (useMma)
            return mmaTile(stage,
                           gb.add(chunkStart, gb.mul(tile, gb.idx(tileKeys))),
                           carried);
          Value first = gb.add(
              gb.add(chunkStart, gb.mul(tile, gb.idx(tileKeys))), firstInTile);
          SmallVector<Value> keyValues;
          for (int64_t t = 0; t < rank; ++t) {
            Value keys = vector::LoadOp::create(
                b, rowType, stages, ValueRange{stage, gb.idx(t), firstInTile},
                /*nontemporal=*/false, llvm::Align(perThread * elementBytes));
            for (int64_t k = 0; k < perThread; ++k)
              keyValues.push_back(vector::ExtractOp::create(b, keys, k));
          }
          SmallVector<Value> logits = logitsOf(keyValues, perThread);
          Value whole = gb.cmp(arith::CmpIPredicate::ule,
                               gb.add(first, gb.idx(perThread)), chunkEnd);
          for (int64_t j = 0; j < headsPerThread; ++j) {
            Value at = logitIndex(gb, plan, row.row, headOf(j), first);
            gb.ifThenElse(
                whole,
                [&] {
                  SmallVector<Value> headLogits;
                  for (int64_t k = 0; k < perThread; ++k)
                    headLogits.push_back(logits[k * headsPerThread + j]);
                  vector::StoreOp::create(
                      b,
                      vector::FromElementsOp::create(b, vectorType, headLogits),
                      plan.logits, at, /*nontemporal=*/false,
                      llvm::Align(4 * perThread));
                },
                [&] {
                  for (int64_t k = 0; k < perThread; ++k)
                    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult,
                                     gb.add(first, gb.idx(k)), chunkEnd),
                              [&] {
                                memref::StoreOp::create(
                                    b, logits[k * headsPerThread + j],
                                    plan.logits, gb.add(at, gb.idx(k)));
                              });
                });
          }
          for (int64_t k = 0; k < perThread; ++k) {
            Value visible = gb.cmp(arith::CmpIPredicate::ult,
                                   gb.add(first, gb.idx(k)), chunkEnd);
            for (int64_t j = 0; j < headsPerThread; ++j) {
              Value &logit = logits[k * headsPerThread + j];
              logit = gb.select(visible, logit, gb.negInf());
            }
          }
          return fold(carried, logits);
        });
    // The copies issued past the last tile (zero-filled).
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    if (!useMma)
      return result;
    // The lane's pair as the running pair of its head, the others empty.
    SmallVector<Value> perHead;
    for (int64_t j = 0; j < headsPerThread; ++j) {
      Value mine = gb.cmp(arith::CmpIPredicate::eq, laneHead, gb.idx(j));
      perHead.append({gb.select(mine, result[0], gb.negInf()),
                      gb.select(mine, result[1], gb.f32(0))});
    }
    return perHead;
  };
  // Key by key, component by component (loops, so that neither the
  // components' addresses nor q^ are held in registers across keys).
  auto keyByKeyPasses = [&]() -> SmallVector<Value> {
    Value first = gb.add(chunkStart, gb.mul(groupTid, gb.idx(perThread)));
    return gb.forCarrying(
        first, chunkEnd, gb.idx(perThread * groupThreads), running,
        [&](Value passStart, ValueRange carried) {
          Value last =
              gb.minIdx(gb.add(passStart, gb.idx(perThread)), chunkEnd);
          return gb.forCarrying(
              passStart, last, gb.idx(1), carried,
              [&](Value key, ValueRange running) {
                SmallVector<Value> logits = gb.forCarrying(
                    gb.idx(0), gb.idx(rank), gb.idx(1),
                    SmallVector<Value>(headsPerThread, gb.f32(0)),
                    [&](Value t, ValueRange sums) {
                      Value dim = component(t);
                      Value k = gb.toF32(
                          plan.keyTransposed
                              ? memref::LoadOp::create(
                                    b, plan.keyTransposed,
                                    ValueRange{row.batch, row.kvHead, dim, key})
                              : memref::LoadOp::create(b, plan.key,
                                                       ValueRange{row.batch,
                                                                  row.kvHead,
                                                                  key, dim}));
                      SmallVector<Value> next;
                      for (int64_t j = 0; j < headsPerThread; ++j) {
                        Value qHat = memref::LoadOp::create(
                            b, queryHat,
                            gb.add(gb.mul(t, gb.idx(unitHeads)), headOf(j)));
                        next.push_back(gb.fadd(sums[j], gb.fmul(qHat, k)));
                      }
                      return next;
                    });
                for (int64_t j = 0; j < headsPerThread; ++j)
                  memref::StoreOp::create(
                      b, logits[j], plan.logits,
                      logitIndex(gb, plan, row.row, headOf(j), key));
                return fold(running, logits);
              });
        });
  };
  // The two forms sit in separate branches, so that the key-by-key loop's
  // addresses are not live in the staged loop.
  if (stages)
    running = gb.ifElseYield(
        gb.cmp(arith::CmpIPredicate::eq,
               gb.remIdx(plan.keyLen, 16 / elementBytes), gb.idx(0)),
        ValueRange(running).getTypes(), stagedPasses, keyByKeyPasses);
  else
    running = keyByKeyPasses();
  // Each head's statistics over the block: threads of other groups add
  // nothing.
  for (int64_t m = 0; m < unitHeads; ++m) {
    int64_t j = m % headsPerThread;
    Value mine =
        gb.cmp(arith::CmpIPredicate::eq, headGroup, gb.idx(m / headsPerThread));
    Value runningMax = gb.select(mine, running[2 * j], gb.negInf());
    Value max = block.max(runningMax);
    Value seen = gb.cmpF(arith::CmpFPredicate::ONE, runningMax, gb.negInf());
    Value rescale =
        gb.exp2(gb.fsub(runningMax, gb.select(seen, max, gb.f32(0))));
    Value sum = block.sum(
        gb.select(seen, gb.fmul(running[2 * j + 1], rescale), gb.f32(0)));
    gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, block.tid, gb.idx(0)), [&] {
      Value at = statsIndex(gb, plan, row.row, gb.idx(m), chunk);
      memref::StoreOp::create(b, max, plan.chunkStats, at);
      memref::StoreOp::create(b, sum, plan.chunkStats, gb.add(at, gb.idx(1)));
    });
  }

  // Without value_mean: the chunk's sum of V over the visible keys, once
  // per query position.
  if (plan.valueMean)
    return;
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, row.unit, gb.idx(0)), [&] {
    gb.forEach(block.tid, gb.idx(plan.valueDim), threads, [&](Value dim) {
      Value sum = gb.forCarrying(
          chunkStart, chunkEnd, gb.idx(1), {gb.f32(0)},
          [&](Value key, ValueRange carried) {
            Value v = gb.toF32(memref::LoadOp::create(
                b, plan.value, ValueRange{row.batch, row.kvHead, key, dim}));
            return SmallVector<Value>{gb.fadd(carried[0], v)};
          })[0];
      Value at = gb.add(gb.mul(row.position(gb, plan), plan.chunks), chunk);
      memref::StoreOp::create(b, sum, plan.valueSums,
                              gb.add(gb.mul(at, gb.idx(plan.valueDim)), dim));
    });
  });
}

void mlir::attn::emitSparqSelectKernel(ImplicitLocOpBuilder &b,
                                       gpu::LaunchOp launch,
                                       const SparqGpuPlan &plan) {
  GpuBuilder gb(b);
  SharedMemory shared(gb, launch);
  BlockOps block(gb, shared, launch, SparqGpuPlan::kSelectThreads);
  BlockTopk topk(block, shared);
  const int64_t chunkKeys = SparqGpuPlan::kChunkKeys;
  Type f32 = b.getF32Type();
  Value keys = shared.buffer({chunkKeys}, b.getI32Type());
  Value globalMax = shared.buffer({plan.unitHeads()}, f32);
  Value globalInvSum = shared.buffer({plan.unitHeads()}, f32);
  shared.finish();
  Value chunk = launch.getBlockIds().x;
  SelectionRow row(gb, plan, launch.getBlockIds().y);
  Value threads = gb.idx(block.threads);
  loadGlobalStats(block, plan, row, globalMax, globalInvSum);
  gpu::BarrierOp::create(b);

  // Ranking keys: the float bits of the summed approximate softmax plus 1
  // (unsigned order is float order for c >= 0); 0 marks keys not ranked.
  Value chunkStart = gb.mul(chunk, gb.idx(chunkKeys));
  Value rankedEnd = gb.sub(row.keyEnd, row.window);
  // All of a thread's keys at once, their logits loaded (clamped to a valid
  // key) before any is used: the loads' latency is paid once.
  const int64_t perThread = chunkKeys / block.threads;
  Value lastKey = gb.maxIdx(gb.sub(plan.keyLen, gb.idx(1)), gb.idx(0));
  gb.forEach(
      gb.idx(0), gb.idx(chunkKeys), gb.idx(perThread * block.threads),
      [&](Value stepStart) {
        SmallVector<Value> slots, keysOfStep, weights;
        for (int64_t k = 0; k < perThread; ++k) {
          slots.push_back(
              gb.add(stepStart, gb.add(block.tid, gb.idx(k * block.threads))));
          keysOfStep.push_back(gb.add(chunkStart, slots.back()));
          Value sum = gb.f32(0);
          for (int64_t m = 0; m < plan.unitHeads(); ++m)
            sum = gb.fadd(
                sum, approximateWeight(gb, plan, row, gb.idx(m),
                                       gb.minIdx(keysOfStep.back(), lastKey),
                                       globalMax, globalInvSum));
          weights.push_back(sum);
        }
        for (int64_t k = 0; k < perThread; ++k) {
          Value bits = arith::BitcastOp::create(b, b.getI32Type(), weights[k]);
          Value ranked =
              gb.cmp(arith::CmpIPredicate::ult, keysOfStep[k], rankedEnd);
          memref::StoreOp::create(
              b,
              gb.select(ranked, arith::AddIOp::create(b, bits, gb.i32(1)),
                        gb.i32(0)),
              keys, slots[k]);
        }
      });
  gpu::BarrierOp::create(b);

  // The chunk's best min(ranked, chunkKeys) keys; unused slots keep key 0.
  int64_t capacity = plan.candidatesPerChunk();
  Value base =
      gb.mul(gb.add(gb.mul(row.row, plan.chunks), chunk), gb.idx(capacity));
  gb.forEach(block.tid, gb.idx(capacity), threads, [&](Value slot) {
    memref::StoreOp::create(b, gb.i32(0), plan.candidateKeys,
                            gb.add(base, slot));
  });
  topk.select(
      gb.idx(chunkKeys), gb.minIdx(row.ranked, gb.idx(chunkKeys)),
      [&](Value p) { return memref::LoadOp::create(b, keys, p).getResult(); },
      [&](Value slot, Value p) {
        Value at = gb.add(base, slot);
        memref::StoreOp::create(b, memref::LoadOp::create(b, keys, p),
                                plan.candidateKeys, at);
        memref::StoreOp::create(b, gb.toI32(gb.add(chunkStart, p)),
                                plan.candidatePositions, at);
      });
}

void mlir::attn::emitSparqAttendKernel(ImplicitLocOpBuilder &b,
                                       gpu::LaunchOp launch,
                                       const SparqGpuPlan &plan) {
  GpuBuilder gb(b);
  SharedMemory shared(gb, launch);
  BlockOps block(gb, shared, launch, SparqGpuPlan::kAttendThreads);
  BlockTopk topk(block, shared);
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  const int64_t dims = plan.headDim, valueDims = plan.valueDim;
  const int64_t headBatch = plan.attendHeadBatch;
  Value selected = shared.buffer({plan.topK}, i32);
  // Per head of a batch: the selected keys' scaled queries, scores (then
  // weights), and the weights' sum and alpha.
  Value queryRows = shared.buffer({headBatch, dims}, f32);
  Value weights = shared.buffer({headBatch, plan.topK}, f32);
  Value headSums = shared.buffer({headBatch, 2}, f32);
  Value meanValue = shared.buffer({valueDims}, f32);
  Value globalMax = shared.buffer({plan.unitHeads()}, f32);
  Value globalInvSum = shared.buffer({plan.unitHeads()}, f32);
  SelectionRow row(gb, plan, launch.getBlockIds().x);
  Value threads = gb.idx(block.threads);
  Value scaleLog2 = gb.f32(plan.scale * M_LOG2E);
  // The loads that do not depend on the selection come first, each on its
  // own threads, so that their round trips overlap: the softmax statistics
  // (a warp per head), the mean of V, and the queries when all heads are
  // one batch.
  auto rotatedTid = [&](int64_t first) {
    return gb.remIdx(gb.add(block.tid, gb.idx(block.threads - first)),
                     block.threads);
  };
  auto loadQueries = [&](Value firstHead, Value tid) {
    gb.forEach(tid, gb.idx(headBatch * dims), threads, [&](Value flat) {
      Value h = gb.divIdx(flat, dims), dim = gb.remIdx(flat, dims);
      Value q = gb.toF32(memref::LoadOp::create(
          b, plan.query,
          ValueRange{row.batch, row.head(gb, plan, gb.add(firstHead, h)),
                     row.queryIdx, dim}));
      memref::StoreOp::create(b, gb.fmul(q, scaleLog2), queryRows,
                              ValueRange{h, dim});
    });
  };
  loadGlobalStats(block, plan, row, globalMax, globalInvSum);
  // The mean of V over the visible keys.
  gb.forEach(
      rotatedTid(32 * plan.unitHeads()), gb.idx(valueDims), threads,
      [&](Value dim) {
        Value mean;
        if (plan.valueMean) {
          mean = gb.toF32(memref::LoadOp::create(
              b, plan.valueMean, ValueRange{row.batch, row.kvHead, dim}));
        } else {
          Value first = gb.mul(row.position(gb, plan), plan.chunks);
          Value sum = gb.forCarrying(
              gb.idx(0), plan.chunks, gb.idx(1), {gb.f32(0)},
              [&](Value chunk, ValueRange carried) {
                Value at = gb.add(
                    gb.mul(gb.add(first, chunk), gb.idx(valueDims)), dim);
                return SmallVector<Value>{gb.fadd(
                    carried[0], memref::LoadOp::create(b, plan.valueSums, at))};
              })[0];
          Value keys = arith::UIToFPOp::create(
              b, f32, gb.toI32(gb.maxIdx(row.keyEnd, gb.idx(1))));
          mean = arith::DivFOp::create(b, sum, keys);
        }
        memref::StoreOp::create(b, mean, meanValue, dim);
      });
  const bool oneBatch = headBatch == plan.unitHeads();
  if (oneBatch)
    loadQueries(gb.idx(0), rotatedTid(32 * plan.unitHeads() +
                                      llvm::alignTo(valueDims, 32)));
  gpu::BarrierOp::create(b);

  // The ranked keys from the candidates (in key order), then the window.
  // The radix select reads the candidates' keys six times: from shared
  // memory when they fit there. It emits candidate indices; their key
  // positions are looked up after it, all loads at once (looked up in the
  // select, each warp would wait for one load per 32 candidates).
  Value rowCandidates = gb.mul(plan.chunks, gb.idx(plan.candidatesPerChunk()));
  Value rowBase = gb.mul(row.row, rowCandidates);
  auto selectRanked = [&](llvm::function_ref<Value(Value)> loadKey) {
    topk.select(rowCandidates, row.ranked, loadKey, [&](Value slot, Value p) {
      memref::StoreOp::create(b, gb.toI32(p), selected, slot);
    });
  };
  auto loadGlobalKey = [&](Value p) -> Value {
    return memref::LoadOp::create(b, plan.candidateKeys, gb.add(rowBase, p));
  };
  if (plan.stagedCandidates == 0) {
    selectRanked(loadGlobalKey);
  } else {
    Value stagedCandidateKeys = shared.buffer({plan.stagedCandidates}, i32);
    gb.ifThenElse(
        gb.cmp(arith::CmpIPredicate::ule, rowCandidates,
               gb.idx(plan.stagedCandidates)),
        [&] {
          stageCandidates(block, loadGlobalKey, rowCandidates,
                          stagedCandidateKeys);
          selectRanked([&](Value p) -> Value {
            return memref::LoadOp::create(b, stagedCandidateKeys, p);
          });
        },
        [&] { selectRanked(loadGlobalKey); });
  }
  gpu::BarrierOp::create(b);
  gb.forEach(block.tid, row.ranked, threads, [&](Value slot) {
    Value p = gb.toIndex(memref::LoadOp::create(b, selected, slot));
    memref::StoreOp::create(
        b,
        memref::LoadOp::create(b, plan.candidatePositions, gb.add(rowBase, p)),
        selected, slot);
  });
  Value windowStart = gb.sub(row.keyEnd, row.window);
  gb.forEach(block.tid, row.window, threads, [&](Value w) {
    memref::StoreOp::create(b, gb.toI32(gb.add(windowStart, w)), selected,
                            gb.add(row.ranked, w));
  });
  Value count = gb.add(row.ranked, row.window);

  gpu::BarrierOp::create(b);

  // Stage the selected keys and values in shared memory, 16-byte
  // cp.async copies when rows allow them.
  int64_t elementBytes = plan.elementType.getIntOrFloatBitWidth() / 8;
  Value stagedKeys = shared.buffer({plan.topK, dims}, plan.elementType);
  Value stagedValues = shared.buffer({plan.topK, valueDims}, plan.elementType);
  shared.finish();
  int64_t vectorWidth = 16 / elementBytes;
  bool copyAsync = dims % vectorWidth == 0 && valueDims % vectorWidth == 0;
  auto stage = [&](Value source, Value staged, int64_t width) {
    int64_t step = copyAsync ? vectorWidth : 1;
    int64_t pieces = width / step;
    gb.forEach(
        block.tid, gb.mul(count, gb.idx(pieces)), threads, [&](Value flat) {
          Value slot = gb.divIdx(flat, pieces);
          Value dim = gb.mul(gb.remIdx(flat, pieces), gb.idx(step));
          Value key = gb.toIndex(memref::LoadOp::create(b, selected, slot));
          SmallVector<Value> from = {row.batch, row.kvHead, key, dim};
          if (copyAsync) {
            gb.copyAsync(staged, {slot, dim}, source, from, step,
                         arith::ConstantOp::create(b, b.getBoolAttr(true)));
          } else {
            memref::StoreOp::create(b, memref::LoadOp::create(b, source, from),
                                    staged, ValueRange{slot, dim});
          }
        });
  };
  stage(plan.key, stagedKeys, dims);
  stage(plan.value, stagedValues, valueDims);
  if (copyAsync) {
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
  }
  gpu::BarrierOp::create(b);

  // The unit's heads in batches of headBatch: all threads work on all heads
  // of a batch at once.
  Value visible = gb.cmp(arith::CmpIPredicate::ugt, row.keyEnd, gb.idx(0));
  constexpr int64_t kUnroll = 4;
  Value lastSlot = gb.idx(plan.topK - 1);
  gb.forEach(
      gb.idx(0), gb.idx(plan.unitHeads()), gb.idx(headBatch),
      [&](Value firstHead) {
        auto unitHead = [&](Value h) { return gb.add(firstHead, h); };
        if (!oneBatch) {
          loadQueries(firstHead, block.tid);
          gpu::BarrierOp::create(b);
        }

        // Exact scores: `parts` threads per selected key (adjacent lanes),
        // each with its share of the key's 16-byte chunks and all heads of
        // the batch. Keys start their walk at different chunks, so that
        // the lanes of a warp read distinct banks.
        auto emitScores = [&](int64_t width) {
          const int64_t chunks = dims / width;
          int64_t parts = 1;
          while (2 * parts * plan.topK <= block.threads &&
                 chunks % (2 * parts) == 0 && 2 * parts <= 32)
            parts *= 2;
          const int64_t chunksPerPart = chunks / parts;
          // A multiple of 32 items: whole warps run each step (shuffles).
          Value items = gb.mul(
              gb.ceilDiv(gb.mul(count, gb.idx(parts)), gb.idx(32)), gb.idx(32));
          auto keyType = VectorType::get({width}, plan.elementType);
          auto queryType = VectorType::get({width}, f32);
          gb.forEach(block.tid, items, threads, [&](Value item) {
            Value slot = gb.divIdx(item, parts);
            Value part = gb.remIdx(item, parts);
            Value valid = gb.cmp(arith::CmpIPredicate::ult, slot, count);
            slot = gb.minIdx(slot, lastSlot);
            SmallVector<Value> dots(headBatch, gb.f32(0));
            for (int64_t c = 0; c < chunksPerPart; ++c) {
              Value chunk =
                  gb.add(gb.mul(part, gb.idx(chunksPerPart)),
                         gb.remIdx(gb.add(slot, gb.idx(c)), chunksPerPart));
              Value dim = gb.mul(chunk, gb.idx(width));
              Value keys = vector::LoadOp::create(
                  b, keyType, stagedKeys, ValueRange{slot, dim},
                  /*nontemporal=*/false, llvm::Align(width * elementBytes));
              SmallVector<Value> keyDims;
              for (int64_t e = 0; e < width; ++e)
                keyDims.push_back(
                    gb.toF32(vector::ExtractOp::create(b, keys, e)));
              for (int64_t h = 0; h < headBatch; ++h) {
                Value queries = vector::LoadOp::create(
                    b, queryType, queryRows, ValueRange{gb.idx(h), dim},
                    /*nontemporal=*/false,
                    llvm::Align(std::min<int64_t>(width * 4, 16)));
                for (int64_t e = 0; e < width; ++e)
                  dots[h] = gb.fadd(
                      dots[h], gb.fmul(keyDims[e], vector::ExtractOp::create(
                                                       b, queries, e)));
              }
            }
            SmallVector<int64_t> masks;
            for (int64_t mask = parts / 2; mask >= 1; mask /= 2)
              masks.push_back(mask);
            for (int64_t h = 0; h < headBatch; ++h)
              dots[h] = gb.warpSum(dots[h], masks);
            gb.ifThen(gb.andI(valid, gb.cmp(arith::CmpIPredicate::eq, part,
                                            gb.idx(0))),
                      [&] {
                        for (int64_t h = 0; h < headBatch; ++h)
                          memref::StoreOp::create(b, dots[h], weights,
                                                  ValueRange{gb.idx(h), slot});
                      });
          });
        };
        emitScores(dims % vectorWidth == 0 ? vectorWidth : 1);
        gpu::BarrierOp::create(b);

        // Per head, one warp: the softmax of the exact scores, its sum, and
        // alpha (the approximate softmax's mass on the selected keys).
        gb.forEach(
            block.warp, gb.idx(headBatch), gb.idx(block.warps), [&](Value h) {
              Value m = unitHead(h);
              auto score = [&](Value slot) -> Value {
                return memref::LoadOp::create(b, weights, ValueRange{h, slot});
              };
              Value max = gb.forCarrying(
                  block.lane, count, gb.idx(32), {gb.negInf()},
                  [&](Value slot, ValueRange carried) {
                    return SmallVector<Value>{gb.fmax(carried[0], score(slot))};
                  })[0];
              max = gb.warpMax(max, {16, 8, 4, 2, 1});
              // kUnroll slots per lane and step, so that their logits'
              // global loads are in flight together.
              SmallVector<Value> sums = gb.forCarrying(
                  block.lane, count, gb.idx(32 * kUnroll),
                  {gb.f32(0), gb.f32(0)}, [&](Value first, ValueRange carried) {
                    SmallVector<Value> next(carried);
                    for (int64_t u = 0; u < kUnroll; ++u) {
                      Value slot = gb.add(first, gb.idx(32 * u));
                      Value valid =
                          gb.cmp(arith::CmpIPredicate::ult, slot, count);
                      slot = gb.minIdx(slot, lastSlot);
                      Value weight =
                          gb.softmaxExp2(score(slot), max, plan.softmaxExp);
                      gb.ifThen(valid, [&] {
                        memref::StoreOp::create(b, weight, weights,
                                                ValueRange{h, slot});
                      });
                      Value key =
                          gb.toIndex(memref::LoadOp::create(b, selected, slot));
                      Value approximate = approximateWeight(
                          gb, plan, row, m, key, globalMax, globalInvSum);
                      next[0] =
                          gb.fadd(next[0], gb.select(valid, weight, gb.f32(0)));
                      next[1] = gb.fadd(
                          next[1], gb.select(valid, approximate, gb.f32(0)));
                    }
                    return next;
                  });
              Value sum = gb.warpSum(sums[0], {16, 8, 4, 2, 1});
              Value alpha = gb.warpSum(sums[1], {16, 8, 4, 2, 1});
              gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, block.lane, gb.idx(0)),
                        [&] {
                          memref::StoreOp::create(b, sum, headSums,
                                                  ValueRange{h, gb.idx(0)});
                          memref::StoreOp::create(b, alpha, headSums,
                                                  ValueRange{h, gb.idx(1)});
                        });
            });
        gpu::BarrierOp::create(b);

        // P V per (head, value dim), then the interpolation with the mean.
        gb.forEach(
            block.tid, gb.idx(headBatch * valueDims), threads, [&](Value flat) {
              Value h = gb.divIdx(flat, valueDims);
              Value d = gb.remIdx(flat, valueDims);
              // kUnroll partial sums: independent chains of loads and fma.
              SmallVector<Value> partial = gb.forCarrying(
                  gb.idx(0), count, gb.idx(kUnroll),
                  SmallVector<Value>(kUnroll, gb.f32(0)),
                  [&](Value first, ValueRange carried) {
                    SmallVector<Value> next;
                    for (int64_t u = 0; u < kUnroll; ++u) {
                      Value slot = gb.add(first, gb.idx(u));
                      Value valid =
                          gb.cmp(arith::CmpIPredicate::ult, slot, count);
                      slot = gb.minIdx(slot, lastSlot);
                      Value v = gb.toF32(memref::LoadOp::create(
                          b, stagedValues, ValueRange{slot, d}));
                      Value p = memref::LoadOp::create(b, weights,
                                                       ValueRange{h, slot});
                      next.push_back(
                          gb.fadd(carried[u],
                                  gb.select(valid, gb.fmul(p, v), gb.f32(0))));
                    }
                    return next;
                  });
              Value acc = partial[0];
              for (int64_t u = 1; u < kUnroll; ++u)
                acc = gb.fadd(acc, partial[u]);
              Value sum =
                  memref::LoadOp::create(b, headSums, ValueRange{h, gb.idx(0)});
              Value alpha =
                  memref::LoadOp::create(b, headSums, ValueRange{h, gb.idx(1)});
              Value seen = gb.cmpF(arith::CmpFPredicate::OGT, sum, gb.f32(0));
              Value y = gb.select(seen, arith::DivFOp::create(b, acc, sum),
                                  gb.f32(0));
              Value mean = memref::LoadOp::create(b, meanValue, d);
              Value out = gb.fadd(gb.fmul(alpha, y),
                                  gb.fmul(gb.fsub(gb.f32(1), alpha), mean));
              out = gb.select(visible, out, gb.f32(0));
              memref::StoreOp::create(
                  b, gb.fromF32(out, plan.elementType), plan.output,
                  ValueRange{row.batch, row.head(gb, plan, unitHead(h)),
                             row.queryIdx, d});
            });
        // The batch's buffers are rewritten by the next one.
        gpu::BarrierOp::create(b);
      });
}
