//===- QuantizedDecodeKernel.cpp - INT4 cache decode kernel -----*- C++ -*-===//
//
// The decode kernel of attn.quantized_sdpa on an INT4 cache, for at most 8
// query rows per key/value head (a GQA group times Lq). One warp per block
// streams its split of the keys through cp.async stages and runs both
// products transposed on mma.sync m16n8k16 f16, S^T = K Q^T and O^T = V^T
// P^T: keys and value dims fill the 16 rows of the A operand, which the
// lanes decode from the codes, and the query rows the 8 columns. (With the
// query rows in the A rows, 4 rows of a GQA group would leave 12 of 16
// idle.)
//
// Decoding is f16x2 work on two elements at once, three instructions per
// pair. `(word & 0x000F000F) | 0x64006400` puts two codes c into the
// mantissas of 1024 (the mask 0x00F000F0 gives 1024 + 16 c, so the upper
// nibbles of a byte need no shift, and the other two bytes one shift per
// four pairs); a sub or an fma takes
// c out exactly, and `fma.rn.sat(c, s2 / 256, (z + 129) / 256)` is the
// operand (q8' + 129) / 256: the fused result is exact when it lies in [0,
// 1] (a multiple of 1/256), and the saturation clamps q8' to [-129, 127].
// The lower clamp at -127 is a max with 2/256. In tiles whose steps lie in
// [0, 31] and zero points in [-127, 127] (all that attn.quantize writes:
// its steps are at most 17), a warp vote picks a shorter body: the codes
// are shifted to bits 4-7 of each half (1024 + 16 c), where one
// `fma.rn.sat(1024 + 16 c, s2 / 4096, (z + 129 - 64 s2) / 256)` gives the
// operand, exactly (the addend is an integer over 256 below 2048 in
// magnitude), and nothing reaches below -127: a lop3 and the fma per pair,
// and a shift for three pairs in four. Each group's product takes the 129/256
// back out with the other operand's sums over the group (the query's over
// its dims, the weights' over its keys: an mma.sync on a matrix of ones, so
// that the sums round as the products do), is multiplied by the group scale
// s1, and the 256 is folded into the score factor and the output's store:
// scales never touch the elements.
//
// Queries enter as f16 times a power of two per row (max |q| in [2^14,
// 2^15)), exact for f16 and bf16 inputs; with qk_int8, as their INT8
// codes, whose scales join the keys'.
//
// Logical key l of a 16-key step is stored row pi(l) of the stage, pi(2t) =
// t, pi(2t + 1) = 4 + t, pi(2t + 8) = 8 + t, pi(2t + 9) = 12 + t, so that
// the lanes' reads of value codes (keys 2t, 2t + 1, 2t + 8, 2t + 9 of the
// A operand of P V) hit distinct banks; key code rows are swizzled for
// ldmatrix. Lane (g, t) of the O^T fragments holds value dims [g Dv/8, (g
// + 1) Dv/8) of rows 2t and 2t + 1: its codes are Dv/16 consecutive bytes
// of each key, and its output a contiguous slice of each of its rows.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The f16 pair (1024, 1024): OR-ed into codes in the low bits of each half,
/// and subtracted back out.
constexpr int32_t kCodeMagic = 0x64006400;
/// f16 pairs (1/16, 1/16) and (-64, -64): 1024 + 16 c times 1/16 less 64 is
/// c.
constexpr int32_t kSixteenthPair = 0x2C002C00;
constexpr int32_t kMinus64Pair = static_cast<int32_t>(0xD400D400u);
/// The f16 pairs (1/256, 1/256), (-4.5, -4.5) and (-1023/256, -1023/256):
/// (1152 + v) / 256 - 4.5 is v / 256 and (1152 + v) / 256 - 1023 / 256 is
/// (v + 129) / 256.
constexpr int32_t kInv256Pair = 0x1C001C00;
constexpr int32_t kStepBiasPair = static_cast<int32_t>(0xC480C480u);
constexpr int32_t kZeroBiasPair = static_cast<int32_t>(0xC3FEC3FEu);
/// The f16 pairs (1/4096, 1/4096), (-1152/4096, -1152/4096) and (-1024,
/// -1024): (1152 + v) / 4096 - 1152 / 4096 is v / 4096, and (z + 129) / 256
/// - 1024 s2 / 4096 is (z + 129 - 64 s2) / 256.
constexpr int32_t kInv4096Pair = 0x0C000C00;
constexpr int32_t kStepBias4096Pair = static_cast<int32_t>(0xB480B480u);
constexpr int32_t kMinus1024Pair = static_cast<int32_t>(0xE400E400u);
/// The f16 pair (2/256, 2/256): the operand of q8' = -127.
constexpr int32_t kOperandLow = 0x20002000;
/// How far (log2) scores may rise above the running maximum before it is
/// moved: weights stay within 2^8.
constexpr float kLazyMaxMargin = 8.0f;
/// The operand is (q8' + kOperandOffset) / kOperandScale.
constexpr float kOperandOffset = 129.0f;
constexpr float kOperandScale = 256.0f;
/// The f16 pair (1, 1).
constexpr int32_t kOnesPair = 0x3C003C00;

/// `values`, accumulators that alternate between the lane's rows 2t and
/// 2t + 1, times their row's entry of `factors`.
SmallVector<Value> timesRowFactors(GpuBuilder &gb, ArrayRef<Value> values,
                                   ArrayRef<Value> factors) {
  SmallVector<Value> scaled;
  for (auto [i, v] : llvm::enumerate(values))
    scaled.push_back(gb.fmul(v, factors[i & 1]));
  return scaled;
}

/// How a tile's codes are decoded: Direct where its steps lie in [0, 31]
/// and its zero points in [-127, 127], General for any parameters.
enum class DecodeForm { Direct, General };

class QuantizedDecodeEmitter {
public:
  QuantizedDecodeEmitter(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                         const SdpaGpuPlan &plan,
                         const QuantizedDecodeConfig &config)
      : b(b), gb(b), launch(launch), plan(plan), q(*plan.quantized),
        config(config), chunks(plan.headDim / 32),
        keyGroups(q.keyGroups(plan.headDim)),
        groupRows(q.valueGroupRows(config.keyTile)),
        valueTiles(plan.valueDim / 16), sliceDims(plan.valueDim / 8) {}

  void emit();

private:
  /// The lane's query elements (8 consecutive dims of each 32-dim chunk of
  /// its row), loaded before the first tiles' copies so that they do not
  /// queue behind them.
  SmallVector<Value> loadQueryChunks();
  /// Q^T's B fragments, the rows' score factors and the sums of the
  /// operands over each key group, from loadQueryChunks' vectors.
  void prepareQuery(ArrayRef<Value> loaded);
  /// The decode parameters (the f16 pairs s2 / 256 and (z + 129) / 256) of
  /// the tile's key groups and value group rows, from stage `stage` into
  /// prepared buffers.
  /// Returns whether the tile needs DecodeForm::General (a step outside
  /// [0, 31] or a zero point of -128), the same on every lane; the
  /// parameters are prepared for the form it needs.
  Value prepareParameters(Value stage);
  /// The words whose masked bits hold the codes of pair j (the nibbles j and
  /// j + 4 of `word`) in `form`.
  std::array<Value, 4> codeSources(Value word, DecodeForm form);
  /// Two decoded operands (an f16 pair) of pair j, from its source word.
  Value decodePair(Value source, int64_t j, Value multiplier, Value offset,
                   DecodeForm form);
  /// S^T of the 16 keys of step `step` of stage `stage`, unscaled: the
  /// lane's 4 accumulators (keys g, g + 8; rows 2t, 2t + 1).
  SmallVector<Value> keyScores(Value stage, int64_t step, DecodeForm form);
  /// Adds the steps [firstStep, firstStep + steps) of P V to `out`: the P^T
  /// fragments come from `weights` (the steps' S^T accumulators).
  void accumulateValues(Value stage, int64_t firstStep, int64_t steps,
                        ArrayRef<SmallVector<Value>> weights,
                        SmallVector<Value> &out, SmallVector<Value> &sums,
                        DecodeForm form);
  SmallVector<Value> processTile(Value tile, ValueRange carried,
                                 DecodeForm form);
  void storeResults(ValueRange carried);

  Value loadVector(Value buffer, Value at, int64_t n, Type type);
  /// The maximum that weights are taken against: a row with nothing
  /// visible yet (-inf) subtracts 0 instead.
  Value visibleMax(Value max) {
    return gb.select(gb.cmpF(arith::CmpFPredicate::OEQ, max, gb.negInf()),
                     gb.f32(0), max);
  }
  /// Query row of the lane's accumulator row `half` (2t + half).
  Value accumulatorRow(int64_t half) {
    return gb.add(gb.mul(laneQuarter, gb.idx(2)), gb.idx(half));
  }
  /// The value of `x` (one per B-fragment row, lane group g) for the
  /// lane's accumulator row `half`.
  Value fromRowLane(Value x, int64_t half) {
    return gb.shuffleIdx(x, gb.toI32(gb.mul(accumulatorRow(half), gb.idx(4))));
  }

  ImplicitLocOpBuilder &b;
  GpuBuilder gb;
  gpu::LaunchOp launch;
  const SdpaGpuPlan &plan;
  const QuantizedKeyValues &q;
  const QuantizedDecodeConfig &config;
  // Chunks of 32 head dims (16 bytes of codes), key groups per key, value
  // group rows per stage, value m-tiles, value dims per lane.
  const int64_t chunks, keyGroups, groupRows, valueTiles, sliceDims;

  Value lane, laneGroup, laneQuarter, kvHead, batch, split, rows;
  Value firstKey, keyEnd;
  std::optional<QuantizedStages> stages;
  Value keyPrepared, valuePrepared;
  // ldmatrix element offsets of the lane's row in each call (per step, add
  // the step's rows).
  SmallVector<Value> keyCodeOffsets;
  // Stage row of the lane's logical key g (g + 8 is 8 rows on).
  Value keyRowLo;
  // [chunk][half] -> {b0, b1}.
  SmallVector<SmallVector<SmallVector<Value>>> queryFrags;
  // Per accumulator row half: score factor into the log2 domain.
  SmallVector<Value> rowFactor;
  // [group][half]: -129/256 times the query operand's sum over the group.
  SmallVector<SmallVector<Value>> queryOffsetTerm;
  // qk_int8: [group][half] the query's group scales.
  SmallVector<SmallVector<Value>> queryScale;
};

} // namespace

Value QuantizedDecodeEmitter::loadVector(Value buffer, Value at, int64_t n,
                                         Type type) {
  int64_t bytes = n * type.getIntOrFloatBitWidth() / 8;
  return vector::LoadOp::create(
      b, VectorType::get({n}, type), buffer, at, /*nontemporal=*/false,
      llvm::Align(std::min<int64_t>(bytes & -bytes, 16)));
}

std::array<Value, 4> QuantizedDecodeEmitter::codeSources(Value word,
                                                         DecodeForm form) {
  auto shifted = [&](int64_t bits) -> Value {
    if (bits > 0)
      return arith::ShLIOp::create(b, word, gb.i32(bits));
    return arith::ShRUIOp::create(b, word, gb.i32(-bits));
  };
  // Direct: every pair at bits 4-7 of its halves; General: the even pairs
  // at bits 0-3.
  if (form == DecodeForm::Direct)
    return {shifted(4), word, shifted(-4), shifted(-8)};
  Value high = shifted(-8);
  return {word, word, high, high};
}

Value QuantizedDecodeEmitter::decodePair(Value source, int64_t j,
                                         Value multiplier, Value offset,
                                         DecodeForm form) {
  Type f16 = b.getF16Type();
  bool lowBits = form == DecodeForm::General && j % 2 == 0;
  Value biased = gb.andOr(source, gb.i32(lowBits ? 0x000F000F : 0x00F000F0),
                          gb.i32(kCodeMagic));
  if (form == DecodeForm::Direct)
    return gb.packedOp(f16, "fma.rn.sat", {biased, multiplier, offset});
  // 1024 + c, or 1024 + 16 c for the upper nibbles, to c.
  Value codes =
      lowBits
          ? gb.packedOp(f16, "sub.rn", {biased, gb.i32(kCodeMagic)})
          : gb.packedOp(f16, "fma.rn",
                        {biased, gb.i32(kSixteenthPair), gb.i32(kMinus64Pair)});
  Value operand = gb.packedOp(f16, "fma.rn.sat", {codes, multiplier, offset});
  return gb.packedOp(f16, "max", {operand, gb.i32(kOperandLow)});
}

SmallVector<Value> QuantizedDecodeEmitter::loadQueryChunks() {
  Value row = gb.minIdx(laneGroup, gb.sub(rows, gb.idx(1)));
  Value head = gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())),
                      gb.divIdx(row, plan.queryLen));
  Value queryIdx = gb.remIdx(row, plan.queryLen);
  // The lane's 8 consecutive dims of each chunk: 32 c + 8 t + [0, 8).
  SmallVector<Value> loaded;
  for (int64_t c = 0; c < chunks; ++c) {
    Value dim = gb.add(gb.idx(32 * c), gb.mul(laneQuarter, gb.idx(8)));
    loaded.push_back(vector::LoadOp::create(
        b, VectorType::get({8}, plan.elementType), plan.query,
        ValueRange{batch, head, queryIdx, dim},
        /*nontemporal=*/false, llvm::Align(16)));
  }
  return loaded;
}

void QuantizedDecodeEmitter::prepareQuery(ArrayRef<Value> loaded) {
  Type f32 = b.getF32Type(), f16 = b.getF16Type();
  // Lanes past the last row (which loaded the last row's) take zeros.
  Value rowValid = gb.cmp(arith::CmpIPredicate::ult, laneGroup, rows);
  SmallVector<SmallVector<Value>> values(chunks);
  Value zero = gb.f32(0);
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t e = 0; e < 8; ++e)
      values[c].push_back(gb.select(
          rowValid, gb.toF32(vector::ExtractOp::create(b, loaded[c], e)),
          zero));

  // Per B-fragment row (the lane's group): the factor that makes the
  // operand, and what multiplies the scores back.
  Value operandFactor = gb.f32(1), scoreFactor = gb.f32(1);
  SmallVector<Value> groupScales;
  if (q.qkInt8) {
    // INT8 codes per group of G dims: the group's chunks on all four lanes
    // of the row.
    int64_t chunksPerGroup = q.groupSize / 32;
    for (int64_t g = 0; g < keyGroups; ++g) {
      Value maxAbs = zero;
      for (int64_t c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; ++c)
        for (Value v : values[c])
          maxAbs = gb.fmax(maxAbs, gb.absF(v));
      maxAbs = gb.warpMax(maxAbs, {1, 2});
      Value scale = arith::DivFOp::create(b, maxAbs, gb.f32(127));
      groupScales.push_back(scale);
      for (int64_t c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; ++c)
        for (Value &v : values[c])
          v = gb.int8Code(v, scale);
    }
  } else {
    Value maxAbs = zero;
    for (auto &chunk : values)
      for (Value v : chunk)
        maxAbs = gb.fmax(maxAbs, gb.absF(v));
    maxAbs = gb.warpMax(maxAbs, {1, 2});
    // max |q| * 2^e in [2^14, 2^15): e = 141 - exponent (biased), with the
    // exponent at least 15 so that 2^-e stays normal.
    Type i32 = b.getI32Type();
    Value exponent = arith::AndIOp::create(
        b,
        arith::ShRUIOp::create(b, arith::BitcastOp::create(b, i32, maxAbs),
                               gb.i32(23)),
        gb.i32(0xFF));
    exponent = arith::MaxSIOp::create(b, exponent, gb.i32(15));
    operandFactor = arith::BitcastOp::create(
        b, f32,
        arith::ShLIOp::create(
            b, arith::SubIOp::create(b, gb.i32(268), exponent), gb.i32(23)));
    scoreFactor = arith::BitcastOp::create(
        b, f32,
        arith::ShLIOp::create(b, arith::SubIOp::create(b, exponent, gb.i32(14)),
                              gb.i32(23)));
  }

  // b0 of step (c, h) holds dims (2h, 2h + 4) of the lane's 8, b1 (2h + 1,
  // 2h + 5): the pairs the key words give (see keyScores).
  auto pair = [&](int64_t c, int64_t lo) {
    return gb.packPair(f16, gb.fmul(values[c][lo], operandFactor),
                       gb.fmul(values[c][lo + 4], operandFactor));
  };
  queryFrags.assign(chunks, {});
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t h = 0; h < 2; ++h)
      queryFrags[c].push_back({pair(c, 2 * h), pair(c, 2 * h + 1)});

  for (int64_t half = 0; half < 2; ++half)
    rowFactor.push_back(gb.fmul(fromRowLane(scoreFactor, half),
                                gb.f32(plan.scale * M_LOG2E * kOperandScale)));

  // The query operand's sum over each group's dims, per accumulator row:
  // column sums by an mma on ones.
  Value ones = gb.i32(kOnesPair);
  int64_t chunksPerGroup = q.groupSize / 32;
  for (int64_t g = 0; g < keyGroups; ++g) {
    SmallVector<Value> sums(4, zero);
    for (int64_t c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; ++c)
      for (int64_t h = 0; h < 2; ++h)
        sums = gb.mma(f16, {ones, ones, ones, ones}, queryFrags[c][h], sums);
    SmallVector<Value> terms, scales;
    for (int64_t half = 0; half < 2; ++half) {
      terms.push_back(
          gb.fmul(sums[half], gb.f32(-kOperandOffset / kOperandScale)));
      if (q.qkInt8)
        scales.push_back(fromRowLane(groupScales[g], half));
    }
    queryOffsetTerm.push_back(terms);
    queryScale.push_back(scales);
  }
}

Value QuantizedDecodeEmitter::prepareParameters(Value stage) {
  Type i8 = b.getI8Type(), i32 = b.getI32Type(), f16 = b.getF16Type();
  // The lane's words of four steps and four zero points, of the key groups
  // then the value group rows: lanes past the last word read none (zeros,
  // which flag nothing) and store none. The bytes b xor 0x80 are v + 128.
  struct Words {
    Value prepared, index, inside, step, stepBiased, zeroBiased;
  };
  Value signs = gb.i32(static_cast<int32_t>(0x80808080u));
  SmallVector<Words> words;
  auto load = [&](Value steps, Value zeros, Value prepared, int64_t count,
                  Value base) {
    int64_t wordCount = count / 4;
    for (int64_t first = 0; first < wordCount; first += 32) {
      Value index = gb.add(lane, gb.idx(first));
      Value at = gb.add(base, gb.mul(index, gb.idx(4)));
      auto loadWord = [&](Value buffer) -> Value {
        Value bytes = loadVector(buffer, at, 4, i8);
        return vector::ExtractOp::create(
            b, vector::BitCastOp::create(b, VectorType::get({1}, i32), bytes),
            0);
      };
      Value inside;
      if (first + 32 > wordCount)
        inside = gb.cmp(arith::CmpIPredicate::ult, index, gb.idx(wordCount));
      SmallVector<Value> loaded =
          inside ? gb.ifElseYield(
                       inside, {i32, i32},
                       [&] {
                         return SmallVector<Value>{loadWord(steps),
                                                   loadWord(zeros)};
                       },
                       [&] {
                         return SmallVector<Value>{gb.i32(0), gb.i32(0)};
                       })
                 : SmallVector<Value>{loadWord(steps), loadWord(zeros)};
      words.push_back({prepared, index, inside, loaded[0],
                       arith::XOrIOp::create(b, loaded[0], signs),
                       arith::XOrIOp::create(b, loaded[1], signs)});
    }
  };
  int64_t keyEntries = config.keyTile * keyGroups;
  load(stages->keyStep, stages->keyZero, keyPrepared, keyEntries,
       gb.mul(stage, gb.idx(keyEntries)));
  int64_t valueEntries = groupRows * plan.valueDim;
  load(stages->valueStep, stages->valueZero, valuePrepared, valueEntries,
       gb.mul(stage, gb.idx(valueEntries)));

  // General: a step with any of the bits 0xE0 (negative, or 32 and up), or
  // a zero point of -128, found by the classic zero-byte test of the zero
  // points xor 0x80, (x - 0x01010101) & ~x & 0x80808080.
  Value wide = gb.i32(0);
  for (const Words &w : words) {
    Value noZeroByte = arith::XOrIOp::create(b, w.zeroBiased, gb.i32(-1));
    Value zeroByte = arith::AndIOp::create(
        b, arith::SubIOp::create(b, w.zeroBiased, gb.i32(0x01010101)),
        noZeroByte);
    wide = gb.orI(
        wide, gb.orI(arith::AndIOp::create(
                         b, w.step, gb.i32(static_cast<int32_t>(0xE0E0E0E0u))),
                     arith::AndIOp::create(b, zeroByte, signs)));
  }
  Value general = gb.cmp(
      arith::CmpIPredicate::ne,
      gb.ballot(gb.cmp(arith::CmpIPredicate::ne, wide, gb.i32(0))), gb.i32(0));

  // Per entry, a prmt with 0x64 bytes makes the f16 pair (1152 + v, 1152 +
  // v), which one fma turns into s2 / 256 (s2 / 4096 for the direct form) or
  // (z + 129) / 256, exactly; the direct form's offset, (z + 129 - 64 s2) /
  // 256, is one fma more.
  auto store = [&](DecodeForm form) {
    Value highBytes = gb.i32(0x64646464);
    bool direct = form == DecodeForm::Direct;
    for (const Words &w : words) {
      auto body = [&] {
        SmallVector<Value> entries;
        for (int64_t k = 0; k < 4; ++k) {
          Value selector = gb.i32(k | 4 << 4 | k << 8 | 4 << 12);
          Value multiplier =
              gb.packedOp(f16, "fma.rn",
                          {gb.prmt(w.stepBiased, highBytes, selector),
                           gb.i32(direct ? kInv4096Pair : kInv256Pair),
                           gb.i32(direct ? kStepBias4096Pair : kStepBiasPair)});
          Value offset =
              gb.packedOp(f16, "fma.rn",
                          {gb.prmt(w.zeroBiased, highBytes, selector),
                           gb.i32(kInv256Pair), gb.i32(kZeroBiasPair)});
          if (direct)
            offset = gb.packedOp(f16, "fma.rn",
                                 {multiplier, gb.i32(kMinus1024Pair), offset});
          entries.push_back(multiplier);
          entries.push_back(offset);
        }
        vector::StoreOp::create(b,
                                vector::FromElementsOp::create(
                                    b, VectorType::get({8}, i32), entries),
                                w.prepared, gb.mul(w.index, gb.idx(8)));
      };
      if (w.inside)
        gb.ifThen(w.inside, body);
      else
        body();
    }
  };
  gb.ifThenElse(
      general, [&] { store(DecodeForm::General); },
      [&] { store(DecodeForm::Direct); });
  return general;
}

SmallVector<Value> QuantizedDecodeEmitter::keyScores(Value stage, int64_t step,
                                                     DecodeForm form) {
  Type f32 = b.getF32Type(), i32 = b.getI32Type(), f16 = b.getF16Type();
  int64_t rowElements = plan.headDim / 4; // i16 elements of a code row
  // words[half][chunk]: the lane's 4 bytes of chunk `chunk` of logical key
  // g + 8 half: dims 32 chunk + 8 t + [0, 8), nibble i = dim 8 t + i.
  SmallVector<SmallVector<Value>> words(2, SmallVector<Value>(chunks));
  Value stepRows =
      gb.add(gb.mul(stage, gb.idx(config.keyTile)), gb.idx(16 * step));
  Value stepBase = gb.mul(stepRows, gb.idx(rowElements));
  int64_t matrices = 2 * chunks;
  for (int64_t call = 0; call * 4 < matrices; ++call) {
    int64_t n = std::min<int64_t>(4, matrices - 4 * call);
    SmallVector<Value> regs = gb.ldmatrix(
        stages->keyCodePairs, gb.add(stepBase, keyCodeOffsets[call]), n,
        /*transpose=*/false);
    for (int64_t m = 0; m < n; ++m) {
      int64_t k = 4 * call + m;
      words[k / chunks][k % chunks] = regs[m];
    }
  }
  SmallVector<SmallVector<std::array<Value, 4>>> sources(2);
  for (int64_t half = 0; half < 2; ++half)
    for (int64_t c = 0; c < chunks; ++c)
      sources[half].push_back(codeSources(words[half][c], form));
  // Decode parameters and scales of the lane's two keys.
  SmallVector<Value> multipliers[2], offsets[2], scales[2];
  for (int64_t half = 0; half < 2; ++half) {
    Value tileRow = gb.add(gb.idx(16 * step + 8 * half), keyRowLo);
    Value row = gb.add(tileRow, gb.mul(stage, gb.idx(config.keyTile)));
    Value entries =
        loadVector(keyPrepared, gb.mul(tileRow, gb.idx(2 * keyGroups)),
                   2 * keyGroups, i32);
    Value s1 = loadVector(stages->keyScale, gb.mul(row, gb.idx(keyGroups)),
                          keyGroups, f32);
    for (int64_t g = 0; g < keyGroups; ++g) {
      multipliers[half].push_back(vector::ExtractOp::create(b, entries, 2 * g));
      offsets[half].push_back(vector::ExtractOp::create(b, entries, 2 * g + 1));
      scales[half].push_back(vector::ExtractOp::create(b, s1, g));
    }
  }

  int64_t chunksPerGroup = q.groupSize / 32;
  SmallVector<Value> scores(4);
  for (int64_t g = 0; g < keyGroups; ++g) {
    // Starting from -129/256 times the query's sum over the group leaves
    // the product of q and q8', over 256.
    Value lo = queryOffsetTerm[g][0], hi = queryOffsetTerm[g][1];
    SmallVector<Value> acc = {lo, hi, lo, hi};
    for (int64_t c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; ++c)
      for (int64_t h = 0; h < 2; ++h) {
        auto operand = [&](int64_t half, int64_t j) {
          return decodePair(sources[half][c][j], j, multipliers[half][g],
                            offsets[half][g], form);
        };
        // a0/a1: columns 2t, 2t + 1 (pair 2h) of keys g, g + 8; a2/a3:
        // columns 2t + 8, 2t + 9 (pair 2h + 1).
        acc = gb.mma(f16,
                     {operand(0, 2 * h), operand(1, 2 * h),
                      operand(0, 2 * h + 1), operand(1, 2 * h + 1)},
                     queryFrags[c][h], acc);
      }
    for (int64_t e = 0; e < 4; ++e) {
      Value scale = scales[e / 2][g];
      if (q.qkInt8)
        scale = gb.fmul(scale, queryScale[g][e & 1]);
      scores[e] = g == 0 ? gb.fmul(scale, acc[e])
                         : gb.fadd(gb.fmul(scale, acc[e]), scores[e]);
    }
  }
  return scores;
}

void QuantizedDecodeEmitter::accumulateValues(
    Value stage, int64_t firstStep, int64_t steps,
    ArrayRef<SmallVector<Value>> weights, SmallVector<Value> &out,
    SmallVector<Value> &sums, DecodeForm form) {
  Type f32 = b.getF32Type(), i32 = b.getI32Type(), f16 = b.getF16Type();
  int64_t sliceBytes = plan.valueDim / 16, rowBytes = plan.valueDim / 2;
  int64_t words = sliceBytes / 4;
  // The span's value group row, and the lane's slice of its dims.
  int64_t groupRow = 16 * firstStep / q.groupSize;
  Value sliceStart = gb.mul(laneGroup, gb.idx(sliceDims));
  Value paramsRow = gb.add(gb.idx(groupRow * plan.valueDim), sliceStart);
  Value scaleRow =
      gb.add(gb.mul(gb.add(gb.mul(stage, gb.idx(groupRows)), gb.idx(groupRow)),
                    gb.idx(plan.valueDim)),
             sliceStart);

  // P^T's B fragments (the accumulators of keys g and g + 8 as 8x8 tiles
  // [key][row], transposed), and the weights' sums over the span, which
  // the tensor cores add up as they do the products.
  Value ones = gb.i32(kOnesPair);
  Value zero = gb.f32(0);
  SmallVector<Value> weightSums(4, zero);
  SmallVector<SmallVector<Value>> bFrags;
  for (int64_t s = firstStep; s < firstStep + steps; ++s) {
    const SmallVector<Value> &p = weights[s];
    bFrags.push_back({gb.movmatrixTrans(gb.packPair(f16, p[0], p[1])),
                      gb.movmatrixTrans(gb.packPair(f16, p[2], p[3]))});
    weightSums =
        gb.mma(f16, {ones, ones, ones, ones}, bFrags.back(), weightSums);
  }
  for (int64_t half = 0; half < 2; ++half)
    sums[half] = gb.fadd(sums[half], weightSums[half]);
  Value lo = gb.fmul(weightSums[0], gb.f32(-kOperandOffset / kOperandScale));
  Value hi = gb.fmul(weightSums[1], gb.f32(-kOperandOffset / kOperandScale));

  // Codes of logical keys 2t, 2t + 1, 2t + 8, 2t + 9 of each step: stage
  // rows t, 4 + t, 8 + t, 12 + t.
  SmallVector<SmallVector<Value>> keyWords;
  for (int64_t s = firstStep; s < firstStep + steps; ++s)
    for (int64_t r : {0, 4, 8, 12}) {
      Value row = gb.add(
          gb.add(gb.mul(stage, gb.idx(config.keyTile)), gb.idx(16 * s + r)),
          laneQuarter);
      Value at = gb.add(gb.mul(row, gb.idx(rowBytes)),
                        gb.mul(laneGroup, gb.idx(sliceBytes)));
      Value bytes =
          loadVector(stages->valueCodes, at, sliceBytes, b.getI8Type());
      Value v =
          vector::BitCastOp::create(b, VectorType::get({words}, i32), bytes);
      SmallVector<Value> perWord;
      for (int64_t w = 0; w < words; ++w)
        perWord.push_back(vector::ExtractOp::create(b, v, w));
      keyWords.push_back(perWord);
    }

  // Word w of the slice holds dims [8 w, 8 w + 8): m-tiles 4 w to 4 w + 3,
  // done one word at a time so that only their parameters and
  // accumulators are live. Slice dim d is nibble d % 4 of the prmt of byte
  // pair (d % 8) / 4 of two keys' words: m-tile d / 2, A row g (d even) or
  // g + 8.
  for (int64_t w = 0; w < words; ++w) {
    Value entries = loadVector(
        valuePrepared, gb.mul(gb.add(paramsRow, gb.idx(8 * w)), gb.idx(2)), 16,
        i32);
    Value s1 =
        loadVector(stages->valueScale, gb.add(scaleRow, gb.idx(8 * w)), 8, f32);
    // Starting from -129/256 times the weights' sum leaves the product of
    // p and q8', over 256.
    SmallVector<SmallVector<Value>> acc(4, {lo, hi, lo, hi});
    for (int64_t s = 0; s < steps; ++s) {
      SmallVector<SmallVector<Value>> operands(4, SmallVector<Value>(4));
      for (int64_t pairOfBytes = 0; pairOfBytes < 2; ++pairOfBytes) {
        int64_t first = 2 * pairOfBytes;
        int64_t selector =
            first | (first + 1) << 4 | (4 + first) << 8 | (5 + first) << 12;
        for (int64_t keys = 0; keys < 2; ++keys) {
          Value both =
              gb.prmt(keyWords[4 * s + 2 * keys][w],
                      keyWords[4 * s + 2 * keys + 1][w], gb.i32(selector));
          std::array<Value, 4> bothSources = codeSources(both, form);
          for (int64_t j = 0; j < 4; ++j) {
            int64_t d = 4 * pairOfBytes + j; // within the word
            operands[d / 2][2 * keys + d % 2] = decodePair(
                bothSources[j], j, vector::ExtractOp::create(b, entries, 2 * d),
                vector::ExtractOp::create(b, entries, 2 * d + 1), form);
          }
        }
      }
      for (int64_t m = 0; m < 4; ++m)
        acc[m] = gb.mma(f16, operands[m], bFrags[s], acc[m]);
    }
    // Out += s1 * (the group's product), per value dim.
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t e = 0; e < 4; ++e) {
        Value scale = vector::ExtractOp::create(b, s1, 2 * m + e / 2);
        Value &o = out[4 * (4 * w + m) + e];
        o = gb.fadd(gb.fmul(scale, acc[m][e]), o);
      }
  }
}

SmallVector<Value> QuantizedDecodeEmitter::processTile(Value tile,
                                                       ValueRange carried,
                                                       DecodeForm form) {
  Value stage = gb.remIdx(tile, config.stages);
  Value tileStart = gb.add(firstKey, gb.mul(tile, gb.idx(config.keyTile)));
  const int64_t steps = config.keyTile / 16;
  SmallVector<SmallVector<Value>> scores;
  for (int64_t s = 0; s < steps; ++s)
    scores.push_back(keyScores(stage, s, form));

  // Into the log2 domain; keys past keyEnd and, under causal masking, past
  // each row's diagonal are masked.
  Value negInf = gb.negInf();
  SmallVector<Value> lastVisible;
  for (int64_t half = 0; half < 2; ++half) {
    Value row = gb.minIdx(accumulatorRow(half), gb.sub(rows, gb.idx(1)));
    lastVisible.push_back(gb.add(gb.remIdx(row, plan.queryLen),
                                 gb.sub(plan.keyLen, plan.queryLen)));
  }
  // Tiles that every row sees whole (all but the last, or the last few
  // under causal masking) skip the checks.
  Value maskEnd = keyEnd;
  if (plan.causal)
    maskEnd = gb.minIdx(maskEnd,
                        gb.causalKeyEnd(gb.idx(0), plan.queryLen, plan.keyLen));
  Value unmasked = gb.cmp(arith::CmpIPredicate::sle,
                          gb.add(tileStart, gb.idx(config.keyTile)), maskEnd);
  SmallVector<Value> flat;
  for (auto &step : scores)
    flat.append(step);
  SmallVector<Type> f32s(flat.size(), b.getF32Type());
  flat = gb.ifElseYield(
      unmasked, f32s, [&] { return timesRowFactors(gb, flat, rowFactor); },
      [&] {
        SmallVector<Value> masked;
        for (auto [i, score] : llvm::enumerate(flat)) {
          int64_t s = i / 4, e = i % 4;
          Value key =
              gb.add(gb.add(tileStart, gb.idx(16 * s + 8 * (e / 2))), keyRowLo);
          Value visible = gb.cmp(arith::CmpIPredicate::ult, key, keyEnd);
          if (plan.causal)
            visible = gb.andI(visible, gb.cmp(arith::CmpIPredicate::sle, key,
                                              lastVisible[e & 1]));
          masked.push_back(
              gb.select(visible, gb.fmul(score, rowFactor[e & 1]), negInf));
        }
        return masked;
      });
  for (auto [i, score] : llvm::enumerate(flat))
    scores[i / 4][i % 4] = score;

  // Online softmax: rows 2t and 2t + 1, spread over the lane groups. The
  // running maximum is lazy: a tile whose scores stay within kLazyMaxMargin
  // of it (most, once the maxima settle) keeps it, so that its weights reach
  // 2^kLazyMaxMargin at most (f16 holds them as well as those up to 1), and
  // skips the warp's reduction of the tile maxima and the rescale. The
  // margin is 0 where weights must stay within 1 (pv_int8's rounding to
  // 127ths) or the polynomial drops weights by their distance from the
  // maximum (n_max).
  bool lazy = plan.weightScale() == 1.0f &&
              !(plan.softmaxExp && plan.softmaxExp.getNMax());
  SmallVector<Value> laneMax(2, negInf);
  Value grows = arith::ConstantOp::create(b, b.getBoolAttr(false));
  for (int64_t half = 0; half < 2; ++half) {
    for (int64_t s = 0; s < steps; ++s)
      laneMax[half] =
          gb.fmax(laneMax[half], gb.fmax(scores[s][half], scores[s][2 + half]));
    Value ceiling =
        lazy ? gb.fadd(carried[half], gb.f32(kLazyMaxMargin)) : carried[half];
    grows = gb.orI(grows,
                   gb.cmpF(arith::CmpFPredicate::OGT, laneMax[half], ceiling));
  }
  Value rescale = gb.cmp(arith::CmpIPredicate::ne, gb.ballot(grows), gb.i32(0));
  SmallVector<Type> types(carried.getTypes());
  SmallVector<Value> next = gb.ifElseYield(
      rescale, types,
      [&] {
        SmallVector<Value> moved(carried.begin(), carried.end());
        SmallVector<Value> alpha(2);
        for (int64_t half = 0; half < 2; ++half) {
          Value oldMax = carried[half];
          Value newMax = gb.fmax(oldMax, gb.warpMax(laneMax[half], {4, 8, 16}));
          // The running rescale is exact: a polynomial factor per new max
          // would compound its fit error.
          alpha[half] = gb.exp2(gb.fsub(oldMax, visibleMax(newMax)));
          moved[half] = newMax;
          moved[2 + half] = gb.fmul(carried[2 + half], alpha[half]);
        }
        SmallVector<Value> out =
            timesRowFactors(gb, llvm::to_vector(carried.drop_front(4)), alpha);
        llvm::copy(out, moved.begin() + 4);
        return moved;
      },
      [&] { return SmallVector<Value>(carried.begin(), carried.end()); });
  for (int64_t half = 0; half < 2; ++half) {
    Value base = visibleMax(next[half]);
    for (int64_t s = 0; s < steps; ++s)
      for (int64_t e = half; e < 4; e += 2) {
        Value p = gb.softmaxExp2(scores[s][e], base, plan.softmaxExp);
        if (plan.weightScale() != 1.0f)
          p = gb.roundEven(gb.fmul(p, gb.f32(plan.weightScale())));
        scores[s][e] = p;
      }
  }
  SmallVector<Value> sums = {next[2], next[3]};
  SmallVector<Value> out(next.begin() + 4, next.end());

  // O^T += V^T P^T, one value group span at a time.
  int64_t spanSteps = std::min<int64_t>(q.groupSize, config.keyTile) / 16;
  for (int64_t first = 0; first < steps; first += spanSteps)
    accumulateValues(stage, first, spanSteps, scores, out, sums, form);
  next[2] = sums[0];
  next[3] = sums[1];
  llvm::copy(out, next.begin() + 4);
  return next;
}

void QuantizedDecodeEmitter::storeResults(ValueRange carried) {
  Value leader = gb.cmp(arith::CmpIPredicate::eq, laneGroup, gb.idx(0));
  Value dim = gb.mul(laneGroup, gb.idx(sliceDims));
  for (int64_t half = 0; half < 2; ++half) {
    Value row = accumulatorRow(half);
    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, row, rows), [&] {
      Value head = gb.add(gb.mul(kvHead, gb.idx(plan.groupSize())),
                          gb.divIdx(row, plan.queryLen));
      Value queryIdx = gb.remIdx(row, plan.queryLen);
      // Slice dim d: m-tile d / 2, accumulator 2 (d % 2) + half.
      SmallVector<Value> values;
      for (int64_t d = 0; d < sliceDims; ++d)
        values.push_back(gb.fmul(carried[4 + 4 * (d / 2) + 2 * (d % 2) + half],
                                 gb.f32(kOperandScale)));
      storeRowValues(gb, plan, batch, head, queryIdx, split, dim, values,
                     carried[2 + half]);
      gb.ifThen(leader, [&] {
        storeRowLse(gb, plan, batch, head, queryIdx, split, carried[half],
                    carried[2 + half]);
      });
    });
  }
}

void QuantizedDecodeEmitter::emit() {
  Value tid = launch.getThreadIds().x;
  lane = tid;
  laneGroup = gb.divIdx(lane, 4);
  laneQuarter = gb.remIdx(lane, 4);
  std::tie(kvHead, batch, split, rows) =
      AttentionBlock::of(gb, launch, plan).values();

  SharedMemory shared(gb, launch);
  stages.emplace(shared, plan, config.stages, config.keyTile,
                 /*swizzleKeyCodes=*/true);
  Type i32 = b.getI32Type();
  keyPrepared = shared.buffer({config.keyTile * keyGroups * 2}, i32);
  valuePrepared = shared.buffer({groupRows * plan.valueDim * 2}, i32);
  shared.finish();

  // The stage row of logical key g: pi(g) for g < 8.
  Value g = laneGroup;
  keyRowLo = gb.add(gb.mul(gb.andIdx(g, 1), gb.idx(4)), gb.divIdx(g, 2));
  // ldmatrix rows: lane l addresses row l % 8 of matrix l / 8 of its call;
  // matrix k of a step is (half k / chunks, chunk k % chunks).
  {
    int64_t rowElements = plan.headDim / 4;
    Value r8 = gb.remIdx(lane, 8);
    Value physical =
        gb.add(gb.mul(gb.andIdx(r8, 1), gb.idx(4)), gb.divIdx(r8, 2));
    Value swizzle = QuantizedStages::codeSwizzle(gb, chunks, physical);
    for (int64_t call = 0; call * 4 < 2 * chunks; ++call) {
      Value k = gb.add(gb.idx(4 * call), gb.divIdx(lane, 8));
      Value half = gb.divIdx(k, chunks);
      Value chunk = gb.remIdx(k, chunks);
      Value row = gb.add(gb.mul(half, gb.idx(8)), physical);
      keyCodeOffsets.push_back(
          gb.add(gb.mul(row, gb.idx(rowElements)),
                 gb.mul(gb.xorIdx(chunk, swizzle), gb.idx(8))));
    }
  }

  // This block's keys: its split, cut at the last key its rows see.
  Value splitEnd;
  std::tie(firstKey, splitEnd) = plan.splitKeys(gb, split);
  Value visibleEnd = plan.keyLen;
  if (plan.causal)
    visibleEnd = gb.causalKeyEnd(gb.sub(plan.queryLen, gb.idx(1)),
                                 plan.queryLen, plan.keyLen);
  keyEnd = gb.minIdx(visibleEnd, splitEnd);
  Value keyTile = gb.idx(config.keyTile);
  Value numTiles =
      gb.select(gb.cmp(arith::CmpIPredicate::sgt, keyEnd, firstKey),
                gb.ceilDiv(gb.sub(keyEnd, firstKey), keyTile), gb.idx(0));
  // Tiles before keyEnd (all but the last) copy without row checks.
  auto loadTile = [&](Value tile) {
    Value stage = gb.remIdx(tile, config.stages);
    Value tileStart = gb.add(firstKey, gb.mul(tile, keyTile));
    gb.ifThenElse(
        gb.cmp(arith::CmpIPredicate::ule, gb.add(tileStart, keyTile), keyEnd),
        [&] {
          stages->load(gb, plan, tid, 32, stage, tileStart, keyEnd, batch,
                       kvHead, /*whole=*/true);
        },
        [&] {
          stages->load(gb, plan, tid, 32, stage, tileStart, keyEnd, batch,
                       kvHead);
        });
  };
  SmallVector<Value> queryChunks = loadQueryChunks();
  SmallVector<Value> init = {gb.negInf(), gb.negInf(), gb.f32(0), gb.f32(0)};
  for (int64_t i = 0; i < 4 * valueTiles; ++i)
    init.push_back(gb.f32(0));
  SmallVector<Value> result = stagedTileLoop(
      gb, config.stages, numTiles, init, loadTile,
      [&](Value tile, ValueRange carried) {
        // The prepared parameters are rewritten each tile, after the
        // iteration's barrier (every lane is done with the previous
        // tile's).
        Value general = prepareParameters(gb.remIdx(tile, config.stages));
        gpu::BarrierOp::create(b);
        SmallVector<Type> types(carried.getTypes());
        return gb.ifElseYield(
            general, types,
            [&] { return processTile(tile, carried, DecodeForm::General); },
            [&] { return processTile(tile, carried, DecodeForm::Direct); });
      },
      // Its loads went out before the first tiles' copies; their use
      // waits until those are issued.
      [&] { prepareQuery(queryChunks); });
  storeResults(result);
}

bool mlir::attn::quantizedDecodeApplies(const SdpaGpuPlan &plan,
                                        const QuantizedDecodeConfig &config) {
  if (!plan.quantized || plan.quantized->bits != 4)
    return false;
  int64_t G = plan.quantized->groupSize, D = plan.headDim;
  int64_t Dv = plan.valueDim;
  // Key chunks of 32 dims lie in one group; value group spans are whole
  // 16-key steps of a tile, or whole tiles.
  return D % 32 == 0 && D <= 256 && G % 32 == 0 && D % G == 0 && Dv % 64 == 0 &&
         Dv <= 256 && (config.keyTile % G == 0 || G % config.keyTile == 0);
}

int64_t
QuantizedDecodeConfig::sharedMemoryBytes(const SdpaGpuPlan &plan) const {
  const QuantizedKeyValues &q = *plan.quantized;
  return QuantizedStages::bytes(plan, stages, keyTile) +
         llvm::alignTo(keyTile * q.keyGroups(plan.headDim) * 8, 16) +
         llvm::alignTo(q.valueGroupRows(keyTile) * plan.valueDim * 8, 16);
}

void mlir::attn::emitQuantizedDecodeKernel(
    ImplicitLocOpBuilder &b, gpu::LaunchOp launch, const SdpaGpuPlan &plan,
    const QuantizedDecodeConfig &config) {
  // Registers for blocksPerSM blocks (ptxas would otherwise take up to 255
  // for 32 threads and hoist loads with them).
  launch->setAttr("nvvm.minctasm", b.getI32IntegerAttr(config.blocksPerSM));
  QuantizedDecodeEmitter(b, launch, plan, config).emit();
}
