//===- SdpaToLoops.cpp - attn.sdpa to a tiled loop nest ---------*- C++ -*-===//
//
// Lowers attn.sdpa to the shared tiled online-softmax loop nest, reading
// keys and values as float rows.
//
//===----------------------------------------------------------------------===//

#include "AttentionLoopNest.h"

#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The loop nest over float keys and values: a score is one dot product of
/// the pre-scaled query row and a key row; P V is one FMA per key.
class DenseAttentionLoopNest : public AttentionLoopNest {
public:
  DenseAttentionLoopNest(SdpaOp op, ImplicitLocOpBuilder &b, int64_t rowBlock,
                         int64_t keyTile)
      : AttentionLoopNest(specOf(op), b, rowBlock, keyTile), op(op) {}

private:
  static AttentionSpec specOf(SdpaOp op) {
    AttentionSpec spec;
    spec.query = op.getQuery();
    spec.mask = op.getMask();
    spec.causal = op.getCausal();
    spec.scale = op.getEffectiveScale();
    spec.softmaxExp = op.getSoftmaxExpAttr();
    spec.outputType = op.getOutput().getType();
    spec.lseType = op.getLse() ? op.getLse().getType() : Type();
    spec.numKvHeads = op.getKey().getType().getDimSize(1);
    return spec;
  }

  Value loadKeysAndValues() override {
    keyBuf = lb.toBuffer(op.getKey());
    valueBuf = lb.toBuffer(op.getValue());
    return memref::DimOp::create(b, keyBuf, 2);
  }

  Value scoreKey(ArrayRef<Value> queryRow, Value key) override {
    auto keyVecType = VectorType::get({headDim}, elementType);
    Value k = lb.toF32(vector::LoadOp::create(
        b, keyVecType, keyBuf, ValueRange{batch, kvHead, key, lb.idx(0)}));
    Value product = arith::MulFOp::create(b, queryRow[0], k, fastMath);
    return vector::ReductionOp::create(b, vector::CombiningKind::ADD, product,
                                       /*acc=*/Value(), fastMath.getValue());
  }

  void prefetchKey(Value key) override {
    // The rows of a block revisit the tile from cache; asking for the next
    // tile now keeps memory busy while they do.
    int64_t lineElems = 64 / (elementType.getIntOrFloatBitWidth() / 8);
    for (Value buf : {keyBuf, valueBuf}) {
      int64_t dim = cast<MemRefType>(buf.getType()).getDimSize(3);
      for (int64_t c = 0; c < dim; c += lineElems)
        memref::PrefetchOp::create(b, buf,
                                   ValueRange{batch, kvHead, key, lb.idx(c)},
                                   /*isWrite=*/false, /*localityHint=*/2,
                                   /*isDataCache=*/true);
    }
  }

  Value accumulateValues(Value accRow, Value k0, Value numVisible) override {
    auto accType = VectorType::get({valueDim}, f32);
    SmallVector<Value> result = lb.forCarrying(
        lb.idx(0), numVisible, lb.idx(1), accRow,
        [&](Value j, ValueRange carried) -> SmallVector<Value> {
          Value pj = memref::LoadOp::create(b, scores, j);
          Value v = lb.toF32(vector::LoadOp::create(
              b, VectorType::get({valueDim}, elementType), valueBuf,
              ValueRange{batch, kvHead, lb.add(k0, j), lb.idx(0)}));
          return {vector::FMAOp::create(
              b, vector::BroadcastOp::create(b, accType, pj), v, carried[0])};
        });
    return result[0];
  }

  SdpaOp op;
  Value keyBuf, valueBuf;
};

} // namespace

void mlir::attn::populateSdpaToLoopsPatterns(RewritePatternSet &patterns,
                                             int64_t rowBlock,
                                             int64_t keyTile) {
  patterns.add<AttentionToLoops<SdpaOp, DenseAttentionLoopNest>>(
      patterns.getContext(), rowBlock, keyTile);
}
