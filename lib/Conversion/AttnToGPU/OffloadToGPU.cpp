//===- OffloadToGPU.cpp - host loops and buffers onto the GPU ---*- C++ -*-===//
//
// The attn-offload-to-gpu pass. After bufferization the host code of a GPU
// module still holds whatever the rewrites built around the attention ops
// (HyperAttention's row tables, gathers, block layouts, masks and merges as
// linalg ops, now scf.parallel loops and memref.copy) and the buffers they
// use. This pass
// runs each of those loops as a GPU kernel and puts every buffer a kernel
// can touch in device memory; buffers the host reads or writes itself
// (shape operands) stay on the host.
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_OFFLOADTOGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Threads per block of the loop kernels.
constexpr int64_t kLoopThreads = 256;
/// Most elements of the innermost dim one lane handles (32 apart, so that
/// each access of a warp is contiguous).
constexpr int64_t kMaxElementsPerLane = 8;

bool isHostCode(Operation *op) {
  return !op->getParentOfType<gpu::LaunchOp>() &&
         !op->getParentOfType<gpu::GPUModuleOp>();
}

/// Whether only host code reads or writes `buffer` (a memref.alloc or
/// memref.get_global result, or a view of one): host loads and stores of
/// its elements, host functions it is passed to (the helpers of buffer
/// deallocation), the shape operand of memref.reshape, its dealloc.
bool staysOnHost(Value buffer) {
  return llvm::all_of(buffer.getUses(), [](OpOperand &use) {
    Operation *user = use.getOwner();
    if (!isHostCode(user))
      return false;
    if (auto store = dyn_cast<memref::StoreOp>(user))
      return store.getMemRef() == use.get();
    if (auto reshape = dyn_cast<memref::ReshapeOp>(user))
      return reshape.getShape() == use.get();
    if (auto cast = dyn_cast<memref::CastOp>(user))
      return staysOnHost(cast.getResult());
    return isa<memref::LoadOp, memref::DeallocOp, func::CallOp,
               memref::ExtractAlignedPointerAsIndexOp>(user);
  });
}

/// The buffer a view (subview, reshape, cast, ...) of `value` looks into.
Value viewSource(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    value = view.getViewSource();
  }
  return value;
}

/// The memref and indices of a memref.load or memref.store (null
/// otherwise).
std::pair<Value, OperandRange> accessOf(Operation *op) {
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return {load.getMemRef(), load.getIndices()};
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return {store.getMemRef(), store.getIndices()};
  return {Value(), OperandRange(op->operand_end(), op->operand_end())};
}

/// memref.copy -> a parallel loop of loads and stores (then a kernel):
/// device-to-device copies of any layout.
void copyToLoop(memref::CopyOp copy) {
  ImplicitLocOpBuilder b(copy.getLoc(), copy);
  GpuBuilder gb(b);
  Value target = copy.getTarget();
  auto type = cast<MemRefType>(target.getType());
  SmallVector<Value> lower, upper, steps;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    lower.push_back(gb.idx(0));
    // Static sizes as constants: the loop kernel plans on static extents.
    upper.push_back(type.isDynamicDim(d)
                        ? memref::DimOp::create(b, target, d).getResult()
                        : gb.idx(type.getDimSize(d)));
    steps.push_back(gb.idx(1));
  }
  scf::ParallelOp::create(
      b, lower, upper, steps,
      [&](OpBuilder &nested, Location loc, ValueRange ivs) {
        Value element =
            memref::LoadOp::create(nested, loc, copy.getSource(), ivs);
        memref::StoreOp::create(nested, loc, element, target, ivs);
      });
  copy.erase();
}

/// memref.reshape to a ranked identity layout -> memref.reinterpret_cast
/// with the sizes the host loads from the shape operand (the upstream GPU
/// host lowering has no pattern for the reshape).
void reshapeToCast(memref::ReshapeOp reshape) {
  auto resultType = cast<MemRefType>(reshape.getResult().getType());
  ImplicitLocOpBuilder b(reshape.getLoc(), reshape);
  GpuBuilder gb(b);
  SmallVector<int64_t> strides = resultType.getStridesAndOffset().first;
  SmallVector<OpFoldResult> sizes(resultType.getRank()),
      strideValues(resultType.getRank());
  Value stride = gb.idx(1);
  for (int64_t d = resultType.getRank() - 1; d >= 0; --d) {
    Value size;
    if (resultType.isDynamicDim(d)) {
      size = memref::LoadOp::create(b, reshape.getShape(), gb.idx(d));
      sizes[d] = size;
    } else {
      size = gb.idx(resultType.getDimSize(d));
      sizes[d] = b.getIndexAttr(resultType.getDimSize(d));
    }
    strideValues[d] = ShapedType::isDynamic(strides[d])
                          ? OpFoldResult(stride)
                          : OpFoldResult(b.getIndexAttr(strides[d]));
    stride = gb.mul(stride, size);
  }
  // The source of memref.reshape has the identity layout: offset 0.
  Value view = memref::ReinterpretCastOp::create(
      b, resultType, reshape.getSource(), OpFoldResult(b.getIndexAttr(0)),
      sizes, strideValues);
  reshape.replaceAllUsesWith(view);
  reshape.erase();
}

/// One host-level scf.parallel (no reductions) as a kernel. When the
/// innermost extent is a static multiple of 32, each warp takes 32 * E
/// consecutive elements of it (E <= 8 per lane, 32 apart) and computes the
/// outer indices once for all E; otherwise each thread takes one element.
/// Index arithmetic is 32-bit when the iteration space allows (a second
/// launch in 64 bits takes over above 2^31 elements; the other gets an empty
/// grid).
///
/// Loads and stores indexed by the innermost induction variable itself
/// (rows of Q, K, V, outputs: the glue's gathers, copies and merges) are
/// moved as vectors of up to 16 bytes when the host finds every such
/// buffer aligned for them: each thread then takes W consecutive elements
/// (W copies of the body, one vector access per such load or store), so
/// that each thread has 4 to 8 times the bytes in flight. Otherwise the
/// scalar kernels above run.
class LoopKernel {
public:
  LoopKernel(scf::ParallelOp loop, std::string name)
      : loop(loop), b(loop.getLoc(), loop), gb(b), name(std::move(name)) {}

  void emit() {
    int64_t rank = loop.getNumLoops();
    for (int64_t d = 0; d < rank; ++d)
      extents.push_back(
          gb.ceilDiv(gb.sub(loop.getUpperBound()[d], loop.getLowerBound()[d]),
                     loop.getStep()[d]));
    std::optional<int64_t> inner = staticExtent(rank - 1);
    planVectorAccesses(inner);
    if (inner && *inner % 32 == 0) {
      perLane = kMaxElementsPerLane;
      while ((*inner / 32) % perLane)
        perLane /= 2;
      warpsPerRow = *inner / (32 * perLane);
    }
    Value total = gb.idx(1);
    for (Value extent : extents)
      total = gb.mul(total, extent);
    Value threads =
        perLane ? gb.mul(gb.divIdx(total, gb.idx(32 * perLane)), gb.idx(32))
                : total;
    Value blocks = gb.ceilDiv(threads, gb.idx(kLoopThreads));
    Value fitsI32 =
        gb.cmp(arith::CmpIPredicate::ult, total, gb.idx(int64_t(1) << 31));
    Value needsI64 =
        gb.cmp(arith::CmpIPredicate::uge, total, gb.idx(int64_t(1) << 31));

    Value vectorsFit = vectorWidth ? vectorAccessesAligned() : Value();
    Value scalarBlocks = blocks;
    if (vectorsFit)
      scalarBlocks = gb.select(vectorsFit, gb.idx(0), blocks);

    auto tokenType = gpu::AsyncTokenType::get(b.getContext());
    Value token =
        gpu::WaitOp::create(b, tokenType, ValueRange{}).getAsyncToken();
    auto launchBoth = [&](StringRef suffix, Value gridBlocks,
                          function_ref<void(gpu::LaunchOp, Type)> body) {
      for (bool narrow : {true, false}) {
        Value grid =
            gb.select(narrow ? fitsI32 : needsI64, gridBlocks, gb.idx(0));
        gpu::LaunchOp launch = launchKernel(
            b, (Twine(name) + suffix + (narrow ? "_i32" : "_i64")).str(),
            {grid, gb.idx(1), gb.idx(1)}, kLoopThreads, 0, token);
        emitKernelBody(b, launch, [&] {
          body(launch, narrow ? b.getI32Type() : b.getI64Type());
        });
        mathToPtx(launch);
      }
    };
    launchBoth("", scalarBlocks, [&](gpu::LaunchOp launch, Type type) {
      emitBody(launch, type);
    });
    if (vectorsFit) {
      Value vectorBlocks = gb.select(
          vectorsFit,
          gb.ceilDiv(gb.divIdx(total, vectorWidth), gb.idx(kLoopThreads)),
          gb.idx(0));
      launchBoth("_vec", vectorBlocks, [&](gpu::LaunchOp launch, Type type) {
        emitVectorBody(launch, type);
      });
    }
    gpu::WaitOp::create(b, Type(), token);
    loop.erase();
  }

private:
  /// Finds the body's loads and stores whose last index is the innermost
  /// induction variable (on buffers defined outside the loop, of 1- to
  /// 8-byte elements) and the vector width W for them: 16 bytes of the
  /// widest element, at most kMaxElementsPerLane, dividing the innermost
  /// extent (which starts at 0 with step 1).
  void planVectorAccesses(std::optional<int64_t> inner) {
    std::optional<int64_t> lower =
        getConstantIntValue(loop.getLowerBound().back());
    std::optional<int64_t> step = getConstantIntValue(loop.getStep().back());
    if (!inner || lower != 0 || step != 1)
      return;
    Value iv = loop.getInductionVars().back();
    int64_t widestBytes = 0;
    for (Operation &op : loop.getBody()->without_terminator()) {
      auto [memref, indices] = accessOf(&op);
      if (!memref || indices.empty() || indices.back() != iv ||
          !loop.isDefinedOutsideOfLoop(memref))
        continue;
      auto type = cast<MemRefType>(memref.getType());
      int64_t innerStride = type.getStridesAndOffset().first.back();
      if (!ShapedType::isDynamic(innerStride) && innerStride != 1)
        continue;
      Type element = type.getElementType();
      if (!element.isIntOrFloat())
        continue;
      int64_t bits = element.getIntOrFloatBitWidth();
      if (bits < 8 || bits > 64 || !llvm::isPowerOf2_64(bits))
        continue;
      contiguousAccesses.push_back(&op);
      widestBytes = std::max(widestBytes, bits / 8);
    }
    if (contiguousAccesses.empty())
      return;
    int64_t width = std::min(16 / widestBytes, kMaxElementsPerLane);
    while (width > 1 && *inner % width)
      width /= 2;
    if (width > 1)
      vectorWidth = width;
    else
      contiguousAccesses.clear();
  }

  /// Host check that every buffer of a vector access allows it: a unit
  /// innermost stride, the other strides multiples of W, and its first
  /// element aligned to W elements.
  Value vectorAccessesAligned() {
    Value fits = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
    auto isMultiple = [&](Value x, int64_t d) {
      return gb.cmp(arith::CmpIPredicate::eq, gb.remIdx(x, d), gb.idx(0));
    };
    llvm::SmallDenseSet<Value> checked;
    for (Operation *op : contiguousAccesses) {
      Value memref = accessOf(op).first;
      if (!checked.insert(memref).second)
        continue;
      int64_t bytes =
          cast<MemRefType>(memref.getType()).getElementTypeBitWidth() / 8;
      auto metadata = memref::ExtractStridedMetadataOp::create(b, memref);
      ValueRange strides = metadata.getStrides();
      fits = gb.andI(
          fits, gb.cmp(arith::CmpIPredicate::eq, strides.back(), gb.idx(1)));
      for (Value stride : strides.drop_back())
        fits = gb.andI(fits, isMultiple(stride, vectorWidth));
      Value address =
          gb.add(memref::ExtractAlignedPointerAsIndexOp::create(b, memref),
                 gb.mul(metadata.getOffset(), gb.idx(bytes)));
      fits = gb.andI(fits, isMultiple(address, vectorWidth * bytes));
    }
    return fits;
  }

  std::optional<int64_t> staticExtent(int64_t d) {
    std::optional<int64_t> lower = getConstantIntValue(loop.getLowerBound()[d]);
    std::optional<int64_t> upper = getConstantIntValue(loop.getUpperBound()[d]);
    std::optional<int64_t> step = getConstantIntValue(loop.getStep()[d]);
    if (!lower || !upper || !step || *step <= 0)
      return std::nullopt;
    return llvm::divideCeil(std::max<int64_t>(*upper - *lower, 0), *step);
  }

  Value castTo(Value v, Type type) {
    return arith::IndexCastUIOp::create(b, type, v);
  }

  /// Fills `positions[first..last]` with the digits of `linear` (of type
  /// `type`) in the mixed radix of the extents, the last one fastest.
  void delinearize(Value linear, int64_t first, int64_t last, Type type,
                   SmallVectorImpl<Value> &positions) {
    for (int64_t d = last; d > first; --d) {
      Value extent = castTo(extents[d], type);
      positions[d] = arith::RemUIOp::create(b, linear, extent);
      linear = arith::DivUIOp::create(b, linear, extent);
    }
    positions[first] = linear;
  }

  /// Copies of the loop body, one per entry of `positionSets` (iteration
  /// numbers in their own type), emitted op by op across the copies:
  /// iterations of a parallel loop are independent, and interleaved every
  /// copy's loads issue before any copy's stores, which the backend could
  /// not reorder (it cannot tell the buffers apart).
  /// With `vectorized`, the copies are consecutive positions of the
  /// innermost dim, the first a multiple of W, and each access of
  /// contiguousAccesses is one vector access for all of them.
  void cloneBodies(ArrayRef<SmallVector<Value>> positionSets,
                   bool vectorized = false) {
    SmallVector<IRMapping> mappings(positionSets.size());
    for (auto [mapping, positions] : llvm::zip(mappings, positionSets))
      for (auto [d, position] : llvm::enumerate(positions)) {
        Value iv = gb.add(
            loop.getLowerBound()[d],
            gb.mul(castTo(position, b.getIndexType()), loop.getStep()[d]));
        mapping.map(loop.getInductionVars()[d], iv);
      }
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (vectorized && llvm::is_contained(contiguousAccesses, &op)) {
        cloneAsVector(op, mappings);
        continue;
      }
      for (IRMapping &mapping : mappings)
        b.clone(op, mapping);
    }
  }

  /// One vector load or store of W elements for the W copies of `op`
  /// (their indices differ in the last one only, by 0 to W - 1).
  void cloneAsVector(Operation &op, MutableArrayRef<IRMapping> mappings) {
    auto [memref, indices] = accessOf(&op);
    Value view = unitStrideViews.lookup(memref);
    auto element = cast<MemRefType>(memref.getType()).getElementType();
    auto type = VectorType::get({vectorWidth}, element);
    llvm::Align align(vectorWidth * element.getIntOrFloatBitWidth() / 8);
    SmallVector<Value> at = llvm::map_to_vector(indices, [&](Value index) {
      return mappings[0].lookupOrDefault(index);
    });
    if (auto load = dyn_cast<memref::LoadOp>(op)) {
      Value vector = vector::LoadOp::create(b, type, view, at,
                                            /*nontemporal=*/false, align);
      for (auto [e, mapping] : llvm::enumerate(mappings))
        mapping.map(load.getResult(),
                    vector::ExtractOp::create(b, vector, int64_t(e)));
      return;
    }
    Value stored = cast<memref::StoreOp>(op).getValueToStore();
    SmallVector<Value> elements =
        llvm::map_to_vector(mappings, [&](IRMapping &mapping) {
          return mapping.lookupOrDefault(stored);
        });
    vector::StoreOp::create(
        b, vector::FromElementsOp::create(b, type, elements), view, at,
        /*nontemporal=*/false, align);
  }

  /// `memref` with a static unit innermost stride, as vector.load and
  /// vector.store require (the host checked that it is 1).
  Value unitStrideView(Value memref) {
    auto type = cast<MemRefType>(memref.getType());
    auto [strides, offset] = type.getStridesAndOffset();
    if (strides.back() == 1)
      return memref;
    strides.back() = 1;
    auto viewType =
        MemRefType::get(type.getShape(), type.getElementType(),
                        StridedLayoutAttr::get(b.getContext(), offset, strides),
                        type.getMemorySpace());
    auto metadata = memref::ExtractStridedMetadataOp::create(b, memref);
    // Static in the type: attributes; dynamic: the descriptor's values.
    auto fold = [&](int64_t known, Value actual) -> OpFoldResult {
      return ShapedType::isDynamic(known) ? OpFoldResult(actual)
                                          : b.getIndexAttr(known);
    };
    SmallVector<OpFoldResult> sizes, viewStrides;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      sizes.push_back(fold(type.getDimSize(d), metadata.getSizes()[d]));
      viewStrides.push_back(fold(strides[d], metadata.getStrides()[d]));
    }
    return memref::ReinterpretCastOp::create(b, viewType, memref,
                                             fold(offset, metadata.getOffset()),
                                             sizes, viewStrides);
  }

  /// The math ops of the glue (f32: the polynomial exp and log, the
  /// quantization's rounding) as arith and inline PTX, since the NVVM
  /// lowering would make them libdevice calls: fma as a multiply and an add
  /// (which the backend contracts again), floor as cvt.rmi, round-half-even
  /// as cvt.rni, abs by the sign bit.
  static void mathToPtx(gpu::LaunchOp launch) {
    SmallVector<Operation *> ops;
    launch.walk([&](Operation *op) {
      if (isa<math::FmaOp, math::FloorOp, math::AbsFOp, math::RoundEvenOp>(
              op) &&
          op->getResult(0).getType().isF32())
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      ImplicitLocOpBuilder b(op->getLoc(), op);
      GpuBuilder gb(b);
      Value replacement;
      if (isa<math::FmaOp>(op))
        replacement = gb.fadd(gb.fmul(op->getOperand(0), op->getOperand(1)),
                              op->getOperand(2));
      else if (isa<math::FloorOp>(op))
        replacement = gb.floorF(op->getOperand(0));
      else if (isa<math::RoundEvenOp>(op))
        replacement = gb.roundEven(op->getOperand(0));
      else
        replacement = gb.absF(op->getOperand(0));
      op->getResult(0).replaceAllUsesWith(replacement);
      op->erase();
    }
  }

  void emitBody(gpu::LaunchOp launch, Type type) {
    int64_t rank = extents.size();
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, type, v);
    };
    Value tid = castTo(launch.getThreadIds().x, type);
    Value block = castTo(launch.getBlockIds().x, type);
    SmallVector<Value> positions(rank);
    if (!perLane) {
      Value linear = arith::AddIOp::create(
          b, arith::MulIOp::create(b, block, constant(kLoopThreads)), tid);
      Value total = constant(1);
      for (Value extent : extents)
        total = arith::MulIOp::create(b, total, castTo(extent, type));
      gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, linear, total), [&] {
        delinearize(linear, 0, rank - 1, type, positions);
        cloneBodies({positions});
      });
      return;
    }
    Value lane = arith::RemUIOp::create(b, tid, constant(32));
    Value warp = arith::AddIOp::create(
        b, arith::MulIOp::create(b, block, constant(kLoopThreads / 32)),
        arith::DivUIOp::create(b, tid, constant(32)));
    Value rows = constant(1);
    for (Value extent : ArrayRef<Value>(extents).drop_back())
      rows = arith::MulIOp::create(b, rows, castTo(extent, type));
    Value warps = arith::MulIOp::create(b, rows, constant(warpsPerRow));
    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, warp, warps), [&] {
      Value row = arith::DivUIOp::create(b, warp, constant(warpsPerRow));
      Value first = arith::MulIOp::create(
          b, arith::RemUIOp::create(b, warp, constant(warpsPerRow)),
          constant(32 * perLane));
      if (rank > 1)
        delinearize(row, 0, rank - 2, type, positions);
      SmallVector<SmallVector<Value>> positionSets;
      for (int64_t e = 0; e < perLane; ++e) {
        positions[rank - 1] = arith::AddIOp::create(
            b, first, arith::AddIOp::create(b, lane, constant(32 * e)));
        positionSets.push_back(positions);
      }
      cloneBodies(positionSets);
    });
  }

  /// The vector form: thread t of the grid takes elements [W s, W s + W)
  /// of row r of the innermost dim, for t = r * (extent / W) + s.
  void emitVectorBody(gpu::LaunchOp launch, Type type) {
    int64_t rank = extents.size();
    unitStrideViews.clear();
    for (Operation *op : contiguousAccesses) {
      Value memref = accessOf(op).first;
      if (!unitStrideViews.count(memref))
        unitStrideViews[memref] = unitStrideView(memref);
    }
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, type, v);
    };
    int64_t slotsPerRow = *staticExtent(rank - 1) / vectorWidth;
    Value linear = arith::AddIOp::create(
        b,
        arith::MulIOp::create(b, castTo(launch.getBlockIds().x, type),
                              constant(kLoopThreads)),
        castTo(launch.getThreadIds().x, type));
    Value slots = constant(slotsPerRow);
    for (Value extent : ArrayRef<Value>(extents).drop_back())
      slots = arith::MulIOp::create(b, slots, castTo(extent, type));
    gb.ifThen(gb.cmp(arith::CmpIPredicate::ult, linear, slots), [&] {
      SmallVector<Value> positions(rank);
      if (rank > 1)
        delinearize(arith::DivUIOp::create(b, linear, constant(slotsPerRow)), 0,
                    rank - 2, type, positions);
      Value first = arith::MulIOp::create(
          b, arith::RemUIOp::create(b, linear, constant(slotsPerRow)),
          constant(vectorWidth));
      SmallVector<SmallVector<Value>> positionSets;
      for (int64_t e = 0; e < vectorWidth; ++e) {
        positions[rank - 1] = arith::AddIOp::create(b, first, constant(e));
        positionSets.push_back(positions);
      }
      cloneBodies(positionSets, /*vectorized=*/true);
    });
  }

  scf::ParallelOp loop;
  ImplicitLocOpBuilder b;
  GpuBuilder gb;
  std::string name;
  SmallVector<Value> extents;
  // Elements of the innermost dim per lane (0: one thread per element) and
  // warps per row of it.
  int64_t perLane = 0, warpsPerRow = 0;
  // The vector form: the accesses moved as vectors and their width W (0:
  // none).
  SmallVector<Operation *> contiguousAccesses;
  int64_t vectorWidth = 0;
  // Per vector kernel: the unit-stride views of its vector-accessed
  // buffers.
  DenseMap<Value, Value> unitStrideViews;
};

/// gpu.launch_func reads and writes its memref arguments, and whatever
/// else its kernel reaches (once lowered, its arguments are pointers): a
/// write of the default resource keeps it from ever being dead.
struct LaunchFuncEffects
    : MemoryEffectOpInterface::ExternalModel<LaunchFuncEffects,
                                             gpu::LaunchFuncOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                 &effects) const {
    effects.emplace_back(MemoryEffects::Write::get());
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<BaseMemRefType>(operand.get().getType()))
        continue;
      effects.emplace_back(MemoryEffects::Read::get(), &operand);
      effects.emplace_back(MemoryEffects::Write::get(), &operand);
    }
  }
};

/// gpu.wait orders device work: a write of the default resource, so that
/// it is never dropped as dead.
struct WaitEffects
    : MemoryEffectOpInterface::ExternalModel<WaitEffects, gpu::WaitOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                 &effects) const {
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

struct OffloadToGPUPass : attn::impl::OffloadToGPUBase<OffloadToGPUPass> {
  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerGpuHostEffects(registry);
  }

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (failed(offload(func)))
        return signalPassFailure();
  }

  LogicalResult offload(func::FuncOp func) {
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp copy) {
      if (isHostCode(copy))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies)
      copyToLoop(copy);

    SmallVector<scf::ParallelOp> loops;
    WalkResult walk = func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<gpu::LaunchOp>(op))
        return WalkResult::skip();
      auto loop = dyn_cast<scf::ParallelOp>(op);
      if (!loop)
        return WalkResult::advance();
      if (!loop.getInitVals().empty()) {
        loop.emitError("attn-offload-to-gpu: a parallel loop with "
                       "reductions has no GPU kernel");
        return WalkResult::interrupt();
      }
      loops.push_back(loop);
      return WalkResult::skip();
    });
    if (walk.wasInterrupted())
      return failure();
    for (auto [i, loop] : llvm::enumerate(loops))
      LoopKernel(loop, (func.getName() + "_loop" + Twine(i)).str()).emit();

    SmallVector<memref::ReshapeOp> reshapes;
    func.walk([&](memref::ReshapeOp reshape) {
      auto type = dyn_cast<MemRefType>(reshape.getResult().getType());
      if (isHostCode(reshape) && type && type.getLayout().isIdentity())
        reshapes.push_back(reshape);
    });
    for (memref::ReshapeOp reshape : reshapes)
      reshapeToCast(reshape);

    placeBuffers(func);
    return checkHostAccesses(func);
  }

  /// Host allocations that kernels may touch become device allocations;
  /// constants they read get a device copy for the function's duration.
  void placeBuffers(func::FuncOp func) {
    SmallVector<memref::AllocOp> allocs;
    SmallVector<memref::GetGlobalOp> globals;
    func.walk([&](Operation *op) {
      if (!isHostCode(op))
        return;
      if (auto alloc = dyn_cast<memref::AllocOp>(op);
          alloc && !staysOnHost(alloc))
        allocs.push_back(alloc);
      if (auto global = dyn_cast<memref::GetGlobalOp>(op);
          global && !staysOnHost(global))
        globals.push_back(global);
    });
    // Device memory calls of the GPU runtime come in async forms only; each
    // waits for its own token (the device is idle between the host's
    // launch groups, so the waits cost little).
    auto tokenType = gpu::AsyncTokenType::get(func.getContext());
    auto start = [&](ImplicitLocOpBuilder &b) {
      return gpu::WaitOp::create(b, tokenType, ValueRange{}).getAsyncToken();
    };
    auto deviceAlloc = [&](ImplicitLocOpBuilder &b, MemRefType type,
                           ValueRange dynamicSizes, ValueRange symbols) {
      auto alloc = gpu::AllocOp::create(b, type, tokenType, start(b),
                                        dynamicSizes, symbols);
      gpu::WaitOp::create(b, Type(), alloc.getAsyncToken());
      return alloc.getMemref();
    };
    auto deviceFree = [&](ImplicitLocOpBuilder &b, Value buffer) {
      auto free = gpu::DeallocOp::create(b, tokenType, start(b), buffer);
      gpu::WaitOp::create(b, Type(), free.getAsyncToken());
    };
    for (memref::AllocOp alloc : allocs) {
      ImplicitLocOpBuilder b(alloc.getLoc(), alloc);
      Value device = deviceAlloc(b, alloc.getType(), alloc.getDynamicSizes(),
                                 alloc.getSymbolOperands());
      alloc.replaceAllUsesWith(device);
      alloc.erase();
    }
    for (memref::GetGlobalOp global : globals) {
      ImplicitLocOpBuilder b(global.getLoc(), global);
      b.setInsertionPointAfter(global);
      Value device = deviceAlloc(b, global.getType(), {}, {});
      global.getResult().replaceAllUsesWith(device);
      auto copy = gpu::MemcpyOp::create(b, tokenType, start(b), device,
                                        global.getResult());
      gpu::WaitOp::create(b, Type(), copy.getAsyncToken());
      func.walk([&](func::ReturnOp ret) {
        ImplicitLocOpBuilder rb(ret.getLoc(), ret);
        deviceFree(rb, device);
      });
    }
    SmallVector<memref::DeallocOp> deallocs;
    func.walk([&](memref::DeallocOp dealloc) {
      if (isHostCode(dealloc))
        deallocs.push_back(dealloc);
    });
    for (memref::DeallocOp dealloc : deallocs) {
      Value buffer = viewSource(dealloc.getMemref());
      auto alloc = buffer.getDefiningOp<memref::AllocOp>();
      if (alloc && staysOnHost(alloc))
        continue;
      ImplicitLocOpBuilder b(dealloc.getLoc(), dealloc);
      deviceFree(b, dealloc.getMemref());
      dealloc.erase();
    }
  }

  /// Host loads and stores must stay off device memory (the arguments of a
  /// public function and device allocations): report them instead of
  /// faulting at run time.
  LogicalResult checkHostAccesses(func::FuncOp func) {
    auto isDeviceArgument = [&](Value v) {
      auto arg = dyn_cast<BlockArgument>(v);
      return arg && !func.isPrivate() &&
             arg.getOwner() == &func.getBody().front();
    };
    WalkResult walk = func.walk([&](Operation *op) {
      Value memref = accessOf(op).first;
      if (!isHostCode(op) || !memref)
        return WalkResult::advance();
      Value buffer = viewSource(memref);
      bool onDevice =
          isDeviceArgument(buffer) || buffer.getDefiningOp<gpu::AllocOp>();
      if (!onDevice)
        return WalkResult::advance();
      op->emitError("attn-offload-to-gpu: host code reads or writes device "
                    "memory; only kernels may");
      return WalkResult::interrupt();
    });
    return failure(walk.wasInterrupted());
  }
};

} // namespace

void mlir::attn::registerGpuHostEffects(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    gpu::LaunchFuncOp::attachInterface<LaunchFuncEffects>(*ctx);
    gpu::WaitOp::attachInterface<WaitEffects>(*ctx);
  });
}
