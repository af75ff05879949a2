//===- SdpaToGPU.cpp - attn.sdpa to GPU kernels -----------------*- C++ -*-===//
//
// Host side of the GPU lowering of attn.sdpa and attn.quantized_sdpa: sizes,
// the choice of kernel, the key/value split, and the launches, all on one
// stream (async tokens).
//
//===----------------------------------------------------------------------===//

#include "GpuBuilder.h"
#include "attn/Conversion/AttnToGPU.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace mlir::attn;

/// Shared memory one block may use on sm_80 and later (227 KiB).
static constexpr int64_t kMaxSharedMemoryBytes = 227 * 1024;

bool mlir::attn::sdpaUsesTensorCores(SdpaOp op) {
  auto queryType = cast<RankedTensorType>(op.getQuery().getType());
  auto valueType = cast<RankedTensorType>(op.getValue().getType());
  Type et = queryType.getElementType();
  int64_t headDim = queryType.getDimSize(3);
  int64_t valueDim = valueType.getDimSize(3);
  return (et.isF16() || et.isBF16()) && headDim % 16 == 0 &&
         valueDim % 16 == 0 && headDim <= 256 && valueDim <= 256;
}

std::optional<std::string>
mlir::attn::quantizedSdpaGpuUnsupported(QuantizedSdpaOp op) {
  AttentionShape shape = AttentionShape::of(op);
  if (!shape.elementType.isF16() && !shape.elementType.isBF16())
    return "queries other than f16 and bf16 (keys and values are decoded "
           "into the query's element type for the tensor cores)";
  if (shape.headDim % 16 || shape.valueDim % 16 || shape.headDim > 256 ||
      shape.valueDim > 256)
    return "head dims that are not multiples of 16 up to 256";
  return std::nullopt;
}

namespace {

/// Lowers one attention op (attn.sdpa, attn.quantized_sdpa) to the kernels
/// of GpuBuilder.h; OpTy provides its shape and input buffers.
template <typename OpTy> struct AttentionToGPU : OpRewritePattern<OpTy> {
  AttentionToGPU(MLIRContext *ctx, const SdpaGpuOptions &options)
      : OpRewritePattern<OpTy>(ctx), options(options) {}

  /// Splits of the `keyTiles` key tiles that give `targetBlocks` blocks (one
  /// per multiprocessor slot) for `work` blocks without splitting, or as
  /// near as whole tiles allow.
  Value chooseSplits(GpuBuilder &gb, Value work, Value keyTiles,
                     int64_t targetBlocks) const {
    Value wanted = gb.ceilDiv(gb.idx(targetBlocks), gb.maxIdx(work, gb.idx(1)));
    return gb.clamp(wanted, gb.idx(1), keyTiles);
  }

  /// The static part of the plan, or failure when the op has no kernel.
  static FailureOr<SdpaGpuPlan> planOf(SdpaOp op) {
    SdpaGpuPlan plan;
    static_cast<AttentionShape &>(plan) = AttentionShape::of(op);
    return plan;
  }
  static FailureOr<SdpaGpuPlan> planOf(QuantizedSdpaOp op) {
    if (quantizedSdpaGpuUnsupported(op))
      return failure();
    SdpaGpuPlan plan;
    static_cast<AttentionShape &>(plan) = AttentionShape::of(op);
    QuantizedKeyValues q;
    q.bits = op.getBits();
    q.groupSize = op.getGroupSize();
    q.qkInt8 = op.getQkInt8();
    q.pvInt8 = op.getPvInt8();
    plan.quantized = q;
    return plan;
  }
  static bool usesTensorCores(SdpaOp op) { return sdpaUsesTensorCores(op); }
  static bool usesTensorCores(QuantizedSdpaOp) { return true; }

  /// Buffers of the inputs; returns the key length.
  static Value bindInputs(GpuBuilder &gb, SdpaOp op, SdpaGpuPlan &plan) {
    plan.key = gb.toBuffer(op.getKey());
    plan.value = gb.toBuffer(op.getValue());
    if (Value mask = op.getMask())
      plan.mask = bindSdpaMask(gb, mask);
    return gb.dimSizes(plan.key)[2];
  }
  static Value bindInputs(GpuBuilder &gb, QuantizedSdpaOp op,
                          SdpaGpuPlan &plan) {
    QuantizedKeyValues &q = *plan.quantized;
    auto buffer = [&](Value tensor) {
      return tensor ? gb.toBuffer(tensor) : Value();
    };
    q.keyCodes = buffer(op.getKeyCodes());
    q.keyScale = buffer(op.getKeyScale());
    q.keyStep = buffer(op.getKeyStep());
    q.keyZero = buffer(op.getKeyZero());
    q.valueCodes = buffer(op.getValueCodes());
    q.valueScale = buffer(op.getValueScale());
    q.valueStep = buffer(op.getValueStep());
    q.valueZero = buffer(op.getValueZero());
    return gb.dimSizes(q.keyCodes)[2];
  }

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    FailureOr<SdpaGpuPlan> maybePlan = planOf(op);
    if (failed(maybePlan))
      return rewriter.notifyMatchFailure(op, "no GPU kernel for this form");
    SdpaGpuPlan plan = *maybePlan;
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    auto outType = cast<RankedTensorType>(op.getOutput().getType());

    bool tensorCores = usesTensorCores(op);
    MmaKernelConfig decode{1, options.decodeStages};
    decode.decodeInRegisters = quantizedDecodesInRegisters(plan, plan.keyTile);
    // Its stages hold codes only; two leave room for more blocks per SM,
    // which it needs more (measured: 0.28 against 0.49 ms with three).
    if (decode.decodeInRegisters)
      decode.stages = 2;
    MmaKernelConfig prefill{4, options.prefillStages, options.prefillRowTiles};
    // INT8 products hold i32 group sums beside the f32 scores: one row tile
    // per warp keeps them in registers.
    if (prefill.int8QueryKey(plan))
      prefill.rowTiles = 1;
    // The INT4 decode kernel takes up to 8 rows where it applies.
    QuantizedDecodeConfig quantizedDecode;
    quantizedDecode.blocksPerSM = options.int4DecodeBlocksPerSM;
    bool int4Decode = quantizedDecodeApplies(plan, quantizedDecode);
    // Checked before any IR is built: a failing pattern leaves none behind.
    if (tensorCores &&
        std::max({decode.sharedMemoryBytes(plan),
                  prefill.sharedMemoryBytes(plan),
                  int4Decode ? quantizedDecode.sharedMemoryBytes(plan) : 0}) >
            kMaxSharedMemoryBytes)
      return rewriter.notifyMatchFailure(op, "tiles exceed shared memory");

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    GpuBuilder gb(b);
    // Kernels are named after their function: @f gets @f_sdpa_decode, ...
    std::string prefix = kernelPrefix(op);
    std::string kind = plan.quantized ? "quantized_sdpa" : "sdpa";
    plan.query = gb.toBuffer(op.getQuery());
    plan.keyLen = bindInputs(gb, op, plan);
    SmallVector<Value> querySizes = gb.dimSizes(plan.query);
    plan.batch = querySizes[0];
    plan.queryLen = querySizes[2];
    // Results live in buffers the caller provides once results become
    // out-params.
    Value batch = plan.batch, queryLen = plan.queryLen;
    plan.output = gb.allocLike(outType, {batch, gb.idx(plan.queryHeads),
                                         queryLen, gb.idx(plan.valueDim)});
    if (Value lse = op.getLse())
      plan.lse = gb.allocLike(cast<RankedTensorType>(lse.getType()),
                              {batch, gb.idx(plan.queryHeads), queryLen});

    Value rows = gb.mul(gb.idx(plan.groupSize()), queryLen);
    Value keyTiles =
        gb.maxIdx(gb.ceilDiv(plan.keyLen, gb.idx(plan.keyTile)), gb.idx(1));
    Value kvWork = gb.mul(batch, gb.idx(plan.kvHeads));
    auto blocksPerSM = [](int64_t sharedBytes, int64_t most) {
      return std::clamp<int64_t>(
          kMaxSharedMemoryBytes / std::max<int64_t>(sharedBytes, 1), 1, most);
    };

    // Kernel variants and the grid each would use; exactly one runs (the
    // others get an empty grid, which the runtime does not launch).
    enum class Kernel { Simt, Mma, QuantizedDecode };
    struct Variant {
      StringRef name;
      Kernel kernel;
      MmaKernelConfig mma;
      Value chosen, rowBlocks, splits;
      int64_t sharedBytes, threads;
    };
    SmallVector<Variant> variants;
    auto addVariant = [&](StringRef name, Kernel kernel, MmaKernelConfig mma,
                          Value chosen) {
      Variant v{name, kernel, mma, chosen, {}, {}, 0, 32 * kSimtRowsPerBlock};
      int64_t rowBlock = kSimtRowsPerBlock, perSM = 8;
      if (kernel == Kernel::Mma) {
        rowBlock = mma.rowBlock();
        v.sharedBytes = mma.sharedMemoryBytes(plan);
        v.threads = 32 * mma.warps;
        perSM = blocksPerSM(v.sharedBytes, 8);
      } else if (kernel == Kernel::QuantizedDecode) {
        rowBlock = kQuantizedDecodeRows;
        v.sharedBytes = quantizedDecode.sharedMemoryBytes(plan);
        v.threads = 32;
        perSM = blocksPerSM(v.sharedBytes, quantizedDecode.blocksPerSM);
      }
      v.rowBlocks = gb.ceilDiv(rows, gb.idx(rowBlock));
      v.splits = chooseSplits(gb, gb.mul(kvWork, v.rowBlocks), keyTiles,
                              options.numSMs * perSM);
      variants.push_back(v);
    };
    if (tensorCores) {
      int64_t staticRows = queryType.isDynamicDim(2)
                               ? ShapedType::kDynamic
                               : plan.groupSize() * queryType.getDimSize(2);
      auto rowsAtMost = [&](int64_t n) {
        return gb.cmp(arith::CmpIPredicate::ule, rows, gb.idx(n));
      };
      auto mayHave = [&](int64_t lo, int64_t hi) {
        return staticRows == ShapedType::kDynamic ||
               (staticRows > lo && staticRows <= hi);
      };
      int64_t decodeFrom = 0;
      if (int4Decode && mayHave(0, kQuantizedDecodeRows)) {
        addVariant("int4_decode", Kernel::QuantizedDecode, {},
                   rowsAtMost(kQuantizedDecodeRows));
        decodeFrom = kQuantizedDecodeRows;
      }
      if (mayHave(decodeFrom, 16))
        addVariant("decode", Kernel::Mma, decode,
                   gb.andI(rowsAtMost(16), gb.cmp(arith::CmpIPredicate::ugt,
                                                  rows, gb.idx(decodeFrom))));
      if (mayHave(16, std::numeric_limits<int64_t>::max()))
        addVariant("prefill", Kernel::Mma, prefill,
                   gb.cmp(arith::CmpIPredicate::ugt, rows, gb.idx(16)));
    } else {
      addVariant("simt", Kernel::Simt, {},
                 arith::ConstantOp::create(b, b.getBoolAttr(true)));
    }
    plan.keyTiles = keyTiles;
    plan.splits = variants[0].splits;
    for (const Variant &v : llvm::drop_begin(variants))
      plan.splits = gb.select(v.chosen, v.splits, plan.splits);

    // Partial results of the splits (one element when unsplit).
    Value split = gb.cmp(arith::CmpIPredicate::ugt, plan.splits, gb.idx(1));
    Value splitRows = gb.mul(
        gb.mul(gb.mul(batch, gb.idx(plan.queryHeads)), queryLen), plan.splits);
    auto tokenType = gpu::AsyncTokenType::get(b.getContext());
    Value token =
        gpu::WaitOp::create(b, tokenType, ValueRange{}).getAsyncToken();
    auto allocPartial = [&](Value elements) {
      return allocScratch(b, b.getF32Type(),
                          gb.select(split, elements, gb.idx(1)), token);
    };
    plan.partialOutput = allocPartial(gb.mul(splitRows, gb.idx(plan.valueDim)));
    plan.partialLse = allocPartial(splitRows);

    for (const Variant &v : variants) {
      Value gridX = gb.select(v.chosen, v.rowBlocks, gb.idx(0));
      gpu::LaunchOp attention =
          launchKernel(b, prefix + kind + "_" + v.name.str(),
                       {gridX, gb.idx(plan.kvHeads), gb.mul(batch, v.splits)},
                       v.threads, v.sharedBytes, token);
      emitKernelBody(b, attention, [&] {
        switch (v.kernel) {
        case Kernel::Mma:
          emitMmaAttentionKernel(b, attention, plan, v.mma);
          break;
        case Kernel::QuantizedDecode:
          emitQuantizedDecodeKernel(b, attention, plan, quantizedDecode);
          break;
        case Kernel::Simt:
          emitSimtAttentionKernel(b, attention, plan);
          break;
        }
      });
    }
    Value mergeRows = gb.select(
        split, gb.mul(gb.mul(batch, gb.idx(plan.queryHeads)), queryLen),
        gb.idx(0));
    gpu::LaunchOp merge =
        launchKernel(b, prefix + kind + "_split_merge",
                     {mergeRows, gb.idx(splitMergeDimBlocks(plan)), gb.idx(1)},
                     kSplitMergeThreads, 0, token);
    emitKernelBody(b, merge, [&] { emitSplitMergeKernel(b, merge, plan); });

    for (Value partial : {plan.partialOutput, plan.partialLse})
      freeScratch(b, partial, token);
    gpu::WaitOp::create(b, Type(), token);

    SmallVector<Value> results = {gb.toTensor(outType, plan.output)};
    if (plan.lse)
      results.push_back(gb.toTensor(op.getLse().getType(), plan.lse));
    rewriter.replaceOp(op, results);
    return success();
  }

  SdpaGpuOptions options;
};

} // namespace

void mlir::attn::populateSdpaToGPUPatterns(RewritePatternSet &patterns,
                                           const SdpaGpuOptions &options) {
  patterns.add<AttentionToGPU<SdpaOp>, AttentionToGPU<QuantizedSdpaOp>>(
      patterns.getContext(), options);
}
