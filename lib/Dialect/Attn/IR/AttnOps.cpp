//===- AttnOps.cpp - attn dialect ops ---------------------------*- C++ -*-===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

/// Prints a dimension the way tensor types spell it.
static std::string dimToString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

/// Two dimensions agree unless both are static and differ.
static bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks that an optional log-sum-exp result is [B, Hq, Lq] of the query.
static LogicalResult verifyLseType(Operation *op, RankedTensorType queryType,
                                   Value lse) {
  if (!lse)
    return success();
  auto lseType = cast<RankedTensorType>(lse.getType());
  ArrayRef<int64_t> q = queryType.getShape();
  if (lseType.getRank() != 3 ||
      !llvm::all_of(llvm::zip(lseType.getShape(), q.drop_back()),
                    [](auto dims) {
                      return dimsAgree(std::get<0>(dims), std::get<1>(dims));
                    }))
    return op->emitOpError()
           << "lse shape must be [B, Hq, Lq] = [" << dimToString(q[0]) << ", "
           << q[1] << ", " << dimToString(q[2]) << "], got " << lseType;
  return success();
}

//===----------------------------------------------------------------------===//
// SdpaOp
//===----------------------------------------------------------------------===//

void SdpaOp::build(OpBuilder &builder, OperationState &state, Value query,
                   Value key, Value value, Value mask, FloatAttr scale,
                   bool causal, bool withLse) {
  auto queryType = cast<RankedTensorType>(query.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> outShape(queryType.getShape());
  outShape.back() = valueType.getShape().back();
  Type outType = RankedTensorType::get(outShape, queryType.getElementType());
  Type lseType;
  if (withLse)
    lseType = RankedTensorType::get(queryType.getShape().drop_back(),
                                    builder.getF32Type());
  build(builder, state, outType, lseType, query, key, value, mask, scale,
        causal, /*softmax_exp=*/nullptr);
}

float SdpaOp::getEffectiveScale() {
  if (FloatAttr scale = getScaleAttr())
    return scale.getValueAsDouble();
  int64_t headDim = getQuery().getType().getShape().back();
  return 1.0f / std::sqrt(static_cast<float>(headDim));
}

/// Checks the query, key, value and output types shared by the attention
/// ops: [B, Hq, Lq, D], [B, Hkv, Lk, D], [B, Hkv, Lk, Dv] -> [B, Hq, Lq, Dv].
static LogicalResult verifyAttentionTypes(Operation *op,
                                          RankedTensorType queryType,
                                          RankedTensorType keyType,
                                          RankedTensorType valueType,
                                          RankedTensorType outputType) {
  auto emitOpError = [&]() { return op->emitOpError(); };

  auto checkRank4 = [&](RankedTensorType type, StringRef name,
                        StringRef layout) -> LogicalResult {
    if (type.getRank() == 4)
      return success();
    return emitOpError() << name << " must have rank 4 (" << layout
                         << "), got rank " << type.getRank();
  };
  if (failed(checkRank4(queryType, "query", "[B, Hq, Lq, D]")) ||
      failed(checkRank4(keyType, "key", "[B, Hkv, Lk, D]")) ||
      failed(checkRank4(valueType, "value", "[B, Hkv, Lk, Dv]")))
    return failure();

  ArrayRef<int64_t> q = queryType.getShape();
  ArrayRef<int64_t> k = keyType.getShape();
  ArrayRef<int64_t> v = valueType.getShape();

  // Head counts and head dims fix the loop structure: they must be static.
  auto checkStatic = [&](int64_t dim, StringRef what) -> LogicalResult {
    if (!ShapedType::isDynamic(dim))
      return success();
    return emitOpError() << what << " must be static";
  };
  if (failed(checkStatic(q[1], "query head count (dim 1)")) ||
      failed(checkStatic(k[1], "key head count (dim 1)")) ||
      failed(checkStatic(v[1], "value head count (dim 1)")) ||
      failed(checkStatic(q[3], "query head dim (dim 3)")) ||
      failed(checkStatic(k[3], "key head dim (dim 3)")) ||
      failed(checkStatic(v[3], "value head dim (dim 3)")))
    return failure();

  if (k[1] != v[1])
    return emitOpError() << "key heads (" << k[1] << ") and value heads ("
                         << v[1] << ") differ";
  if (k[1] == 0 || q[1] % k[1] != 0)
    return emitOpError() << "query heads (" << q[1]
                         << ") must be a multiple of key/value heads (" << k[1]
                         << ")";
  if (q[3] != k[3])
    return emitOpError() << "query head dim (" << q[3]
                         << ") does not match key head dim (" << k[3] << ")";
  if (!dimsAgree(q[0], k[0]) || !dimsAgree(q[0], v[0]))
    return emitOpError() << "batch sizes differ: query " << dimToString(q[0])
                         << ", key " << dimToString(k[0]) << ", value "
                         << dimToString(v[0]);
  if (!dimsAgree(k[2], v[2]))
    return emitOpError() << "key length (" << dimToString(k[2])
                         << ") and value length (" << dimToString(v[2])
                         << ") differ";

  Type elementType = queryType.getElementType();
  if (keyType.getElementType() != elementType ||
      valueType.getElementType() != elementType)
    return emitOpError() << "query, key and value element types differ: "
                         << elementType << ", " << keyType.getElementType()
                         << ", " << valueType.getElementType();

  // The output is [B, Hq, Lq, Dv] in the query's element type.
  if (outputType.getElementType() != elementType)
    return emitOpError() << "output element type "
                         << outputType.getElementType()
                         << " does not match query element type "
                         << elementType;
  SmallVector<int64_t> expectedOut = {q[0], q[1], q[2], v[3]};
  if (outputType.getRank() != 4 ||
      !llvm::all_of(llvm::zip(outputType.getShape(), expectedOut),
                    [](auto dims) {
                      return dimsAgree(std::get<0>(dims), std::get<1>(dims));
                    }))
    return emitOpError() << "output shape must be [B, Hq, Lq, Dv] = ["
                         << dimToString(q[0]) << ", " << q[1] << ", "
                         << dimToString(q[2]) << ", " << v[3] << "], got "
                         << outputType;

  return success();
}

LogicalResult SdpaOp::verify() {
  auto queryType = getQuery().getType();
  auto keyType = getKey().getType();
  if (failed(verifyAttentionTypes(*this, queryType, keyType,
                                  getValue().getType(), getOutput().getType())))
    return failure();
  if (FloatAttr scale = getScaleAttr())
    if (!std::isfinite(scale.getValueAsDouble()))
      return emitOpError() << "scale must be finite";
  ArrayRef<int64_t> q = queryType.getShape();
  ArrayRef<int64_t> k = keyType.getShape();

  if (failed(verifyLseType(*this, queryType, getLse())))
    return failure();

  if (Value mask = getMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (maskType.getRank() < 2 || maskType.getRank() > 4)
      return emitOpError() << "mask must have rank 2 to 4, got rank "
                           << maskType.getRank();
    // Broadcast aligned on the right against [B, Hq, Lq, Lk]; a static 1
    // broadcasts, any other size must match.
    SmallVector<int64_t> target = {q[0], q[1], q[2], k[2]};
    ArrayRef<int64_t> m = maskType.getShape();
    int64_t offset = 4 - maskType.getRank();
    for (auto [i, dim] : llvm::enumerate(m)) {
      int64_t want = target[offset + i];
      if (dim == 1 || dimsAgree(dim, want))
        continue;
      return emitOpError() << "mask of shape " << maskType
                           << " is not broadcastable to [B, Hq, Lq, Lk] = ["
                           << dimToString(q[0]) << ", " << q[1] << ", "
                           << dimToString(q[2]) << ", " << dimToString(k[2])
                           << "]: dim " << i << " is " << dimToString(dim)
                           << ", expected 1 or " << dimToString(want);
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MergeOp
//===----------------------------------------------------------------------===//

LogicalResult MergeOp::verify() {
  auto outType = getOut1().getType();
  auto lseType = getLse1().getType();
  if (outType.getRank() < 1)
    return emitOpError() << "outputs must have rank >= 1, got " << outType;
  ArrayRef<int64_t> rows = outType.getShape().drop_back();
  if (lseType.getRank() != static_cast<int64_t>(rows.size()) ||
      !llvm::all_of(llvm::zip(lseType.getShape(), rows), [](auto dims) {
        return dimsAgree(std::get<0>(dims), std::get<1>(dims));
      }))
    return emitOpError() << "lse shape " << lseType
                         << " must be the output shape " << outType
                         << " without its last dimension";
  return success();
}

//===----------------------------------------------------------------------===//
// TopkOp
//===----------------------------------------------------------------------===//

LogicalResult TopkOp::verify() {
  auto inputType = getInput().getType();
  auto valuesType = getValues().getType();
  auto indicesType = getIndices().getType();
  if (inputType.getRank() < 1)
    return emitOpError() << "input must have rank >= 1";
  if (valuesType.getElementType() != inputType.getElementType())
    return emitOpError() << "values element type "
                         << valuesType.getElementType()
                         << " does not match input element type "
                         << inputType.getElementType();
  if (valuesType.getShape() != indicesType.getShape())
    return emitOpError() << "values " << valuesType << " and indices "
                         << indicesType << " must have one shape";
  int64_t rank = inputType.getRank();
  if (valuesType.getRank() != rank)
    return emitOpError() << "results must have the input's rank " << rank
                         << ", got " << valuesType.getRank();
  for (int64_t d = 0; d + 1 < rank; ++d)
    if (!dimsAgree(inputType.getDimSize(d), valuesType.getDimSize(d)))
      return emitOpError() << "result dim " << d << " is "
                           << dimToString(valuesType.getDimSize(d))
                           << " but input dim " << d << " is "
                           << dimToString(inputType.getDimSize(d));
  int64_t k = valuesType.getShape().back();
  int64_t n = inputType.getShape().back();
  if (ShapedType::isDynamic(k) != static_cast<bool>(getK()))
    return emitOpError() << "k is the results' last dimension: give the `k` "
                            "operand exactly when that dimension is dynamic";
  if (!ShapedType::isDynamic(k) && k < 1)
    return emitOpError() << "k must be positive, got " << k;
  if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(n) && k > n)
    return emitOpError() << "k (" << k << ") exceeds the input's last dim ("
                         << n << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// GatherOp
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::verify() {
  auto sourceType = getSource().getType();
  auto indicesType = getIndices().getType();
  auto resultType = getResult().getType();
  int64_t axis = getAxis();
  if (axis >= sourceType.getRank())
    return emitOpError() << "axis " << axis << " is out of range for source "
                         << sourceType;
  if (indicesType.getRank() <= axis)
    return emitOpError() << "indices must have the " << axis
                         << " batch dims of the source and at least one index "
                            "dim, got rank "
                         << indicesType.getRank();
  for (int64_t d = 0; d < axis; ++d) {
    int64_t dim = indicesType.getDimSize(d);
    if (dim != 1 && !dimsAgree(dim, sourceType.getDimSize(d)))
      return emitOpError() << "indices dim " << d << " is " << dimToString(dim)
                           << ", expected 1 or the source's "
                           << dimToString(sourceType.getDimSize(d));
  }
  SmallVector<int64_t> expected(sourceType.getShape().take_front(axis));
  llvm::append_range(expected, indicesType.getShape().drop_front(axis));
  llvm::append_range(expected, sourceType.getShape().drop_front(axis + 1));
  if (resultType.getElementType() != sourceType.getElementType())
    return emitOpError() << "result element type "
                         << resultType.getElementType()
                         << " does not match source element type "
                         << sourceType.getElementType();
  auto printShape = [](ArrayRef<int64_t> shape) {
    std::string s = "[";
    for (auto [i, dim] : llvm::enumerate(shape))
      s += (i ? ", " : "") + dimToString(dim);
    return s + "]";
  };
  if (resultType.getRank() != static_cast<int64_t>(expected.size()) ||
      !llvm::all_of(llvm::zip(resultType.getShape(), expected), [](auto dims) {
        return dimsAgree(std::get<0>(dims), std::get<1>(dims));
      }))
    return emitOpError() << "result shape must be source[:axis] ++ "
                            "indices[axis:] ++ source[axis+1:] = "
                         << printShape(expected) << ", got " << resultType;
  return success();
}

//===----------------------------------------------------------------------===//
// LshSortBucketOp
//===----------------------------------------------------------------------===//

/// The operands of a sortLSH hash: `input` [..., N, D] and `projections`
/// [D, P] with a static P in [1, 16].
static LogicalResult verifyLshOperands(Operation *op,
                                       RankedTensorType inputType,
                                       RankedTensorType projectionsType) {
  if (inputType.getRank() < 2)
    return op->emitOpError() << "input must be [..., N, D], got " << inputType;
  if (projectionsType.getRank() != 2)
    return op->emitOpError()
           << "projections must be [D, P], got " << projectionsType;
  int64_t headDim = inputType.getShape().back();
  if (!dimsAgree(projectionsType.getDimSize(0), headDim))
    return op->emitOpError()
           << "projections have " << projectionsType.getDimSize(0)
           << " rows, expected the input's row length " << headDim;
  int64_t numProjs = projectionsType.getDimSize(1);
  if (ShapedType::isDynamic(numProjs) || numProjs < 1 || numProjs > 16)
    return op->emitOpError() << "the number of projections must be static and "
                                "in [1, 16], got "
                             << dimToString(numProjs);
  return success();
}

/// Whether every result of `op` has the shape `rowShape` (dims agreeing
/// where static), else an error naming `expected`.
static LogicalResult verifyRowResults(Operation *op, ArrayRef<int64_t> rowShape,
                                      StringRef expected) {
  for (Value result : op->getResults()) {
    auto resultType = cast<RankedTensorType>(result.getType());
    if (resultType.getRank() != static_cast<int64_t>(rowShape.size()) ||
        !llvm::all_of(llvm::zip(resultType.getShape(), rowShape),
                      [](auto dims) {
                        return dimsAgree(std::get<0>(dims), std::get<1>(dims));
                      }))
      return op->emitOpError()
             << "result " << resultType << " must have " << expected;
  }
  return success();
}

/// Whether a sort's optional rank has its permutation's type.
static LogicalResult verifyRankType(Operation *op, Value permutation,
                                    Value rank) {
  if (rank && rank.getType() != permutation.getType())
    return op->emitOpError()
           << "rank type " << rank.getType()
           << " differs from permutation type " << permutation.getType();
  return success();
}

LogicalResult LshSortBucketOp::verify() {
  auto inputType = getInput().getType();
  if (failed(verifyLshOperands(*this, inputType, getProjections().getType())) ||
      failed(verifyRowResults(*this, inputType.getShape().drop_back(),
                              "the input's shape without its last dim")))
    return failure();
  return verifyRankType(*this, getPermutation(), getRank());
}

//===----------------------------------------------------------------------===//
// LshHashOp
//===----------------------------------------------------------------------===//

LogicalResult LshHashOp::verify() {
  auto inputType = getInput().getType();
  if (failed(verifyLshOperands(*this, inputType, getProjections().getType())))
    return failure();
  return verifyRowResults(*this, inputType.getShape().drop_back(),
                          "the input's shape without its last dim");
}

//===----------------------------------------------------------------------===//
// LshSortOp
//===----------------------------------------------------------------------===//

LogicalResult LshSortOp::verify() {
  auto keysType = getKeys().getType();
  if (keysType.getRank() < 1)
    return emitOpError() << "keys must be [..., N], got " << keysType;
  if (failed(verifyRowResults(*this, keysType.getShape(), "the keys' shape")))
    return failure();
  return verifyRankType(*this, getPermutation(), getRank());
}

//===----------------------------------------------------------------------===//
// SparqOp
//===----------------------------------------------------------------------===//

float SparqOp::getEffectiveScale() {
  if (FloatAttr scale = getScaleAttr())
    return scale.getValueAsDouble();
  int64_t headDim = getQuery().getType().getShape().back();
  return 1.0f / std::sqrt(static_cast<float>(headDim));
}

LogicalResult SparqOp::verify() {
  auto queryType = getQuery().getType();
  auto keyType = getKey().getType();
  auto valueType = getValue().getType();
  if (failed(verifyAttentionTypes(*this, queryType, keyType, valueType,
                                  getOutput().getType())))
    return failure();
  if (FloatAttr scale = getScaleAttr())
    if (!std::isfinite(scale.getValueAsDouble()))
      return emitOpError() << "scale must be finite";
  ArrayRef<int64_t> k = keyType.getShape();
  ArrayRef<int64_t> v = valueType.getShape();
  int64_t headDim = k[3];
  if (static_cast<int64_t>(getRank()) > headDim)
    return emitOpError() << "rank (" << getRank() << ") exceeds the head dim ("
                         << headDim << ")";
  if (getLocalWindowSize() > static_cast<int64_t>(getTopK()))
    return emitOpError() << "local_window (" << getLocalWindowSize()
                         << ") exceeds top_k (" << getTopK() << ")";

  if (Value keyTransposed = getKeyTransposed()) {
    auto type = cast<RankedTensorType>(keyTransposed.getType());
    ArrayRef<int64_t> kt = type.getShape();
    if (type.getElementType() != keyType.getElementType() || kt.size() != 4 ||
        !dimsAgree(kt[0], k[0]) || kt[1] != k[1] || kt[2] != k[3] ||
        !dimsAgree(kt[3], k[2]))
      return emitOpError() << "key_transposed must be [B, Hkv, D, Lk] = ["
                           << dimToString(k[0]) << ", " << k[1] << ", " << k[3]
                           << ", " << dimToString(k[2]) << "] of "
                           << keyType.getElementType() << ", got " << type;
  }
  if (Value valueMean = getValueMean()) {
    auto type = cast<RankedTensorType>(valueMean.getType());
    ArrayRef<int64_t> vm = type.getShape();
    if (type.getElementType() != valueType.getElementType() || vm.size() != 3 ||
        !dimsAgree(vm[0], v[0]) || vm[1] != v[1] || vm[2] != v[3])
      return emitOpError() << "value_mean must be [B, Hkv, Dv] = ["
                           << dimToString(v[0]) << ", " << v[1] << ", " << v[3]
                           << "] of " << valueType.getElementType() << ", got "
                           << type;
  }
  return success();
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// PolyExpAttr and PolyExpOp
//===----------------------------------------------------------------------===//

SmallVector<float> mlir::attn::getPolyExpFitCoefficients(int64_t degree) {
  if (degree == 2)
    return {0.997926f, -0.667377f, 0.171329f};
  return {0.999899f, -0.691077f, 0.230595f, -0.039510f};
}

LogicalResult PolyExpAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t degree, std::optional<int64_t> nMax) {
  if (degree != 2 && degree != 3)
    return emitError() << "poly_exp degree must be 2 or 3, got " << degree;
  if (nMax && *nMax < 1)
    return emitError() << "poly_exp n_max must be positive, got " << *nMax;
  return success();
}

SmallVector<float> PolyExpOp::getEffectiveCoefficients() {
  if (std::optional<ArrayRef<float>> coefficients = getCoefficients())
    return SmallVector<float>(*coefficients);
  return getPolyExpFitCoefficients(getDegree());
}

LogicalResult PolyExpOp::verify() {
  if (std::optional<ArrayRef<float>> coefficients = getCoefficients()) {
    if (coefficients->size() != getDegree() + 1)
      return emitOpError() << "a degree-" << getDegree() << " polynomial needs "
                           << getDegree() + 1 << " coefficients, got "
                           << coefficients->size();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp and DequantizeOp
//===----------------------------------------------------------------------===//

std::array<RankedTensorType, 4>
mlir::attn::getQuantizedLayoutTypes(RankedTensorType floatType, int64_t axis,
                                    int64_t groupSize, int64_t bits) {
  MLIRContext *ctx = floatType.getContext();
  auto i8 = IntegerType::get(ctx, 8);
  SmallVector<int64_t> codes(floatType.getShape());
  if (!ShapedType::isDynamic(codes.back()))
    codes.back() = llvm::divideCeil(codes.back() * bits, 8);
  SmallVector<int64_t> groups(floatType.getShape());
  if (!ShapedType::isDynamic(groups[axis]))
    groups[axis] = llvm::divideCeil(groups[axis], groupSize);
  RankedTensorType groupCodes =
      bits < 8 ? RankedTensorType::get(groups, i8) : RankedTensorType();
  return {RankedTensorType::get(codes, i8),
          RankedTensorType::get(groups, Float32Type::get(ctx)), groupCodes,
          groupCodes};
}

/// Checks the packed layout of attn.quantize for a float tensor of type
/// `floatType`: codes packed along the last dim, scale/step/zero with the
/// `axis` dim replaced by its group count, step and zero iff bits < 8.
static LogicalResult
verifyQuantizedLayout(Operation *op, RankedTensorType floatType,
                      RankedTensorType codesType, RankedTensorType scaleType,
                      Type stepType, Type zeroType, int64_t axis,
                      int64_t groupSize, int64_t bits, StringRef what) {
  if (bits != 8 && bits != 4 && bits != 2)
    return op->emitOpError() << "bits must be 8, 4 or 2, got " << bits;
  int64_t rank = floatType.getRank();
  if (rank < 1)
    return op->emitOpError() << what << " must have rank at least 1";
  if (axis >= rank)
    return op->emitOpError() << "axis " << axis << " is out of range for "
                             << what << " of rank " << rank;
  if ((bits < 8) != static_cast<bool>(stepType) ||
      static_cast<bool>(stepType) != static_cast<bool>(zeroType))
    return op->emitOpError()
           << (bits < 8 ? "bits " + std::to_string(bits) +
                              " needs step and zero tensors"
                        : std::string("bits 8 takes no step or zero tensor"));
  int64_t perByte = 8 / bits;
  if (bits < 8 && axis == rank - 1 && groupSize % perByte != 0)
    return op->emitOpError()
           << "group_size " << groupSize << " must be a multiple of " << perByte
           << " so that groups along the packed dim start a byte";

  auto expected = [&](RankedTensorType type, ArrayRef<int64_t> shape,
                      StringRef name) -> LogicalResult {
    if (type.getRank() != rank)
      return op->emitOpError() << name << " must have rank " << rank << ", got "
                               << type.getRank();
    for (int64_t d = 0; d < rank; ++d) {
      if (!dimsAgree(type.getDimSize(d), shape[d]))
        return op->emitOpError() << name << " dim " << d << " is "
                                 << dimToString(type.getDimSize(d))
                                 << ", expected " << dimToString(shape[d]);
    }
    return success();
  };
  auto layout = getQuantizedLayoutTypes(floatType, axis, groupSize, bits);
  ArrayRef<int64_t> codesShape = layout[0].getShape();
  ArrayRef<int64_t> groupShape = layout[1].getShape();
  if (failed(expected(codesType, codesShape, "codes")) ||
      failed(expected(scaleType, groupShape, "scale")))
    return failure();
  if (stepType &&
      (failed(expected(cast<RankedTensorType>(stepType), groupShape, "step")) ||
       failed(expected(cast<RankedTensorType>(zeroType), groupShape, "zero"))))
    return failure();
  return success();
}

LogicalResult QuantizeOp::verify() {
  auto inputType = getInput().getType();
  if (failed(verifyQuantizedLayout(
          *this, inputType, getCodes().getType(), getScale().getType(),
          getStep() ? getStep().getType() : Type(),
          getZero() ? getZero().getType() : Type(), getAxis(), getGroupSize(),
          getBits(), "input")))
    return failure();
  if (std::optional<uint64_t> lowHeads = getLowPriorityHeads()) {
    if (getBits() != 4)
      return emitOpError() << "low_priority_heads needs bits 4, got "
                           << getBits();
    if (inputType.getRank() != 4)
      return emitOpError() << "low_priority_heads needs a rank-4 [B, H, L, D] "
                              "input, got rank "
                           << inputType.getRank();
    if (getAxis() < 2)
      return emitOpError() << "low_priority_heads needs groups along axis 2 "
                              "or 3 (within a head), got axis "
                           << getAxis();
    int64_t heads = inputType.getDimSize(1);
    if (!ShapedType::isDynamic(heads) &&
        static_cast<int64_t>(*lowHeads) > heads)
      return emitOpError() << "low_priority_heads (" << *lowHeads
                           << ") exceeds the head count (" << heads << ")";
  }
  return success();
}

LogicalResult DequantizeOp::verify() {
  return verifyQuantizedLayout(*this, getOutput().getType(),
                               getCodes().getType(), getScale().getType(),
                               getStep() ? getStep().getType() : Type(),
                               getZero() ? getZero().getType() : Type(),
                               getAxis(), getGroupSize(), getBits(), "output");
}

//===----------------------------------------------------------------------===//
// QuantizedSdpaOp
//===----------------------------------------------------------------------===//

float QuantizedSdpaOp::getEffectiveScale() {
  if (FloatAttr scale = getScaleAttr())
    return scale.getValueAsDouble();
  int64_t headDim = getQuery().getType().getShape().back();
  return 1.0f / std::sqrt(static_cast<float>(headDim));
}

LogicalResult QuantizedSdpaOp::verify() {
  auto queryType = getQuery().getType();
  auto keyCodesType = getKeyCodes().getType();
  auto valueCodesType = getValueCodes().getType();
  auto valueScaleType = getValueScale().getType();
  if (queryType.getRank() != 4 || keyCodesType.getRank() != 4 ||
      valueCodesType.getRank() != 4 || valueScaleType.getRank() != 4)
    return emitOpError() << "query, codes and scales must have rank 4";
  int64_t headDim = queryType.getDimSize(3);
  int64_t valueDim = valueScaleType.getDimSize(3);
  if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
    return emitOpError() << "head dims (query dim 3, value scale dim 3) must "
                            "be static";
  if (headDim % getGroupSize() != 0)
    return emitOpError() << "head dim " << headDim
                         << " must be a multiple of group_size "
                         << getGroupSize();

  // The float tensors the codes stand for, to check as attn.sdpa would.
  Type elementType = queryType.getElementType();
  auto logical = [&](RankedTensorType codes, int64_t dim) {
    return RankedTensorType::get(
        {codes.getDimSize(0), codes.getDimSize(1), codes.getDimSize(2), dim},
        elementType);
  };
  RankedTensorType keyType = logical(keyCodesType, headDim);
  RankedTensorType valueType = logical(valueCodesType, valueDim);
  auto typeOf = [](Value v) { return v ? v.getType() : Type(); };
  if (failed(verifyQuantizedLayout(
          *this, keyType, keyCodesType, getKeyScale().getType(),
          typeOf(getKeyStep()), typeOf(getKeyZero()),
          /*axis=*/3, getGroupSize(), getBits(), "key")) ||
      failed(verifyQuantizedLayout(*this, valueType, valueCodesType,
                                   valueScaleType, typeOf(getValueStep()),
                                   typeOf(getValueZero()), /*axis=*/2,
                                   getGroupSize(), getBits(), "value")))
    return failure();
  if (failed(verifyAttentionTypes(*this, queryType, keyType, valueType,
                                  getOutput().getType())))
    return failure();
  return verifyLseType(*this, queryType, getLse());
}
