/*===- attn-c/Passes.h - C API of the attn passes ----------------*- C -*-===*\
|*                                                                            *|
|* Registration of the passes and pipelines of the project, so that          *|
|* mlirParsePassPipeline accepts them, and one constructor per pass          *|
|* (mlirCreateAttnTransformsRaiseSdpa, mlirCreateAttnConversion...).         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_C_PASSES_H
#define ATTN_C_PASSES_H

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "attn/Conversion/Passes.capi.h.inc"
#include "attn/Transforms/Passes.capi.h.inc"

/// Registers `--attn-lower-to-llvm` and `--attn-lower-to-nvvm`.
MLIR_CAPI_EXPORTED void attnRegisterPipelines(void);

/// Registers every pass and pipeline of the project.
MLIR_CAPI_EXPORTED void attnRegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif // ATTN_C_PASSES_H
