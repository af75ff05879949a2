//===- GpuBuilder.cpp - helpers for the attn GPU kernels --------*- C++ -*-===//

#include "GpuBuilder.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::quantizedDecodesInRegisters(const SdpaGpuPlan &plan,
                                             int64_t keyTile) {
  if (!plan.quantized || plan.quantized->bits != 4)
    return false;
  int64_t G = plan.quantized->groupSize, D = plan.headDim;
  return D % 32 == 0 && G % (D / 4) == 0 && G % 16 == 0 &&
         (keyTile % G == 0 || G % keyTile == 0) &&
         llvm::is_contained({64, 128, 256}, plan.valueDim);
}

bool MmaKernelConfig::int8Products(const SdpaGpuPlan &plan) const {
  if (!int8QueryKey(plan))
    return false;
  const QuantizedKeyValues &q = *plan.quantized;
  return q.bits == 8 && q.pvInt8 && q.wholeValueGroups(plan.keyTile) &&
         plan.headDim % 128 == 0 && plan.valueDim % 128 == 0;
}

int64_t MmaKernelConfig::sharedMemoryBytes(const SdpaGpuPlan &plan) const {
  // Buffers as SharedMemory hands them out: each 16-byte aligned.
  auto buffer = [](int64_t elements, int64_t elementBytes) {
    return llvm::alignTo(elements * elementBytes, 16);
  };
  int64_t elementBytes = plan.elementType.getIntOrFloatBitWidth() / 8;
  // INT8 products keep the query block and the key tile as INT8 codes, and
  // the query's group scales.
  bool int8 = int8QueryKey(plan);
  int64_t qkBytes = int8 ? 1 : elementBytes;
  int64_t bytes = buffer(rowBlock() * plan.headDim, qkBytes);
  if (int8)
    bytes += buffer(rowBlock() * plan.quantized->keyGroups(plan.headDim), 4);
  if (!decodeInRegisters && !int8Products(plan)) {
    int64_t keyValueStages = plan.quantized ? 1 : stages;
    bytes +=
        buffer(keyValueStages * plan.keyTile * plan.headDim, qkBytes) +
        buffer(keyValueStages * plan.keyTile * plan.valueDim, elementBytes);
  }
  if (plan.quantized)
    bytes += QuantizedStages::bytes(plan, stages, plan.keyTile);
  // Mask inputs copied with the key tiles.
  for (unsigned i = 0; i < plan.mask.producerInputs.size(); ++i)
    if (plan.mask.stagedWithKeys(i, plan.groupSize()))
      bytes += buffer(stages * plan.keyTile,
                      cast<MemRefType>(plan.mask.producerInputs[i].getType())
                              .getElementTypeBitWidth() /
                          8);
  return bytes;
}

Value GpuBuilder::i32(int64_t v) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
}

Value GpuBuilder::divIdx(Value x, int64_t d) { return divIdx(x, idx(d)); }
Value GpuBuilder::remIdx(Value x, int64_t d) { return remIdx(x, idx(d)); }

Value GpuBuilder::ceilDiv(Value x, Value d) {
  return arith::CeilDivUIOp::create(b, x, d);
}

Value GpuBuilder::andIdx(Value x, int64_t mask) {
  return arith::AndIOp::create(b, x, idx(mask));
}

// The PTX instructions themselves: convert-gpu-to-nvvm would turn math.exp2,
// math.sqrt and their llvm.intr forms into libdevice calls, which format=isa
// (no CUDA toolkit) cannot link. ex2(-inf) = 0 and lg2(0) = -inf, as the
// softmax needs. `instruction` writes one f32 from the f32 `args`.
static Value ptxF32(ImplicitLocOpBuilder &b, StringRef instruction,
                    ValueRange args) {
  std::string text = (instruction + " $0").str(), constraints = "=f";
  for (size_t i = 0; i < args.size(); ++i) {
    text += ", $" + std::to_string(i + 1);
    constraints += ",f";
  }
  return LLVM::InlineAsmOp::create(
             b, b.getF32Type(), args, text + ";", constraints,
             /*has_side_effects=*/false, /*is_align_stack=*/false,
             LLVM::tailcallkind::TailCallKind::None,
             /*asm_dialect=*/LLVM::AsmDialectAttr(),
             /*operand_attrs=*/ArrayAttr())
      .getResult(0);
}

Value GpuBuilder::exp2(Value x) { return ptxF32(b, "ex2.approx.ftz.f32", x); }
Value GpuBuilder::log2(Value x) { return ptxF32(b, "lg2.approx.ftz.f32", x); }
Value GpuBuilder::sqrt(Value x) { return ptxF32(b, "sqrt.rn.f32", x); }
Value GpuBuilder::roundEven(Value x) { return ptxF32(b, "cvt.rni.f32.f32", x); }

Value GpuBuilder::floorF(Value x) { return ptxF32(b, "cvt.rmi.f32.f32", x); }

Value GpuBuilder::absF(Value x) {
  Value bits = arith::BitcastOp::create(b, b.getI32Type(), x);
  return arith::BitcastOp::create(
      b, b.getF32Type(), arith::AndIOp::create(b, bits, i32(0x7FFFFFFF)));
}

Value GpuBuilder::int8Scale(int64_t count,
                            llvm::function_ref<Value(Value)> load) {
  Value maxAbs = forCarrying(
      idx(0), idx(count), idx(1), {f32(0)}, [&](Value e, ValueRange carried) {
        return SmallVector<Value>{fmax(carried[0], absF(load(e)))};
      })[0];
  return arith::DivFOp::create(b, maxAbs, f32(127));
}

Value GpuBuilder::int8Code(Value x, Value scale) {
  Value nonzero = cmpF(arith::CmpFPredicate::OGT, scale, f32(0));
  Value code =
      roundEven(arith::DivFOp::create(b, x, select(nonzero, scale, f32(1))));
  code = arith::MinNumFOp::create(
      b, arith::MaxNumFOp::create(b, code, f32(-127)), f32(127));
  return select(nonzero, code, f32(0));
}

/// Four mma.sync results out of their struct.
static SmallVector<Value> extractQuad(ImplicitLocOpBuilder &b, Value d) {
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, d, i));
  return out;
}

/// Inline PTX `text` on i32 registers.
static Value ptxI32(ImplicitLocOpBuilder &b, const std::string &text,
                    ValueRange args) {
  std::string constraints = "=r";
  for (size_t i = 0; i < args.size(); ++i)
    constraints += ",r";
  return LLVM::InlineAsmOp::create(b, b.getI32Type(), args, text, constraints,
                                   /*has_side_effects=*/false,
                                   /*is_align_stack=*/false,
                                   LLVM::tailcallkind::TailCallKind::None,
                                   /*asm_dialect=*/LLVM::AsmDialectAttr(),
                                   /*operand_attrs=*/ArrayAttr())
      .getResult(0);
}

Value GpuBuilder::packedOp(Type elementType, StringRef op, ValueRange args) {
  std::string text =
      (op + (elementType.isBF16() ? ".bf16x2" : ".f16x2") + " $0").str();
  for (size_t i = 0; i < args.size(); ++i)
    text += ", $" + std::to_string(i + 1);
  return ptxI32(b, text + ";", args);
}

Value GpuBuilder::prmt(Value a, Value b, Value selector) {
  return ptxI32(this->b, "prmt.b32 $0, $1, $2, $3;", {a, b, selector});
}

Value GpuBuilder::andOr(Value a, Value b, Value c) {
  // 0xEA: the truth table of (a & b) | c on a = 0xF0, b = 0xCC, c = 0xAA.
  return ptxI32(this->b, "lop3.b32 $0, $1, $2, $3, 0xEA;", {a, b, c});
}

Value GpuBuilder::movmatrixTrans(Value x) {
  return ptxI32(b, "movmatrix.sync.aligned.m8n8.trans.b16 $0, $1;", {x});
}

Value GpuBuilder::decodeInt4Pair(Type elementType, Value word, Value step,
                                 Value zero, Value scale) {
  bool bf16 = elementType.isBF16();
  Value codes =
      arith::OrIOp::create(b, arith::AndIOp::create(b, word, i32(0x000F000F)),
                           i32(bf16 ? 0x43004300 : 0x64006400));
  auto pair = [&](float v) { return packPair(elementType, f32(v), f32(v)); };
  Value code =
      packedOp(elementType, "sub.rn", {codes, pair(bf16 ? 128.0f : 1024.0f)});
  Value q8 = packedOp(elementType, "fma.rn", {code, step, zero});
  q8 = packedOp(elementType, "min",
                {packedOp(elementType, "max", {q8, pair(-127)}), pair(127)});
  return packedOp(elementType, "mul.rn", {q8, scale});
}

Value GpuBuilder::softmaxExp2(Value score, Value max, PolyExpAttr polyExp) {
  if (!polyExp)
    return exp2(fsub(score, max));
  // attn.poly_exp of (score - max) * ln 2, in the log2 domain, without a
  // float/integer conversion: y = max - score, at most `limit`; y + 1.5 *
  // 2^23 rounded down is 1.5 * 2^23 + floor(y), whose bits are 0x4B400000
  // + n, so the bits of 2^-n p(f) are those of p less n << 23, which is
  // those bits shifted left by 23 (0x4B400000 shifts out). A y below 0 by
  // rounding (a score at the maximum) gives n = -1 and f near 1: a weight
  // near 1, no clamp needed.
  SmallVector<float> coefficients =
      getPolyExpFitCoefficients(polyExp.getDegree());
  std::optional<int64_t> nMax = polyExp.getNMax();
  // Without n_max nothing is dropped: y stops at 125, where 2^-125 p(f)
  // (about 1e-38) is still a normal f32; an n_max above 125 acts as 125
  // (what it would keep weighs below 3e-38).
  float limit =
      nMax ? static_cast<float>(std::min<int64_t>(*nMax, 125)) : 125.0f;
  Value y = arith::MinNumFOp::create(b, fsub(max, score), f32(limit));
  Value biased = ptxF32(b, "add.rm.f32", {y, f32(kRoundingBias)});
  Value f = fsub(y, fsub(biased, f32(kRoundingBias)));
  Value p = f32(coefficients.back());
  for (float c : llvm::reverse(ArrayRef(coefficients).drop_back()))
    p = fadd(fmul(p, f), f32(c));
  Type i32Type = b.getI32Type();
  Value bits = arith::SubIOp::create(
      b, arith::BitcastOp::create(b, i32Type, p),
      arith::ShLIOp::create(b, arith::BitcastOp::create(b, i32Type, biased),
                            i32(23)));
  Value weight = arith::BitcastOp::create(b, b.getF32Type(), bits);
  if (!nMax)
    return weight;
  // n >= n_max: dropped (sparsification).
  return select(cmpF(arith::CmpFPredicate::OGE, y, f32(limit)), f32(0), weight);
}

SmallVector<Value>
GpuBuilder::ifElseYield(Value cond, TypeRange types,
                        llvm::function_ref<SmallVector<Value>()> then,
                        llvm::function_ref<SmallVector<Value>()> otherwise) {
  auto op = scf::IfOp::create(b, types, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(op.thenBlock());
  scf::YieldOp::create(b, then());
  b.setInsertionPointToStart(op.elseBlock());
  scf::YieldOp::create(b, otherwise());
  return SmallVector<Value>(op.getResults());
}

Value GpuBuilder::ballot(Value pred) {
  return NVVM::VoteSyncOp::create(b, b.getI32Type(), i32(-1), pred,
                                  NVVM::VoteSyncKind::ballot);
}

Value GpuBuilder::popc(Value x) { return math::CtPopOp::create(b, x); }

Value GpuBuilder::shuffleIdx(Value x, Value srcLane) {
  return gpu::ShuffleOp::create(b, x, srcLane, i32(32), gpu::ShuffleMode::IDX)
      .getShuffleResult();
}

Value GpuBuilder::shuffleXor(Value x, int64_t mask) {
  return gpu::ShuffleOp::create(b, x, i32(mask), i32(32), gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

Value GpuBuilder::warpMax(Value x, ArrayRef<int64_t> masks) {
  for (int64_t mask : masks)
    x = fmax(x, shuffleXor(x, mask));
  return x;
}

Value GpuBuilder::warpSum(Value x, ArrayRef<int64_t> masks) {
  for (int64_t mask : masks)
    x = fadd(x, shuffleXor(x, mask));
  return x;
}

SmallVector<Value> GpuBuilder::ldmatrix(Value smem, ValueRange indices,
                                        int64_t numTiles, bool transpose) {
  Type elementType = cast<MemRefType>(smem.getType()).getElementType();
  auto fragType = VectorType::get({numTiles, 2}, elementType);
  Value frag = nvgpu::LdMatrixOp::create(b, fragType, smem, indices, transpose,
                                         numTiles);
  // One i32 per matrix: extract the row first, as vector-to-llvm only
  // bitcasts 1-D vectors.
  SmallVector<Value> regs;
  for (int64_t i = 0; i < numTiles; ++i) {
    Value pair = vector::ExtractOp::create(b, frag, i);
    Value word = vector::BitCastOp::create(
        b, VectorType::get({1}, b.getI32Type()), pair);
    regs.push_back(vector::ExtractOp::create(b, word, 0));
  }
  return regs;
}

SmallVector<Value> GpuBuilder::mma(Type elementType, ArrayRef<Value> a,
                                   ArrayRef<Value> bFrag, ArrayRef<Value> acc) {
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes ptxType =
      elementType.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  // nvvm.mma.sync takes bf16 pairs as i32 but f16 pairs as vector<2xf16>.
  auto operands = [&](ArrayRef<Value> regs) {
    SmallVector<Value> out(regs);
    if (elementType.isF16())
      for (Value &reg : out)
        reg =
            LLVM::BitcastOp::create(b, VectorType::get({2}, elementType), reg);
    return out;
  };
  Value d = NVVM::MmaOp::create(
      b, resultType, operands(a), operands(bFrag), acc, /*shape=*/{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  return extractQuad(b, d);
}

SmallVector<Value> GpuBuilder::mmaS8(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                                     ArrayRef<Value> acc) {
  Type i32 = b.getI32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  Value d = NVVM::MmaOp::create(
      b, resultType, a, bFrag, acc, /*shape=*/{16, 8, 32},
      /*b1Op=*/std::nullopt, NVVM::MMAIntOverflow::wrapped,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::s8, NVVM::MMATypes::s8},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  return extractQuad(b, d);
}

Value GpuBuilder::packPair(Type elementType, Value lo, Value hi) {
  // One cvt for the pair (LLVM converts a vector<2xf32> one element at a
  // time); its first source is the high half.
  std::string type = elementType.isBF16() ? "bf16x2" : "f16x2";
  return LLVM::InlineAsmOp::create(
             b, b.getI32Type(), ValueRange{hi, lo},
             "cvt.rn." + type + ".f32 $0, $1, $2;", "=r,f,f",
             /*has_side_effects=*/false, /*is_align_stack=*/false,
             LLVM::tailcallkind::TailCallKind::None,
             /*asm_dialect=*/LLVM::AsmDialectAttr(),
             /*operand_attrs=*/ArrayAttr())
      .getResult(0);
}

std::array<Value, 3> GpuBuilder::splitIntoBf16Parts(Value x) {
  auto rounded = [&](Value v) -> Value {
    return arith::ExtFOp::create(
        b, b.getF32Type(),
        arith::TruncFOp::create(b, b.getBF16Type(), v).getResult());
  };
  Value hi = rounded(x);
  Value mid = rounded(fsub(x, hi));
  return {hi, mid, fsub(fsub(x, hi), mid)};
}

void GpuBuilder::copyAsync(Value dst, ValueRange dstIndices, Value src,
                           ValueRange srcIndices, int64_t elements,
                           Value valid) {
  Value srcElements = select(valid, idx(elements), idx(0));
  int64_t bytes =
      elements *
      cast<MemRefType>(dst.getType()).getElementType().getIntOrFloatBitWidth() /
      8;
  // cp.async.cg (L2 only) exists for 16-byte copies alone.
  nvgpu::DeviceAsyncCopyOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst, dstIndices, src,
      srcIndices, b.getIndexAttr(elements), srcElements,
      /*bypassL1=*/bytes == 16 ? b.getUnitAttr() : UnitAttr());
}

/// Flat index of (batch, head, query, split) in the split-KV partials.
static Value partialRow(GpuBuilder &gb, const SdpaGpuPlan &plan, Value batch,
                        Value head, Value queryIdx, Value split) {
  Value row = gb.add(gb.mul(batch, gb.idx(plan.queryHeads)), head);
  row = gb.add(gb.mul(row, plan.queryLen), queryIdx);
  return gb.add(gb.mul(row, plan.splits), split);
}

void mlir::attn::storeRowValues(GpuBuilder &gb, const SdpaGpuPlan &plan,
                                Value batch, Value head, Value queryIdx,
                                Value split, Value dim, ArrayRef<Value> values,
                                Value sum) {
  ImplicitLocOpBuilder &b = gb.b;
  // A row that saw no key gives 0 (and lse = -inf).
  Value seen = gb.cmpF(arith::CmpFPredicate::OGT, sum, gb.f32(0));
  Value inverse =
      gb.select(seen, arith::DivFOp::create(b, gb.f32(1), sum), gb.f32(0));
  SmallVector<Value> scaled;
  for (Value v : values)
    scaled.push_back(gb.fmul(v, inverse));
  auto f32Vector = VectorType::get({(int64_t)values.size()}, b.getF32Type());
  Value vec = vector::FromElementsOp::create(b, f32Vector, scaled);
  Value single = gb.cmp(arith::CmpIPredicate::eq, plan.splits, gb.idx(1));
  gb.ifThenElse(
      single,
      [&] {
        Value out = vec;
        if (!plan.elementType.isF32())
          out = arith::TruncFOp::create(
              b, VectorType::get(f32Vector.getShape(), plan.elementType), vec);
        vector::StoreOp::create(b, out, plan.output,
                                ValueRange{batch, head, queryIdx, dim});
      },
      [&] {
        Value row = partialRow(gb, plan, batch, head, queryIdx, split);
        Value flat = gb.add(gb.mul(row, gb.idx(plan.valueDim)), dim);
        vector::StoreOp::create(b, vec, plan.partialOutput, flat);
      });
}

/// Whether the kernels can evaluate `generic` per element in place of
/// reading its result: all loops parallel, the result written whole (its
/// init never read) through the identity map, and a body of pure scalar
/// ops on the inputs' elements, the loop indices and values from above.
static bool isElementwiseMaskProducer(linalg::GenericOp generic) {
  if (generic.getNumDpsInits() != 1 || generic.getNumResults() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return false;
  OpOperand *init = generic.getDpsInitOperand(0);
  if (!generic.getMatchingIndexingMap(init).isIdentity() ||
      generic.payloadUsesValueFromOperand(init))
    return false;
  for (OpOperand *input : generic.getDpsInputOperands())
    if (!isa<RankedTensorType>(input->get().getType()))
      return false;
  for (Operation &op : generic.getBody()->without_terminator()) {
    if (!isPure(&op) || op.getNumRegions() != 0)
      return false;
    auto shaped = [](Value v) { return isa<ShapedType>(v.getType()); };
    if (llvm::any_of(op.getOperands(), shaped) ||
        llvm::any_of(op.getResults(), shaped))
      return false;
  }
  return true;
}

SdpaMask mlir::attn::bindSdpaMask(GpuBuilder &gb, Value mask) {
  SdpaMask bound;
  bound.type = cast<ShapedType>(mask.getType());
  auto generic = mask.getDefiningOp<linalg::GenericOp>();
  if (!generic || !isElementwiseMaskProducer(generic)) {
    bound.buffer = gb.toBuffer(mask);
    return bound;
  }
  bound.producer = generic;
  for (OpOperand *input : generic.getDpsInputOperands())
    bound.producerInputs.push_back(gb.toBuffer(input->get()));
  return bound;
}

/// The indices of the score (batch, head, queryIdx, key) into a mask of
/// `type`: its trailing dims, 0 where it broadcasts.
static SmallVector<Value> maskIndices(GpuBuilder &gb, ShapedType type,
                                      Value batch, Value head, Value queryIdx,
                                      Value key) {
  Value full[] = {batch, head, queryIdx, key};
  int64_t offset = 4 - type.getRank();
  SmallVector<Value> indices;
  for (int64_t d = 0; d < type.getRank(); ++d)
    indices.push_back(type.getDimSize(d) == 1 ? gb.idx(0) : full[offset + d]);
  return indices;
}

bool SdpaMask::inputReads(unsigned input, int64_t scoreDim) const {
  int64_t dim = scoreDim - (4 - type.getRank());
  if (dim < 0 || type.getDimSize(dim) == 1)
    return false;
  linalg::GenericOp generic = producer;
  return generic.getMatchingIndexingMap(generic.getDpsInputOperand(input))
      .isFunctionOfDim(dim);
}

bool SdpaMask::stagedWithKeys(unsigned input, int64_t groupSize) const {
  if (!inputReads(input, 3) || inputReads(input, 2) ||
      (groupSize != 1 && inputReads(input, 1)))
    return false;
  Type element =
      cast<MemRefType>(producerInputs[input].getType()).getElementType();
  // cp.async copies 4, 8 or 16 bytes.
  return element.isIntOrFloat() && (element.getIntOrFloatBitWidth() == 32 ||
                                    element.getIntOrFloatBitWidth() == 64);
}

SmallVector<Value> mlir::attn::maskInputIndices(GpuBuilder &gb,
                                                const SdpaGpuPlan &plan,
                                                unsigned input, Value batch,
                                                Value head, Value queryIdx,
                                                Value key) {
  const SdpaMask &mask = plan.mask;
  linalg::GenericOp producer = mask.producer;
  SmallVector<Value> indices =
      maskIndices(gb, mask.type, batch, head, queryIdx, key);
  std::optional<SmallVector<Value, 8>> inputIndices = affine::expandAffineMap(
      gb.b, gb.b.getLoc(),
      producer.getMatchingIndexingMap(producer.getDpsInputOperand(input)),
      indices);
  return SmallVector<Value>(inputIndices->begin(), inputIndices->end());
}

Value mlir::attn::loadMaskInput(GpuBuilder &gb, const SdpaGpuPlan &plan,
                                unsigned input, Value batch, Value head,
                                Value queryIdx, Value key) {
  return memref::LoadOp::create(
      gb.b, plan.mask.producerInputs[input],
      maskInputIndices(gb, plan, input, batch, head, queryIdx, key));
}

Value mlir::attn::loadMaskTerm(GpuBuilder &gb, const SdpaGpuPlan &plan,
                               Value batch, Value head, Value queryIdx,
                               Value key, ArrayRef<Value> knownInputs) {
  ImplicitLocOpBuilder &b = gb.b;
  const SdpaMask &mask = plan.mask;
  SmallVector<Value> indices =
      maskIndices(gb, mask.type, batch, head, queryIdx, key);
  Value term;
  if (mask.buffer) {
    term = memref::LoadOp::create(b, mask.buffer, indices);
  } else {
    // The producer's body on its inputs' elements at this score.
    linalg::GenericOp producer = mask.producer;
    Block *body = producer.getBody();
    IRMapping mapping;
    for (unsigned i = 0; i < mask.producerInputs.size(); ++i) {
      Value element = i < knownInputs.size() ? knownInputs[i] : Value();
      if (!element)
        element = loadMaskInput(gb, plan, i, batch, head, queryIdx, key);
      mapping.map(
          producer.getMatchingBlockArgument(producer.getDpsInputOperand(i)),
          element);
    }
    for (Operation &op : body->without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(op))
        mapping.map(index.getResult(), indices[index.getDim()]);
      else
        b.clone(op, mapping);
    }
    term = mapping.lookup(body->getTerminator()->getOperand(0));
  }
  if (term.getType().isInteger(1))
    return term;
  return gb.fmul(gb.toF32(term), gb.f32(M_LOG2E));
}

void mlir::attn::storeRowLse(GpuBuilder &gb, const SdpaGpuPlan &plan,
                             Value batch, Value head, Value queryIdx,
                             Value split, Value max2, Value sum) {
  ImplicitLocOpBuilder &b = gb.b;
  Value seen = gb.cmpF(arith::CmpFPredicate::OGT, sum, gb.f32(0));
  if (plan.weightScale() != 1.0f)
    sum = gb.fmul(sum, gb.f32(1.0f / plan.weightScale()));
  Value lse2 = gb.fadd(max2, gb.log2(gb.select(seen, sum, gb.f32(1))));
  Value lse = gb.select(seen, gb.fmul(lse2, gb.f32(M_LN2)), gb.negInf());
  Value single = gb.cmp(arith::CmpIPredicate::eq, plan.splits, gb.idx(1));
  gb.ifThenElse(
      single,
      [&] {
        if (plan.lse)
          memref::StoreOp::create(b, lse, plan.lse,
                                  ValueRange{batch, head, queryIdx});
      },
      [&] {
        Value row = partialRow(gb, plan, batch, head, queryIdx, split);
        memref::StoreOp::create(b, lse, plan.partialLse, row);
      });
}

SharedMemory::SharedMemory(GpuBuilder &gb, gpu::LaunchOp launch)
    : gb(gb), launch(launch) {
  auto space = gpu::AddressSpaceAttr::get(launch.getContext(),
                                          gpu::AddressSpace::Workgroup);
  dynamicBase = gpu::DynamicSharedMemoryOp::create(
      gb.b, MemRefType::get({ShapedType::kDynamic}, gb.b.getI8Type(),
                            MemRefLayoutAttrInterface(), space));
}

Value SharedMemory::buffer(ArrayRef<int64_t> shape, Type elementType) {
  auto space = gpu::AddressSpaceAttr::get(launch.getContext(),
                                          gpu::AddressSpace::Workgroup);
  auto type =
      MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(), space);
  int64_t offset = llvm::alignTo(dynamicBytes, 16);
  dynamicBytes = offset + type.getNumElements() *
                              (elementType.getIntOrFloatBitWidth() / 8);
  return memref::ViewOp::create(gb.b, type, dynamicBase, gb.idx(offset),
                                ValueRange{});
}

void SharedMemory::finish() {
  OpBuilder::InsertionGuard guard(gb.b);
  gb.b.setInsertionPoint(launch);
  launch.getDynamicSharedMemorySizeMutable().assign(gb.i32(dynamicBytes));
}

BlockOps::BlockOps(GpuBuilder &gb, SharedMemory &shared, gpu::LaunchOp launch,
                   int64_t threads)
    : gb(gb), threads(threads), warps(threads / 32) {
  tid = launch.getThreadIds().x;
  lane = gb.remIdx(tid, 32);
  warp = gb.divIdx(tid, 32);
  floatScratch = shared.buffer({warps}, gb.b.getF32Type());
}

Value BlockOps::reduce(Value x, bool isMax) {
  ImplicitLocOpBuilder &b = gb.b;
  auto combine = [&](Value u, Value v) {
    return isMax ? gb.fmax(u, v) : gb.fadd(u, v);
  };
  for (int64_t mask : {16, 8, 4, 2, 1})
    x = combine(x, gb.shuffleXor(x, mask));
  gb.ifThen(gb.cmp(arith::CmpIPredicate::eq, lane, gb.idx(0)),
            [&] { memref::StoreOp::create(b, x, floatScratch, warp); });
  gpu::BarrierOp::create(b);
  Value result = memref::LoadOp::create(b, floatScratch, gb.idx(0));
  for (int64_t w = 1; w < warps; ++w)
    result =
        combine(result, memref::LoadOp::create(b, floatScratch, gb.idx(w)));
  // The scratch is reused by the next call.
  gpu::BarrierOp::create(b);
  return result;
}

SmallVector<Value> mlir::attn::stagedTileLoop(
    GpuBuilder &gb, int64_t stages, Value numTiles, ValueRange init,
    llvm::function_ref<void(Value)> load,
    llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body,
    llvm::function_ref<void()> afterFirstLoads) {
  ImplicitLocOpBuilder &b = gb.b;
  // The first stages - 1 tiles in flight, one commit group each.
  for (int64_t s = 0; s + 1 < stages; ++s) {
    Value tile = gb.idx(s);
    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, tile, numTiles),
              [&] { load(tile); });
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  if (afterFirstLoads)
    afterFirstLoads();
  SmallVector<Value> results = gb.forCarrying(
      gb.idx(0), numTiles, gb.idx(1), init,
      [&](Value tile, ValueRange carried) {
        // Groups complete in order: with the newest stages - 2 still in
        // flight, this tile's copies are done.
        NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
        // One barrier per tile: past it every thread's copies of this tile
        // have landed and every warp is done with the previous tile, whose
        // stage the next load refills.
        gpu::BarrierOp::create(b);
        Value ahead = gb.add(tile, gb.idx(stages - 1));
        gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, ahead, numTiles),
                  [&] { load(ahead); });
        NVVM::CpAsyncCommitGroupOp::create(b);
        return body(tile, carried);
      });
  // The stages are free for whatever follows.
  gpu::BarrierOp::create(b);
  return results;
}

std::pair<Value, Value> SdpaGpuPlan::splitKeys(GpuBuilder &gb,
                                               Value split) const {
  auto boundary = [&](Value s) {
    return gb.mul(gb.divIdx(gb.mul(s, keyTiles), splits), gb.idx(keyTile));
  };
  return {boundary(split), boundary(gb.add(split, gb.idx(1)))};
}

AttentionBlock AttentionBlock::of(GpuBuilder &gb, gpu::LaunchOp launch,
                                  const SdpaGpuPlan &plan) {
  Value z = launch.getBlockIds().z;
  return {launch.getBlockIds().y, gb.divIdx(z, plan.splits),
          gb.remIdx(z, plan.splits),
          gb.mul(gb.idx(plan.groupSize()), plan.queryLen)};
}

gpu::LaunchOp mlir::attn::launchKernel(ImplicitLocOpBuilder &b,
                                       const std::string &name,
                                       ArrayRef<Value> grid, int64_t threads,
                                       int64_t dynamicSharedBytes,
                                       Value &token) {
  GpuBuilder gb(b);
  auto op = gpu::LaunchOp::create(
      b, grid[0], grid[1], grid[2], gb.idx(threads), gb.idx(1), gb.idx(1),
      dynamicSharedBytes ? gb.i32(dynamicSharedBytes) : Value(),
      gpu::AsyncTokenType::get(b.getContext()), token,
      /*workgroupAttributions=*/{}, /*privateAttributions=*/{},
      /*clusterSizeX=*/nullptr, /*clusterSizeY=*/nullptr,
      /*clusterSizeZ=*/nullptr,
      FlatSymbolRefAttr::get(b.getContext(), name + "_kernels"),
      FlatSymbolRefAttr::get(b.getContext(), name));
  token = op.getAsyncToken();
  return op;
}

Value mlir::attn::allocScratch(ImplicitLocOpBuilder &b, Type elementType,
                               Value elements, Value &token) {
  GpuBuilder gb(b);
  auto alloc = gpu::AllocOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, elementType),
      gpu::AsyncTokenType::get(b.getContext()), token,
      gb.maxIdx(elements, gb.idx(1)), ValueRange{});
  alloc->setAttr(bufferization::BufferizationDialect::kManualDeallocation,
                 b.getUnitAttr());
  token = alloc.getAsyncToken();
  return alloc.getMemref();
}

void mlir::attn::freeScratch(ImplicitLocOpBuilder &b, Value buffer,
                             Value &token) {
  auto free = gpu::DeallocOp::create(
      b, gpu::AsyncTokenType::get(b.getContext()), token, buffer);
  free->setAttr(bufferization::BufferizationDialect::kManualDeallocation,
                b.getUnitAttr());
  token = free.getAsyncToken();
}

void mlir::attn::emitKernelBody(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                                llvm::function_ref<void()> body) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  body();
  gpu::TerminatorOp::create(b);
}

std::string mlir::attn::kernelPrefix(Operation *op) {
  if (auto func = op->getParentOfType<FunctionOpInterface>())
    return (func.getName() + "_").str();
  return "";
}
