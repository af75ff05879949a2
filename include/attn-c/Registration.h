/*===- attn-c/Registration.h - everything attn-opt has -----------*- C -*-===*\
|*                                                                            *|
|* One call each for what a tool embedding the project needs: the dialects   *|
|* and extensions of attn-opt, its passes and pipelines, and the LLVM IR     *|
|* translations that the ExecutionEngine and gpu-module-to-binary use.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_REGISTRATION_H
#define ATTN_C_REGISTRATION_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Inserts every upstream dialect and extension and the attn dialect.
MLIR_CAPI_EXPORTED void attnRegisterAllDialects(MlirDialectRegistry registry);

/// Registers every upstream pass and every attn pass and pipeline.
MLIR_CAPI_EXPORTED void attnRegisterAllPasses(void);

/// Registers the translations of every dialect to LLVM IR in `context`.
MLIR_CAPI_EXPORTED void attnRegisterAllLLVMTranslations(MlirContext context);

#ifdef __cplusplus
}
#endif

#endif // ATTN_C_REGISTRATION_H
