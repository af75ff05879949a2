//===- GpuBuilder.h - helpers for the attn GPU kernels ----------*- C++ -*-===//
//
// What the attention kernels of convert-attn-to-gpu share: the sizes and
// buffers one attn.sdpa hands to its kernels (SdpaGpuPlan), warp-level
// builders (shuffles, ldmatrix, mma.sync, cp.async), and the kernel
// emitters, one per file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_GPUBUILDER_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_GPUBUILDER_H

#include "../AttnToLoops/LoopBuilder.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <array>
#include <optional>
#include <type_traits>

namespace mlir {
namespace attn {

class GpuBuilder;

/// What the kernels of an attention op (attn.sdpa, attn.sparq) know
/// statically.
struct AttentionShape {
  int64_t queryHeads = 0, kvHeads = 0, headDim = 0, valueDim = 0;
  Type elementType;
  float scale = 1.0f;
  bool causal = false;
  // TurboAttention's polynomial exp for the softmax weights, or null for
  // ex2.approx (running rescales are exact either way).
  PolyExpAttr softmaxExp;

  int64_t groupSize() const { return queryHeads / kvHeads; }

  /// Read from an attention op: [B, H, L, D] query, keys (or key codes)
  /// with the key/value heads in dim 1, a [B, H, L, Dv] output, and the
  /// scale, causal and softmax_exp of attn.sdpa.
  template <typename OpTy> static AttentionShape of(OpTy op) {
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    Value keys;
    if constexpr (std::is_same_v<OpTy, QuantizedSdpaOp>)
      keys = op.getKeyCodes();
    else
      keys = op.getKey();
    AttentionShape shape;
    shape.queryHeads = queryType.getDimSize(1);
    shape.kvHeads = cast<RankedTensorType>(keys.getType()).getDimSize(1);
    shape.headDim = queryType.getDimSize(3);
    shape.valueDim =
        cast<RankedTensorType>(op.getOutput().getType()).getDimSize(3);
    shape.elementType = queryType.getElementType();
    shape.scale = op.getEffectiveScale();
    shape.causal = op.getCausal();
    shape.softmaxExp = op.getSoftmaxExpAttr();
    return shape;
  }
};

/// The key/value cache of attn.quantized_sdpa as its kernels read it: the
/// layout of attn.quantize (keys grouped along D, values along the keys),
/// decoded tile by tile in registers.
struct QuantizedKeyValues {
  int64_t bits = 4, groupSize = 32;
  // Q K^T on INT8 queries: each query row is quantized in groups of
  // groupSize (stage 1) before the product.
  bool qkInt8 = false;
  // P V on weights rounded to round_half_even(p * 127).
  bool pvInt8 = false;
  // [B, Hkv, Lk, D * bits / 8] i8, [B, Hkv, Lk, D / G] f32 and, for bits 4
  // and 2, step and zero [B, Hkv, Lk, D / G] i8.
  Value keyCodes, keyScale, keyStep, keyZero;
  // [B, Hkv, Lk, Dv * bits / 8] i8, [B, Hkv, ceil(Lk / G), Dv] f32 and i8.
  Value valueCodes, valueScale, valueStep, valueZero;

  /// Bytes of one row of key or value codes of `dims` elements.
  int64_t rowBytes(int64_t dims) const { return dims * bits / 8; }
  /// Key scale groups per key.
  int64_t keyGroups(int64_t headDim) const { return headDim / groupSize; }
  /// Rows of value group scales one tile of `keyTile` keys (starting at a
  /// multiple of keyTile) can touch.
  int64_t valueGroupRows(int64_t keyTile) const {
    if (keyTile % groupSize == 0)
      return keyTile / groupSize;
    // A group of whole tiles: the tile lies in one.
    if (groupSize % keyTile == 0)
      return 1;
    return (keyTile - 1) / groupSize + 2;
  }
  /// Whether a tile of `keyTile` keys touches whole value group rows: the
  /// group size divides the tile or the tile the group size.
  bool wholeValueGroups(int64_t keyTile) const {
    return keyTile % groupSize == 0 || groupSize % keyTile == 0;
  }
};

/// attn.sdpa's mask as the kernels read it (rank 2 to 4, broadcast on the
/// right to [B, Hq, Lq, Lk]; static 1 dims broadcast): a buffer, or, when
/// the mask is the result of an elementwise linalg.generic, that generic,
/// whose body the kernels evaluate per score on its inputs, so that the
/// mask is never written to memory.
struct SdpaMask {
  ShapedType type;
  Value buffer;
  linalg::GenericOp producer;
  SmallVector<Value> producerInputs; // buffers of the producer's inputs

  explicit operator bool() const { return static_cast<bool>(type); }
  /// Whether a score's term loads anything (else it is computed from the
  /// indices alone).
  bool readsMemory() const { return buffer || !producerInputs.empty(); }
  /// Whether the producer's input `input` is indexed by `scoreDim` of the
  /// score (0 batch, 1 query head, 2 query, 3 key).
  bool inputReads(unsigned input, int64_t scoreDim) const;
  /// Whether the producer's input `input` has one element per key for all
  /// rows of a block of the tensor-core kernel (indexed by the key, not by
  /// the query, nor by the head when `groupSize` heads share a block), of
  /// 4 or 8 bytes: the kernel then copies it into shared memory with each
  /// key tile (cp.async) rather than reading it per score.
  bool stagedWithKeys(unsigned input, int64_t groupSize) const;
};

/// One attn.sdpa as its kernels see it. Buffers are identity-layout
/// memrefs in device memory; sizes are index values computed on the host
/// and captured by the kernels.
struct SdpaGpuPlan : AttentionShape {
  // query [B, Hq, Lq, D], key [B, Hkv, Lk, D], value [B, Hkv, Lk, Dv].
  Value query, key, value;
  // output [B, Hq, Lq, Dv]; lse [B, Hq, Lq] or null.
  Value output, lse;
  // attn.sdpa's mask, if any.
  SdpaMask mask;
  // Split-KV partial results (flat f32): the output of each split
  // normalized by its own softmax sum, [B, Hq, Lq, splits, Dv], and its
  // log-sum-exp, [B, Hq, Lq, splits]. Read only when splits > 1.
  Value partialOutput, partialLse;
  Value batch, queryLen, keyLen;
  // Key/value splits of each row block, and the key tiles they share.
  Value splits, keyTiles;
  // Keys per tile; splits cut the keys at tile boundaries.
  int64_t keyTile = 64;
  // Set for attn.quantized_sdpa (key and value are then null).
  std::optional<QuantizedKeyValues> quantized;

  /// The keys [first, end) of split `split` (end not cut at Lk): tiles [s T
  /// / S, (s + 1) T / S) of the T key tiles, so that the splits' lengths
  /// differ by one tile at most.
  std::pair<Value, Value> splitKeys(GpuBuilder &gb, Value split) const;

  /// What the kernels' softmax weights sum to per unit of probability:
  /// 127 when pv_int8 rounds them to INT8 levels, else 1.
  float weightScale() const {
    return quantized && quantized->pvInt8 ? 127.0f : 1.0f;
  }
};

/// 1.5 * 2^23: adding it to an f32 in (-2^22, 2^22) rounds that value to
/// an integer held in the low mantissa bits of the sum, whose bit pattern
/// is kRoundingBiasBits plus the integer (an i32 sum started from those
/// bits is thus an f32 as it is).
constexpr float kRoundingBias = 12582912.0f;
constexpr uint32_t kRoundingBiasBits = 0x4B400000;

/// Tiling of the tensor-core kernel.
struct MmaKernelConfig {
  int64_t warps;        // warps per block
  int64_t stages;       // shared-memory key/value tiles in flight (>= 2)
  int64_t rowTiles = 1; // 16-row tiles of queries per warp
  // A quantized cache decoded from its shared-memory stages straight into
  // the mma operands (one warp, see quantizedDecodesInRegisters) instead of
  // into decoded key and value tiles.
  bool decodeInRegisters = false;

  int64_t rowBlock() const { return 16 * rowTiles * warps; }
  /// Whether Q K^T runs on INT8 tensor cores (mma.sync s8): qk_int8 with
  /// groups of a multiple of 32 (one or more k-steps per group), keys
  /// decoded in shared memory.
  bool int8QueryKey(const SdpaGpuPlan &plan) const {
    return plan.quantized && plan.quantized->qkInt8 &&
           plan.quantized->groupSize % 32 == 0 && !decodeInRegisters;
  }
  /// Whether both products run on INT8 tensor cores straight from the
  /// cp.async stages, nothing decoded: an INT8 cache with qk_int8 and
  /// pv_int8, groups of a multiple of 32 that divide a key tile or are
  /// multiples of it, and D and Dv multiples of 128 (rows of whole 128-byte
  /// lines, which the stages swizzle for ldmatrix).
  bool int8Products(const SdpaGpuPlan &plan) const;
  /// Dynamic shared memory in bytes: the query block and `stages` key and
  /// value tiles (for a quantized cache, `stages` tiles of codes and
  /// scales and one decoded key and value tile, or none when it is decoded
  /// in registers or read by INT8 products).
  int64_t sharedMemoryBytes(const SdpaGpuPlan &plan) const;
};

/// Whether a one-warp kernel with tiles of `keyTile` keys can decode the
/// quantized cache of `plan` straight into its mma operands: INT4, D a
/// multiple of 32 with each lane's quarter of a key in one group, Dv of 64,
/// 128 or 256, and value groups of a multiple of 16 keys that divide a tile
/// or are multiples of it.
bool quantizedDecodesInRegisters(const SdpaGpuPlan &plan, int64_t keyTile);

/// Query rows per block of the CUDA-core kernel (one warp per row).
constexpr int64_t kSimtRowsPerBlock = 4;

/// LoopBuilder plus thread indices and warp-level operations.
class GpuBuilder : public LoopBuilder {
public:
  explicit GpuBuilder(ImplicitLocOpBuilder &b) : LoopBuilder(b) {}

  Value i32(int64_t v);
  Value divIdx(Value x, int64_t d);
  Value remIdx(Value x, int64_t d);
  Value divIdx(Value x, Value d) { return arith::DivUIOp::create(b, x, d); }
  Value remIdx(Value x, Value d) { return arith::RemUIOp::create(b, x, d); }
  Value ceilDiv(Value x, Value d);
  Value xorIdx(Value x, Value y) { return arith::XOrIOp::create(b, x, y); }
  Value andIdx(Value x, int64_t mask);
  /// Float arithmetic that may contract into fma: without the flag the
  /// NVPTX backend emits mul.rn and add.rn, which ptxas keeps apart.
  Value fadd(Value x, Value y) {
    return arith::AddFOp::create(b, x, y, contract());
  }
  Value fmul(Value x, Value y) {
    return arith::MulFOp::create(b, x, y, contract());
  }
  Value fsub(Value x, Value y) {
    return arith::SubFOp::create(b, x, y, contract());
  }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value exp2(Value x);
  Value log2(Value x);
  arith::FastMathFlags contract() { return arith::FastMathFlags::contract; }
  Value sqrt(Value x);
  /// 2^(score - max) (score <= max, the log2 domain of the kernels'
  /// softmax): ex2.approx, or attn.poly_exp's polynomial (TurboAttention)
  /// when `polyExp` is set.
  Value softmaxExp2(Value score, Value max, PolyExpAttr polyExp);

  Value toI32(Value index) {
    return arith::IndexCastOp::create(b, b.getI32Type(), index);
  }
  Value toIndex(Value i32) {
    return arith::IndexCastOp::create(b, b.getIndexType(), i32);
  }
  /// scf.if yielding `types` from `then` or `otherwise`.
  SmallVector<Value>
  ifElseYield(Value cond, TypeRange types,
              llvm::function_ref<SmallVector<Value>()> then,
              llvm::function_ref<SmallVector<Value>()> otherwise);
  /// A bit mask of the lanes of the warp whose `pred` is true.
  Value ballot(Value pred);
  /// Set bits of an i32.
  Value popc(Value x);
  /// The value of `x` in lane `srcLane` (an i32) of the warp.
  Value shuffleIdx(Value x, Value srcLane);

  /// The value of `x` in lane `lane ^ mask` of the warp.
  Value shuffleXor(Value x, int64_t mask);
  /// Reduces `x` over the lanes that differ in the bits of `masks`.
  Value warpMax(Value x, ArrayRef<int64_t> masks);
  Value warpSum(Value x, ArrayRef<int64_t> masks);

  /// ldmatrix of `numTiles` 8x8 b16 matrices from shared memory; the lane
  /// supplies the address of one row. Returns one i32 (two packed b16
  /// values) per matrix.
  SmallVector<Value> ldmatrix(Value smem, ValueRange indices, int64_t numTiles,
                              bool transpose);
  /// mma.sync m16n8k16 (row x col) on packed f16/bf16 operands with f32
  /// accumulators: returns `acc + a * b` (4 values per lane).
  SmallVector<Value> mma(Type elementType, ArrayRef<Value> a,
                         ArrayRef<Value> bFrag, ArrayRef<Value> acc);
  /// mma.sync m16n8k32 (row x col) on s8 operands (4 per i32) with i32
  /// accumulators: returns `acc + a * b` (4 values per lane).
  SmallVector<Value> mmaS8(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                           ArrayRef<Value> acc);
  /// Two f32 values rounded to `elementType` and packed into an i32.
  Value packPair(Type elementType, Value lo, Value hi);
  /// x (f32) as three bf16 values in f32 (hi, mid, lo) whose sum carries
  /// its 24 bits, so that each product with a bf16 value is exact in f32.
  std::array<Value, 3> splitIntoBf16Parts(Value x);
  /// cp.async of `elements` elements (4, 8 or 16 bytes); `valid` false
  /// zero-fills the destination.
  void copyAsync(Value dst, ValueRange dstIndices, Value src,
                 ValueRange srcIndices, int64_t elements, Value valid);
  /// cvt.rni: x rounded to the nearest integer, ties to even.
  Value roundEven(Value x);
  /// cvt.rmi: x (f32) rounded down (math.floor becomes a libdevice call).
  Value floorF(Value x);
  /// |x| of an f32 by its sign bit (math.absf becomes a libdevice call).
  Value absF(Value x);
  /// TurboAttention's stage-1 scale of a group of `count` f32 values
  /// `load(e)`: s1 = max|x| / 127.
  Value int8Scale(int64_t count, llvm::function_ref<Value(Value)> load);
  /// The stage-1 INT8 code of x (f32): clamp(rne(x / s1), -127, 127), and
  /// 0 when s1 = 0.
  Value int8Code(Value x, Value scale);
  /// `op` on a pair of elements of `elementType` (bf16x2 or f16x2) in i32
  /// registers: "fma.rn", "min", ...
  Value packedOp(Type elementType, StringRef op, ValueRange args);
  /// prmt.b32: four bytes picked from the eight of (a, b) by `selector`.
  Value prmt(Value a, Value b, Value selector);
  /// lop3.b32 (a & b) | c: one instruction even where b and c are both
  /// constants (a SASS LOP3 takes one immediate; LLVM would emit an and and
  /// an or, which ptxas keeps apart).
  Value andOr(Value a, Value b, Value c);
  /// movmatrix.trans: the warp's 8x8 b16 tile (lane l holds row l / 4,
  /// columns 2 (l % 4) and 2 (l % 4) + 1) transposed, in the same layout.
  Value movmatrixTrans(Value x);
  /// Two INT4 codes at bits 0-3 and 16-19 of `word` (other bits ignored)
  /// decoded to a pair of `elementType`: clamp(code * step + zero, -127,
  /// 127) * scale, with step, zero and scale given as pairs. The codes go
  /// into the mantissa of 128 (bf16) or 1024 (f16), and integers up to 256
  /// are exact in both, so only the scale rounds.
  Value decodeInt4Pair(Type elementType, Value word, Value step, Value zero,
                       Value scale);
};

/// The shared-memory buffers of one kernel: views into the dynamic shared
/// memory, 16-byte aligned, whose size finish() sets on the launch.
/// (Workgroup attributions are not used: their globals carry no alignment,
/// and LLVM's load/store vectorizer assumes 16 bytes for large arrays while
/// the PTX declares 4, which faults at run time.)
class SharedMemory {
public:
  SharedMemory(GpuBuilder &gb, gpu::LaunchOp launch);

  /// A buffer of `shape` and `elementType`.
  Value buffer(ArrayRef<int64_t> shape, Type elementType);
  /// Sets the launch's dynamic shared memory to the bytes handed out.
  void finish();

private:
  GpuBuilder &gb;
  gpu::LaunchOp launch;
  Value dynamicBase;
  int64_t dynamicBytes = 0;
};

/// Copies `rows` rows of `width` elements into the flat shared buffer
/// `smem` from element `smemBase` on, with cp.async of the widest chunk (4
/// to 16 bytes) that divides a row, or element by element for rows of fewer
/// bytes; `threads` threads from `tid` share the work. `source(row)` gives
/// the outer indices of the row in `src` and whether it exists (else it is
/// zero-filled).
/// With `chunkSwizzle`, chunk c of row r lands at chunk c ^
/// chunkSwizzle(r) (rows of whole 16-byte chunks only).
void copyRowsAsync(
    GpuBuilder &gb, Value tid, int64_t threads, Value smem, Value smemBase,
    int64_t rows, int64_t width, Value src,
    llvm::function_ref<std::pair<SmallVector<Value>, Value>(Value)> source,
    llvm::function_ref<Value(Value)> chunkSwizzle = nullptr);

/// The cp.async stages of a quantized cache (QuantizedStages.cpp): per
/// stage, `keyTile` rows of key and value codes and of key group scales,
/// steps and zero points, and the value group rows those keys touch, flat
/// in attn.quantize's layout.
struct QuantizedStages {
  /// With `swizzleKeyCodes` (`swizzleValueCodes`), the key (value) codes
  /// are also viewed as i16 pairs of bytes, and their 16-byte chunks are
  /// swizzled by codeSwizzle, for ldmatrix.
  QuantizedStages(SharedMemory &shared, const SdpaGpuPlan &plan, int64_t stages,
                  int64_t keyTile, bool swizzleKeyCodes = false,
                  bool swizzleValueCodes = false);
  /// Shared memory the stages take (each buffer 16-byte aligned).
  static int64_t bytes(const SdpaGpuPlan &plan, int64_t stages,
                       int64_t keyTile);
  /// Copies the tile of keys from `tileStart` into stage `stage`, rows at
  /// or past `keyEnd` zero-filled (codes and scales 0 decode to 0). `whole`
  /// promises that the tile ends at or before keyEnd and that its value
  /// group rows are whole (the group size divides the tile or the tile the
  /// group size): no row is checked.
  void load(GpuBuilder &gb, const SdpaGpuPlan &plan, Value tid, int64_t threads,
            Value stage, Value tileStart, Value keyEnd, Value batch,
            Value kvHead, bool whole = false);

  /// What chunk c of code row `row` (of `chunks` 16-byte chunks) is xor-ed
  /// with when swizzled: rows an 8-row ldmatrix reads at one chunk land on
  /// distinct banks. Depends on row % 8 only; for rows of 8 chunks or more
  /// it is row % 8.
  static Value codeSwizzle(GpuBuilder &gb, int64_t chunks, Value row);

  int64_t stages, keyTile;
  bool swizzleKeyCodes, swizzleValueCodes;
  // Step and zero buffers are null for bits = 8.
  Value keyCodes, keyScale, keyStep, keyZero;
  Value valueCodes, valueScale, valueStep, valueZero;
  // The swizzled codes viewed as b16 elements (null when not swizzled).
  Value keyCodePairs, valueCodePairs;
};

/// The cp.async tile loop of the attention kernels over tiles [0,
/// numTiles): `load(tile)` issues a tile's copies into stage tile % stages;
/// the first stages - 1 tiles are in flight before the loop (then
/// `afterFirstLoads` runs, if given) and each iteration issues one more.
/// `body(tile, carried)` runs once its tile has landed, after the one
/// block barrier of the iteration, which also lets the iteration refill the
/// previous tile's stage (after the barrier, before the body). Returns the
/// carried values after the last tile (after a barrier).
SmallVector<Value>
stagedTileLoop(GpuBuilder &gb, int64_t stages, Value numTiles, ValueRange init,
               llvm::function_ref<void(Value)> load,
               llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body,
               llvm::function_ref<void()> afterFirstLoads = nullptr);

/// Reductions and scans over the threads of one block (x dimension only).
/// Every thread of the block must call each of them: they synchronize.
class BlockOps {
public:
  BlockOps(GpuBuilder &gb, SharedMemory &shared, gpu::LaunchOp launch,
           int64_t threads);

  Value sum(Value x) { return reduce(x, /*isMax=*/false); }
  Value max(Value x) { return reduce(x, /*isMax=*/true); }

  GpuBuilder &gb;
  int64_t threads, warps;
  Value tid, lane, warp;

private:
  Value reduce(Value x, bool isMax);
  Value floatScratch;
};

/// Top-k selection by one thread block (BlockSelect.cpp): the `k` largest
/// of `n` i32 keys compared unsigned, ties to the lower position, as a
/// radix select with up to four 8-bit digit passes over the keys and one
/// compaction pass (no sort; O(n) reads per pass).
class BlockTopk {
public:
  BlockTopk(BlockOps &block, SharedMemory &shared);

  /// Selects `k <= n` of the positions [0, n) (index values). `loadKey(p)`
  /// returns the key at position p < n; `emit(slot, p)` runs once for each
  /// chosen position, slots 0..k-1 in increasing order of position.
  void select(Value n, Value k, llvm::function_ref<Value(Value)> loadKey,
              llvm::function_ref<void(Value, Value)> emit);

private:
  BlockOps &block;
  // 256 digit counts; each warp's counts of keys above and equal to the
  // threshold in its run of positions ([warps] then [warps]).
  Value histogram, runTotals;
};

/// An async gpu.launch after `token` of kernel `name` (in gpu.module
/// `name`_kernels once outlined); `token` becomes the launch's.
gpu::LaunchOp launchKernel(ImplicitLocOpBuilder &b, const std::string &name,
                           ArrayRef<Value> grid, int64_t threads,
                           int64_t dynamicSharedBytes, Value &token);
/// Flat device scratch of `elements` (at least 1) elements, allocated
/// after `token`, which becomes the allocation's. Scratch is freed by
/// freeScratch; both carry `bufferization.manual_deallocation`, so that
/// buffer deallocation leaves them alone.
Value allocScratch(ImplicitLocOpBuilder &b, Type elementType, Value elements,
                   Value &token);
/// Frees scratch of allocScratch after `token`, which becomes the free's.
void freeScratch(ImplicitLocOpBuilder &b, Value buffer, Value &token);
/// Fills the body of `launch` with `body` and its terminator.
void emitKernelBody(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                    llvm::function_ref<void()> body);
/// Prefix of kernel names: "<function>_" for ops inside a function.
std::string kernelPrefix(Operation *op);

/// Where a block of an attention kernel works, on the grid (row blocks of
/// one key/value head, Hkv, B * splits), and the query rows of a key/value
/// head (its GQA group times Lq, head-major).
struct AttentionBlock {
  Value kvHead, batch, split, rows;
  static AttentionBlock of(GpuBuilder &gb, gpu::LaunchOp launch,
                           const SdpaGpuPlan &plan);
  std::tuple<Value, Value, Value, Value> values() const {
    return {kvHead, batch, split, rows};
  }
};

/// Emits the tensor-core attention kernel into the body of `launch`.
/// Grid: (row blocks of the query rows of one key/value head, Hkv,
/// B * splits); block: 32 * config.warps threads.
void emitMmaAttentionKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                            const SdpaGpuPlan &plan,
                            const MmaKernelConfig &config);

/// Tiling of the INT4 decode kernel of attn.quantized_sdpa
/// (QuantizedDecodeKernel.cpp): one warp per block, products transposed so
/// that up to kQuantizedDecodeRows query rows per key/value head fill the
/// n-dim of mma.sync.
struct QuantizedDecodeConfig {
  int64_t keyTile = 64;    // keys per stage, a multiple of 16
  int64_t stages = 2;      // stages in flight (>= 2)
  int64_t blocksPerSM = 8; // launch bound: the registers of this many
  /// Dynamic shared memory: the stages and one tile's decode parameters.
  int64_t sharedMemoryBytes(const SdpaGpuPlan &plan) const;
};
constexpr int64_t kQuantizedDecodeRows = 8;

/// Whether the INT4 decode kernel takes `plan`'s cache: INT4, D a multiple
/// of 32 up to 256 in groups of a multiple of 32 dims, Dv a multiple of 64
/// up to 256, and value groups that are whole 16-key steps of a tile or
/// whole tiles.
bool quantizedDecodeApplies(const SdpaGpuPlan &plan,
                            const QuantizedDecodeConfig &config);

/// Emits the INT4 decode kernel. Grid: (1, Hkv, B * splits); block: 32
/// threads; at most kQuantizedDecodeRows query rows per key/value head.
void emitQuantizedDecodeKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                               const SdpaGpuPlan &plan,
                               const QuantizedDecodeConfig &config);

/// Emits the CUDA-core attention kernel (any element type and head dim).
/// Grid: (row blocks of kSimtRowsPerBlock rows, Hkv, B * splits); block:
/// 32 * kSimtRowsPerBlock threads.
void emitSimtAttentionKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                             const SdpaGpuPlan &plan);

/// The split-KV merge kernel's blocks: kSplitMergeThreads threads over
/// kSplitMergeDims output dims (kSplitMergeThreads / kSplitMergeDims
/// threads per dim, each taking its share of the splits).
constexpr int64_t kSplitMergeThreads = 1024, kSplitMergeDims = 32;
/// Blocks per query row of the split-KV merge kernel (grid y).
int64_t splitMergeDimBlocks(const SdpaGpuPlan &plan);
/// Emits the split-KV merge kernel (ALGORITHMS.md §2). Grid: (B * Hq * Lq,
/// splitMergeDimBlocks(plan)); block: kSplitMergeThreads threads.
void emitSplitMergeKernel(ImplicitLocOpBuilder &b, gpu::LaunchOp launch,
                          const SdpaGpuPlan &plan);

/// Writes finished values of a query row (consecutive dims): into `output`
/// when the row has one split, else into the split's partial result. `values`
/// are the unnormalized accumulators of dims [dim, dim + values.size()) and
/// `sum` the row's softmax sum.
void storeRowValues(GpuBuilder &gb, const SdpaGpuPlan &plan, Value batch,
                    Value head, Value queryIdx, Value split, Value dim,
                    ArrayRef<Value> values, Value sum);
/// The mask operand `mask` of an attn.sdpa as its kernels read it (see
/// SdpaMask).
SdpaMask bindSdpaMask(GpuBuilder &gb, Value mask);
/// The indices into the mask producer's input `input` of the element that
/// the score of query `queryIdx` of head `head` and key `key` reads.
SmallVector<Value> maskInputIndices(GpuBuilder &gb, const SdpaGpuPlan &plan,
                                    unsigned input, Value batch, Value head,
                                    Value queryIdx, Value key);
/// The element of the mask producer's input `input` that the score of query
/// `queryIdx` of head `head` and key `key` reads.
Value loadMaskInput(GpuBuilder &gb, const SdpaGpuPlan &plan, unsigned input,
                    Value batch, Value head, Value queryIdx, Value key);
/// The mask's term for the score of query `queryIdx` of head `head` and key
/// `key` (all in range): for an i1 mask whether the key is kept, for a float
/// mask its additive term in the log2 domain of the kernels' scores (f32).
/// Non-null `knownInputs[i]` is the producer's input `i` at this score,
/// already read (staged or hoisted by the kernel).
Value loadMaskTerm(GpuBuilder &gb, const SdpaGpuPlan &plan, Value batch,
                   Value head, Value queryIdx, Value key,
                   ArrayRef<Value> knownInputs = {});
/// Writes a query row's log-sum-exp, `(max + log2(sum)) * ln 2` with `max`
/// in the log2 domain, where it belongs (lse or the split's partial).
void storeRowLse(GpuBuilder &gb, const SdpaGpuPlan &plan, Value batch,
                 Value head, Value queryIdx, Value split, Value max2,
                 Value sum);

} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_GPUBUILDER_H
