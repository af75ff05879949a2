//===- QuantizedStages.cpp - cp.async stages of a quantized cache -*- C++
//-*-===//
//
// The shared-memory stages through which the attn.quantized_sdpa kernels
// stream their cache: per stage, the packed key and value codes of a tile of
// keys, the keys' group scales, steps and zero points, and the value group
// rows the tile touches, all copied by cp.async in attn.quantize's layout.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"

using namespace mlir;
using namespace mlir::attn;

/// The widest cp.async chunk (16, 8 or 4 bytes) that divides a row of
/// `rowBytes`, or less than 4 when none does.
static int64_t chunkBytesOfRow(int64_t rowBytes) {
  int64_t chunkBytes = 16;
  while (chunkBytes >= 4 && rowBytes % chunkBytes)
    chunkBytes /= 2;
  return chunkBytes;
}

void mlir::attn::copyRowsAsync(
    GpuBuilder &gb, Value tid, int64_t threads, Value smem, Value smemBase,
    int64_t rows, int64_t width, Value src,
    llvm::function_ref<std::pair<SmallVector<Value>, Value>(Value)> source,
    llvm::function_ref<Value(Value)> chunkSwizzle) {
  ImplicitLocOpBuilder &b = gb.b;
  Type elementType = cast<MemRefType>(smem.getType()).getElementType();
  int64_t elementBytes = elementType.getIntOrFloatBitWidth() / 8;
  int64_t chunkBytes = chunkBytesOfRow(width * elementBytes);
  assert((!chunkSwizzle || chunkBytes == 16) && "swizzles whole chunks");
  if (chunkBytes < 4) {
    gb.forEach(tid, gb.idx(rows * width), gb.idx(threads), [&](Value i) {
      auto [indices, valid] = source(gb.divIdx(i, width));
      indices.push_back(gb.remIdx(i, width));
      // Sources clamp their rows, so the load is in bounds either way.
      Value zero = arith::ConstantOp::create(b, b.getZeroAttr(elementType));
      Value v = gb.select(valid, memref::LoadOp::create(b, src, indices), zero);
      memref::StoreOp::create(b, v, smem, gb.add(smemBase, i));
    });
    return;
  }
  // Unrolled over the block's passes, so that the thread's row and column
  // are computed once for all of them.
  int64_t chunkElements = chunkBytes / elementBytes;
  int64_t chunksPerRow = width / chunkElements;
  int64_t chunks = rows * chunksPerRow;
  for (int64_t first = 0; first < chunks; first += threads) {
    Value c = gb.add(tid, gb.idx(first));
    auto copyOne = [&] {
      Value row = gb.divIdx(c, chunksPerRow);
      Value chunk = gb.remIdx(c, chunksPerRow);
      Value column = gb.mul(chunk, gb.idx(chunkElements));
      auto [indices, valid] = source(row);
      indices.push_back(column);
      Value placed = column;
      if (chunkSwizzle)
        placed =
            gb.mul(gb.xorIdx(chunk, chunkSwizzle(row)), gb.idx(chunkElements));
      gb.copyAsync(smem,
                   gb.add(smemBase, gb.add(gb.mul(row, gb.idx(width)), placed)),
                   src, indices, chunkElements, valid);
    };
    if (first + threads <= chunks)
      copyOne();
    else
      gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, c, gb.idx(chunks)), copyOne);
  }
}

int64_t QuantizedStages::bytes(const SdpaGpuPlan &plan, int64_t stages,
                               int64_t keyTile) {
  const QuantizedKeyValues &q = *plan.quantized;
  auto buffer = [](int64_t elements, int64_t elementBytes) {
    return llvm::alignTo(elements * elementBytes, 16);
  };
  int64_t keyGroups = stages * keyTile * q.keyGroups(plan.headDim);
  int64_t valueGroups = stages * q.valueGroupRows(keyTile) * plan.valueDim;
  int64_t bytes = buffer(stages * keyTile * q.rowBytes(plan.headDim), 1) +
                  buffer(stages * keyTile * q.rowBytes(plan.valueDim), 1) +
                  buffer(keyGroups, 4) + buffer(valueGroups, 4);
  if (q.bits != 8)
    bytes += 2 * (buffer(keyGroups, 1) + buffer(valueGroups, 1));
  return bytes;
}

QuantizedStages::QuantizedStages(SharedMemory &shared, const SdpaGpuPlan &plan,
                                 int64_t stages, int64_t keyTile,
                                 bool swizzleKeyCodes, bool swizzleValueCodes)
    : stages(stages), keyTile(keyTile), swizzleKeyCodes(swizzleKeyCodes),
      swizzleValueCodes(swizzleValueCodes) {
  const QuantizedKeyValues &q = *plan.quantized;
  MLIRContext *ctx = plan.elementType.getContext();
  Type i8 = IntegerType::get(ctx, 8), f32 = Float32Type::get(ctx);
  int64_t rows = stages * keyTile;
  int64_t keyGroups = rows * q.keyGroups(plan.headDim);
  int64_t valueGroups = stages * q.valueGroupRows(keyTile) * plan.valueDim;
  // The same bytes as b16 elements, which ldmatrix reads.
  auto pairsOf = [&](Value bytes, int64_t count) {
    auto view = bytes.getDefiningOp<memref::ViewOp>();
    auto type = MemRefType::get({count / 2}, IntegerType::get(ctx, 16),
                                MemRefLayoutAttrInterface(),
                                view.getType().getMemorySpace());
    OpBuilder builder(view->getContext());
    builder.setInsertionPointAfter(view);
    return memref::ViewOp::create(builder, view.getLoc(), type,
                                  view.getSource(), view.getByteShift(),
                                  ValueRange{})
        .getResult();
  };
  keyCodes = shared.buffer({rows * q.rowBytes(plan.headDim)}, i8);
  if (swizzleKeyCodes)
    keyCodePairs = pairsOf(keyCodes, rows * q.rowBytes(plan.headDim));
  valueCodes = shared.buffer({rows * q.rowBytes(plan.valueDim)}, i8);
  if (swizzleValueCodes)
    valueCodePairs = pairsOf(valueCodes, rows * q.rowBytes(plan.valueDim));
  keyScale = shared.buffer({keyGroups}, f32);
  valueScale = shared.buffer({valueGroups}, f32);
  if (q.bits != 8) {
    keyStep = shared.buffer({keyGroups}, i8);
    keyZero = shared.buffer({keyGroups}, i8);
    valueStep = shared.buffer({valueGroups}, i8);
    valueZero = shared.buffer({valueGroups}, i8);
  }
}

Value QuantizedStages::codeSwizzle(GpuBuilder &gb, int64_t chunks, Value row) {
  // A 128-byte bank line holds 8 / chunks rows: rows that share one xor
  // the lines' chunks differently. Rows of a line or more xor with row % 8.
  if (chunks == 1)
    return gb.idx(0);
  if (chunks >= 8)
    return gb.remIdx(row, 8);
  return gb.remIdx(gb.divIdx(row, 8 / chunks), chunks);
}

/// copyRowsAsync for rows that all exist: rows [firstRow, firstRow + rows)
/// of `src` seen as one flat array of rows of `width` elements, so that a
/// thread's source offsets are one per-tile base plus constants.
static void copyWholeRowsAsync(GpuBuilder &gb, Value tid, int64_t threads,
                               Value smem, Value smemBase, int64_t rows,
                               int64_t width, Value src, Value firstRow,
                               llvm::function_ref<Value(Value)> chunkSwizzle) {
  ImplicitLocOpBuilder &b = gb.b;
  auto srcType = cast<MemRefType>(src.getType());
  SmallVector<ReassociationIndices> all(1);
  for (int64_t d = 0; d < srcType.getRank(); ++d)
    all[0].push_back(d);
  Value flat = memref::CollapseShapeOp::create(b, src, all);
  Value base = gb.mul(firstRow, gb.idx(width));
  int64_t elementBytes = srcType.getElementTypeBitWidth() / 8;
  int64_t chunkBytes = chunkBytesOfRow(width * elementBytes);
  if (chunkBytes < 4) {
    gb.forEach(tid, gb.idx(rows * width), gb.idx(threads), [&](Value i) {
      Value v = memref::LoadOp::create(b, flat, gb.add(base, i));
      memref::StoreOp::create(b, v, smem, gb.add(smemBase, i));
    });
    return;
  }
  int64_t chunkElements = chunkBytes / elementBytes;
  int64_t chunksPerRow = width / chunkElements;
  int64_t chunks = rows * chunksPerRow;
  Value always = arith::ConstantOp::create(b, b.getBoolAttr(true));
  // Offsets that cannot wrap: LLVM folds their constant parts into the
  // copies' immediates.
  auto addExact = [&](Value x, int64_t constant) {
    return arith::AddIOp::create(b, x, gb.idx(constant),
                                 arith::IntegerOverflowFlags::nsw |
                                     arith::IntegerOverflowFlags::nuw)
        .getResult();
  };
  // The thread's chunk of pass k is tid + k * threads, at source offset
  // (tid + k * threads) * chunkElements. When whole passes cover whole
  // rows, its column and (with a swizzle of period 8 rows) its placement in
  // the row repeat every pass, so the destination advances by a constant
  // too.
  int64_t rowsPerPass = threads / chunksPerRow;
  bool constantStride =
      threads % chunksPerRow == 0 && (!chunkSwizzle || rowsPerPass % 8 == 0);
  // Where chunk c of the tile lands in shared memory.
  auto placed = [&](Value c) {
    Value row = gb.divIdx(c, chunksPerRow);
    Value chunk = gb.remIdx(c, chunksPerRow);
    if (chunkSwizzle)
      chunk = gb.xorIdx(chunk, chunkSwizzle(row));
    return gb.add(smemBase, gb.add(gb.mul(row, gb.idx(width)),
                                   gb.mul(chunk, gb.idx(chunkElements))));
  };
  Value sourceStart = gb.add(base, gb.mul(tid, gb.idx(chunkElements)));
  Value destStart = constantStride ? placed(tid) : Value();
  for (int64_t first = 0; first < chunks; first += threads) {
    auto copyOne = [&] {
      Value source = addExact(sourceStart, first * chunkElements);
      Value dest =
          constantStride
              ? addExact(destStart, (first / threads) * rowsPerPass * width)
              : placed(gb.add(tid, gb.idx(first)));
      gb.copyAsync(smem, dest, flat, source, chunkElements, always);
    };
    if (first + threads <= chunks)
      copyOne();
    else
      gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, tid, gb.idx(chunks - first)),
                copyOne);
  }
}

void QuantizedStages::load(GpuBuilder &gb, const SdpaGpuPlan &plan, Value tid,
                           int64_t threads, Value stage, Value tileStart,
                           Value keyEnd, Value batch, Value kvHead,
                           bool whole) {
  const QuantizedKeyValues &q = *plan.quantized;
  Value lastKey = gb.sub(plan.keyLen, gb.idx(1));
  Value headRow = gb.add(gb.mul(batch, gb.idx(plan.kvHeads)), kvHead);
  auto keyRow = [&](Value row) {
    Value key = gb.add(tileStart, row);
    Value valid = gb.cmp(arith::CmpIPredicate::ult, key, keyEnd);
    SmallVector<Value> indices = {batch, kvHead, gb.minIdx(key, lastKey)};
    return std::make_pair(indices, valid);
  };
  auto copyKeyRows = [&](Value smem, Value src, int64_t width,
                         llvm::function_ref<Value(Value)> swizzle = nullptr) {
    Value smemBase = gb.mul(stage, gb.idx(keyTile * width));
    if (whole)
      copyWholeRowsAsync(gb, tid, threads, smem, smemBase, keyTile, width, src,
                         gb.add(gb.mul(headRow, plan.keyLen), tileStart),
                         swizzle);
    else
      copyRowsAsync(gb, tid, threads, smem, smemBase, keyTile, width, src,
                    keyRow, swizzle);
  };
  int64_t keyGroups = q.keyGroups(plan.headDim);
  auto copyCodeRows = [&](Value smem, Value src, int64_t dims, bool swizzled) {
    int64_t rowBytes = q.rowBytes(dims);
    auto swizzle = [&](Value row) {
      return codeSwizzle(gb, rowBytes / 16, row);
    };
    copyKeyRows(smem, src, rowBytes,
                swizzled ? llvm::function_ref<Value(Value)>(swizzle) : nullptr);
  };
  copyCodeRows(keyCodes, q.keyCodes, plan.headDim, swizzleKeyCodes);
  copyCodeRows(valueCodes, q.valueCodes, plan.valueDim, swizzleValueCodes);
  copyKeyRows(keyScale, q.keyScale, keyGroups);
  if (q.bits != 8) {
    copyKeyRows(keyStep, q.keyStep, keyGroups);
    copyKeyRows(keyZero, q.keyZero, keyGroups);
  }

  // The value groups the tile touches, from the one of its first key.
  int64_t groupRows = q.valueGroupRows(keyTile);
  Value firstGroup = gb.divIdx(tileStart, q.groupSize);
  Value numGroups = gb.ceilDiv(plan.keyLen, gb.idx(q.groupSize));
  auto groupRow = [&](Value row) {
    Value group = gb.add(firstGroup, row);
    Value valid = gb.cmp(arith::CmpIPredicate::ult, group, numGroups);
    SmallVector<Value> indices = {
        batch, kvHead, gb.minIdx(group, gb.sub(numGroups, gb.idx(1)))};
    return std::make_pair(indices, valid);
  };
  auto copyGroupRows = [&](Value smem, Value src) {
    Value smemBase = gb.mul(stage, gb.idx(groupRows * plan.valueDim));
    if (whole)
      copyWholeRowsAsync(
          gb, tid, threads, smem, smemBase, groupRows, plan.valueDim, src,
          gb.add(gb.mul(headRow, numGroups), firstGroup), nullptr);
    else
      copyRowsAsync(gb, tid, threads, smem, smemBase, groupRows, plan.valueDim,
                    src, groupRow);
  };
  copyGroupRows(valueScale, q.valueScale);
  if (q.bits != 8) {
    copyGroupRows(valueStep, q.valueStep);
    copyGroupRows(valueZero, q.valueZero);
  }
}
