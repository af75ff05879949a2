//===- QuantizedSdpaToLoops.cpp - attn.quantized_sdpa to loops --*- C++ -*-===//
//
// Lowers attn.quantized_sdpa to the shared online-softmax loop nest. Each
// key tile's rows are decoded once per work item from their packed codes
// (unpack, integer stage-2 inverse) into INT8 stack scratch that the
// block's query rows then share; group scales are applied after each
// group's sum, so a score costs one product per element plus one multiply
// per group, and no float copy of K or V is made.
//
//===----------------------------------------------------------------------===//

#include "AttentionLoopNest.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

class QuantizedAttentionLoopNest : public AttentionLoopNest {
public:
  QuantizedAttentionLoopNest(QuantizedSdpaOp op, ImplicitLocOpBuilder &b,
                             int64_t rowBlock, int64_t keyTile)
      : AttentionLoopNest(specOf(op), b, rowBlock, keyTile), op(op),
        bits(op.getBits()), group(op.getGroupSize()), i16(b.getIntegerType(16)),
        i32(b.getI32Type()) {}

private:
  static AttentionSpec specOf(QuantizedSdpaOp op) {
    AttentionSpec spec;
    spec.query = op.getQuery();
    spec.causal = op.getCausal();
    spec.scale = op.getEffectiveScale();
    spec.softmaxExp = op.getSoftmaxExpAttr();
    spec.outputType = op.getOutput().getType();
    spec.lseType = op.getLse() ? op.getLse().getType() : Type();
    spec.numKvHeads = op.getKeyCodes().getType().getDimSize(1);
    return spec;
  }

  Value loadKeysAndValues() override {
    auto buffer = [&](Value tensor) {
      return tensor ? lb.toBuffer(tensor) : Value();
    };
    keyCodes = buffer(op.getKeyCodes());
    keyScale = buffer(op.getKeyScale());
    keyStep = buffer(op.getKeyStep());
    keyZero = buffer(op.getKeyZero());
    valueCodes = buffer(op.getValueCodes());
    valueScale = buffer(op.getValueScale());
    valueStep = buffer(op.getValueStep());
    valueZero = buffer(op.getValueZero());
    return memref::DimOp::create(b, keyCodes, 2);
  }

  // --- Vector helpers -----------------------------------------------------

  Value splatInt(VectorType type, int64_t v) {
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(type,
                                  b.getIntegerAttr(type.getElementType(), v)));
  }
  /// Elements [offset, offset + size) of a 1-D vector.
  Value slice(Value v, int64_t offset, int64_t size) {
    return vector::ExtractStridedSliceOp::create(b, v, offset, size, 1);
  }
  /// Each element of `v` repeated `times` times.
  Value repeatEach(Value v, int64_t times) {
    if (times == 1)
      return v;
    int64_t n = cast<VectorType>(v.getType()).getNumElements();
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < n * times; ++i)
      mask.push_back(i / times);
    return vector::ShuffleOp::create(b, v, v, mask);
  }
  /// The per-group sums of a 1-D vector with groups of `group` elements
  /// (float sums may be reassociated, so that they vectorize).
  Value groupSums(Value v) {
    auto type = cast<VectorType>(v.getType());
    int64_t numGroups = type.getNumElements() / group;
    SmallVector<Value> sums;
    for (int64_t g = 0; g < numGroups; ++g)
      sums.push_back(vector::ReductionOp::create(
          b, vector::CombiningKind::ADD, slice(v, g * group, group),
          /*acc=*/Value(), fastMath.getValue()));
    return vector::FromElementsOp::create(
        b, VectorType::get({numGroups}, type.getElementType()), sums);
  }

  /// The INT8-domain codes q8' of row `row` of a packed codes buffer, as
  /// i16: unpacked, then clamp(code * s2 + z, -127, 127) with `step` and
  /// `zero` already laid out per element.
  Value decodeRow(Value codes, ValueRange row, int64_t dim, Value step,
                  Value zero) {
    auto byteType = VectorType::get({dim * bits / 8}, b.getI8Type());
    Value bytes = vector::LoadOp::create(b, byteType, codes, row);
    auto wideType = VectorType::get({dim}, i16);
    if (bits == 8)
      return arith::ExtSIOp::create(b, wideType, bytes);
    int64_t mask = (1 << bits) - 1;
    auto field = [&](int64_t k) -> Value {
      Value shifted =
          k == 0
              ? bytes
              : arith::ShRUIOp::create(b, bytes, splatInt(byteType, k * bits));
      return arith::AndIOp::create(b, shifted, splatInt(byteType, mask));
    };
    // Code k of byte i is element i * (8 / bits) + k.
    Value unpacked =
        bits == 4 ? vector::InterleaveOp::create(b, field(0), field(1))
                  : vector::InterleaveOp::create(
                        b, vector::InterleaveOp::create(b, field(0), field(2)),
                        vector::InterleaveOp::create(b, field(1), field(3)));
    Value code = arith::ExtUIOp::create(b, wideType, unpacked);
    Value q8 = arith::AddIOp::create(
        b,
        arith::MulIOp::create(b, code,
                              arith::ExtSIOp::create(b, wideType, step)),
        arith::ExtSIOp::create(b, wideType, zero));
    return arith::MinSIOp::create(
        b, arith::MaxSIOp::create(b, q8, splatInt(wideType, -127)),
        splatInt(wideType, 127));
  }

  // --- Tile decoding --------------------------------------------------------

  /// Decoded rows are kept as i8 for the integer products and as f32
  /// (the same INT8 values, unscaled) for the float ones.
  Type scratchType(bool integer) { return integer ? b.getI8Type() : f32; }

  void allocateTileScratch() override {
    keyTileCodes = memref::AllocaOp::create(
        b, MemRefType::get({keyTile, headDim}, scratchType(op.getQkInt8())));
    valueTileCodes = memref::AllocaOp::create(
        b, MemRefType::get({keyTile, valueDim}, scratchType(op.getPvInt8())));
  }

  void prepareTile(Value k0, Value tileLen) override {
    tileStart = k0;
    int64_t numGroups = headDim / group;
    auto keyGroupType = VectorType::get({numGroups}, b.getI8Type());
    auto valueRowType = VectorType::get({valueDim}, b.getI8Type());
    lb.forEach(lb.idx(0), tileLen, lb.idx(1), [&](Value j) {
      Value key = lb.add(k0, j);
      SmallVector<Value> row = {batch, kvHead, key, lb.idx(0)};
      // Keys: step and zero per group of channels.
      Value step, zero;
      if (bits < 8) {
        step = repeatEach(vector::LoadOp::create(b, keyGroupType, keyStep, row),
                          group);
        zero = repeatEach(vector::LoadOp::create(b, keyGroupType, keyZero, row),
                          group);
      }
      storeCodes(decodeRow(keyCodes, row, headDim, step, zero), keyTileCodes,
                 j);
      // Values: step and zero of the key's group, per channel.
      if (bits < 8) {
        SmallVector<Value> groupRow = {
            batch, kvHead, arith::DivUIOp::create(b, key, lb.idx(group)),
            lb.idx(0)};
        step = vector::LoadOp::create(b, valueRowType, valueStep, groupRow);
        zero = vector::LoadOp::create(b, valueRowType, valueZero, groupRow);
      }
      storeCodes(decodeRow(valueCodes, row, valueDim, step, zero),
                 valueTileCodes, j);
    });
  }

  void storeCodes(Value codes, Value scratch, Value j) {
    auto type = cast<VectorType>(codes.getType());
    Type element = cast<MemRefType>(scratch.getType()).getElementType();
    auto rowType = VectorType::get(type.getShape(), element);
    Value row = element.isInteger(8)
                    ? arith::TruncIOp::create(b, rowType, codes).getResult()
                    : arith::SIToFPOp::create(b, rowType, codes).getResult();
    vector::StoreOp::create(b, row, scratch, ValueRange{j, lb.idx(0)});
  }

  /// The decoded INT8 row of `key` (in the current tile): i32 from i8
  /// scratch, f32 from f32 scratch.
  Value tileRow(Value scratch, Value key, int64_t dim) {
    Type element = cast<MemRefType>(scratch.getType()).getElementType();
    Value row =
        vector::LoadOp::create(b, VectorType::get({dim}, element), scratch,
                               ValueRange{lb.sub(key, tileStart), lb.idx(0)});
    if (!element.isInteger(8))
      return row;
    return arith::ExtSIOp::create(b, VectorType::get({dim}, i32), row);
  }

  // --- Keys -----------------------------------------------------------------

  SmallVector<Value> loadQueryRow(Value head, Value i) override {
    if (!op.getQkInt8())
      return AttentionLoopNest::loadQueryRow(head, i);
    // Stage-1 INT8 of the query row in groups along D; the scale of Q K^T
    // rides on the query's group scales.
    Value q = lb.toF32(vector::LoadOp::create(
        b, VectorType::get({headDim}, elementType), queryBuf,
        ValueRange{batch, head, i, lb.idx(0)}));
    int64_t numGroups = headDim / group;
    Value codes = lb.zeros(VectorType::get({headDim}, f32));
    SmallVector<Value> groupScales;
    for (int64_t g = 0; g < numGroups; ++g) {
      Value part = slice(q, g * group, group);
      Value absMax = vector::ReductionOp::create(
          b, vector::CombiningKind::MAXNUMF, math::AbsFOp::create(b, part));
      Value s1 = arith::DivFOp::create(b, absMax, lb.f32(127.0f));
      auto partType = cast<VectorType>(part.getType());
      Value rounded = math::RoundEvenOp::create(
          b, arith::DivFOp::create(b, part, lb.splat(partType, s1)));
      Value clamped = arith::MinNumFOp::create(
          b,
          arith::MaxNumFOp::create(b, rounded,
                                   lb.splat(partType, lb.f32(-127.0f))),
          lb.splat(partType, lb.f32(127.0f)));
      Value isZero = lb.cmpF(arith::CmpFPredicate::OEQ, s1, lb.f32(0.0f));
      clamped = lb.select(isZero, lb.zeros(partType), clamped);
      codes =
          vector::InsertStridedSliceOp::create(b, clamped, codes, g * group, 1);
      groupScales.push_back(arith::MulFOp::create(b, s1, scaleValue));
    }
    Value codesI32 =
        arith::FPToSIOp::create(b, VectorType::get({headDim}, i32), codes);
    Value scales = vector::FromElementsOp::create(
        b, VectorType::get({numGroups}, f32), groupScales);
    return {codesI32, scales};
  }

  Value scoreKey(ArrayRef<Value> queryRow, Value key) override {
    int64_t numGroups = headDim / group;
    SmallVector<Value> row = {batch, kvHead, key, lb.idx(0)};
    Value k8 = tileRow(keyTileCodes, key, headDim);
    Value scales = vector::LoadOp::create(b, VectorType::get({numGroups}, f32),
                                          keyScale, row);
    Value partial;
    if (op.getQkInt8()) {
      // int8 x int8 -> i32 per group; s1_Q * s1_K * scale after the sum.
      Value product = arith::MulIOp::create(b, queryRow[0], k8);
      partial =
          arith::SIToFPOp::create(b, scales.getType(), groupSums(product));
      scales = arith::MulFOp::create(b, scales, queryRow[1]);
    } else {
      partial = groupSums(arith::MulFOp::create(b, queryRow[0], k8, fastMath));
    }
    return vector::ReductionOp::create(
        b, vector::CombiningKind::ADD,
        arith::MulFOp::create(b, partial, scales), Value(),
        fastMath.getValue());
  }

  void prefetchKey(Value key) override {
    for (Value codes : {keyCodes, valueCodes}) {
      int64_t rowBytes = cast<MemRefType>(codes.getType()).getDimSize(3);
      for (int64_t c = 0; c < rowBytes; c += 64)
        memref::PrefetchOp::create(b, codes,
                                   ValueRange{batch, kvHead, key, lb.idx(c)},
                                   /*isWrite=*/false, /*localityHint=*/2,
                                   /*isDataCache=*/true);
    }
  }

  // --- Values ---------------------------------------------------------------

  Value roundWeights(Value p) override {
    if (!op.getPvInt8())
      return p;
    // The weights P V uses: round_half_even(p * 127) / 127.
    auto type = cast<VectorType>(p.getType());
    Value scaled = arith::MulFOp::create(b, p, lb.splat(type, lb.f32(127.0f)));
    return arith::MulFOp::create(b, math::RoundEvenOp::create(b, scaled),
                                 lb.splat(type, lb.f32(1.0f / 127.0f)));
  }

  Value accumulateValues(Value accRow, Value k0, Value numVisible) override {
    // Values are grouped along the keys: each group's sum over its keys in
    // the tile is formed first (f32, or i32 with pv_int8), then scaled.
    auto rowType = VectorType::get({valueDim}, f32);
    auto intRowType = VectorType::get({valueDim}, i32);
    bool integer = op.getPvInt8();
    Value end = lb.add(k0, numVisible);
    Value firstGroup = arith::DivUIOp::create(b, k0, lb.idx(group));
    Value endGroup = arith::CeilDivUIOp::create(b, end, lb.idx(group));
    SmallVector<Value> result = lb.forCarrying(
        firstGroup, endGroup, lb.idx(1), accRow,
        [&](Value g, ValueRange carried) -> SmallVector<Value> {
          SmallVector<Value> groupRow = {batch, kvHead, g, lb.idx(0)};
          Value begin = lb.maxIdx(lb.mul(g, lb.idx(group)), k0);
          Value stop =
              lb.minIdx(lb.add(lb.mul(g, lb.idx(group)), lb.idx(group)), end);
          Value init = integer ? lb.zeros(intRowType) : lb.zeros(rowType);
          Value sum = lb.forCarrying(
              begin, stop, lb.idx(1), init,
              [&](Value key, ValueRange partial) -> SmallVector<Value> {
                Value p = memref::LoadOp::create(b, scores, lb.sub(key, k0));
                Value v8 = tileRow(valueTileCodes, key, valueDim);
                if (integer) {
                  Value p8 = arith::FPToSIOp::create(
                      b, i32,
                      math::RoundEvenOp::create(
                          b, arith::MulFOp::create(b, p, lb.f32(127.0f))));
                  return {arith::AddIOp::create(
                      b, partial[0],
                      arith::MulIOp::create(b, lb.splat(intRowType, p8), v8))};
                }
                return {vector::FMAOp::create(b, lb.splat(rowType, p), v8,
                                              partial[0])};
              })[0];
          Value scales =
              vector::LoadOp::create(b, rowType, valueScale, groupRow);
          if (integer) {
            sum = arith::SIToFPOp::create(b, rowType, sum);
            scales = arith::MulFOp::create(
                b, scales, lb.splat(rowType, lb.f32(1.0f / 127.0f)));
          }
          return {vector::FMAOp::create(b, sum, scales, carried[0])};
        });
    return result[0];
  }

  QuantizedSdpaOp op;
  int64_t bits, group;
  Type i16, i32;
  Value keyCodes, keyScale, keyStep, keyZero;
  Value valueCodes, valueScale, valueStep, valueZero;
  // The current tile's decoded INT8 keys and values, and its first key.
  Value keyTileCodes, valueTileCodes, tileStart;
};

} // namespace

void mlir::attn::populateQuantizedSdpaToLoopsPatterns(
    RewritePatternSet &patterns, int64_t rowBlock, int64_t keyTile) {
  patterns.add<AttentionToLoops<QuantizedSdpaOp, QuantizedAttentionLoopNest>>(
      patterns.getContext(), rowBlock, keyTile);
}
