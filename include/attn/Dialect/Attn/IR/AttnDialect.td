//===- AttnDialect.td - attn dialect definition ------------*- tablegen -*-===//
//
// The `attn` dialect: dense attention and the building blocks of its
// approximations.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
#define ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Dense and approximate attention for large language models.";
  let description = [{
    The `attn` dialect models scaled dot-product attention as one op,
    `attn.sdpa`, together with the primitives that approximate variants are
    built from (`attn.merge` combines partial results through their
    log-sum-exp). Ops work on ranked tensors with value semantics; the
    conversion to upstream dialects (`--convert-attn-to-loops`) produces a
    tiled online-softmax loop nest on memrefs, and `--attn-lower-to-llvm`
    takes a module from here to the LLVM dialect.

    Layout conventions: queries `[B, Hq, Lq, D]`, keys `[B, Hkv, Lk, D]`,
    values `[B, Hkv, Lk, Dv]`, outputs `[B, Hq, Lq, Dv]`, log-sum-exp
    `[B, Hq, Lq]`. Query head `h` reads key/value head `h / (Hq / Hkv)`.
  }];
  let dependentDialects = [];
  let useDefaultAttributePrinterParser = 1;
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
