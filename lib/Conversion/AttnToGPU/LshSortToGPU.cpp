//===- LshSortToGPU.cpp - sortLSH to GPU kernels ----------------*- C++ -*-===//
//
// sortLSH on the GPU (ALGORITHMS.md §4): attn.lsh_hash is the first of two
// kernels, attn.lsh_sort the second, attn.lsh_sort_bucket both on one
// stream:
//
// - lsh_hash: one warp per row (D a multiple of 32; else one thread)
//   computes the P dot products with the projections, the code and its
//   Gray-coded sort key;
// - lsh_sort: one block per row set runs a counting sort of the keys in
//   shared memory (histogram, exclusive scan, stable placement). Each warp
//   takes a contiguous chunk of the rows with its own counters; lanes with
//   equal keys find each other with match.any, so each warp places 32 rows
//   per step in their original order: O(N + 2^P) per row set, no
//   comparisons.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"
#include "attn/Conversion/AttnToGPU.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

/// Most projections of the GPU sort: its 2^P counters live in shared
/// memory (16 KiB at 12).
static constexpr int64_t kMaxGpuProjections = 12;
/// Threads per block of the hash kernel.
static constexpr int64_t kHashThreads = 128;

std::optional<std::string> mlir::attn::lshSortGpuUnsupported(int64_t bits) {
  if (bits > kMaxGpuProjections)
    return "more than " + std::to_string(kMaxGpuProjections) +
           " key bits, one per projection (the sort keeps 2^bits counters "
           "in shared memory)";
  return std::nullopt;
}

namespace {

/// The buffers and sizes both kernels read. Rows are flattened over the
/// leading dims: row set s holds rows [s * rowLen, (s + 1) * rowLen).
struct LshSortPlan {
  Value input;       // [rows, D]
  Value projections; // [D, P]
  Value codes;       // [rows] i32 sort keys (scratch)
  Value permutation; // [rows]
  Value rank;        // [rows] or null
  Value rows, rowLen, headDim;
  int64_t numProjs = 0;
  std::optional<int64_t> staticHeadDim;
};

/// Rows each warp of the warp-per-row hash kernel takes.
static constexpr int64_t kRowsPerWarp = 8;

/// Whether rows are hashed by whole warps: D a static multiple of 32 up to
/// 256, each lane holding D / 32 consecutive elements of a row and their
/// projections in registers.
bool hashesByWarps(const LshSortPlan &plan) {
  return plan.staticHeadDim && *plan.staticHeadDim % 32 == 0 &&
         *plan.staticHeadDim <= 256;
}

/// The Gray code of a row's projection bits, its sort key.
Value grayOf(GpuBuilder &gb, Value code) {
  ImplicitLocOpBuilder &b = gb.b;
  return arith::XOrIOp::create(b, code,
                               arith::ShRUIOp::create(b, code, gb.i32(1)));
}

/// The sort key of a row from its P dot products.
Value grayCode(GpuBuilder &gb, ArrayRef<Value> dots) {
  ImplicitLocOpBuilder &b = gb.b;
  Value code = gb.i32(0);
  for (auto [p, dot] : llvm::enumerate(dots)) {
    Value bit = gb.select(gb.cmpF(arith::CmpFPredicate::OGT, dot, gb.f32(0)),
                          gb.i32(int64_t(1) << p), gb.i32(0));
    code = arith::OrIOp::create(b, code, bit);
  }
  return grayOf(gb, code);
}

/// Warp-per-row hash: coalesced row loads, the lane's part of R loaded once
/// for kRowsPerWarp rows, dot products summed by shuffles.
void emitWarpHashKernel(GpuBuilder &gb, gpu::LaunchOp launch,
                        const LshSortPlan &plan) {
  ImplicitLocOpBuilder &b = gb.b;
  int64_t perLane = *plan.staticHeadDim / 32;
  auto elementType = cast<MemRefType>(plan.input.getType()).getElementType();
  Value tid = launch.getThreadIds().x;
  Value lane = gb.remIdx(tid, 32);
  Value warp = gb.add(gb.mul(launch.getBlockIds().x, gb.idx(kHashThreads / 32)),
                      gb.divIdx(tid, 32));
  Value firstDim = gb.mul(lane, gb.idx(perLane));
  SmallVector<SmallVector<Value>> r(perLane);
  for (int64_t j = 0; j < perLane; ++j)
    for (int64_t p = 0; p < plan.numProjs; ++p)
      r[j].push_back(gb.toF32(memref::LoadOp::create(
          b, plan.projections,
          ValueRange{gb.add(firstDim, gb.idx(j)), gb.idx(p)})));
  for (int64_t i = 0; i < kRowsPerWarp; ++i) {
    Value row = gb.add(gb.mul(warp, gb.idx(kRowsPerWarp)), gb.idx(i));
    // Whole warps take the branch: the shuffles stay converged.
    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, row, plan.rows), [&] {
      Value vec =
          vector::LoadOp::create(b, VectorType::get({perLane}, elementType),
                                 plan.input, ValueRange{row, firstDim});
      SmallVector<Value> dots(plan.numProjs, gb.f32(0));
      for (int64_t j = 0; j < perLane; ++j) {
        Value x = gb.toF32(vector::ExtractOp::create(b, vec, j));
        for (int64_t p = 0; p < plan.numProjs; ++p)
          dots[p] = gb.fadd(dots[p], gb.fmul(x, r[j][p]));
      }
      for (Value &dot : dots)
        dot = gb.warpSum(dot, {16, 8, 4, 2, 1});
      Value code = grayCode(gb, dots);
      gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, lane, gb.idx(0)),
                [&] { memref::StoreOp::create(b, code, plan.codes, row); });
    });
  }
}

/// Rows of a tile of the tensor-core hash (the m-dim of mma.sync), and the
/// tiles each warp takes: two give each warp independent mma chains and
/// 8 KiB of rows in flight at D = 128.
static constexpr int64_t kHashTileRows = 16;
static constexpr int64_t kHashTilesPerWarp = 2;

/// Whether rows are hashed on tensor cores: bf16 rows, D a static multiple
/// of 32 up to 256, and at most 8 projections (one n-tile).
bool hashesByTensorCores(const LshSortPlan &plan) {
  auto elementType = cast<MemRefType>(plan.input.getType()).getElementType();
  return hashesByWarps(plan) && elementType.isBF16() && plan.numProjs <= 8;
}

/// Tensor-core hash: the dot products of 16 rows with the P projections are
/// one mma.sync m16n8k16 per 16 dims and part of R, which is split into
/// three bf16 parts (hi + mid + lo carry its 24 bits, and each product of a
/// bf16 row element with a part is exact in f32). The dims of each 32-dim
/// step are permuted alike in A and B so that a lane's A operands are one
/// 16-byte load per row: lane (g, t) loads dims 8t .. 8t + 7 of rows g and
/// g + 8, and k-step h (0, 1) of the pair holds dims 8t + 4h .. 8t + 4h + 3
/// in its slots 2t, 2t + 1, 2t + 8, 2t + 9. Lane (g, t) ends with the
/// products of projections 2t and 2t + 1; the four lanes of a row OR their
/// bits together.
void emitMmaHashKernel(GpuBuilder &gb, gpu::LaunchOp launch,
                       const LshSortPlan &plan) {
  ImplicitLocOpBuilder &b = gb.b;
  int64_t headDim = *plan.staticHeadDim;
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  Value tid = launch.getThreadIds().x;
  Value lane = gb.remIdx(tid, 32);
  Value group = gb.divIdx(lane, 4), quad = gb.remIdx(lane, 4);
  Value warp = gb.add(gb.mul(launch.getBlockIds().x, gb.idx(kHashThreads / 32)),
                      gb.divIdx(tid, 32));

  // B: projection g (0 past P) at the lane's permuted dims, in three parts.
  Value projValid =
      gb.cmp(arith::CmpIPredicate::ult, group, gb.idx(plan.numProjs));
  Value proj = gb.minIdx(group, gb.idx(plan.numProjs - 1));
  int64_t kSteps = headDim / 16;
  SmallVector<SmallVector<Value>> bParts[3];
  for (int64_t ks = 0; ks < kSteps; ++ks) {
    Value firstDim =
        gb.add(gb.idx(32 * (ks / 2) + 4 * (ks % 2)), gb.mul(quad, gb.idx(8)));
    SmallVector<Value> parts[3];
    for (int64_t j = 0; j < 4; ++j) {
      Value r = memref::LoadOp::create(
          b, plan.projections, ValueRange{gb.add(firstDim, gb.idx(j)), proj});
      r = gb.select(projValid, gb.toF32(r), gb.f32(0));
      for (auto [part, value] : llvm::enumerate(gb.splitIntoBf16Parts(r)))
        parts[part].push_back(value);
    }
    for (int64_t part = 0; part < 3; ++part)
      bParts[part].push_back(
          {gb.packPair(bf16, parts[part][0], parts[part][1]),
           gb.packPair(bf16, parts[part][2], parts[part][3])});
  }

  // All rows of the warp's tiles are loaded before any product, so that
  // their reads are in flight together. Rows past the end read the last
  // row and are not stored.
  Value lastRow = gb.sub(plan.rows, gb.idx(1));
  auto rowWords = [&](Value row) {
    SmallVector<Value> words;
    Value clamped = gb.minIdx(row, lastRow);
    for (int64_t step = 0; step < headDim / 32; ++step) {
      Value dim = gb.add(gb.idx(32 * step), gb.mul(quad, gb.idx(8)));
      Value chunk = vector::LoadOp::create(
          b, VectorType::get({8}, bf16), plan.input, ValueRange{clamped, dim});
      chunk = vector::BitCastOp::create(b, VectorType::get({4}, i32), chunk);
      for (int64_t w = 0; w < 4; ++w)
        words.push_back(vector::ExtractOp::create(b, chunk, w));
    }
    return words;
  };
  SmallVector<Value> rowsOf[kHashTilesPerWarp][2];
  SmallVector<Value> tileRows;
  for (int64_t tile = 0; tile < kHashTilesPerWarp; ++tile) {
    Value firstRow =
        gb.mul(gb.add(gb.mul(warp, gb.idx(kHashTilesPerWarp)), gb.idx(tile)),
               gb.idx(kHashTileRows));
    Value row = gb.add(firstRow, group);
    tileRows.push_back(row);
    rowsOf[tile][0] = rowWords(row);
    rowsOf[tile][1] = rowWords(gb.add(row, gb.idx(8)));
  }

  // Lane (g, t) holds bits 2t and 2t + 1 of its rows.
  Value shift = gb.toI32(gb.mul(quad, gb.idx(2)));
  for (int64_t tile = 0; tile < kHashTilesPerWarp; ++tile) {
    SmallVector<Value> dots(4, gb.f32(0));
    // One accumulator per part, summed smallest first.
    for (int64_t part = 2; part >= 0; --part) {
      SmallVector<Value> acc(4, gb.f32(0));
      for (int64_t ks = 0; ks < kSteps; ++ks) {
        int64_t word = 4 * (ks / 2) + 2 * (ks % 2);
        SmallVector<Value> a = {rowsOf[tile][0][word], rowsOf[tile][1][word],
                                rowsOf[tile][0][word + 1],
                                rowsOf[tile][1][word + 1]};
        acc = gb.mma(bf16, a, bParts[part][ks], acc);
      }
      for (int64_t i = 0; i < 4; ++i)
        dots[i] = gb.fadd(dots[i], acc[i]);
    }
    // Rows g (dots 0, 1) and g + 8 (dots 2, 3).
    for (int64_t half = 0; half < 2; ++half) {
      Value bits = gb.i32(0);
      for (int64_t j = 0; j < 2; ++j) {
        Value set =
            gb.cmpF(arith::CmpFPredicate::OGT, dots[2 * half + j], gb.f32(0));
        bits = gb.orI(bits, gb.select(set, gb.i32(int64_t(1) << j), gb.i32(0)));
      }
      Value code = arith::ShLIOp::create(b, bits, shift);
      code = gb.orI(code, gb.shuffleXor(code, 1));
      code = grayOf(gb, gb.orI(code, gb.shuffleXor(code, 2)));
      Value row = gb.add(tileRows[tile], gb.idx(8 * half));
      Value stores =
          gb.andI(gb.cmp(arith::CmpIPredicate::eq, quad, gb.idx(half)),
                  gb.cmp(arith::CmpIPredicate::ult, row, plan.rows));
      gb.ifThen(stores,
                [&] { memref::StoreOp::create(b, code, plan.codes, row); });
    }
  }
}

/// Thread-per-row hash, for any D.
void emitHashKernel(GpuBuilder &gb, gpu::LaunchOp launch,
                    const LshSortPlan &plan) {
  ImplicitLocOpBuilder &b = gb.b;
  Value row = gb.add(gb.mul(launch.getBlockIds().x, gb.idx(kHashThreads)),
                     launch.getThreadIds().x);
  gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, row, plan.rows), [&] {
    SmallVector<Value> init(plan.numProjs, gb.f32(0));
    // Dims per step: eight elements in one vector load where rows allow.
    int64_t width = plan.staticHeadDim && *plan.staticHeadDim % 8 == 0 ? 8 : 1;
    auto elementType = cast<MemRefType>(plan.input.getType()).getElementType();
    SmallVector<Value> dots = gb.forCarrying(
        gb.idx(0), plan.headDim, gb.idx(width), init,
        [&](Value d0, ValueRange acc) {
          SmallVector<Value> x;
          if (width == 1) {
            x.push_back(gb.toF32(
                memref::LoadOp::create(b, plan.input, ValueRange{row, d0})));
          } else {
            Value vec =
                vector::LoadOp::create(b, VectorType::get({width}, elementType),
                                       plan.input, ValueRange{row, d0});
            for (int64_t j = 0; j < width; ++j)
              x.push_back(gb.toF32(vector::ExtractOp::create(b, vec, j)));
          }
          SmallVector<Value> next(acc);
          for (int64_t j = 0; j < width; ++j)
            for (int64_t p = 0; p < plan.numProjs; ++p) {
              Value r = gb.toF32(memref::LoadOp::create(
                  b, plan.projections,
                  ValueRange{gb.add(d0, gb.idx(j)), gb.idx(p)}));
              next[p] = gb.fadd(next[p], gb.fmul(x[j], r));
            }
          return next;
        });
    memref::StoreOp::create(b, grayCode(gb, dots), plan.codes, row);
  });
}

/// Warps of the sort kernel for 2^P keys: up to 16, while their counters
/// (one set per warp and the key totals) fit in 48 KiB of shared memory.
static int64_t sortWarps(int64_t numProjs) {
  int64_t numKeys = int64_t(1) << numProjs, warps = 16;
  while (warps > 1 && (warps + 1) * numKeys * 4 > 48 * 1024)
    warps /= 2;
  return warps;
}

/// Exclusive scan of `numKeys` i32 counters in shared memory by one warp:
/// lane l owns counters [l * per, (l + 1) * per).
static void scanCountersByWarp(GpuBuilder &gb, Value counters, Value lane,
                               int64_t numKeys) {
  ImplicitLocOpBuilder &b = gb.b;
  Value laneI32 = gb.toI32(lane);
  int64_t perLane = llvm::divideCeil(numKeys, 32);
  Value firstKey = gb.mul(lane, gb.idx(perLane));
  SmallVector<Value> keys, owned, counts;
  Value laneTotal = gb.i32(0);
  for (int64_t j = 0; j < perLane; ++j) {
    Value key = gb.add(firstKey, gb.idx(j));
    owned.push_back(gb.cmp(arith::CmpIPredicate::ult, key, gb.idx(numKeys)));
    keys.push_back(key);
    counts.push_back(gb.select(
        owned.back(),
        memref::LoadOp::create(b, counters,
                               ValueRange{gb.minIdx(key, gb.idx(numKeys - 1))}),
        gb.i32(0)));
    laneTotal = arith::AddIOp::create(b, laneTotal, counts.back());
  }
  Value inclusive = laneTotal;
  for (int64_t d = 1; d < 32; d *= 2) {
    Value from = gb.shuffleIdx(
        inclusive,
        arith::MaxSIOp::create(b, arith::SubIOp::create(b, laneI32, gb.i32(d)),
                               gb.i32(0)));
    Value take = gb.cmp(arith::CmpIPredicate::sge, laneI32, gb.i32(d));
    inclusive =
        arith::AddIOp::create(b, inclusive, gb.select(take, from, gb.i32(0)));
  }
  // Each lane writes only the counters it read.
  Value start = arith::SubIOp::create(b, inclusive, laneTotal);
  for (int64_t j = 0; j < perLane; ++j) {
    gb.ifThen(owned[j],
              [&] { memref::StoreOp::create(b, start, counters, keys[j]); });
    start = arith::AddIOp::create(b, start, counts[j]);
  }
}

/// A stable counting sort of one row set per block. Warp w takes the w-th
/// contiguous chunk of the rows and has its own set of 2^P counters: after
/// the chunk histograms, each counter becomes the first slot of its key's
/// rows in its chunk (all rows of smaller keys, then the key's rows in
/// earlier chunks), and each warp places its chunk 32 rows per step.
void emitSortKernel(GpuBuilder &gb, gpu::LaunchOp launch,
                    const LshSortPlan &plan) {
  ImplicitLocOpBuilder &b = gb.b;
  Type i32 = b.getI32Type();
  const int64_t numKeys = int64_t(1) << plan.numProjs;
  const int64_t warps = sortWarps(plan.numProjs), threads = 32 * warps;
  SharedMemory shared(gb, launch);
  Value counts = shared.buffer({warps * numKeys}, i32);
  Value totals = shared.buffer({numKeys}, i32);
  shared.finish();
  Value tid = launch.getThreadIds().x;
  Value lane = gb.remIdx(tid, 32), warp = gb.divIdx(tid, 32);
  Value base = gb.mul(launch.getBlockIds().x, plan.rowLen);
  Value warpCounts = gb.mul(warp, gb.idx(numKeys));
  auto barrier = [&] { gpu::BarrierOp::create(b); };
  Value chunkLen = gb.ceilDiv(plan.rowLen, gb.idx(warps));
  Value chunkStart = gb.minIdx(gb.mul(warp, chunkLen), plan.rowLen);
  Value chunkEnd = gb.minIdx(gb.add(chunkStart, chunkLen), plan.rowLen);
  auto keyAt = [&](Value row) {
    return gb.toIndex(memref::LoadOp::create(b, plan.codes, gb.add(base, row)));
  };

  gb.forEach(tid, gb.idx(warps * numKeys), gb.idx(threads), [&](Value i) {
    memref::StoreOp::create(b, gb.i32(0), counts, i);
  });
  barrier();
  gb.forEach(gb.add(chunkStart, lane), chunkEnd, gb.idx(32), [&](Value i) {
    memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi, gb.i32(1),
                                counts,
                                ValueRange{gb.add(warpCounts, keyAt(i))});
  });
  barrier();
  // Per key: the counts of earlier chunks, and the key's total.
  gb.forEach(tid, gb.idx(numKeys), gb.idx(threads), [&](Value key) {
    Value running = gb.i32(0);
    for (int64_t w = 0; w < warps; ++w) {
      Value at = gb.add(gb.idx(w * numKeys), key);
      Value count = memref::LoadOp::create(b, counts, at);
      memref::StoreOp::create(b, running, counts, at);
      running = arith::AddIOp::create(b, running, count);
    }
    memref::StoreOp::create(b, running, totals, key);
  });
  barrier();
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, warp, gb.idx(0)),
            [&] { scanCountersByWarp(gb, totals, lane, numKeys); });
  barrier();
  gb.forEach(tid, gb.idx(numKeys), gb.idx(threads), [&](Value key) {
    Value first = memref::LoadOp::create(b, totals, key);
    for (int64_t w = 0; w < warps; ++w) {
      Value at = gb.add(gb.idx(w * numKeys), key);
      memref::StoreOp::create(
          b,
          arith::AddIOp::create(b, memref::LoadOp::create(b, counts, at),
                                first),
          counts, at);
    }
  });
  barrier();

  // Stable placement, 32 rows per step and warp (every warp takes the same
  // number of steps, so the block's barriers order each warp's reads of
  // its counters before their updates): a row's position is its key's
  // next free slot plus the rows of equal key in lower lanes.
  Type resultType =
      cast<MemRefType>(plan.permutation.getType()).getElementType();
  auto toResult = [&](Value position) -> Value {
    return resultType.isIndex()
               ? position
               : arith::IndexCastOp::create(b, resultType, position);
  };
  Value lowerLanes = NVVM::LaneMaskLtOp::create(b, i32);
  Value lastRow = gb.maxIdx(gb.sub(plan.rowLen, gb.idx(1)), gb.idx(0));
  gb.forEach(gb.idx(0), chunkLen, gb.idx(32), [&](Value step) {
    Value i = gb.add(chunkStart, gb.add(step, lane));
    Value valid = gb.cmp(arith::CmpIPredicate::ult, i, chunkEnd);
    Value code = memref::LoadOp::create(b, plan.codes,
                                        gb.add(base, gb.minIdx(i, lastRow)));
    // Lanes past the end share a key no row has.
    Value key = gb.select(valid, code, gb.i32(numKeys));
    Value peers = NVVM::MatchSyncOp::create(b, i32, gb.i32(-1), key,
                                            NVVM::MatchSyncKind::any);
    Value before = gb.popc(arith::AndIOp::create(b, peers, lowerLanes));
    Value counter =
        gb.add(warpCounts, gb.toIndex(gb.select(valid, code, gb.i32(0))));
    Value first = memref::LoadOp::create(b, counts, counter);
    barrier();
    Value leader =
        gb.andI(valid, gb.cmp(arith::CmpIPredicate::eq, before, gb.i32(0)));
    gb.ifThen(leader, [&] {
      memref::StoreOp::create(
          b, arith::AddIOp::create(b, first, gb.popc(peers)), counts, counter);
    });
    barrier();
    gb.ifThen(valid, [&] {
      Value position = gb.toIndex(arith::AddIOp::create(b, first, before));
      memref::StoreOp::create(b, toResult(i), plan.permutation,
                              gb.add(base, position));
      if (plan.rank)
        memref::StoreOp::create(b, toResult(position), plan.rank,
                                gb.add(base, i));
    });
  });
}

/// A plan over the rows of `input` ([..., N, D] buffer) hashed with
/// `projections`; codes, permutation and rank left to the caller.
LshSortPlan planRows(GpuBuilder &gb, Value input, Value projections,
                     int64_t numProjs, Value &sets) {
  ImplicitLocOpBuilder &b = gb.b;
  auto inputType = cast<MemRefType>(input.getType());
  int64_t rank = inputType.getRank();
  LshSortPlan plan;
  plan.numProjs = numProjs;
  if (!inputType.isDynamicDim(rank - 1))
    plan.staticHeadDim = inputType.getDimSize(rank - 1);
  plan.projections = projections;
  SmallVector<Value> sizes = gb.dimSizes(input);
  plan.rowLen = sizes[rank - 2];
  plan.headDim = sizes[rank - 1];
  sets = gb.idx(1);
  for (int64_t d = 0; d + 2 < rank; ++d)
    sets = gb.mul(sets, sizes[d]);
  plan.rows = gb.mul(sets, plan.rowLen);
  // Rows of the input, flat over the leading dims.
  SmallVector<ReassociationIndices> rowsOfInput(2);
  for (int64_t d = 0; d + 1 < rank; ++d)
    rowsOfInput[0].push_back(d);
  rowsOfInput[1].push_back(rank - 1);
  plan.input = memref::CollapseShapeOp::create(b, input, rowsOfInput);
  return plan;
}

/// `buffer` flat.
Value flatten(ImplicitLocOpBuilder &b, Value buffer) {
  SmallVector<ReassociationIndices> flat(1);
  for (int64_t d = 0; d < cast<MemRefType>(buffer.getType()).getRank(); ++d)
    flat[0].push_back(d);
  return memref::CollapseShapeOp::create(b, buffer, flat);
}

/// Launches the hash kernel of `plan` on `token`: the keys of plan.rows rows
/// into plan.codes.
void launchHash(GpuBuilder &gb, const std::string &prefix,
                const LshSortPlan &plan, Value token) {
  bool byTensorCores = hashesByTensorCores(plan);
  bool byWarps = hashesByWarps(plan);
  int64_t rowsPerWarp =
      byTensorCores ? kHashTilesPerWarp * kHashTileRows : kRowsPerWarp;
  Value rowsPerBlock =
      gb.idx(byWarps ? kHashThreads / 32 * rowsPerWarp : kHashThreads);
  gpu::LaunchOp hash =
      launchKernel(gb.b, prefix + "lsh_hash",
                   {gb.ceilDiv(plan.rows, rowsPerBlock), gb.idx(1), gb.idx(1)},
                   kHashThreads, 0, token);
  emitKernelBody(gb.b, hash, [&] {
    if (byTensorCores)
      emitMmaHashKernel(gb, hash, plan);
    else if (byWarps)
      emitWarpHashKernel(gb, hash, plan);
    else
      emitHashKernel(gb, hash, plan);
  });
}

/// Launches the sort kernel of `plan` on `token`: one block per row set of
/// plan.codes.
void launchSort(GpuBuilder &gb, const std::string &prefix,
                const LshSortPlan &plan, Value sets, Value token) {
  gpu::LaunchOp sort =
      launchKernel(gb.b, prefix + "lsh_sort", {sets, gb.idx(1), gb.idx(1)},
                   32 * sortWarps(plan.numProjs), 0, token);
  emitKernelBody(gb.b, sort, [&] { emitSortKernel(gb, sort, plan); });
}

/// The permutation (and rank, with `withRank`) buffers of `resultType` for
/// rows of sizes `sizes`, set flat in `plan`.
std::pair<Value, Value> allocSortResults(GpuBuilder &gb, LshSortPlan &plan,
                                         RankedTensorType resultType,
                                         ArrayRef<Value> sizes, bool withRank) {
  Value permutation = gb.allocLike(resultType, sizes);
  plan.permutation = flatten(gb.b, permutation);
  Value rank;
  if (withRank) {
    rank = gb.allocLike(resultType, sizes);
    plan.rank = flatten(gb.b, rank);
  }
  return {permutation, rank};
}

Value newStream(ImplicitLocOpBuilder &b) {
  return gpu::WaitOp::create(b, gpu::AsyncTokenType::get(b.getContext()),
                             ValueRange{})
      .getAsyncToken();
}

struct LshHashToGPU : OpRewritePattern<LshHashOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LshHashOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    GpuBuilder gb(b);
    Value input = gb.toBuffer(op.getInput()), sets;
    LshSortPlan plan =
        planRows(gb, input, gb.toBuffer(op.getProjections()),
                 op.getProjections().getType().getDimSize(1), sets);
    auto keysType = op.getKeys().getType();
    Value keys =
        gb.allocLike(keysType, ArrayRef<Value>(gb.dimSizes(input)).drop_back());
    plan.codes = flatten(b, keys);
    Value token = newStream(b);
    launchHash(gb, kernelPrefix(op), plan, token);
    gpu::WaitOp::create(b, Type(), token);
    rewriter.replaceOp(op, gb.toTensor(keysType, keys));
    return success();
  }
};

struct LshSortToGPU : OpRewritePattern<LshSortOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LshSortOp op,
                                PatternRewriter &rewriter) const override {
    if (lshSortGpuUnsupported(op.getBits()))
      return rewriter.notifyMatchFailure(op, "no GPU kernel for this form");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    GpuBuilder gb(b);
    Value keys = gb.toBuffer(op.getKeys());
    SmallVector<Value> sizes = gb.dimSizes(keys);
    LshSortPlan plan;
    plan.numProjs = op.getBits();
    plan.rowLen = sizes.back();
    Value sets = gb.idx(1);
    for (Value size : ArrayRef<Value>(sizes).drop_back())
      sets = gb.mul(sets, size);
    plan.rows = gb.mul(sets, plan.rowLen);
    plan.codes = flatten(b, keys);
    auto resultType = op.getPermutation().getType();
    auto [permutation, ranks] =
        allocSortResults(gb, plan, resultType, sizes, (bool)op.getRank());
    Value token = newStream(b);
    launchSort(gb, kernelPrefix(op), plan, sets, token);
    gpu::WaitOp::create(b, Type(), token);
    rewriter.replaceOp(op, gb.toTensors(resultType, {permutation, ranks}));
    return success();
  }
};

struct LshSortBucketToGPU : OpRewritePattern<LshSortBucketOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LshSortBucketOp op,
                                PatternRewriter &rewriter) const override {
    int64_t numProjs = op.getProjections().getType().getDimSize(1);
    if (lshSortGpuUnsupported(numProjs))
      return rewriter.notifyMatchFailure(op, "no GPU kernel for this form");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    GpuBuilder gb(b);
    std::string prefix = kernelPrefix(op);
    Value input = gb.toBuffer(op.getInput()), sets;
    LshSortPlan plan =
        planRows(gb, input, gb.toBuffer(op.getProjections()), numProjs, sets);
    auto resultType = op.getPermutation().getType();
    auto [permutation, ranks] = allocSortResults(
        gb, plan, resultType, ArrayRef<Value>(gb.dimSizes(input)).drop_back(),
        (bool)op.getRank());
    Value token = newStream(b);
    plan.codes = allocScratch(b, b.getI32Type(), plan.rows, token);
    launchHash(gb, prefix, plan, token);
    launchSort(gb, prefix, plan, sets, token);
    freeScratch(b, plan.codes, token);
    gpu::WaitOp::create(b, Type(), token);
    rewriter.replaceOp(op, gb.toTensors(resultType, {permutation, ranks}));
    return success();
  }
};

} // namespace

void mlir::attn::populateLshSortBucketToGPUPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LshHashToGPU, LshSortToGPU, LshSortBucketToGPU>(
      patterns.getContext());
}
