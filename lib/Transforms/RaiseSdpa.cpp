//===- RaiseSdpa.cpp - find dense attention in linalg IR --------*- C++ -*-===//
//
// Rewrites attention written with upstream tensor ops (contractions, an
// optional scale and additive mask, a softmax, a second contraction) into
// attn.sdpa, so that the rewrites and lowerings of this project apply to
// models that frontends such as torch-mlir hand over as linalg.
//
// The match starts at the P.V contraction and walks up its operands. Every
// step checks the dimension it acts on, so that near misses (a softmax over
// the query dimension, a contraction over the wrong dimension, a mask that is
// multiplied) leave the IR alone.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_RAISESDPA
#include "attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

//===----------------------------------------------------------------------===//
// Small matchers
//===----------------------------------------------------------------------===//

/// A float scalar known at compile time: an arith constant, possibly behind
/// extf/truncf (frontends keep Python floats as f64).
std::optional<double> getScalarConstant(Value value) {
  APFloat constant(0.0);
  if (matchPattern(value, m_ConstantFloat(&constant)))
    return constant.convertToDouble();
  Operation *def = value.getDefiningOp();
  if (isa_and_nonnull<arith::ExtFOp, arith::TruncFOp>(def))
    return getScalarConstant(def->getOperand(0));
  return std::nullopt;
}

/// A tensor whose every element is one known float: a splat constant or a
/// linalg.fill of a scalar constant.
std::optional<double> getSplatConstant(Value tensor) {
  SplatElementsAttr splat;
  if (matchPattern(tensor, m_Constant(&splat)) &&
      isa<FloatType>(splat.getElementType()))
    return splat.getSplatValue<APFloat>().convertToDouble();
  if (auto fill = tensor.getDefiningOp<linalg::FillOp>())
    return getScalarConstant(fill.getInputs()[0]);
  return std::nullopt;
}

bool isZeroTensor(Value tensor) {
  std::optional<double> splat = getSplatConstant(tensor);
  return splat && *splat == 0.0;
}

/// The linalg.generic that computes `value` element by element: all loops
/// parallel, one result with the identity indexing map.
linalg::GenericOp getElementwise(Value value) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic->getNumResults() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return nullptr;
  return generic;
}

Value getYielded(linalg::GenericOp generic) {
  return generic.getBody()->getTerminator()->getOperand(0);
}

/// The input operand of `generic` that the body value `value` reads, if it
/// is one of the body's input arguments.
OpOperand *getInputOperand(linalg::GenericOp generic, Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg || arg.getOwner() != generic.getBody() ||
      arg.getArgNumber() >= generic.getNumDpsInputs())
    return nullptr;
  return generic.getDpsInputOperand(arg.getArgNumber());
}

/// The tensor that `value` reads element for element (identity map).
Value getIdentityInput(linalg::GenericOp generic, Value value) {
  OpOperand *operand = getInputOperand(generic, value);
  if (!operand || !generic.getMatchingIndexingMap(operand).isIdentity())
    return nullptr;
  return operand->get();
}

/// A scalar that the body value `value` holds for every element: a constant
/// from inside or outside the body, or an input that is a splat constant.
std::optional<double> getBodyScalar(linalg::GenericOp generic, Value value) {
  if (std::optional<double> scalar = getScalarConstant(value))
    return scalar;
  if (OpOperand *operand = getInputOperand(generic, value))
    return getSplatConstant(operand->get());
  return std::nullopt;
}

/// Looks through `tensor.expand_shape` that appends a unit dimension
/// ([..., L] -> [..., L, 1], as keepdim reductions produce).
Value stripKeepDim(Value value) {
  auto expand = value.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand)
    return value;
  ArrayRef<int64_t> shape = expand.getResultType().getShape();
  auto groups = expand.getReassociationIndices();
  if (shape.empty() || shape.back() != 1 ||
      expand.getResultType().getRank() != expand.getSrcType().getRank() + 1)
    return value;
  for (auto [i, group] : llvm::enumerate(groups)) {
    bool last = i + 1 == groups.size();
    if (group.size() != (last ? 2u : 1u))
      return value;
  }
  return expand.getSrc();
}

/// True if `map` reads one value per row of a rank-`rank` loop nest whose
/// innermost loop is the key dimension: (d0, ..., d{r-2}) or
/// (d0, ..., d{r-2}, 0) on a tensor whose last dimension is 1.
bool isRowBroadcast(AffineMap map, int64_t rank, Value tensor) {
  if (map.getNumDims() != rank)
    return false;
  auto results = map.getResults();
  auto type = dyn_cast<RankedTensorType>(tensor.getType());
  if (!type)
    return false;
  size_t rowDims = rank - 1;
  if (static_cast<int64_t>(results.size()) == rank) {
    auto constant = dyn_cast<AffineConstantExpr>(results.back());
    if (!constant || constant.getValue() != 0 || type.getShape().back() != 1)
      return false;
  } else if (results.size() != rowDims) {
    return false;
  }
  for (size_t i = 0; i < rowDims; ++i)
    if (results[i] != getAffineDimExpr(i, map.getContext()))
      return false;
  return true;
}

enum class RowReduction { Max, Sum };

/// Matches `row` as the reduction of `input` over its last dimension with
/// max (any init: a softmax is invariant to the shift) or sum (zero init), as
/// linalg.generic or linalg.reduce. Returns the reduced tensor.
Value matchRowReduction(Value row, RowReduction kind) {
  row = stripKeepDim(row);
  Operation *def = row.getDefiningOp();
  if (!def || def->getNumResults() != 1)
    return nullptr;

  Value input, init;
  Block *body = nullptr;
  if (auto reduce = dyn_cast<linalg::ReduceOp>(def)) {
    if (reduce.getInputs().size() != 1)
      return nullptr;
    input = reduce.getInputs()[0];
    int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
    if (reduce.getDimensions() != ArrayRef<int64_t>{rank - 1})
      return nullptr;
    init = reduce.getInits()[0];
    body = reduce.getBody();
  } else if (auto generic = dyn_cast<linalg::GenericOp>(def)) {
    if (generic.getNumDpsInputs() != 1 || generic.getNumReductionLoops() != 1)
      return nullptr;
    int64_t rank = generic.getNumLoops();
    auto iterators = generic.getIteratorTypesArray();
    if (iterators.back() != utils::IteratorType::reduction)
      return nullptr;
    auto maps = generic.getIndexingMapsArray();
    if (!maps[0].isIdentity() ||
        maps[1] != AffineMap::getMultiDimIdentityMap(rank, def->getContext())
                       .dropResult(rank - 1))
      return nullptr;
    input = generic.getDpsInputOperand(0)->get();
    init = generic.getDpsInitOperand(0)->get();
    body = generic.getBody();
  } else {
    return nullptr;
  }

  Operation *combine = body->getTerminator()->getOperand(0).getDefiningOp();
  if (!combine || combine->getNumOperands() != 2 ||
      !llvm::is_contained(combine->getOperands(), body->getArgument(0)) ||
      !llvm::is_contained(combine->getOperands(), body->getArgument(1)))
    return nullptr;
  if (kind == RowReduction::Max &&
      !isa<arith::MaximumFOp, arith::MaxNumFOp>(combine))
    return nullptr;
  if (kind == RowReduction::Sum &&
      (!isa<arith::AddFOp>(combine) || !isZeroTensor(init)))
    return nullptr;
  return input;
}

/// Matches `value = f(x, row)` element by element, where `x` is read with
/// the identity map and `row` is broadcast along the key dimension; returns
/// (x, row).
template <typename BinaryOp>
std::optional<std::pair<Value, Value>> matchRowBinary(linalg::GenericOp generic,
                                                      Value bodyValue) {
  auto binary = bodyValue.getDefiningOp<BinaryOp>();
  if (!binary)
    return std::nullopt;
  Value x = getIdentityInput(generic, binary.getLhs());
  OpOperand *rowOperand = getInputOperand(generic, binary.getRhs());
  if (!x || !rowOperand ||
      !isRowBroadcast(generic.getMatchingIndexingMap(rowOperand),
                      generic.getNumLoops(), rowOperand->get()))
    return std::nullopt;
  return std::make_pair(x, rowOperand->get());
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// Matches the body value `bodyValue` of `generic` as `x - rowmax(x)`;
/// returns x.
Value matchMinusRowMax(linalg::GenericOp generic, Value bodyValue) {
  auto sub = matchRowBinary<arith::SubFOp>(generic, bodyValue);
  if (!sub)
    return nullptr;
  auto [scores, rowMax] = *sub;
  return matchRowReduction(rowMax, RowReduction::Max) == scores ? scores
                                                                : nullptr;
}

/// Matches `shifted` as `scores - rowmax(scores)`, or takes it as the scores
/// themselves (a softmax written without the max subtraction).
Value matchShiftedScores(Value shifted) {
  linalg::GenericOp generic = getElementwise(shifted);
  if (!generic || !matchRowBinary<arith::SubFOp>(generic, getYielded(generic)))
    return shifted;
  return matchMinusRowMax(generic, getYielded(generic));
}

/// Matches `exps = exp(scores [- rowmax(scores)])`, with the subtraction in
/// the same linalg.generic or its own. Returns the scores.
Value matchExpScores(Value exps) {
  linalg::GenericOp generic = getElementwise(exps);
  if (!generic)
    return nullptr;
  auto exp = getYielded(generic).getDefiningOp<math::ExpOp>();
  if (!exp)
    return nullptr;
  if (Value input = getIdentityInput(generic, exp.getOperand()))
    return matchShiftedScores(input);
  return matchMinusRowMax(generic, exp.getOperand());
}

/// Matches `probs = softmax(scores)` over the last (key) dimension, as
/// linalg.softmax or written out: exp(s - max) / sum(exp(s - max)), with or
/// without the max. Returns the scores.
Value matchSoftmax(Value probs) {
  if (auto softmax = probs.getDefiningOp<linalg::SoftmaxOp>()) {
    auto type = cast<RankedTensorType>(softmax.getInput().getType());
    if (softmax.getDimension() != static_cast<uint64_t>(type.getRank() - 1))
      return nullptr;
    return softmax.getInput();
  }
  linalg::GenericOp generic = getElementwise(probs);
  if (!generic)
    return nullptr;
  auto div = matchRowBinary<arith::DivFOp>(generic, getYielded(generic));
  if (!div)
    return nullptr;
  auto [exps, rowSum] = *div;
  if (matchRowReduction(rowSum, RowReduction::Sum) != exps)
    return nullptr;
  return matchExpScores(exps);
}

//===----------------------------------------------------------------------===//
// Scale and mask
//===----------------------------------------------------------------------===//

/// Matches `value = x * c` or `x / c` element by element with a constant
/// `c`; returns x and multiplies `factor` by c or 1/c.
Value matchScaled(Value value, double &factor) {
  Operation *def = value.getDefiningOp();
  if (isa_and_nonnull<linalg::MulOp, linalg::DivOp>(def)) {
    auto named = cast<linalg::LinalgOp>(def);
    if (named.getNumDpsInputs() != 2)
      return nullptr;
    Value input = named.getDpsInputs()[0];
    std::optional<double> c = getSplatConstant(named.getDpsInputs()[1]);
    // Multiplication commutes; division only scales its numerator.
    if (!c && isa<linalg::MulOp>(def)) {
      input = named.getDpsInputs()[1];
      c = getSplatConstant(named.getDpsInputs()[0]);
    }
    if (!c)
      return nullptr;
    factor *= isa<linalg::MulOp>(def) ? *c : 1.0 / *c;
    return input;
  }
  linalg::GenericOp generic = getElementwise(value);
  if (!generic)
    return nullptr;
  Operation *op = getYielded(generic).getDefiningOp();
  if (!isa_and_nonnull<arith::MulFOp, arith::DivFOp>(op))
    return nullptr;
  Value lhs = op->getOperand(0), rhs = op->getOperand(1);
  // Multiplication commutes; division only scales its numerator.
  if (isa<arith::MulFOp>(op) && !getIdentityInput(generic, lhs))
    std::swap(lhs, rhs);
  Value input = getIdentityInput(generic, lhs);
  std::optional<double> c = getBodyScalar(generic, rhs);
  if (!input || !c)
    return nullptr;
  factor *= isa<arith::MulFOp>(op) ? *c : 1.0 / *c;
  return input;
}

/// An additive mask found on the scores.
struct AdditiveMask {
  Value tensor;
  /// The rank of the scores it is added to (it reads their last dims).
  int64_t rank;
};

/// Matches `value = x + mask` element by element, where the mask is read
/// aligned on the right (its dims are the scores' last dims). Returns x.
Value matchMasked(Value value, AdditiveMask &mask) {
  if (auto add = value.getDefiningOp<linalg::AddOp>()) {
    mask = {add.getInputs()[1],
            cast<RankedTensorType>(add->getResult(0).getType()).getRank()};
    return add.getInputs()[0];
  }
  linalg::GenericOp generic = getElementwise(value);
  if (!generic)
    return nullptr;
  auto add = getYielded(generic).getDefiningOp<arith::AddFOp>();
  if (!add)
    return nullptr;
  for (auto [scoresArg, maskArg] : {std::pair(add.getLhs(), add.getRhs()),
                                    std::pair(add.getRhs(), add.getLhs())}) {
    Value scores = getIdentityInput(generic, scoresArg);
    OpOperand *maskOperand = getInputOperand(generic, maskArg);
    if (!scores || !maskOperand)
      continue;
    // Right-aligned: (d0, ..., dn) -> (d{n-k+1}, ..., dn).
    AffineMap map = generic.getMatchingIndexingMap(maskOperand);
    int64_t rank = generic.getNumLoops();
    int64_t maskRank = map.getNumResults();
    if (map != AffineMap::getMultiDimIdentityMap(rank, map.getContext())
                   .getSliceMap(rank - maskRank, maskRank))
      continue;
    mask = {maskOperand->get(), rank};
    return scores;
  }
  return nullptr;
}

/// Matches a mask built by a linalg.generic from linalg.index, a compare and
/// a select as the causal mask of self-attention: 0 where key j <= query i,
/// -inf above the diagonal. i and j are the mask's last two dims.
bool isCausalMask(Value mask) {
  linalg::GenericOp generic = getElementwise(mask);
  if (!generic || generic.getNumLoops() < 2)
    return false;
  auto select = getYielded(generic).getDefiningOp<arith::SelectOp>();
  if (!select)
    return false;
  auto compare = select.getCondition().getDefiningOp<arith::CmpIOp>();
  if (!compare)
    return false;
  // Which loop dimension a compare operand is, through index casts.
  auto loopDim = [&](Value v) -> std::optional<uint64_t> {
    while (isa_and_nonnull<arith::IndexCastOp, arith::IndexCastUIOp>(
        v.getDefiningOp()))
      v = v.getDefiningOp()->getOperand(0);
    if (auto index = v.getDefiningOp<linalg::IndexOp>())
      return index.getDim();
    return std::nullopt;
  };
  uint64_t row = generic.getNumLoops() - 2, col = row + 1;
  std::optional<uint64_t> lhsDim = loopDim(compare.getLhs());
  std::optional<uint64_t> rhsDim = loopDim(compare.getRhs());
  if (!lhsDim || !rhsDim || *lhsDim == *rhsDim ||
      !llvm::is_contained({row, col}, *lhsDim) ||
      !llvm::is_contained({row, col}, *rhsDim))
    return false;
  std::optional<double> onTrue = getBodyScalar(generic, select.getTrueValue());
  std::optional<double> onFalse =
      getBodyScalar(generic, select.getFalseValue());
  if (!onTrue || !onFalse)
    return false;
  // The mask value at (i, j); a compare of two indices is decided by their
  // order alone, so three points cover every case.
  auto maskAt = [&](int64_t i, int64_t j) {
    APInt lhs(64, *lhsDim == row ? i : j), rhs(64, *rhsDim == row ? i : j);
    return arith::applyCmpPredicate(compare.getPredicate(), lhs, rhs)
               ? *onTrue
               : *onFalse;
  };
  auto isMasked = [](double v) { return std::isinf(v) && v < 0; };
  return maskAt(1, 0) == 0.0 && maskAt(1, 1) == 0.0 && isMasked(maskAt(0, 1));
}

//===----------------------------------------------------------------------===//
// Contractions and their operands
//===----------------------------------------------------------------------===//

/// A batched contraction out[b.., m, n] = sum_k lhs[b.., m, k] * rhs[...],
/// with rhs read as [b.., k, n] or, `rhsTransposed`, as [b.., n, k].
struct Contraction {
  Value lhs, rhs;
  bool rhsTransposed;
  int64_t rank;
};

std::optional<Contraction> matchContraction(Value result) {
  auto op = result.getDefiningOp<linalg::LinalgOp>();
  if (!op || op->getNumResults() != 1 || op.getNumDpsInputs() != 2 ||
      !op.hasPureTensorSemantics() || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  // The accumulator must start at zero.
  if (!isZeroTensor(op.getDpsInitOperand(0)->get()))
    return std::nullopt;

  MLIRContext *ctx = op->getContext();
  auto dimsExpr = [&](ArrayRef<unsigned> loops) {
    SmallVector<AffineExpr> exprs;
    for (unsigned loop : dims->batch)
      exprs.push_back(getAffineDimExpr(loop, ctx));
    for (unsigned loop : loops)
      exprs.push_back(getAffineDimExpr(loop, ctx));
    return exprs;
  };
  unsigned m = dims->m[0], n = dims->n[0], k = dims->k[0];
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  auto hasResults = [&](AffineMap map, ArrayRef<unsigned> loops) {
    return map.getResults() == ArrayRef<AffineExpr>(dimsExpr(loops));
  };
  if (!hasResults(maps[0], {m, k}) || !hasResults(maps[2], {m, n}))
    return std::nullopt;
  bool rhsTransposed = hasResults(maps[1], {n, k});
  if (!rhsTransposed && !hasResults(maps[1], {k, n}))
    return std::nullopt;
  return Contraction{op.getDpsInputs()[0], op.getDpsInputs()[1], rhsTransposed,
                     static_cast<int64_t>(dims->batch.size() + 2)};
}

/// Looks through a transpose of the last two dims (linalg.transpose or a
/// linalg.generic copy with the swapped input map).
Value stripTranspose(Value value) {
  int64_t rank = cast<RankedTensorType>(value.getType()).getRank();
  SmallVector<int64_t> swapLast = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(swapLast[rank - 1], swapLast[rank - 2]);
  if (auto transpose = value.getDefiningOp<linalg::TransposeOp>())
    return transpose.getPermutation() == ArrayRef<int64_t>(swapLast)
               ? transpose.getInput()
               : nullptr;
  linalg::GenericOp generic = getElementwise(value);
  if (!generic)
    return nullptr;
  OpOperand *input = getInputOperand(generic, getYielded(generic));
  if (!input || generic.getMatchingIndexingMap(input) !=
                    AffineMap::getPermutationMap(swapLast, value.getContext()))
    return nullptr;
  return input->get();
}

/// Looks through `tensor.collapse_shape` [B, H, L, D] -> [B*H, L, D].
Value stripHeadCollapse(Value value) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 4 ||
      collapse.getReassociationIndices() !=
          SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}})
    return nullptr;
  return collapse.getSrc();
}

/// Looks through grouped-query attention written as a broadcast of K or V
/// over the group: [B, Hkv, L, D] broadcast to [B, Hkv, G, L, D] (a
/// linalg.broadcast, or a linalg.generic copy of an expand_shape to
/// [B, Hkv, 1, L, D]) and collapsed to [B, Hkv*G, L, D].
Value stripGroupBroadcast(Value value) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 5 ||
      collapse.getReassociationIndices() !=
          SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}})
    return nullptr;
  Value grouped = collapse.getSrc();
  if (auto broadcast = grouped.getDefiningOp<linalg::BroadcastOp>())
    return broadcast.getDimensions() == ArrayRef<int64_t>{2}
               ? broadcast.getInput()
               : nullptr;
  linalg::GenericOp generic = getElementwise(grouped);
  if (!generic)
    return nullptr;
  OpOperand *input = getInputOperand(generic, getYielded(generic));
  if (!input)
    return nullptr;
  MLIRContext *ctx = value.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  AffineMap map = generic.getMatchingIndexingMap(input);
  if (map == AffineMap::get(5, 0, {d(0), d(1), d(3), d(4)}, ctx))
    return input->get();
  // [B, Hkv, 1, L, D] read with a constant 0 on the group dim.
  if (map ==
      AffineMap::get(
          5, 0, {d(0), d(1), getAffineConstantExpr(0, ctx), d(3), d(4)}, ctx)) {
    auto expand = input->get().getDefiningOp<tensor::ExpandShapeOp>();
    if (expand && expand.getSrcType().getRank() == 4 &&
        expand.getResultType().getDimSize(2) == 1 &&
        expand.getReassociationIndices() ==
            SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}})
      return expand.getSrc();
  }
  return nullptr;
}

/// An attention operand traced back to what the frontend computed it from.
struct TracedOperand {
  /// At the contraction's rank, and the constant factors applied to it.
  Value value;
  double valueScale = 1;
  /// [B, H, L, D] behind a head collapse, if any, and its factors.
  Value heads;
  double headsScale = 1;
};

/// Traces a Q, K or V operand of a contraction: strips the transpose the
/// contraction needs (`transposed`), constant scales (`allowScale`: frontends
/// scale Q, or Q and K by sqrt(scale)), a head collapse and a group
/// broadcast, in whatever order the frontend applied them.
std::optional<TracedOperand> traceOperand(Value value, bool transposed,
                                          bool allowScale) {
  bool needTranspose = transposed;
  double scale = 1;
  auto strip = [&](Value v) {
    while (true) {
      if (needTranspose) {
        if (Value source = stripTranspose(v)) {
          v = source;
          needTranspose = false;
          continue;
        }
      }
      if (allowScale)
        if (Value source = matchScaled(v, scale)) {
          v = source;
          continue;
        }
      return v;
    }
  };
  auto ungroup = [](Value v) {
    Value ungrouped = stripGroupBroadcast(v);
    return ungrouped ? ungrouped : v;
  };

  TracedOperand traced;
  Value atRank = strip(value);
  if (!needTranspose) {
    traced.value = ungroup(atRank);
    traced.valueScale = scale;
  }
  if (Value collapsed = stripHeadCollapse(atRank)) {
    Value heads = strip(collapsed);
    if (!needTranspose) {
      traced.heads = ungroup(heads);
      traced.headsScale = scale;
    }
  }
  if (!traced.value && !traced.heads)
    return std::nullopt;
  return traced;
}

//===----------------------------------------------------------------------===//
// The pattern
//===----------------------------------------------------------------------===//

/// Everything a match found, before any IR is built.
struct AttentionMatch {
  Contraction pv;
  /// Q, K and V: [B, H, L, D] tensors behind head collapses (`fromHeads`),
  /// or the contractions' own operands of rank 2 to 4.
  Value query, key, value;
  bool fromHeads = false;
  double scale = 1;
  std::optional<AdditiveMask> mask;
  bool causal = false;
};

/// How an attention operand of rank 2 or 3 is viewed as [B, H, L, D]:
/// [L, D] as [1, 1, L, D], [N, L, D] as [N, 1, L, D].
SmallVector<ReassociationIndices> rank4Groups(int64_t rank) {
  if (rank == 2)
    return {{0, 1, 2}, {3}};
  return {{0, 1}, {2}, {3}};
}

RankedTensorType rank4Type(RankedTensorType type) {
  SmallVector<int64_t> shape(type.getShape());
  if (type.getRank() == 2)
    shape.insert(shape.begin(), {1, 1});
  else if (type.getRank() == 3)
    shape.insert(shape.begin() + 1, 1);
  return RankedTensorType::get(shape, type.getElementType());
}

Value expandToRank4(OpBuilder &builder, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == 4)
    return value;
  return tensor::ExpandShapeOp::create(builder, loc, rank4Type(type), value,
                                       rank4Groups(type.getRank()));
}

/// The checks attn.sdpa's verifier makes, so that a match never builds an
/// invalid op.
bool isValidSdpa(RankedTensorType q, RankedTensorType k, RankedTensorType v,
                 Type resultElement) {
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return false;
  Type element = q.getElementType();
  if (!isa<Float32Type, Float16Type, BFloat16Type>(element) ||
      k.getElementType() != element || v.getElementType() != element ||
      resultElement != element)
    return false;
  for (RankedTensorType type : {q, k, v})
    if (type.isDynamicDim(1) || type.isDynamicDim(3))
      return false;
  auto agree = [](int64_t a, int64_t b) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
  };
  return k.getDimSize(1) == v.getDimSize(1) && k.getDimSize(1) > 0 &&
         q.getDimSize(1) % k.getDimSize(1) == 0 &&
         q.getDimSize(3) == k.getDimSize(3) &&
         agree(q.getDimSize(0), k.getDimSize(0)) &&
         agree(q.getDimSize(0), v.getDimSize(0)) &&
         agree(k.getDimSize(2), v.getDimSize(2));
}

/// The Q.K^T scores under the softmax: constant scale factors and at most
/// one additive mask. A mask under a scale would be scaled too, which
/// attn.sdpa does not do, unless it is the causal 0/-inf mask.
Value matchScores(Value scores, AttentionMatch &match) {
  bool scaled = false;
  while (true) {
    AdditiveMask mask;
    if (Value source = matchScaled(scores, match.scale)) {
      scores = source;
      scaled = true;
    } else if (Value source = matchMasked(scores, mask)) {
      if (match.mask)
        return nullptr;
      match.causal = isCausalMask(mask.tensor);
      if (scaled && !match.causal)
        return nullptr;
      match.mask = mask;
      scores = source;
    } else {
      return scores;
    }
  }
}

/// Matches `output` as dense attention: softmax(scale * Q K^T + mask) V.
std::optional<AttentionMatch> matchAttention(Value output) {
  AttentionMatch match;
  std::optional<Contraction> pv = matchContraction(output);
  if (!pv || pv->rhsTransposed || pv->rank < 2 || pv->rank > 4)
    return std::nullopt;
  match.pv = *pv;

  // P, possibly [B, H, Lq, Lk] behind the head collapse of a batched
  // matmul over [B*H, Lq, Lk].
  Value probs = pv->lhs;
  bool probsFromHeads = false;
  if (Value heads = stripHeadCollapse(probs)) {
    probs = heads;
    probsFromHeads = true;
  }
  Value scores = matchSoftmax(probs);
  if (!scores)
    return std::nullopt;
  scores = matchScores(scores, match);
  if (!scores)
    return std::nullopt;
  if (probsFromHeads) {
    auto expand = scores.getDefiningOp<tensor::ExpandShapeOp>();
    if (!expand || expand.getResultType().getRank() != 4 ||
        expand.getReassociationIndices() !=
            SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}})
      return std::nullopt;
    scores = expand.getSrc();
  }
  std::optional<Contraction> qk = matchContraction(scores);
  if (!qk || qk->rank != pv->rank)
    return std::nullopt;

  // K is read as [.., Lk, D]: a plain [.., D, Lk] operand must be a
  // transpose of it.
  std::optional<TracedOperand> q =
      traceOperand(qk->lhs, /*transposed=*/false, /*allowScale=*/true);
  std::optional<TracedOperand> k =
      traceOperand(qk->rhs, !qk->rhsTransposed, /*allowScale=*/true);
  std::optional<TracedOperand> v =
      traceOperand(pv->rhs, /*transposed=*/false, /*allowScale=*/false);
  if (!q || !k || !v)
    return std::nullopt;
  match.fromHeads = q->heads && k->heads && v->heads;
  if (match.fromHeads) {
    match.query = q->heads;
    match.key = k->heads;
    match.value = v->heads;
    match.scale *= q->headsScale * k->headsScale;
  } else if (q->value && k->value && v->value && !probsFromHeads) {
    match.query = q->value;
    match.key = k->value;
    match.value = v->value;
    match.scale *= q->valueScale * k->valueScale;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(match.scale))
    return std::nullopt;

  auto typeOf = [](Value value) {
    return rank4Type(cast<RankedTensorType>(value.getType()));
  };
  RankedTensorType queryType = typeOf(match.query);
  RankedTensorType keyType = typeOf(match.key);
  if (!isValidSdpa(queryType, keyType, typeOf(match.value),
                   getElementTypeOrSelf(output.getType())))
    return std::nullopt;

  // The causal mask is top-left aligned, attn.sdpa's bottom-right: they
  // agree when Lq = Lk, which must then be known statically. Otherwise the
  // mask stays an explicit operand.
  if (match.causal && (queryType.isDynamicDim(2) ||
                       queryType.getDimSize(2) != keyType.getDimSize(2)))
    match.causal = false;
  // attn.sdpa takes masks of rank 2 to 4 (scores have rank 4 at most).
  if (match.mask && !match.causal &&
      cast<RankedTensorType>(match.mask->tensor.getType()).getRank() < 2)
    return std::nullopt;
  return match;
}

struct RaiseAttentionPattern
    : public OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (op->getNumResults() != 1)
      return failure();
    std::optional<AttentionMatch> match = matchAttention(op->getResult(0));
    if (!match)
      return rewriter.notifyMatchFailure(op, "not dense attention");

    Location loc = op.getLoc();
    Value mask;
    if (match->mask && !match->causal)
      mask = buildSdpaMask(rewriter, loc, *match);
    auto sdpa = SdpaOp::create(
        rewriter, loc, expandToRank4(rewriter, loc, match->query),
        expandToRank4(rewriter, loc, match->key),
        expandToRank4(rewriter, loc, match->value), mask,
        rewriter.getF32FloatAttr(match->scale), match->causal,
        /*withLse=*/false);
    Value output = sdpa.getOutput();
    if (match->pv.rank < 4)
      output = tensor::CollapseShapeOp::create(rewriter, loc, output,
                                               rank4Groups(match->pv.rank));
    rewriter.replaceOp(op, output);
    return success();
  }

private:
  /// The mask as an attn.sdpa operand, aligned on the right with
  /// [B, H, Lq, Lk].
  static Value buildSdpaMask(OpBuilder &builder, Location loc,
                             const AttentionMatch &match) {
    Value mask = match.mask->tensor;
    auto type = cast<RankedTensorType>(mask.getType());
    if (type.getRank() == 2 || match.mask->rank == 4)
      return mask;
    // [B*H, Lq, Lk] -> [B, H, Lq, Lk]; [N, Lq, Lk] -> [N, 1, Lq, Lk].
    if (!match.fromHeads)
      return expandToRank4(builder, loc, mask);
    auto queryType = cast<RankedTensorType>(match.query.getType());
    int64_t heads = queryType.getDimSize(1);
    int64_t batch = type.isDynamicDim(0) ? ShapedType::kDynamic
                                         : type.getDimSize(0) / heads;
    auto expandedType = RankedTensorType::get(
        {batch, heads, type.getDimSize(1), type.getDimSize(2)},
        type.getElementType());
    return tensor::ExpandShapeOp::create(builder, loc, expandedType, mask,
                                         rank4Groups(3));
  }
};

struct RaiseSdpaPass : attn::impl::RaiseSdpaBase<RaiseSdpaPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttentionPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
