//===- BlockSelect.cpp - top-k selection by one thread block ----*- C++ -*-===//
//
// A radix select: up to four passes build a 256-bin histogram
// (shared-memory atomics) of one 8-bit digit of the keys that match the
// digits found so far, most significant digit first; after them the k-th
// largest key T (under a mask of the digits found: a pass that leaves all
// keys of its bin chosen ends the search) and the number of its copies to
// keep are known. A compaction then emits the keys above T and the first
// copies of T in position order (warp ballots over one run of positions per
// warp, and one exchange of the runs' counts), so the choice is the one of a
// stable sort without sorting.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::attn;

static constexpr int64_t kDigitBits = 8;
static constexpr int64_t kBins = 1 << kDigitBits;
/// Keys each thread loads at once in a histogram pass (the keys may be in
/// global memory).
static constexpr int64_t kLoadsInFlight = 8;

BlockTopk::BlockTopk(BlockOps &block, SharedMemory &shared) : block(block) {
  histogram = shared.buffer({kBins}, block.gb.b.getI32Type());
  runTotals = shared.buffer({2 * block.warps}, block.gb.b.getI32Type());
}

void BlockTopk::select(Value n, Value k,
                       llvm::function_ref<Value(Value)> loadKey,
                       llvm::function_ref<void(Value, Value)> emit) {
  GpuBuilder &gb = block.gb;
  ImplicitLocOpBuilder &b = gb.b;
  Value threads = gb.idx(block.threads);
  Value lastPosition = gb.maxIdx(gb.sub(n, gb.idx(1)), gb.idx(0));
  // i32 arithmetic on keys and counts.
  auto addI = [&](Value x, Value y) -> Value {
    return arith::AddIOp::create(b, x, y);
  };
  auto subI = [&](Value x, Value y) -> Value {
    return arith::SubIOp::create(b, x, y);
  };
  auto bitAnd = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, x, y);
  };
  auto shiftLeft = [&](Value x, Value y) -> Value {
    return arith::ShLIOp::create(b, x, y);
  };
  auto shiftRight = [&](Value x, Value y) -> Value {
    return arith::ShRUIOp::create(b, x, y);
  };

  // Digits of T found so far (`prefix` under `prefixMask`), how many keys
  // equal to the prefix are still to be chosen, and whether they are all of
  // them (then the later digits do not matter, and their passes are
  // skipped: T is the prefix under its mask).
  auto runPass = [&](int64_t pass, Value prefix, Value prefixMask,
                     Value remaining) -> SmallVector<Value> {
    Value shift = gb.i32(32 - kDigitBits * (pass + 1));
    // Every warp has read the histogram of the last pass (or of an earlier
    // selection) before it is cleared.
    gpu::BarrierOp::create(b);
    gb.forEach(block.tid, gb.idx(kBins), threads, [&](Value bin) {
      memref::StoreOp::create(b, gb.i32(0), histogram, bin);
    });
    gpu::BarrierOp::create(b);
    // kLoadsInFlight keys per thread and step, loaded before any is counted.
    gb.forEach(
        gb.idx(0), n, gb.idx(block.threads * kLoadsInFlight),
        [&](Value stepStart) {
          SmallVector<Value> positions, keys;
          for (int64_t i = 0; i < kLoadsInFlight; ++i) {
            positions.push_back(gb.add(
                stepStart, gb.add(block.tid, gb.idx(i * block.threads))));
            keys.push_back(loadKey(gb.minIdx(positions.back(), lastPosition)));
          }
          // The keys tend to share their leading digits: the lanes whose
          // digit is the first counted lane's add theirs with one atomic,
          // the others one by one (match.any would group every digit, but
          // costs more than the atomics it saves).
          Value laneI32 = gb.toI32(block.lane);
          for (int64_t i = 0; i < kLoadsInFlight; ++i) {
            Value matches =
                gb.andI(gb.cmp(arith::CmpIPredicate::ult, positions[i], n),
                        gb.cmp(arith::CmpIPredicate::eq,
                               bitAnd(keys[i], prefixMask), prefix));
            Value digit = bitAnd(shiftRight(keys[i], shift), gb.i32(kBins - 1));
            Value counted = gb.ballot(matches);
            Value firstLane = math::CountTrailingZerosOp::create(b, counted);
            Value firstDigit =
                gb.shuffleIdx(digit, bitAnd(firstLane, gb.i32(31)));
            Value common = gb.andI(
                matches, gb.cmp(arith::CmpIPredicate::eq, digit, firstDigit));
            Value commonLanes = gb.ballot(common);
            gb.ifThen(
                gb.cmp(arith::CmpIPredicate::eq, laneI32, firstLane), [&] {
                  memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi,
                                              gb.popc(commonLanes), histogram,
                                              ValueRange{gb.toIndex(digit)});
                });
            gb.ifThen(gb.andI(matches, gb.cmp(arith::CmpIPredicate::ne, digit,
                                              firstDigit)),
                      [&] {
                        memref::AtomicRMWOp::create(
                            b, arith::AtomicRMWKind::addi, gb.i32(1), histogram,
                            ValueRange{gb.toIndex(digit)});
                      });
          }
        });
    gpu::BarrierOp::create(b);

    // Every warp finds the digit on its own (no further barrier): lane l
    // holds bins [8l, 8l + 8); `above` counts keys in higher bins.
    constexpr int64_t binsPerLane = kBins / 32;
    Value firstBin = gb.mul(block.lane, gb.idx(binsPerLane));
    SmallVector<Value> counts;
    Value laneCount = gb.i32(0);
    for (int64_t i = 0; i < binsPerLane; ++i) {
      counts.push_back(memref::LoadOp::create(
          b, histogram, ValueRange{gb.add(firstBin, gb.idx(i))}));
      laneCount = addI(laneCount, counts.back());
    }
    // Inclusive suffix sum over lanes l..31.
    Value suffix = laneCount;
    for (int64_t offset = 1; offset < 32; offset *= 2) {
      auto shuffle = gpu::ShuffleOp::create(b, suffix, gb.i32(offset),
                                            gb.i32(32), gpu::ShuffleMode::DOWN);
      Value fromAbove =
          gb.select(shuffle.getValid(), shuffle.getShuffleResult(), gb.i32(0));
      suffix = addI(suffix, fromAbove);
    }
    Value above = subI(suffix, laneCount);
    Value found = arith::ConstantOp::create(b, b.getBoolAttr(false));
    Value digit = gb.i32(0), left = gb.i32(0), binCount = gb.i32(0);
    for (int64_t i = binsPerLane - 1; i >= 0; --i) {
      Value through = addI(above, counts[i]);
      Value here = gb.andI(
          arith::XOrIOp::create(
              b, found, arith::ConstantOp::create(b, b.getBoolAttr(true))),
          gb.cmp(arith::CmpIPredicate::uge, through, remaining));
      digit = gb.select(here, addI(gb.toI32(firstBin), gb.i32(i)), digit);
      left = gb.select(here, subI(remaining, above), left);
      binCount = gb.select(here, counts[i], binCount);
      found = gb.orI(found, here);
      above = through;
    }
    // With remaining = 0 every lane matches; the highest digit is meant.
    Value lanes = gb.ballot(found);
    Value source =
        subI(gb.i32(31), math::CountLeadingZerosOp::create(b, lanes));
    digit = gb.shuffleIdx(digit, source);
    left = gb.shuffleIdx(left, source);
    binCount = gb.shuffleIdx(binCount, source);
    return {gb.orI(prefix, shiftLeft(digit, shift)),
            gb.orI(prefixMask, shiftLeft(gb.i32(kBins - 1), shift)), left,
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, left, binCount)};
  };
  SmallVector<Value> state = runPass(0, gb.i32(0), gb.i32(0), gb.toI32(k));
  for (int64_t pass = 1; pass < 32 / kDigitBits; ++pass)
    state = gb.ifElseYield(
        state[3], ValueRange(state).getTypes(), [&] { return state; },
        [&] { return runPass(pass, state[0], state[1], state[2]); });
  Value threshold = state[0], thresholdMask = state[1], remaining = state[2];

  // Compaction in position order: warp w takes the w-th of `warps` equal
  // runs of positions (multiples of 32) and walks it twice, 32 positions at
  // a time. The first walk counts the run's keys above T and equal to it;
  // after one barrier each warp knows the counts of the runs before its own,
  // so the second walk can place its chosen keys with ballots alone.
  Value run = gb.mul(gb.ceilDiv(gb.ceilDiv(n, gb.idx(32)), gb.idx(block.warps)),
                     gb.idx(32));
  Value runStart = gb.minIdx(gb.mul(block.warp, run), n);
  Value runEnd = gb.minIdx(gb.add(runStart, run), n);
  Value lowerLanes =
      subI(shiftLeft(gb.i32(1), gb.toI32(block.lane)), gb.i32(1));
  // The lane's key among 32 positions: above T, equal to T, and the warp's
  // ballots of both.
  struct Tile {
    Value isAbove, isTie, above, ties;
  };
  auto classify = [&](Value tileStart) {
    Value position = gb.add(tileStart, block.lane);
    Value inRange = gb.cmp(arith::CmpIPredicate::ult, position, runEnd);
    Value key =
        bitAnd(loadKey(gb.minIdx(position, lastPosition)), thresholdMask);
    Tile tile;
    tile.isAbove =
        gb.andI(inRange, gb.cmp(arith::CmpIPredicate::ugt, key, threshold));
    tile.isTie =
        gb.andI(inRange, gb.cmp(arith::CmpIPredicate::eq, key, threshold));
    tile.above = gb.ballot(tile.isAbove);
    tile.ties = gb.ballot(tile.isTie);
    return tile;
  };
  SmallVector<Value> runCounts = gb.forCarrying(
      runStart, runEnd, gb.idx(32), {gb.i32(0), gb.i32(0)},
      [&](Value tileStart, ValueRange carried) -> SmallVector<Value> {
        Tile tile = classify(tileStart);
        return {addI(carried[0], gb.popc(tile.above)),
                addI(carried[1], gb.popc(tile.ties))};
      });
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, block.lane, gb.idx(0)), [&] {
    memref::StoreOp::create(b, runCounts[0], runTotals, block.warp);
    memref::StoreOp::create(b, runCounts[1], runTotals,
                            gb.add(block.warp, gb.idx(block.warps)));
  });
  gpu::BarrierOp::create(b);
  Value aboveBefore = gb.i32(0), tiesBefore = gb.i32(0);
  for (int64_t w = 0; w < block.warps; ++w) {
    Value earlier = gb.cmp(arith::CmpIPredicate::ult, gb.idx(w), block.warp);
    Value above = memref::LoadOp::create(b, runTotals, gb.idx(w));
    Value ties = memref::LoadOp::create(b, runTotals, gb.idx(w + block.warps));
    aboveBefore = addI(aboveBefore, gb.select(earlier, above, gb.i32(0)));
    tiesBefore = addI(tiesBefore, gb.select(earlier, ties, gb.i32(0)));
  }
  // Chosen before a position: the keys above T and the first `remaining`
  // ties.
  auto chosenBefore = [&](Value above, Value ties) {
    return addI(above, arith::MinUIOp::create(b, ties, remaining));
  };
  gb.forCarrying(
      runStart, runEnd, gb.idx(32), {aboveBefore, tiesBefore},
      [&](Value tileStart, ValueRange carried) -> SmallVector<Value> {
        Tile tile = classify(tileStart);
        Value tieRank =
            addI(carried[1], gb.popc(bitAnd(tile.ties, lowerLanes)));
        Value chosen = gb.orI(
            tile.isAbove, gb.andI(tile.isTie, gb.cmp(arith::CmpIPredicate::ult,
                                                     tieRank, remaining)));
        gb.ifThen(chosen, [&] {
          Value slot = chosenBefore(
              addI(carried[0], gb.popc(bitAnd(tile.above, lowerLanes))),
              tieRank);
          emit(gb.toIndex(slot), gb.add(tileStart, block.lane));
        });
        return {addI(carried[0], gb.popc(tile.above)),
                addI(carried[1], gb.popc(tile.ties))};
      });
}
