//===- AttnOps.h - attn dialect ops -----------------------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_H
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_H

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"

#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include <array>

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.h.inc"

namespace mlir {
namespace attn {
/// The least-squares fit of 2^-f on [0, 1) of `degree` (2 or 3), c0 first.
SmallVector<float> getPolyExpFitCoefficients(int64_t degree);

/// The result types attn.quantize gives `floatType` quantized along `axis`
/// (in range) with `bits` 8, 4 or 2: codes, scale, step and zero, the last
/// two null at 8 bits.
std::array<RankedTensorType, 4>
getQuantizedLayoutTypes(RankedTensorType floatType, int64_t axis,
                        int64_t groupSize, int64_t bits);
} // namespace attn
} // namespace mlir

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_H
