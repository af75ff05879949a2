/*===- attn-c/Dialects.h - C API of the attn dialect -------------*- C -*-===*\
|*                                                                            *|
|* The dialect handle, for mlirDialectHandleRegisterDialect and              *|
|* mlirDialectHandleInsertDialect of the upstream C API.                     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_DIALECTS_H
#define ATTN_C_DIALECTS_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Attn, attn);

#ifdef __cplusplus
}
#endif

#endif // ATTN_C_DIALECTS_H
