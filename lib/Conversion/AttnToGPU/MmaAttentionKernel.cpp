//===- MmaAttentionKernel.cpp - tensor-core attention kernel ----*- C++ -*-===//
//
// The f16/bf16 attention kernel of convert-attn-to-gpu, in the manner of
// FlashAttention-2: each warp owns 16 query rows whose Q fragments stay in
// registers; key and value tiles stream through shared memory with cp.async,
// `stages` tiles deep; S = Q K^T and O += P V run on mma.sync m16n8k16 with
// f32 accumulators, and the online softmax works on the accumulator
// fragments directly (P's accumulator layout is the A-operand layout of the
// P V product, so P never touches shared memory).
//
// Shared-memory rows are swizzled (16-byte chunk c of row r lives at chunk
// c ^ (r & mask)) so that ldmatrix's eight row reads hit distinct banks.
//
// For attn.quantized_sdpa the stages hold the tiles' packed codes, group
// scales, steps and zero points instead; before each tile the block decodes
// them in registers (unpack, q8' = clamp(code * step + zero, -127, 127),
// times the group scale) into one key and one value tile of the element
// type, which the same mma.sync loop then reads. With qk_int8 and groups of
// a multiple of 32, the query block and key tile hold INT8 codes instead
// and S = Q K^T runs on mma.sync m16n8k32 s8, each group's i32 sums times
// s1_Q s1_K; otherwise the query block is replaced by q8 * s1. With
// pv_int8 the softmax weights are rounded to round_half_even(p * 127).
// INT4 decode (one warp) skips the decoded tiles: each lane decodes its
// share of the codes straight into the mma operands (decodeInRegisters).
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <cmath>
#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Swizzle mask of a tile row of `chunksPerRow` 16-byte chunks: the largest
/// power of two up to 8 dividing it, minus one.
int64_t swizzleMask(int64_t chunksPerRow) {
  int64_t span = 1;
  while (span < 8 && chunksPerRow % (span * 2) == 0)
    span *= 2;
  return span - 1;
}

/// Element offsets into a swizzled tile whose rows hold `chunksPerRow`
/// chunks of 8 elements, for the ldmatrix pattern: row = laneRow + rowConst
/// and chunk = laneChunk + chunkConst, with laneChunk in {0, 1}, chunkConst
/// even (any when laneChunk is 0) and rowConst a multiple of 8. The
/// lane-dependent part takes one of at most four values (cached), so the
/// offsets of a whole tile cost four registers and the rest folds into
/// immediates.
class SwizzledOffsets {
public:
  SwizzledOffsets(GpuBuilder &gb, Value laneRow, Value laneChunk,
                  int64_t chunksPerRow)
      : gb(gb), laneRow(laneRow), chunksPerRow(chunksPerRow),
        mask(swizzleMask(chunksPerRow)) {
    x = gb.xorIdx(laneChunk, gb.andIdx(laneRow, mask));
  }

  Value get(int64_t rowConst, int64_t chunkConst) {
    int64_t low = chunkConst & mask;
    Value &base = laneBase[low];
    if (!base) {
      OpBuilder::InsertionGuard guard(gb.b);
      gb.b.setInsertionPointAfterValue(x);
      base = gb.add(gb.mul(laneRow, gb.idx(chunksPerRow * 8)),
                    gb.mul(gb.xorIdx(x, gb.idx(low)), gb.idx(8)));
    }
    return gb.add(
        base, gb.idx(rowConst * chunksPerRow * 8 + (chunkConst & ~mask) * 8));
  }

private:
  GpuBuilder &gb;
  Value laneRow, x;
  int64_t chunksPerRow, mask;
  llvm::DenseMap<int64_t, Value> laneBase;
};

/// Element offsets of the 16-byte chunks a thread copies into a swizzled
/// tile: with the block's threads a multiple of the chunks per row, a
/// thread always copies the same chunk of rows row0 + rowConst, and the
/// swizzle of row0 + rowConst depends on rowConst only modulo 8. Null when
/// that does not hold (the copy then computes each offset).
class CopyOffsets {
public:
  CopyOffsets(GpuBuilder &gb, Value tid, int64_t threads, int64_t chunksPerRow)
      : gb(gb), chunksPerRow(chunksPerRow), mask(swizzleMask(chunksPerRow)) {
    if (threads % chunksPerRow)
      return;
    row0 = gb.divIdx(tid, chunksPerRow);
    chunk = gb.remIdx(tid, chunksPerRow);
  }

  explicit operator bool() const { return (bool)row0; }
  /// Row of the thread's first chunk and its chunk within the row.
  Value firstRow() const { return row0; }
  Value chunkInRow() const { return chunk; }

  Value get(int64_t rowConst) {
    int64_t low = rowConst & mask;
    Value &base = laneBase[low];
    if (!base) {
      OpBuilder::InsertionGuard guard(gb.b);
      gb.b.setInsertionPointAfterValue(chunk);
      Value swizzle = gb.andIdx(gb.add(row0, gb.idx(low)), mask);
      base = gb.add(gb.mul(row0, gb.idx(chunksPerRow * 8)),
                    gb.mul(gb.xorIdx(chunk, swizzle), gb.idx(8)));
    }
    return gb.add(base, gb.idx(rowConst * chunksPerRow * 8));
  }

private:
  GpuBuilder &gb;
  int64_t chunksPerRow, mask;
  Value row0, chunk;
  llvm::DenseMap<int64_t, Value> laneBase;
};

/// The loop-carried state of a lane, flat as scf.for carries it: per row
/// tile the running max (log2 domain) and the lane's partial sum of its two
/// rows, then the output accumulator fragments [row tile][value n-tile][4].
struct CarriedState {
  CarriedState(ValueRange carried, int64_t rowTiles, int64_t valueTiles)
      : values(carried.begin(), carried.end()), rowTiles(rowTiles),
        valueTiles(valueTiles) {}
  Value &max(int64_t mt, int64_t half) { return values[2 * mt + half]; }
  Value &sum(int64_t mt, int64_t half) {
    return values[2 * rowTiles + 2 * mt + half];
  }
  Value &acc(int64_t mt, int64_t dt, int64_t e) {
    return values[4 * rowTiles + 4 * (mt * valueTiles + dt) + e];
  }

  SmallVector<Value> values;
  int64_t rowTiles, valueTiles;
};

class MmaKernelEmitter {
public:
  MmaKernelEmitter(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                   const SdpaGpuPlan &plan, const MmaKernelConfig &config)
      : b(b), gb(b), launch(launch), plan(plan), config(config),
        int8(config.int8QueryKey(plan)),
        int8Products(config.int8Products(plan)),
        qkChunks(plan.headDim / (int8 ? 16 : 8)) {}

  void emit();

private:
  void createSharedMemoryViews();
  /// Copies tile `tile` of keys and values (from key `firstKey + tile *
  /// keyTile`) into stage `tile % stages`, zero-filling keys >= keyEnd.
  void loadKeyValueTile(Value tile);
  /// Copies the keys of tile `tile` of the mask inputs staged with the keys
  /// (SdpaMask::stagedWithKeys) into their stage `tile % stages`.
  void loadMaskKeyStages(Value tile);
  /// Reads the mask inputs that depend on the row alone, once per lane row
  /// (maskRowInputs).
  void loadMaskRowInputs();
  /// Decodes the quantized tile of stage `stage`, starting at key
  /// `tileStart`, into the key and value tiles.
  void decodeQuantizedTile(Value stage, Value tileStart);
  /// The 8 codes (i32, unsigned fields) of `bits` bytes of `codes` at byte
  /// `offset`.
  SmallVector<Value> loadCodes(Value codes, Value offset);
  /// Stores 8 f32 values as the element type at chunk `chunk` of row `row`
  /// of a swizzled tile with `chunksPerRow` chunks per row.
  void storeChunk(Value tile, Value row, Value chunk, int64_t chunksPerRow,
                  ArrayRef<Value> values);
  /// Replaces the query block by its INT8 group quantization (qk_int8).
  void quantizeQueryBlock();
  /// The query block as INT8 codes and group scales (INT8 products): read
  /// from global memory, s1 = max|q| / 127, codes clamp(rne(q / s1)).
  void loadInt8QueryBlock();
  /// Stores 8 INT8 codes (f32 integers) at dims [8 c, 8 c + 8) of row
  /// `row` of a swizzled INT8 tile (two codes per i16 element).
  void storeInt8Chunk(Value tile, Value row, Value chunk,
                      ArrayRef<Value> codes);

  // --- A quantized cache decoded straight into mma operands -------------
  // Any order of the head dims serves Q K^T as long as Q and K agree, and
  // any order of the value dims serves P V as long as the output store
  // undoes it. Lane (g, t) = (lane / 4, lane % 4) holds key dims
  // [t D/4, (t+1) D/4) of the key of column g of each n-tile, whose INT4
  // codes are D/8 consecutive bytes; its register pair p (k-step p / 2,
  // register p % 2) holds dims (8m + j, 8m + j + 4) of that quarter, m =
  // p / 4, j = p % 4, which one shift and mask of code word m put into the
  // two halves. For P V it holds value dims [g Dv/8, (g+1) Dv/8), Dv/16
  // consecutive bytes of each key: value n-tile dt, column c is dim
  // c Dv/8 + dt. The codes come from the cp.async stages, so the tiles in
  // flight cost shared memory rather than registers.

  /// Value dims of the lane's value columns: the dim of n-tile `dt`,
  /// column `column`.
  Value permutedValueDim(int64_t dt, Value column);
  /// Key dims (lo, hi) of register pair `pair` of a lane with quarter
  /// `quarter`.
  std::pair<Value, Value> permutedKeyDims(Value quarter, int64_t pair);
  /// The Q fragments, gathered from the query block in the permuted order.
  SmallVector<SmallVector<SmallVector<Value>>> loadPermutedQueryFragments();
  /// The lane's key operand pairs (D/8 registers) of n-tile `nTile` of the
  /// codes in stage `stage`.
  SmallVector<Value> decodeKeyOperands(Value stage, int64_t nTile);
  /// The lane's value codes of k-step `kStep` of the codes in stage
  /// `stage` (keys from `tileStart`): the words of keys 2t, 2t + 1, 2t + 8
  /// and 2t + 9 of the step, and where its group's parameters of the
  /// lane's first slot are.
  struct ValueStepCodes {
    SmallVector<Value> keyWords;
    Value paramsAt;
  };
  ValueStepCodes loadValueStep(Value stage, Value tileStart, int64_t kStep);
  /// The operands of value n-tiles `firstSlot` and `firstSlot + 1` (even):
  /// b0 and b1 (keys 2t, 2t + 1 and 2t + 8, 2t + 9) of each.
  SmallVector<Value> decodeValueSlots(const ValueStepCodes &step,
                                      int64_t firstSlot);

  /// Copies `rowsPerTile` rows of `chunksPerRow` chunks from `src` into
  /// `smem` at element `smemOffset` with cp.async; `source(row, column)`
  /// gives the indices into `src` and whether the row exists (else it is
  /// zero-filled).
  void copyTile(
      Value smem, Value smemOffset, int64_t rowsPerTile, int64_t chunksPerRow,
      Value src,
      llvm::function_ref<std::pair<SmallVector<Value>, Value>(Value, Value)>
          source);
  /// What the scores of a tile are masked by.
  enum class TileMasking {
    /// Nothing: every row of the block sees every key of the tile (before
    /// keyEnd and, under causal masking, before every row's diagonal) and
    /// there is no mask operand; the softmax scale folds into the exponent.
    None,
    /// The mask operand only: every row sees every key but for it (and its
    /// reads need no clamping).
    Operand,
    /// keyEnd, the causal diagonal and the mask operand.
    Full,
  };
  /// One tile of the key loop.
  SmallVector<Value> processTile(Value tile, ValueRange carried,
                                 TileMasking masking);
  /// The mask operand's terms [row tile][n-tile][4] of the scores of the
  /// tile from key `tileStart` in stage `stage` (see loadMaskTerm; keys
  /// clamped to the last with `clampKeys`). Read before the tile's
  /// products, so that the loads' latency hides behind the mma.
  SmallVector<SmallVector<SmallVector<Value>>>
  loadTileMaskTerms(Value tileStart, Value stage, bool clampKeys);
  /// Scores [row tile][n-tile][4] of the tile from key `tileStart` into the
  /// log2 domain, -inf where masked: with `masking` Full keys past keyEnd
  /// and, under causal masking, keys past each row's diagonal; and by the
  /// mask operand's `maskTerms` (empty when the mask is computed here, from
  /// the indices alone).
  void scaleAndMaskScores(
      SmallVector<SmallVector<SmallVector<Value>>> &scores, Value tileStart,
      const SmallVector<SmallVector<SmallVector<Value>>> &maskTerms,
      TileMasking masking);
  /// The row of the block that lane element `half` of row tile `mt` scores,
  /// clamped to the last (rows past it, of a partial block, repeat it).
  Value scoreRow(int64_t mt, int64_t half) {
    return gb.minIdx(threadRow(mt, half), gb.sub(rows, gb.idx(1)));
  }
  /// The query index and query head of the rows of row tile `mt` that the
  /// lane scores (one per half).
  void scoreRowIds(int64_t mt, SmallVector<Value> &queryIdx,
                   SmallVector<Value> &head) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row = scoreRow(mt, half);
      // Without grouped queries the block's rows are one head's queries,
      // so the rows of a lane share every head-indexed mask read.
      if (plan.groupSize() == 1) {
        queryIdx.push_back(row);
        head.push_back(kvHead);
        continue;
      }
      queryIdx.push_back(gb.remIdx(row, plan.queryLen));
      head.push_back(gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())),
                            gb.divIdx(row, plan.queryLen)));
    }
  }
  /// The mask operand's term of element `e` of n-tile `nt` of row tile `mt`
  /// of the tile from `tileStart` in stage `stage` (null when no input is
  /// staged), for rows `queryIdx` and `head` (from scoreRowIds), with the
  /// key clamped to the last when `clampKey`.
  Value maskTermAt(Value tileStart, Value stage, int64_t mt, int64_t nt,
                   int64_t e, ArrayRef<Value> queryIdx, ArrayRef<Value> head,
                   bool clampKey) {
    SmallVector<Value> known;
    for (auto [i, keyStage] : llvm::enumerate(maskKeyStages)) {
      known.push_back(maskRowInputs.empty() ? Value()
                                            : maskRowInputs[mt][e / 2][i]);
      if (keyStage)
        known.back() = memref::LoadOp::create(
            b, keyStage,
            gb.add(gb.mul(stage, gb.idx(plan.keyTile)), scoreKeyInTile(nt, e)));
    }
    Value key = scoreKey(tileStart, nt, e);
    if (clampKey)
      key = gb.minIdx(key, gb.sub(plan.keyLen, gb.idx(1)));
    return loadMaskTerm(gb, plan, batch, head[e / 2], queryIdx[e / 2], key,
                        known);
  }
  /// The key of element `e` of n-tile `nt` of the lane, relative to its
  /// tile's first.
  Value scoreKeyInTile(int64_t nt, int64_t e) {
    return gb.add(gb.mul(gb.remIdx(lane, 4), gb.idx(2)),
                  gb.idx(nt * 8 + (e & 1)));
  }
  /// The key of element `e` of n-tile `nt` of the lane in the tile from
  /// `tileStart`.
  Value scoreKey(Value tileStart, int64_t nt, int64_t e) {
    return gb.add(tileStart, scoreKeyInTile(nt, e));
  }
  /// O += P V on mma.sync s8 (int8Products): the weights (round_half_even(p
  /// * 127) in the low byte of `weights`, see processTile) and the value
  /// codes of stage `stage`, each value group's i32 sums times its scales.
  void accumulateInt8Values(
      CarriedState &state,
      const SmallVector<SmallVector<SmallVector<Value>>> &weights, Value stage);
  /// S = Q K^T on mma.sync s8, one group of the head dims at a time: its
  /// i32 sums times s1_Q s1_K (the keys' scales in stage `codeStage`).
  void accumulateInt8Scores(
      SmallVector<SmallVector<SmallVector<Value>>> &scores, Value keyStage,
      Value codeStage,
      const SmallVector<SmallVector<SmallVector<Value>>> &query);
  /// Whether the query's INT8 scale joins the softmax scale in the row
  /// factors (one key group: S = Q K^T then holds the key scales only).
  bool queryScaleInRowFactor() const {
    return int8 && plan.quantized->keyGroups(plan.headDim) == 1;
  }
  /// What takes the scores of the lane's `half` of row tile `rowTile` into
  /// the log2 domain: the softmax scale times log2(e) (and the query's
  /// scale, see queryScaleInRowFactor).
  Value rowFactor(int64_t rowTile, int64_t half) {
    return rowFactors.empty() ? gb.f32(plan.scale * M_LOG2E)
                              : rowFactors[rowTile][half];
  }
  void storeResults(ValueRange carried);
  /// Query row (of the key/value head's group) of this lane's `half` of
  /// row tile `rowTile`.
  Value threadRow(int64_t rowTile, int64_t half);
  /// Q's A fragments: [row tile][head-dim step][4 registers].
  SmallVector<SmallVector<SmallVector<Value>>> loadQueryFragments();

  ImplicitLocOpBuilder &b;
  GpuBuilder gb;
  gpu::LaunchOp launch;
  const SdpaGpuPlan &plan;
  const MmaKernelConfig &config;
  // Q K^T on mma.sync s8: the query block and key tile hold INT8 codes
  // (two per i16 element, so ldmatrix reads them), and the query's group
  // scales are kept beside them.
  const bool int8;
  // Both products on mma.sync s8, read straight from the stages of an INT8
  // cache (MmaKernelConfig::int8Products).
  const bool int8Products;
  // 16-byte chunks per row of the query block and key tile.
  const int64_t qkChunks;
  Value queryScaleSmem;

  // Per-thread values.
  Value lane, warp, kvHead, batch, split, firstRow, rows;
  Value firstKey, keyEnd;
  Value querySmem, keySmem, valueSmem;
  // Stages of a quantized cache (attn.quantize's layout, flat per stage).
  std::optional<QuantizedStages> codeStages;
  // Swizzled offsets: cp.async destinations per chunks-per-row, and the
  // ldmatrix rows of K, V (and Q, read once).
  std::map<int64_t, std::unique_ptr<CopyOffsets>> copyOffsets;
  std::unique_ptr<SwizzledOffsets> queryOffsets, keyOffsets, valueOffsets;
  // Lane coordinates of the mma fragments: row group and quarter.
  Value laneGroup, laneQuarter;
  // Q fragments held for the whole loop (one row tile per warp only).
  SmallVector<SmallVector<SmallVector<Value>>> queryFrags;
  // [row tile][half] factors of rowFactor when they differ by row.
  SmallVector<SmallVector<Value>> rowFactors;
  // Per mask producer input: its shared-memory stages of the key tiles'
  // elements when staged with the keys (SdpaMask::stagedWithKeys), else
  // null.
  SmallVector<Value> maskKeyStages;
  // [row tile][half][input]: the mask inputs that do not depend on the key,
  // read once before the key loop (null for the others).
  SmallVector<SmallVector<SmallVector<Value>>> maskRowInputs;
};

} // namespace

void MmaKernelEmitter::createSharedMemoryViews() {
  SharedMemory shared(gb, launch);
  Type et = plan.elementType;
  Type qkType = int8 ? b.getI16Type() : et;
  int64_t qkRow = qkChunks * 8;
  querySmem = shared.buffer({config.rowBlock() * qkRow}, qkType);
  for (auto [i, input] : llvm::enumerate(plan.mask.producerInputs))
    maskKeyStages.push_back(
        plan.mask.stagedWithKeys(i, plan.groupSize())
            ? shared.buffer({config.stages * plan.keyTile},
                            cast<MemRefType>(input.getType()).getElementType())
            : Value());
  if (int8)
    queryScaleSmem = shared.buffer(
        {config.rowBlock() * plan.quantized->keyGroups(plan.headDim)},
        b.getF32Type());
  if (int8Products) {
    // ldmatrix reads the stages' codes: nothing is decoded.
    codeStages.emplace(shared, plan, config.stages, plan.keyTile,
                       /*swizzleKeyCodes=*/true, /*swizzleValueCodes=*/true);
    keySmem = codeStages->keyCodePairs;
    shared.finish();
    return;
  }
  if (!config.decodeInRegisters) {
    // A quantized cache is decoded into a single key and value tile.
    int64_t tiles = plan.quantized ? 1 : config.stages;
    keySmem = shared.buffer({tiles * plan.keyTile * qkRow}, qkType);
    valueSmem = shared.buffer({tiles * plan.keyTile * plan.valueDim}, et);
  }
  if (plan.quantized)
    codeStages.emplace(shared, plan, config.stages, plan.keyTile);
  shared.finish();
}

void MmaKernelEmitter::copyTile(
    Value smem, Value smemOffset, int64_t rowsPerTile, int64_t chunksPerRow,
    Value src,
    llvm::function_ref<std::pair<SmallVector<Value>, Value>(Value, Value)>
        source) {
  int64_t threads = 32 * config.warps;
  int64_t chunks = rowsPerTile * chunksPerRow;
  Value tid = launch.getThreadIds().x;
  CopyOffsets &offsets = *copyOffsets.at(chunksPerRow);
  for (int64_t first = 0; first < chunks; first += threads) {
    auto copyOne = [&] {
      Value row, chunk, dst;
      if (offsets) {
        int64_t rowConst = first / chunksPerRow;
        row = gb.add(offsets.firstRow(), gb.idx(rowConst));
        chunk = offsets.chunkInRow();
        dst = offsets.get(rowConst);
      } else {
        Value c = gb.add(tid, gb.idx(first));
        row = gb.divIdx(c, chunksPerRow);
        chunk = gb.remIdx(c, chunksPerRow);
        Value swizzled =
            gb.xorIdx(chunk, gb.andIdx(row, swizzleMask(chunksPerRow)));
        dst = gb.add(gb.mul(row, gb.idx(chunksPerRow * 8)),
                     gb.mul(swizzled, gb.idx(8)));
      }
      auto [srcIndices, valid] = source(row, gb.mul(chunk, gb.idx(8)));
      gb.copyAsync(smem, gb.add(smemOffset, dst), src, srcIndices, 8, valid);
    };
    if (first + threads <= chunks)
      copyOne();
    else
      gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, gb.add(tid, gb.idx(first)),
                       gb.idx(chunks)),
                copyOne);
  }
}

void MmaKernelEmitter::loadKeyValueTile(Value tile) {
  if (plan.quantized) {
    Value stage = gb.remIdx(tile, config.stages);
    Value tileStart = gb.add(firstKey, gb.mul(tile, gb.idx(plan.keyTile)));
    auto load = [&](bool whole) {
      codeStages->load(gb, plan, launch.getThreadIds().x, 32 * config.warps,
                       stage, tileStart, keyEnd, batch, kvHead, whole);
    };
    if (!plan.quantized->wholeValueGroups(plan.keyTile))
      return load(/*whole=*/false);
    // Tiles before keyEnd (all but the last) copy without row checks.
    gb.ifThenElse(
        gb.cmp(arith::CmpIPredicate::ule,
               gb.add(tileStart, gb.idx(plan.keyTile)), keyEnd),
        [&] { load(/*whole=*/true); }, [&] { load(/*whole=*/false); });
    return;
  }
  Value stage = gb.remIdx(tile, config.stages);
  Value tileStart = gb.add(firstKey, gb.mul(tile, gb.idx(plan.keyTile)));
  Value lastKey = gb.sub(plan.keyLen, gb.idx(1));
  auto rowSource = [&](Value row, Value column) {
    Value key = gb.add(tileStart, row);
    Value valid = gb.cmp(arith::CmpIPredicate::ult, key, keyEnd);
    SmallVector<Value> indices = {batch, kvHead, gb.minIdx(key, lastKey),
                                  column};
    return std::make_pair(indices, valid);
  };
  copyTile(keySmem, gb.mul(stage, gb.idx(plan.keyTile * plan.headDim)),
           plan.keyTile, plan.headDim / 8, plan.key, rowSource);
  copyTile(valueSmem, gb.mul(stage, gb.idx(plan.keyTile * plan.valueDim)),
           plan.keyTile, plan.valueDim / 8, plan.value, rowSource);
}

void MmaKernelEmitter::loadMaskKeyStages(Value tile) {
  int64_t threads = 32 * config.warps;
  Value tid = launch.getThreadIds().x;
  Value stageStart =
      gb.mul(gb.remIdx(tile, config.stages), gb.idx(plan.keyTile));
  Value tileStart = gb.add(firstKey, gb.mul(tile, gb.idx(plan.keyTile)));
  Value lastKey = gb.sub(plan.keyLen, gb.idx(1));
  // Every row of the block reads the same element per key: the block's
  // head when heads are not grouped, and the query is not read.
  Value head = kvHead;
  for (unsigned i = 0; i < maskKeyStages.size(); ++i) {
    Value keyStage = maskKeyStages[i];
    if (!keyStage)
      continue;
    for (int64_t first = 0; first < plan.keyTile; first += threads) {
      auto copyOne = [&] {
        Value k = gb.add(tid, gb.idx(first));
        // Keys past the last are masked: zero-filled, read at the last.
        Value key = gb.add(tileStart, k);
        Value real = gb.cmp(arith::CmpIPredicate::ult, key, plan.keyLen);
        SmallVector<Value> indices = maskInputIndices(
            gb, plan, i, batch, head, gb.idx(0), gb.minIdx(key, lastKey));
        gb.copyAsync(keyStage, gb.add(stageStart, k),
                     plan.mask.producerInputs[i], indices, 1, real);
      };
      if (first + threads <= plan.keyTile)
        copyOne();
      else
        gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, gb.add(tid, gb.idx(first)),
                         gb.idx(plan.keyTile)),
                  copyOne);
    }
  }
}

void MmaKernelEmitter::loadMaskRowInputs() {
  const SdpaMask &mask = plan.mask;
  SmallVector<unsigned> rowOnly;
  for (unsigned i = 0; i < mask.producerInputs.size(); ++i)
    if (!mask.inputReads(i, 3))
      rowOnly.push_back(i);
  if (rowOnly.empty())
    return;
  for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
    SmallVector<Value> queryIdx, head;
    scoreRowIds(mt, queryIdx, head);
    maskRowInputs.emplace_back();
    for (int64_t half = 0; half < 2; ++half) {
      SmallVector<Value> inputs(mask.producerInputs.size());
      for (unsigned i : rowOnly)
        inputs[i] = loadMaskInput(gb, plan, i, batch, head[half],
                                  queryIdx[half], gb.idx(0));
      maskRowInputs.back().push_back(inputs);
    }
  }
}

SmallVector<Value> MmaKernelEmitter::loadCodes(Value codes, Value offset) {
  const int64_t bits = plan.quantized->bits;
  Type i32 = b.getI32Type();
  // Read as whole words: 8 codes of `bits` bits are `bits` bytes.
  int64_t words = bits == 8 ? 2 : 1;
  int64_t wordBits = bits == 8 ? 32 : 8 * bits;
  Value bytes = vector::LoadOp::create(
      b, VectorType::get({bits}, b.getI8Type()), codes, offset,
      /*nontemporal=*/false, llvm::Align(bits));
  Value packed = vector::BitCastOp::create(
      b, VectorType::get({words}, b.getIntegerType(wordBits)), bytes);
  SmallVector<Value> wordValues;
  for (int64_t w = 0; w < words; ++w) {
    Value word = vector::ExtractOp::create(b, packed, w);
    if (wordBits < 32)
      word = arith::ExtUIOp::create(b, i32, word);
    wordValues.push_back(word);
  }
  int64_t perWord = 8 / words;
  SmallVector<Value> fields;
  for (int64_t j = 0; j < 8; ++j) {
    Value word = wordValues[j / perWord];
    int64_t shift = (j % perWord) * bits;
    if (shift)
      word = arith::ShRUIOp::create(b, word, gb.i32(shift));
    fields.push_back(arith::AndIOp::create(b, word, gb.i32((1 << bits) - 1)));
  }
  return fields;
}

namespace {

/// What decodes the codes of one quantization group: its scale s1 and, for
/// 4 and 2 bits, its step and zero point (as f32).
struct GroupDecoding {
  Value scale, step, zero;
};

} // namespace

/// x' = clamp(code * s2 + z, -127, 127) * s1 (or code * s1 for INT8) of an
/// unsigned code field (without the `* s1` when the scale is null), in f32
/// without an integer conversion: the field goes into the mantissa of 2^23.
static Value decodeCode(GpuBuilder &gb, int64_t bits, Value field,
                        const GroupDecoding &group) {
  ImplicitLocOpBuilder &b = gb.b;
  Type f32 = b.getF32Type();
  constexpr int32_t kTwoPow23Bits = 0x4B000000;
  if (bits == 8) {
    // The signed byte biased by 128: 2^23 + 128 + q8.
    Value biased = arith::XOrIOp::create(b, field, gb.i32(0x80));
    Value f = arith::BitcastOp::create(
        b, f32, arith::OrIOp::create(b, biased, gb.i32(kTwoPow23Bits)));
    Value q8 = gb.fsub(f, gb.f32(8388736.0f));
    return group.scale ? gb.fmul(q8, group.scale) : q8;
  }
  Value f = arith::BitcastOp::create(
      b, f32, arith::OrIOp::create(b, field, gb.i32(kTwoPow23Bits)));
  Value code = gb.fsub(f, gb.f32(8388608.0f));
  Value q8 = gb.fadd(gb.fmul(code, group.step), group.zero);
  q8 = arith::MinNumFOp::create(
      b, arith::MaxNumFOp::create(b, q8, gb.f32(-127)), gb.f32(127));
  return group.scale ? gb.fmul(q8, group.scale) : q8;
}

void MmaKernelEmitter::storeChunk(Value tile, Value row, Value chunk,
                                  int64_t chunksPerRow,
                                  ArrayRef<Value> values) {
  Type et = plan.elementType;
  SmallVector<Value> words;
  for (int64_t j = 0; j < 8; j += 2)
    words.push_back(gb.packPair(et, values[j], values[j + 1]));
  Value vec = vector::FromElementsOp::create(
      b, VectorType::get({4}, b.getI32Type()), words);
  vec = vector::BitCastOp::create(b, VectorType::get({8}, et), vec);
  Value swizzled = gb.xorIdx(chunk, gb.andIdx(row, swizzleMask(chunksPerRow)));
  Value offset = gb.add(gb.mul(row, gb.idx(chunksPerRow * 8)),
                        gb.mul(swizzled, gb.idx(8)));
  vector::StoreOp::create(b, vec, tile, offset, /*nontemporal=*/false,
                          llvm::Align(16));
}

void MmaKernelEmitter::storeInt8Chunk(Value tile, Value row, Value chunk,
                                      ArrayRef<Value> codes) {
  SmallVector<Value> bytes;
  for (Value code : codes)
    bytes.push_back(arith::FPToSIOp::create(b, b.getI8Type(), code));
  Value vec = vector::FromElementsOp::create(
      b, VectorType::get({8}, b.getI8Type()), bytes);
  vec = vector::BitCastOp::create(b, VectorType::get({4}, b.getI16Type()), vec);
  // Dims [8c, 8c + 8) are half of 16-byte chunk c / 2.
  Value swizzled =
      gb.xorIdx(gb.divIdx(chunk, 2), gb.andIdx(row, swizzleMask(qkChunks)));
  Value offset = gb.add(gb.mul(row, gb.idx(qkChunks * 8)),
                        gb.add(gb.mul(swizzled, gb.idx(8)),
                               gb.mul(gb.remIdx(chunk, 2), gb.idx(4))));
  vector::StoreOp::create(b, vec, tile, offset, /*nontemporal=*/false,
                          llvm::Align(8));
}

void MmaKernelEmitter::loadInt8QueryBlock() {
  const int64_t G = plan.quantized->groupSize;
  const int64_t groups = plan.headDim / G;
  Value tid = launch.getThreadIds().x;
  Value lastRow = gb.sub(rows, gb.idx(1));
  // One thread per (row, group); rows past the last get scale 0, codes 0.
  gb.forEach(tid, gb.idx(config.rowBlock() * groups), gb.idx(32 * config.warps),
             [&](Value item) {
               Value row = gb.divIdx(item, groups);
               Value group = gb.remIdx(item, groups);
               Value p = gb.add(firstRow, row);
               Value valid = gb.cmp(arith::CmpIPredicate::ult, p, rows);
               p = gb.minIdx(p, lastRow);
               Value head = gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())),
                                   gb.divIdx(p, plan.queryLen));
               Value firstDim = gb.mul(group, gb.idx(G));
               auto load = [&](Value e) {
                 return gb.toF32(memref::LoadOp::create(
                     b, plan.query,
                     ValueRange{batch, head, gb.remIdx(p, plan.queryLen),
                                gb.add(firstDim, e)}));
               };
               Value scale = gb.select(valid, gb.int8Scale(G, load), gb.f32(0));
               memref::StoreOp::create(
                   b, scale, queryScaleSmem,
                   gb.add(gb.mul(row, gb.idx(groups)), group));
               gb.forEach(gb.idx(0), gb.idx(G / 8), gb.idx(1), [&](Value c) {
                 SmallVector<Value> codes;
                 for (int64_t j = 0; j < 8; ++j)
                   codes.push_back(gb.int8Code(
                       load(gb.add(gb.mul(c, gb.idx(8)), gb.idx(j))), scale));
                 storeInt8Chunk(querySmem, row,
                                gb.add(gb.mul(group, gb.idx(G / 8)), c), codes);
               });
             });
}

void MmaKernelEmitter::decodeQuantizedTile(Value stage, Value tileStart) {
  const QuantizedKeyValues &q = *plan.quantized;
  const int64_t keyTile = plan.keyTile, bits = q.bits, G = q.groupSize;
  Type f32 = b.getF32Type();
  Value tid = launch.getThreadIds().x;
  Value threads = gb.idx(32 * config.warps);
  auto toF32 = [&](Value i8) {
    return arith::SIToFPOp::create(
               b, i8.getType().isInteger(8) ? f32 : VectorType::get({8}, f32),
               i8)
        .getResult();
  };

  // Keys: one item per chunk of 8 dims of a key; a key's groups run along
  // its dims.
  int64_t keyChunks = plan.headDim / 8;
  int64_t keyGroups = q.keyGroups(plan.headDim);
  int64_t keyRowBytes = q.rowBytes(plan.headDim);
  Value keyCodeBase = gb.mul(stage, gb.idx(keyTile * keyRowBytes));
  Value keyGroupBase = gb.mul(stage, gb.idx(keyTile * keyGroups));
  gb.forEach(tid, gb.idx(keyTile * keyChunks), threads, [&](Value item) {
    Value row = gb.divIdx(item, keyChunks);
    Value chunk = gb.remIdx(item, keyChunks);
    SmallVector<Value> fields =
        loadCodes(codeStages->keyCodes,
                  gb.add(keyCodeBase, gb.add(gb.mul(row, gb.idx(keyRowBytes)),
                                             gb.mul(chunk, gb.idx(bits)))));
    auto groupOf = [&](Value group) {
      Value at =
          gb.add(keyGroupBase, gb.add(gb.mul(row, gb.idx(keyGroups)), group));
      GroupDecoding d;
      // INT8 products apply the key scales to the i32 group sums instead.
      if (!int8)
        d.scale = memref::LoadOp::create(b, codeStages->keyScale, at);
      if (bits != 8) {
        d.step = toF32(memref::LoadOp::create(b, codeStages->keyStep, at));
        d.zero = toF32(memref::LoadOp::create(b, codeStages->keyZero, at));
      }
      return d;
    };
    Value firstDim = gb.mul(chunk, gb.idx(8));
    // Groups of a multiple of 8 dims hold whole chunks.
    std::optional<GroupDecoding> chunkGroup;
    if (G % 8 == 0)
      chunkGroup = groupOf(gb.divIdx(firstDim, G));
    SmallVector<Value> values;
    for (int64_t j = 0; j < 8; ++j)
      values.push_back(decodeCode(
          gb, bits, fields[j],
          chunkGroup ? *chunkGroup
                     : groupOf(gb.divIdx(gb.add(firstDim, gb.idx(j)), G))));
    if (int8)
      storeInt8Chunk(keySmem, row, chunk, values);
    else
      storeChunk(keySmem, row, chunk, keyChunks, values);
  });

  // Values: one item per chunk of 8 dims of 8 consecutive keys; a group
  // runs along the keys, so its scales are read once per item when the
  // 8 keys share it.
  int64_t valueChunks = plan.valueDim / 8;
  int64_t valueRowBytes = q.rowBytes(plan.valueDim);
  int64_t groupRows = q.valueGroupRows(keyTile);
  Value valueCodeBase = gb.mul(stage, gb.idx(keyTile * valueRowBytes));
  Value firstGroup = gb.divIdx(tileStart, G);
  gb.forEach(tid, gb.idx(keyTile / 8 * valueChunks), threads, [&](Value item) {
    Value firstRow = gb.mul(gb.divIdx(item, valueChunks), gb.idx(8));
    Value chunk = gb.remIdx(item, valueChunks);
    auto groupsOf = [&](Value row) {
      Value groupRow = gb.sub(gb.divIdx(gb.add(tileStart, row), G), firstGroup);
      Value at =
          gb.add(gb.mul(gb.add(gb.mul(stage, gb.idx(groupRows)), groupRow),
                        gb.idx(plan.valueDim)),
                 gb.mul(chunk, gb.idx(8)));
      auto load = [&](Value buffer, Type type, int64_t align) {
        return vector::LoadOp::create(b, VectorType::get({8}, type), buffer, at,
                                      /*nontemporal=*/false, llvm::Align(align))
            .getResult();
      };
      Value scale = load(codeStages->valueScale, f32, 16);
      Value step, zero;
      if (bits != 8) {
        step = toF32(load(codeStages->valueStep, b.getI8Type(), 8));
        zero = toF32(load(codeStages->valueZero, b.getI8Type(), 8));
      }
      SmallVector<GroupDecoding> perDim(8);
      for (int64_t j = 0; j < 8; ++j) {
        perDim[j].scale = vector::ExtractOp::create(b, scale, j);
        if (bits != 8) {
          perDim[j].step = vector::ExtractOp::create(b, step, j);
          perDim[j].zero = vector::ExtractOp::create(b, zero, j);
        }
      }
      return perDim;
    };
    // Groups of a multiple of 8 keys hold whole items (tiles start at
    // multiples of keyTile).
    SmallVector<GroupDecoding> shared;
    if (G % 8 == 0)
      shared = groupsOf(firstRow);
    for (int64_t k = 0; k < 8; ++k) {
      Value row = gb.add(firstRow, gb.idx(k));
      SmallVector<GroupDecoding> groups = G % 8 == 0 ? shared : groupsOf(row);
      SmallVector<Value> fields = loadCodes(
          codeStages->valueCodes,
          gb.add(valueCodeBase, gb.add(gb.mul(row, gb.idx(valueRowBytes)),
                                       gb.mul(chunk, gb.idx(bits)))));
      SmallVector<Value> values;
      for (int64_t j = 0; j < 8; ++j)
        values.push_back(decodeCode(gb, bits, fields[j], groups[j]));
      storeChunk(valueSmem, row, chunk, valueChunks, values);
    }
  });
}

void MmaKernelEmitter::quantizeQueryBlock() {
  const int64_t G = plan.quantized->groupSize;
  const int64_t groups = plan.headDim / G, chunksPerRow = plan.headDim / 8;
  Type et = plan.elementType;
  Value tid = launch.getThreadIds().x;
  auto elementAt = [&](Value row, Value dim) {
    Value chunk = gb.divIdx(dim, 8);
    Value swizzled =
        gb.xorIdx(chunk, gb.andIdx(row, swizzleMask(chunksPerRow)));
    return gb.add(gb.mul(row, gb.idx(plan.headDim)),
                  gb.add(gb.mul(swizzled, gb.idx(8)), gb.remIdx(dim, 8)));
  };
  // One thread per (row, group): s1 = max|q| / 127, q' = clamp(rne(q / s1),
  // -127, 127) * s1, and 0 for an all-zero group.
  gb.forEach(tid, gb.idx(config.rowBlock() * groups), gb.idx(32 * config.warps),
             [&](Value item) {
               Value row = gb.divIdx(item, groups);
               Value firstDim = gb.mul(gb.remIdx(item, groups), gb.idx(G));
               auto load = [&](Value e) {
                 return gb.toF32(memref::LoadOp::create(
                     b, querySmem, elementAt(row, gb.add(firstDim, e))));
               };
               Value scale = gb.int8Scale(G, load);
               gb.forEach(gb.idx(0), gb.idx(G), gb.idx(1), [&](Value e) {
                 Value q = gb.fmul(gb.int8Code(load(e), scale), scale);
                 memref::StoreOp::create(b, gb.fromF32(q, et), querySmem,
                                         elementAt(row, gb.add(firstDim, e)));
               });
             });
}

Value MmaKernelEmitter::permutedValueDim(int64_t dt, Value column) {
  return gb.add(gb.mul(column, gb.idx(plan.valueDim / 8)), gb.idx(dt));
}

std::pair<Value, Value> MmaKernelEmitter::permutedKeyDims(Value quarter,
                                                          int64_t pair) {
  Value base = gb.add(gb.mul(quarter, gb.idx(plan.headDim / 4)),
                      gb.idx(8 * (pair / 4) + pair % 4));
  return {base, gb.add(base, gb.idx(4))};
}

SmallVector<SmallVector<SmallVector<Value>>>
MmaKernelEmitter::loadPermutedQueryFragments() {
  Type et = plan.elementType;
  int64_t chunksPerRow = plan.headDim / 8;
  auto element = [&](Value row, Value dim) {
    Value chunk = gb.divIdx(dim, 8);
    Value swizzled =
        gb.xorIdx(chunk, gb.andIdx(row, swizzleMask(chunksPerRow)));
    Value at = gb.add(gb.mul(row, gb.idx(plan.headDim)),
                      gb.add(gb.mul(swizzled, gb.idx(8)), gb.remIdx(dim, 8)));
    return memref::LoadOp::create(b, querySmem, at).getResult();
  };
  auto pairOf = [&](Value row, int64_t pair) {
    auto [lo, hi] = permutedKeyDims(laneQuarter, pair);
    Value v = vector::FromElementsOp::create(
        b, VectorType::get({2}, et),
        ValueRange{element(row, lo), element(row, hi)});
    v = vector::BitCastOp::create(b, VectorType::get({1}, b.getI32Type()), v);
    return vector::ExtractOp::create(b, v, 0).getResult();
  };
  // A fragment: a0/a1 rows g and g + 8 of register 0, a2/a3 of register 1.
  Value rowLo = laneGroup, rowHi = gb.add(laneGroup, gb.idx(8));
  SmallVector<SmallVector<SmallVector<Value>>> frags(1);
  for (int64_t ks = 0; ks < plan.headDim / 16; ++ks)
    frags[0].push_back({pairOf(rowLo, 2 * ks), pairOf(rowHi, 2 * ks),
                        pairOf(rowLo, 2 * ks + 1), pairOf(rowHi, 2 * ks + 1)});
  return frags;
}

SmallVector<Value> MmaKernelEmitter::decodeKeyOperands(Value stage,
                                                       int64_t nTile) {
  const QuantizedKeyValues &q = *plan.quantized;
  Type et = plan.elementType, i32 = b.getI32Type();
  int64_t quarterBytes = plan.headDim / 8, rowBytes = q.rowBytes(plan.headDim);
  int64_t keyGroups = q.keyGroups(plan.headDim);
  // Rows past the last key are zero-filled: codes and scales 0 decode to 0.
  Value row = gb.add(gb.mul(stage, gb.idx(plan.keyTile)),
                     gb.add(gb.idx(8 * nTile), laneGroup));
  Value bytes = vector::LoadOp::create(
      b, VectorType::get({quarterBytes}, b.getI8Type()), codeStages->keyCodes,
      gb.add(gb.mul(row, gb.idx(rowBytes)),
             gb.mul(laneQuarter, gb.idx(quarterBytes))),
      /*nontemporal=*/false, llvm::Align(std::min<int64_t>(quarterBytes, 16)));
  Value words = vector::BitCastOp::create(
      b, VectorType::get({quarterBytes / 4}, i32), bytes);
  Value group =
      gb.divIdx(gb.mul(laneQuarter, gb.idx(plan.headDim / 4)), q.groupSize);
  Value at = gb.add(gb.mul(row, gb.idx(keyGroups)), group);
  auto splat = [&](Value f) { return gb.packPair(et, f, f); };
  auto toF32 = [&](Value i8) {
    return arith::SIToFPOp::create(b, b.getF32Type(), i8).getResult();
  };
  Value scale = splat(memref::LoadOp::create(b, codeStages->keyScale, at));
  Value step = splat(toF32(memref::LoadOp::create(b, codeStages->keyStep, at)));
  Value zero = splat(toF32(memref::LoadOp::create(b, codeStages->keyZero, at)));
  SmallVector<Value> operands;
  for (int64_t pair = 0; pair < plan.headDim / 8; ++pair) {
    Value word = vector::ExtractOp::create(b, words, pair / 4);
    // Codes of dims 8m + j and 8m + j + 4 at bits 0-3 and 16-19.
    if (pair % 4)
      word = arith::ShRUIOp::create(b, word, gb.i32(4 * (pair % 4)));
    operands.push_back(gb.decodeInt4Pair(et, word, step, zero, scale));
  }
  return operands;
}

MmaKernelEmitter::ValueStepCodes
MmaKernelEmitter::loadValueStep(Value stage, Value tileStart, int64_t kStep) {
  const QuantizedKeyValues &q = *plan.quantized;
  const int64_t slots = plan.valueDim / 8, sliceBytes = plan.valueDim / 16;
  ValueStepCodes step;
  // The step's 16 keys share a group (groups are multiples of 16 keys and
  // tiles start at multiples of 64): the row of its parameters.
  int64_t groupRows = q.valueGroupRows(plan.keyTile);
  Value groupRow =
      gb.sub(gb.divIdx(gb.add(tileStart, gb.idx(16 * kStep)), q.groupSize),
             gb.divIdx(tileStart, q.groupSize));
  step.paramsAt =
      gb.add(gb.mul(gb.add(gb.mul(stage, gb.idx(groupRows)), groupRow),
                    gb.idx(plan.valueDim)),
             gb.mul(laneGroup, gb.idx(slots)));
  // Keys 2t, 2t + 1, 2t + 8, 2t + 9 of the step (zero rows past the end).
  int64_t rowBytes = q.rowBytes(plan.valueDim);
  for (int64_t k : {0, 1, 8, 9}) {
    Value row =
        gb.add(gb.mul(stage, gb.idx(plan.keyTile)),
               gb.add(gb.idx(16 * kStep + k), gb.mul(laneQuarter, gb.idx(2))));
    Value bytes = vector::LoadOp::create(
        b, VectorType::get({sliceBytes}, b.getI8Type()), codeStages->valueCodes,
        gb.add(gb.mul(row, gb.idx(rowBytes)),
               gb.mul(laneGroup, gb.idx(sliceBytes))),
        /*nontemporal=*/false, llvm::Align(std::min<int64_t>(sliceBytes, 16)));
    step.keyWords.push_back(vector::BitCastOp::create(
        b, VectorType::get({sliceBytes / 4}, b.getI32Type()), bytes));
  }
  return step;
}

SmallVector<Value>
MmaKernelEmitter::decodeValueSlots(const ValueStepCodes &step,
                                   int64_t firstSlot) {
  Type et = plan.elementType, f32 = b.getF32Type();
  auto splat = [&](Value f) { return gb.packPair(et, f, f); };
  // Read per slot pair rather than held for the step: fewer live registers.
  Value at = gb.add(step.paramsAt, gb.idx(firstSlot));
  auto load = [&](Value buffer, Type type) {
    return vector::LoadOp::create(
               b, VectorType::get({2}, type), buffer, at,
               /*nontemporal=*/false,
               llvm::Align(2 * type.getIntOrFloatBitWidth() / 8))
        .getResult();
  };
  Value scales = load(codeStages->valueScale, f32);
  Value steps = arith::SIToFPOp::create(
      b, VectorType::get({2}, f32), load(codeStages->valueStep, b.getI8Type()));
  Value zeros = arith::SIToFPOp::create(
      b, VectorType::get({2}, f32), load(codeStages->valueZero, b.getI8Type()));
  // Slot i is nibble i % 8 of word i / 8: byte e = (i % 8) / 2 of both keys
  // of a register side by side (prmt), then the low or high nibbles. The
  // pair of slots shares the byte.
  int64_t word = firstSlot / 8, byte = (firstSlot % 8) / 2;
  int64_t selector = byte | byte << 4 | (4 + byte) << 8 | (4 + byte) << 12;
  SmallVector<Value> operands(4);
  for (int64_t reg = 0; reg < 2; ++reg) {
    Value first = vector::ExtractOp::create(b, step.keyWords[2 * reg], word);
    Value second =
        vector::ExtractOp::create(b, step.keyWords[2 * reg + 1], word);
    Value bytes = gb.prmt(first, second, gb.i32(selector));
    for (int64_t high = 0; high < 2; ++high) {
      Value nibbles =
          high ? arith::ShRUIOp::create(b, bytes, gb.i32(4)) : bytes;
      auto at = [&](Value v) {
        return splat(vector::ExtractOp::create(b, v, high));
      };
      operands[2 * high + reg] =
          gb.decodeInt4Pair(et, nibbles, at(steps), at(zeros), at(scales));
    }
  }
  return operands;
}

/// An i32 sum (|x| < 2^22) as f32 through the mantissa of 1.5 * 2^23,
/// without the slower integer conversion.
static Value smallI32ToF32(GpuBuilder &gb, Value sum) {
  Value biased = arith::AddIOp::create(gb.b, sum, gb.i32(kRoundingBiasBits));
  return gb.fsub(arith::BitcastOp::create(gb.b, gb.b.getF32Type(), biased),
                 gb.f32(kRoundingBias));
}

void MmaKernelEmitter::accumulateInt8Values(
    CarriedState &state,
    const SmallVector<SmallVector<SmallVector<Value>>> &weights, Value stage) {
  const QuantizedKeyValues &q = *plan.quantized;
  const int64_t keyTile = plan.keyTile, valueDim = plan.valueDim;
  const int64_t rowTiles = config.rowTiles;
  // k-steps of 32 keys that share a value group (groups divide the tile or
  // span whole tiles).
  const int64_t stepsPerGroup = std::min(q.groupSize, keyTile) / 32;
  Type i32 = b.getI32Type();
  auto lowByteWord = [&](Value w) {
    return arith::BitcastOp::create(b, i32, w).getResult();
  };
  // Four weights' low bytes packed into one register.
  auto pack = [&](Value w0, Value w1, Value w2, Value w3) {
    Value lo = gb.prmt(lowByteWord(w0), lowByteWord(w1), gb.i32(0x0040));
    Value hi = gb.prmt(lowByteWord(w2), lowByteWord(w3), gb.i32(0x0040));
    return gb.prmt(lo, hi, gb.i32(0x5410));
  };
  // The k order of a step of 32 keys is permuted alike in P and V: lane
  // (g, t) holds keys 2t, 2t + 1 of the step's n-tiles 0 and 1 (a0, a1)
  // and 2 and 3 (a2, a3) in its score fragments, which become k positions
  // [4t, 4t + 4) and [16 + 4t, 16 + 4t + 4) of the A operand.
  SmallVector<SmallVector<SmallVector<Value>>> pFrag(rowTiles);
  for (int64_t mt = 0; mt < rowTiles; ++mt)
    for (int64_t kk = 0; kk < keyTile / 32; ++kk) {
      auto &w = weights[mt];
      int64_t nt = 4 * kk;
      pFrag[mt].push_back(
          {pack(w[nt][0], w[nt][1], w[nt + 1][0], w[nt + 1][1]),
           pack(w[nt][2], w[nt][3], w[nt + 1][2], w[nt + 1][3]),
           pack(w[nt + 2][0], w[nt + 2][1], w[nt + 3][0], w[nt + 3][1]),
           pack(w[nt + 2][2], w[nt + 2][3], w[nt + 3][2], w[nt + 3][3])});
    }
  Value valueStage = gb.mul(stage, gb.idx(keyTile * valueDim / 2));
  int64_t groupRows = q.valueGroupRows(keyTile);
  // The sums start from the bits of 1.5 * 2^23 and stay below 2^22 in
  // magnitude (127 * 127 * 128), so they are f32 values as they are.
  Value bias = gb.i32(kRoundingBiasBits);
  for (int64_t dp = 0; dp < valueDim / 16; ++dp) {
    for (int64_t first = 0; first < keyTile / 32; first += stepsPerGroup) {
      // [row tile][even, odd dims][4] biased i32 sums of the group.
      SmallVector<SmallVector<SmallVector<Value>>> sums(
          rowTiles,
          SmallVector<SmallVector<Value>>(2, SmallVector<Value>(4, bias)));
      for (int64_t kk = first; kk < first + stepsPerGroup; ++kk) {
        // Lane l addresses key 32 kk + l: matrices of keys [0, 8), [8,
        // 16), [16, 24) and [24, 32) of the step at value dims [16 dp, 16
        // dp + 16). Transposed, a register holds dims (2g, 2g + 1) of keys
        // 2t and 2t + 1; prmt takes the even (odd) dims of keys 2t, 2t +
        // 1, 2t + 8, 2t + 9 into b0 and of keys 16 + ... into b1: the
        // B operands of the value n-tiles of dims 16 dp + 2 g (+ 1).
        SmallVector<Value> r =
            gb.ldmatrix(codeStages->valueCodePairs,
                        gb.add(valueStage, valueOffsets->get(32 * kk, dp)), 4,
                        /*transpose=*/true);
        SmallVector<Value> even = {gb.prmt(r[0], r[1], gb.i32(0x6420)),
                                   gb.prmt(r[2], r[3], gb.i32(0x6420))};
        SmallVector<Value> odd = {gb.prmt(r[0], r[1], gb.i32(0x7531)),
                                  gb.prmt(r[2], r[3], gb.i32(0x7531))};
        for (int64_t mt = 0; mt < rowTiles; ++mt) {
          sums[mt][0] = gb.mmaS8(pFrag[mt][kk], even, sums[mt][0]);
          sums[mt][1] = gb.mmaS8(pFrag[mt][kk], odd, sums[mt][1]);
        }
      }
      // The group's scales of the lane's dims 16 dp + 4 t + [0, 4).
      int64_t groupRow = first * 32 / q.groupSize;
      Value at = gb.add(
          gb.mul(gb.add(gb.mul(stage, gb.idx(groupRows)), gb.idx(groupRow)),
                 gb.idx(valueDim)),
          gb.add(gb.idx(16 * dp), gb.mul(laneQuarter, gb.idx(4))));
      Value scales = vector::LoadOp::create(
          b, VectorType::get({4}, b.getF32Type()), codeStages->valueScale, at,
          /*nontemporal=*/false, llvm::Align(16));
      for (int64_t mt = 0; mt < rowTiles; ++mt)
        for (int64_t parity = 0; parity < 2; ++parity)
          for (int64_t e = 0; e < 4; ++e) {
            // Column 2t (+ 1) of the even (odd) n-tile is dim 16 dp + 4t
            // (+ 2) (+ 1).
            Value scale =
                vector::ExtractOp::create(b, scales, parity + 2 * (e & 1));
            Value sum = gb.fsub(arith::BitcastOp::create(b, b.getF32Type(),
                                                         sums[mt][parity][e]),
                                gb.f32(kRoundingBias));
            Value &acc = state.acc(mt, 2 * dp + parity, e);
            acc = gb.fadd(acc, gb.fmul(sum, scale));
          }
    }
  }
}

void MmaKernelEmitter::accumulateInt8Scores(
    SmallVector<SmallVector<SmallVector<Value>>> &scores, Value keyStage,
    Value codeStage,
    const SmallVector<SmallVector<SmallVector<Value>>> &query) {
  const QuantizedKeyValues &q = *plan.quantized;
  const int64_t groups = q.keyGroups(plan.headDim);
  const int64_t stepsPerGroup = q.groupSize / 32;
  // With the query scale in the row factors the sums start from the bits
  // of 1.5 * 2^23 (below 2^22 in magnitude: 127 * 127 * D for D <= 256),
  // which makes them f32 values as they are.
  Value initialSum =
      queryScaleInRowFactor() ? gb.i32(kRoundingBiasBits) : gb.i32(0);
  Value keyScaleBase = gb.mul(codeStage, gb.idx(plan.keyTile * groups));
  Value warpRow =
      gb.add(gb.mul(warp, gb.idx(16 * config.rowTiles)), gb.divIdx(lane, 4));
  Value column = gb.mul(gb.remIdx(lane, 4), gb.idx(2));
  // The lane's query rows' group scales: [row tile][half][group].
  SmallVector<SmallVector<SmallVector<Value>>> queryScales(config.rowTiles);
  for (int64_t mt = 0; mt < (queryScaleInRowFactor() ? 0 : config.rowTiles);
       ++mt)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = gb.add(warpRow, gb.idx(16 * mt + 8 * half));
      SmallVector<Value> perGroup;
      for (int64_t g = 0; g < groups; ++g)
        perGroup.push_back(memref::LoadOp::create(
            b, queryScaleSmem, gb.add(gb.mul(row, gb.idx(groups)), gb.idx(g))));
      queryScales[mt].push_back(perGroup);
    }
  for (int64_t np = 0; np < plan.keyTile / 16; ++np) {
    for (int64_t g = 0; g < groups; ++g) {
      // [row tile][n-tile of the pair][4] i32 sums of the group.
      SmallVector<SmallVector<SmallVector<Value>>> sums(
          config.rowTiles, SmallVector<SmallVector<Value>>(
                               2, SmallVector<Value>(4, initialSum)));
      for (int64_t s = 0; s < stepsPerGroup; ++s) {
        int64_t ks = g * stepsPerGroup + s;
        SmallVector<Value> f = gb.ldmatrix(
            keySmem, gb.add(keyStage, keyOffsets->get(np * 16, 2 * ks)), 4,
            /*transpose=*/false);
        for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
          sums[mt][0] = gb.mmaS8(query[mt][ks], {f[0], f[1]}, sums[mt][0]);
          sums[mt][1] = gb.mmaS8(query[mt][ks], {f[2], f[3]}, sums[mt][1]);
        }
      }
      for (int64_t j = 0; j < 2; ++j) {
        int64_t nt = 2 * np + j;
        for (int64_t c = 0; c < 2; ++c) {
          Value key = gb.add(column, gb.idx(8 * nt + c));
          Value keyScale = memref::LoadOp::create(
              b, codeStages->keyScale,
              gb.add(keyScaleBase,
                     gb.add(gb.mul(key, gb.idx(groups)), gb.idx(g))));
          if (queryScaleInRowFactor()) {
            // (sum - 1.5 * 2^23) * s1_K as one fma.
            Value offset = gb.fmul(keyScale, gb.f32(-kRoundingBias));
            for (int64_t mt = 0; mt < config.rowTiles; ++mt)
              for (int64_t half = 0; half < 2; ++half) {
                int64_t e = 2 * half + c;
                scores[mt][nt][e] =
                    gb.fadd(gb.fmul(arith::BitcastOp::create(b, b.getF32Type(),
                                                             sums[mt][j][e]),
                                    keyScale),
                            offset);
              }
            continue;
          }
          for (int64_t mt = 0; mt < config.rowTiles; ++mt)
            for (int64_t half = 0; half < 2; ++half) {
              int64_t e = 2 * half + c;
              scores[mt][nt][e] =
                  gb.fadd(scores[mt][nt][e],
                          gb.fmul(smallI32ToF32(gb, sums[mt][j][e]),
                                  gb.fmul(queryScales[mt][half][g], keyScale)));
            }
        }
      }
    }
  }
}

SmallVector<SmallVector<SmallVector<Value>>>
MmaKernelEmitter::loadTileMaskTerms(Value tileStart, Value stage,
                                    bool clampKeys) {
  SmallVector<SmallVector<SmallVector<Value>>> terms(config.rowTiles);
  for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
    SmallVector<Value> queryIdx, head;
    scoreRowIds(mt, queryIdx, head);
    for (int64_t nt = 0; nt < plan.keyTile / 8; ++nt) {
      SmallVector<Value> nTile;
      for (int64_t e = 0; e < 4; ++e)
        nTile.push_back(
            maskTermAt(tileStart, stage, mt, nt, e, queryIdx, head, clampKeys));
      terms[mt].push_back(nTile);
    }
  }
  return terms;
}

void MmaKernelEmitter::scaleAndMaskScores(
    SmallVector<SmallVector<SmallVector<Value>>> &scores, Value tileStart,
    const SmallVector<SmallVector<SmallVector<Value>>> &maskTerms,
    TileMasking masking) {
  Value negInf = gb.negInf();
  const bool bounds = masking == TileMasking::Full;
  for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
    SmallVector<Value> queryIdx, head, lastVisible;
    scoreRowIds(mt, queryIdx, head);
    for (Value query : queryIdx)
      lastVisible.push_back(gb.add(query, gb.sub(plan.keyLen, plan.queryLen)));
    for (int64_t nt = 0; nt < plan.keyTile / 8; ++nt) {
      for (int64_t e = 0; e < 4; ++e) {
        Value key = scoreKey(tileStart, nt, e);
        Value visible; // null: visible
        auto keepIf = [&](Value cond) {
          visible = visible ? gb.andI(visible, cond) : cond;
        };
        if (bounds)
          keepIf(gb.cmp(arith::CmpIPredicate::ult, key, keyEnd));
        if (bounds && plan.causal)
          keepIf(gb.cmp(arith::CmpIPredicate::sle, key, lastVisible[e / 2]));
        Value score = gb.fmul(scores[mt][nt][e], rowFactor(mt, e / 2));
        if (plan.mask) {
          Value term = maskTerms.empty()
                           ? maskTermAt(tileStart, /*stage=*/Value(), mt, nt, e,
                                        queryIdx, head, bounds)
                           : maskTerms[mt][nt][e];
          if (term.getType().isInteger(1))
            keepIf(term);
          else
            score = gb.fadd(score, term);
        }
        scores[mt][nt][e] = visible ? gb.select(visible, score, negInf) : score;
      }
    }
  }
}

SmallVector<Value> MmaKernelEmitter::processTile(Value tile, ValueRange carried,
                                                 TileMasking masking) {
  const bool masked = masking != TileMasking::None;
  const int64_t keyTile = plan.keyTile;
  const int64_t headSteps = plan.headDim / 16;
  const int64_t valueTiles = plan.valueDim / 8;
  const int64_t rowTiles = config.rowTiles;
  Type et = plan.elementType;
  Value stage = gb.remIdx(tile, config.stages);
  Value tileStart = gb.add(firstKey, gb.mul(tile, gb.idx(keyTile)));
  CarriedState state(carried, rowTiles, valueTiles);
  // The stage of the quantized codes (the decoded tiles have one).
  Value codeStage = stage;
  if (plan.quantized && !config.decodeInRegisters && !int8Products) {
    decodeQuantizedTile(stage, tileStart);
    gpu::BarrierOp::create(b);
    // The decoded tiles have a single stage.
    stage = gb.idx(0);
  }

  // With several row tiles per warp, Q fragments are re-read from shared
  // memory each tile instead of holding registers for the whole loop.
  SmallVector<SmallVector<SmallVector<Value>>> query = queryFrags;
  if (query.empty())
    query = loadQueryFragments();

  // A mask read from memory is read before the products; one computed
  // from the indices alone is computed where it is used (held across the
  // products, its predicates would only take registers).
  SmallVector<SmallVector<SmallVector<Value>>> maskTerms;
  if (masked && plan.mask.readsMemory())
    maskTerms = loadTileMaskTerms(tileStart, gb.remIdx(tile, config.stages),
                                  masking == TileMasking::Full);

  // S = Q K^T: n-tiles of 8 keys, two per ldmatrix.x4, each K fragment
  // shared by the warp's row tiles.
  Value zero = gb.f32(0);
  SmallVector<SmallVector<SmallVector<Value>>> scores(
      rowTiles, SmallVector<SmallVector<Value>>(keyTile / 8,
                                                SmallVector<Value>(4, zero)));
  Value keyStage = gb.mul(stage, gb.idx(keyTile * qkChunks * 8));
  if (int8)
    accumulateInt8Scores(scores, keyStage, codeStage, query);
  for (int64_t np = 0; np < (int8 ? 0 : keyTile / 16); ++np) {
    SmallVector<Value> first, second;
    if (config.decodeInRegisters) {
      first = decodeKeyOperands(codeStage, 2 * np);
      second = decodeKeyOperands(codeStage, 2 * np + 1);
    }
    for (int64_t ks = 0; ks < headSteps; ++ks) {
      SmallVector<Value> f =
          config.decodeInRegisters
              ? SmallVector<Value>{first[2 * ks], first[2 * ks + 1],
                                   second[2 * ks], second[2 * ks + 1]}
              : gb.ldmatrix(keySmem,
                            gb.add(keyStage, keyOffsets->get(np * 16, 2 * ks)),
                            4,
                            /*transpose=*/false);
      for (int64_t mt = 0; mt < rowTiles; ++mt) {
        auto &row = scores[mt];
        row[2 * np] = gb.mma(et, query[mt][ks], {f[0], f[1]}, row[2 * np]);
        row[2 * np + 1] =
            gb.mma(et, query[mt][ks], {f[2], f[3]}, row[2 * np + 1]);
      }
    }
  }

  // Scores into the log2 domain. A tile without masking with a positive
  // scale takes the scale inside the exponent instead, one fma per score:
  // the row maximum of the raw scores times the scale is the maximum of the
  // scaled ones.
  Value negInf = gb.negInf();
  const bool scaleInExponent = !masked && plan.scale > 0;
  if (masked)
    scaleAndMaskScores(scores, tileStart, maskTerms, masking);
  else if (!scaleInExponent)
    for (int64_t mt = 0; mt < rowTiles; ++mt)
      for (auto &nTile : scores[mt])
        for (int64_t e = 0; e < 4; ++e)
          nTile[e] = gb.fmul(nTile[e], rowFactor(mt, e / 2));

  // Online softmax on the fragments; each lane holds two rows of each row
  // tile.
  CarriedState next = state;
  // [row tile][half] factors of the running rescale.
  SmallVector<SmallVector<Value>> alphas;
  auto rescale = [&](int64_t mt) {
    for (int64_t dt = 0; dt < valueTiles; ++dt)
      for (int64_t e = 0; e < 4; ++e)
        next.acc(mt, dt, e) = gb.fmul(state.acc(mt, dt, e), alphas[mt][e / 2]);
  };
  for (int64_t mt = 0; mt < rowTiles; ++mt) {
    SmallVector<Value> alpha(2);
    for (int64_t half = 0; half < 2; ++half) {
      Value tileMax = negInf;
      for (int64_t nt = 0; nt < keyTile / 8; ++nt)
        tileMax = gb.fmax(tileMax, gb.fmax(scores[mt][nt][2 * half],
                                           scores[mt][nt][2 * half + 1]));
      tileMax = gb.warpMax(tileMax, {1, 2});
      if (scaleInExponent)
        tileMax = gb.fmul(tileMax, rowFactor(mt, half));
      Value oldMax = state.max(mt, half);
      Value newMax = gb.fmax(oldMax, tileMax);
      // A row with nothing visible yet subtracts 0 instead of -inf (a tile
      // without masking has a finite maximum).
      Value base =
          masked ? gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, newMax, negInf),
                             zero, newMax)
                 : newMax;
      // The running rescale is exact: a polynomial factor per new max would
      // compound its fit error.
      alpha[half] = gb.exp2(gb.fsub(oldMax, base));
      Value rowSum = zero;
      // With INT8 products: the weights' bit patterns, added in i32.
      Value rowSumBits = int8Products ? gb.i32(0) : Value();
      for (int64_t nt = 0; nt < keyTile / 8; ++nt)
        for (int64_t e = 2 * half; e < 2 * half + 2; ++e) {
          Value scaled = scores[mt][nt][e];
          if (scaleInExponent)
            scaled = gb.fmul(scaled, rowFactor(mt, half));
          Value p = gb.softmaxExp2(scaled, base, plan.softmaxExp);
          if (int8Products) {
            // p * 127 + 1.5 * 2^23 rounds to round_half_even(p * 127) in
            // the low mantissa byte, which the P V product packs; the
            // row sum adds the bit patterns in i32 (exact).
            Value w = gb.fadd(gb.fmul(p, gb.f32(plan.weightScale())),
                              gb.f32(kRoundingBias));
            rowSumBits = arith::AddIOp::create(
                b, rowSumBits, arith::BitcastOp::create(b, b.getI32Type(), w));
            scores[mt][nt][e] = w;
            continue;
          }
          if (plan.weightScale() != 1.0f)
            p = gb.roundEven(gb.fmul(p, gb.f32(plan.weightScale())));
          scores[mt][nt][e] = p;
          rowSum = gb.fadd(rowSum, p);
        }
      if (int8Products) {
        // Less the bias of the keyTile / 4 weights the lane added.
        Value biases = gb.i32(static_cast<int32_t>(
            static_cast<uint32_t>(keyTile / 4) * kRoundingBiasBits));
        rowSum = arith::SIToFPOp::create(
            b, b.getF32Type(), arith::SubIOp::create(b, rowSumBits, biases));
      }
      next.max(mt, half) = newMax;
      // The sum stays per lane; the quad adds it up once, at the end.
      next.sum(mt, half) =
          gb.fadd(gb.fmul(state.sum(mt, half), alpha[half]), rowSum);
    }
    alphas.push_back(alpha);
    // The f16/bf16 kernels rescale every tile: branching as the INT8
    // products do below made their non-causal prefill spill more and run
    // 3-5% slower.
    if (!int8Products)
      rescale(mt);
  }
  if (int8Products) {
    // The output is rescaled only when a row maximum of the warp moved
    // (once the maxima settle, most tiles): alpha is exactly 1 otherwise.
    Value moved;
    for (auto &alpha : alphas)
      for (Value a : alpha) {
        Value changed = gb.cmpF(arith::CmpFPredicate::UNE, a, gb.f32(1));
        moved = moved ? gb.orI(moved, changed) : changed;
      }
    auto accs = MutableArrayRef<Value>(next.values).drop_front(4 * rowTiles);
    SmallVector<Value> unchanged(accs);
    SmallVector<Value> result = gb.ifElseYield(
        gb.cmp(arith::CmpIPredicate::ne, gb.ballot(moved), gb.i32(0)),
        ValueRange(unchanged).getTypes(),
        [&] {
          for (int64_t mt = 0; mt < rowTiles; ++mt)
            rescale(mt);
          return SmallVector<Value>(accs);
        },
        [&] { return unchanged; });
    llvm::copy(result, accs.begin());
  }

  if (int8Products) {
    accumulateInt8Values(next, scores, stage);
    return next.values;
  }
  // O += P V: P's accumulator fragments of two key n-tiles form the A
  // operand of one k-step of 16 keys; each V fragment serves every row
  // tile.
  Value valueStage = gb.mul(stage, gb.idx(keyTile * plan.valueDim));
  for (int64_t kk = 0; kk < keyTile / 16; ++kk) {
    ValueStepCodes valueCodes;
    if (config.decodeInRegisters)
      valueCodes = loadValueStep(codeStage, tileStart, kk);
    SmallVector<SmallVector<Value>> pFrag;
    for (int64_t mt = 0; mt < rowTiles; ++mt) {
      auto &row = scores[mt];
      pFrag.push_back(
          {gb.packPair(et, row[2 * kk][0], row[2 * kk][1]),
           gb.packPair(et, row[2 * kk][2], row[2 * kk][3]),
           gb.packPair(et, row[2 * kk + 1][0], row[2 * kk + 1][1]),
           gb.packPair(et, row[2 * kk + 1][2], row[2 * kk + 1][3])});
    }
    for (int64_t dp = 0; dp < valueTiles / 2; ++dp) {
      SmallVector<Value> f =
          config.decodeInRegisters
              ? decodeValueSlots(valueCodes, 2 * dp)
              : gb.ldmatrix(
                    valueSmem,
                    gb.add(valueStage, valueOffsets->get(kk * 16, 2 * dp)), 4,
                    /*transpose=*/true);
      for (int64_t mt = 0; mt < rowTiles; ++mt)
        for (int64_t j = 0; j < 2; ++j) {
          SmallVector<Value> acc;
          for (int64_t e = 0; e < 4; ++e)
            acc.push_back(next.acc(mt, 2 * dp + j, e));
          acc = gb.mma(et, pFrag[mt], {f[2 * j], f[2 * j + 1]}, acc);
          for (int64_t e = 0; e < 4; ++e)
            next.acc(mt, 2 * dp + j, e) = acc[e];
        }
    }
  }
  return next.values;
}

void MmaKernelEmitter::storeResults(ValueRange carried) {
  CarriedState state(carried, config.rowTiles, plan.valueDim / 8);
  Value leader =
      gb.cmp(arith::CmpIPredicate::eq, gb.remIdx(lane, 4), gb.idx(0));
  Value dim0 = gb.mul(gb.remIdx(lane, 4), gb.idx(2));
  for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      Value sum = gb.warpSum(state.sum(mt, half), {1, 2});
      Value p = threadRow(mt, half);
      gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, p, rows), [&] {
        Value group = gb.divIdx(p, plan.queryLen);
        Value queryIdx = gb.remIdx(p, plan.queryLen);
        Value head = gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())), group);
        // INT8 products: the lane's columns of the even and odd n-tiles of
        // dims [16 dp, 16 dp + 16) are dims 16 dp + 4t + [0, 4).
        for (int64_t dp = 0; dp < (int8Products ? plan.valueDim / 16 : 0);
             ++dp) {
          auto at = [&](int64_t parity, int64_t column) {
            return state.acc(mt, 2 * dp + parity, 2 * half + column);
          };
          storeRowValues(gb, plan, batch, head, queryIdx, split,
                         gb.add(gb.mul(dim0, gb.idx(2)), gb.idx(16 * dp)),
                         {at(0, 0), at(1, 0), at(0, 1), at(1, 1)}, sum);
        }
        for (int64_t dt = 0; dt < (int8Products ? 0 : plan.valueDim / 8);
             ++dt) {
          Value lo = state.acc(mt, dt, 2 * half);
          Value hi = state.acc(mt, dt, 2 * half + 1);
          if (!config.decodeInRegisters) {
            storeRowValues(gb, plan, batch, head, queryIdx, split,
                           gb.add(dim0, gb.idx(dt * 8)), {lo, hi}, sum);
            continue;
          }
          // Columns 2t and 2t + 1 of the n-tile are permuted value dims.
          Value columns[] = {lo, hi};
          for (int64_t column = 0; column < 2; ++column)
            storeRowValues(gb, plan, batch, head, queryIdx, split,
                           permutedValueDim(dt, gb.add(dim0, gb.idx(column))),
                           {columns[column]}, sum);
        }
        gb.ifThen(leader, [&] {
          storeRowLse(gb, plan, batch, head, queryIdx, split,
                      state.max(mt, half), sum);
        });
      });
    }
  }
}

Value MmaKernelEmitter::threadRow(int64_t rowTile, int64_t half) {
  Value warpRow = gb.mul(warp, gb.idx(16 * config.rowTiles));
  return gb.add(firstRow, gb.add(gb.add(warpRow, gb.divIdx(lane, 4)),
                                 gb.idx(16 * rowTile + 8 * half)));
}

SmallVector<SmallVector<SmallVector<Value>>>
MmaKernelEmitter::loadQueryFragments() {
  SmallVector<SmallVector<SmallVector<Value>>> frags(config.rowTiles);
  for (int64_t mt = 0; mt < config.rowTiles; ++mt)
    for (int64_t ks = 0; ks < qkChunks / 2; ++ks)
      frags[mt].push_back(gb.ldmatrix(querySmem,
                                      queryOffsets->get(16 * mt, 2 * ks), 4,
                                      /*transpose=*/false));
  return frags;
}

void MmaKernelEmitter::emit() {
  Value tid = launch.getThreadIds().x;
  lane = gb.remIdx(tid, 32);
  warp = gb.divIdx(tid, 32);
  std::tie(kvHead, batch, split, rows) =
      AttentionBlock::of(gb, launch, plan).values();
  laneGroup = gb.divIdx(lane, 4);
  laneQuarter = gb.remIdx(lane, 4);
  const int64_t rowBlock = config.rowBlock();
  // Under causal masking later row blocks see more keys: the grid starts
  // them first, so that the shortest blocks fill the last wave.
  Value rowBlockIdx = launch.getBlockIds().x;
  if (plan.causal)
    rowBlockIdx =
        gb.sub(gb.sub(launch.getGridSize().x, gb.idx(1)), rowBlockIdx);
  firstRow = gb.mul(rowBlockIdx, gb.idx(rowBlock));
  createSharedMemoryViews();
  // Created here so that the offsets they cache dominate every copy.
  for (int64_t dims : {plan.headDim, plan.valueDim})
    if (!copyOffsets.count(dims / 8))
      copyOffsets[dims / 8] =
          std::make_unique<CopyOffsets>(gb, tid, 32 * config.warps, dims / 8);

  // The keys of this block: its split's tiles, cut at the last key any of
  // its rows sees (rows are head-major (group, query) pairs).
  Value keyTile = gb.idx(plan.keyTile);
  Value splitEnd;
  std::tie(firstKey, splitEnd) = plan.splitKeys(gb, split);
  Value visibleEnd = plan.keyLen;
  Value lastRow =
      gb.sub(gb.minIdx(gb.add(firstRow, gb.idx(rowBlock)), rows), gb.idx(1));
  // Whether the block's rows are queries of one head (else the first
  // query is 0 and the last Lq - 1).
  Value sameGroup =
      gb.cmp(arith::CmpIPredicate::eq, gb.divIdx(firstRow, plan.queryLen),
             gb.divIdx(lastRow, plan.queryLen));
  if (plan.causal) {
    Value lastQuery = gb.select(sameGroup, gb.remIdx(lastRow, plan.queryLen),
                                gb.sub(plan.queryLen, gb.idx(1)));
    visibleEnd =
        gb.clamp(gb.add(lastQuery,
                        gb.add(gb.sub(plan.keyLen, plan.queryLen), gb.idx(1))),
                 gb.idx(0), plan.keyLen);
  }
  keyEnd = gb.minIdx(visibleEnd, splitEnd);
  Value numTiles =
      gb.select(gb.cmp(arith::CmpIPredicate::sgt, keyEnd, firstKey),
                gb.ceilDiv(gb.sub(keyEnd, firstKey), keyTile), gb.idx(0));

  // Q block -> shared memory -> registers, kept for the whole loop.
  Value lastRowIdx = gb.sub(rows, gb.idx(1));
  if (int8)
    loadInt8QueryBlock();
  else
    copyTile(querySmem, gb.idx(0), rowBlock, plan.headDim / 8, plan.query,
             [&](Value row, Value column) {
               Value p = gb.add(firstRow, row);
               Value valid = gb.cmp(arith::CmpIPredicate::ult, p, rows);
               p = gb.minIdx(p, lastRowIdx);
               Value group = gb.divIdx(p, plan.queryLen);
               Value head =
                   gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())), group);
               SmallVector<Value> indices = {
                   batch, head, gb.remIdx(p, plan.queryLen), column};
               return std::make_pair(indices, valid);
             });
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  gpu::BarrierOp::create(b);
  if (plan.quantized && plan.quantized->qkInt8 && !int8) {
    quantizeQueryBlock();
    gpu::BarrierOp::create(b);
  }
  if (queryScaleInRowFactor()) {
    Value warpRow =
        gb.add(gb.mul(warp, gb.idx(16 * config.rowTiles)), laneGroup);
    for (int64_t mt = 0; mt < config.rowTiles; ++mt) {
      rowFactors.emplace_back();
      for (int64_t half = 0; half < 2; ++half) {
        Value scale = memref::LoadOp::create(
            b, queryScaleSmem, gb.add(warpRow, gb.idx(16 * mt + 8 * half)));
        rowFactors[mt].push_back(gb.fmul(scale, gb.f32(plan.scale * M_LOG2E)));
      }
    }
  }
  SmallVector<Value> init;
  for (int64_t mt = 0; mt < config.rowTiles; ++mt)
    init.append({gb.negInf(), gb.negInf()});
  for (int64_t i = 0; i < config.rowTiles * (2 + plan.valueDim / 2); ++i)
    init.push_back(gb.f32(0));

  if (config.decodeInRegisters)
    queryFrags = loadPermutedQueryFragments();

  // ldmatrix.x4 row addresses. A (Q) and trans-B (V): matrices (rows
  // 0-7, chunk 0), (rows 8-15, chunk 0), (rows 0-7, chunk 1), (rows 8-15,
  // chunk 1). B (K): (keys 0-7, chunk 0), (keys 0-7, chunk 1), (keys 8-15,
  // chunk 0), (keys 8-15, chunk 1): b0/b1 of two n-tiles.
  Value rowOfAFragment = gb.add(
      gb.remIdx(lane, 8), gb.mul(gb.remIdx(gb.divIdx(lane, 8), 2), gb.idx(8)));
  Value chunkOfAFragment = gb.divIdx(lane, 16);
  queryOffsets = std::make_unique<SwizzledOffsets>(
      gb, gb.add(gb.mul(warp, gb.idx(16 * config.rowTiles)), rowOfAFragment),
      chunkOfAFragment, qkChunks);
  if (config.rowTiles == 1 && !config.decodeInRegisters)
    queryFrags = loadQueryFragments();
  keyOffsets = std::make_unique<SwizzledOffsets>(
      gb, gb.add(gb.remIdx(lane, 8), gb.mul(gb.divIdx(lane, 16), gb.idx(8))),
      gb.remIdx(gb.divIdx(lane, 8), 2), qkChunks);
  // INT8 products read the value codes transposed, lane l at key l of a
  // 32-key step (see accumulateInt8Values).
  valueOffsets = int8Products
                     ? std::make_unique<SwizzledOffsets>(gb, lane, gb.idx(0),
                                                         plan.valueDim / 16)
                     : std::make_unique<SwizzledOffsets>(gb, rowOfAFragment,
                                                         chunkOfAFragment,
                                                         plan.valueDim / 8);

  // Tiles that every row of the block sees whole skip the masking but for
  // the mask operand's: all but the last (past keyEnd) and, under causal
  // masking, those that reach the block's first diagonal.
  Value lastKeySeenByAll = gb.sub(keyEnd, gb.idx(1));
  if (plan.causal) {
    Value firstQuery =
        gb.select(sameGroup, gb.remIdx(firstRow, plan.queryLen), gb.idx(0));
    lastKeySeenByAll =
        gb.minIdx(lastKeySeenByAll,
                  gb.add(firstQuery, gb.sub(plan.keyLen, plan.queryLen)));
  }
  if (plan.mask.producer)
    loadMaskRowInputs();
  // (A mask computed from the indices alone keeps one body: a second
  // measured slower than the checks it saves.)
  TileMasking wholeTiles = plan.mask ? TileMasking::Operand : TileMasking::None;
  bool splitTiles = !plan.mask || plan.mask.readsMemory();
  SmallVector<Value> result = stagedTileLoop(
      gb, config.stages, numTiles, init,
      [&](Value tile) {
        loadKeyValueTile(tile);
        loadMaskKeyStages(tile);
      },
      [&](Value tile, ValueRange carried) -> SmallVector<Value> {
        if (!splitTiles)
          return processTile(tile, carried, TileMasking::Full);
        Value tileLast =
            gb.add(firstKey,
                   gb.sub(gb.mul(gb.add(tile, gb.idx(1)), gb.idx(plan.keyTile)),
                          gb.idx(1)));
        Value whole =
            gb.cmp(arith::CmpIPredicate::sle, tileLast, lastKeySeenByAll);
        return gb.ifElseYield(
            whole, carried.getTypes(),
            [&] { return processTile(tile, carried, wholeTiles); },
            [&] { return processTile(tile, carried, TileMasking::Full); });
      });
  storeResults(result);
}

void mlir::attn::emitMmaAttentionKernel(ImplicitLocOpBuilder &b,
                                        gpu::LaunchOp launch,
                                        const SdpaGpuPlan &plan,
                                        const MmaKernelConfig &config) {
  MmaKernelEmitter(b, launch, plan, config).emit();
}
