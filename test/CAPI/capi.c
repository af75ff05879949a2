/*===- capi.c - the C API of libAttnCAPI, end to end --------------*- C -*-===*\
|*                                                                            *|
|* Parses attention written with linalg, raises it with a pass given by      *|
|* name, rewrites it with a pass built by its C constructor, lowers it with  *|
|* --attn-lower-to-llvm and runs it with the ExecutionEngine. Checked by     *|
|* FileCheck on its output.                                                  *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

// RUN: attn-capi-test %omp_lib | FileCheck %s

#include "attn-c/Dialects.h"
#include "attn-c/Passes.h"
#include "attn-c/Registration.h"

#include "mlir-c/ExecutionEngine.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/RegisterEverything.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* softmax(Q K^T / 2) V on [4, 2] inputs built inside: Q is zero, so every
   row averages V, whose first column is 1, 2, 3, 4. */
static const char *kModule =
    "func.func @run() -> f32 attributes {llvm.emit_c_interface} {\n"
    "  %q = arith.constant dense<0.0> : tensor<4x2xf32>\n"
    "  %k = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], "
    "[2.0, 0.0]]> : tensor<4x2xf32>\n"
    "  %v = arith.constant dense<[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], "
    "[4.0, 0.0]]> : tensor<4x2xf32>\n"
    "  %zero = arith.constant 0.0 : f32\n"
    "  %two = arith.constant 2.0 : f32\n"
    "  %ekt = tensor.empty() : tensor<2x4xf32>\n"
    "  %kt = linalg.transpose ins(%k : tensor<4x2xf32>) outs(%ekt : "
    "tensor<2x4xf32>) permutation = [1, 0]\n"
    "  %es = tensor.empty() : tensor<4x4xf32>\n"
    "  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x4xf32>) -> "
    "tensor<4x4xf32>\n"
    "  %s = linalg.matmul ins(%q, %kt : tensor<4x2xf32>, tensor<2x4xf32>) "
    "outs(%fs : tensor<4x4xf32>) -> tensor<4x4xf32>\n"
    "  %fs2 = linalg.fill ins(%two : f32) outs(%es : tensor<4x4xf32>) -> "
    "tensor<4x4xf32>\n"
    "  %ss = linalg.div ins(%s, %fs2 : tensor<4x4xf32>, tensor<4x4xf32>) "
    "outs(%es : tensor<4x4xf32>) -> tensor<4x4xf32>\n"
    "  %p = linalg.softmax dimension(1) ins(%ss : tensor<4x4xf32>) outs(%es "
    ": tensor<4x4xf32>) -> tensor<4x4xf32>\n"
    "  %eo = tensor.empty() : tensor<4x2xf32>\n"
    "  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x2xf32>) -> "
    "tensor<4x2xf32>\n"
    "  %o = linalg.matmul ins(%p, %v : tensor<4x4xf32>, tensor<4x2xf32>) "
    "outs(%fo : tensor<4x2xf32>) -> tensor<4x2xf32>\n"
    "  %c3 = arith.constant 3 : index\n"
    "  %c0 = arith.constant 0 : index\n"
    "  %r = tensor.extract %o[%c3, %c0] : tensor<4x2xf32>\n"
    "  return %r : f32\n"
    "}\n";

static void printToStdout(MlirStringRef text, void *userData) {
  (void)userData;
  fwrite(text.data, 1, text.length, stdout);
}

static void fail(const char *what) {
  fprintf(stderr, "capi: %s failed\n", what);
  exit(1);
}

static void runPipeline(MlirModule module, const char *pipeline) {
  MlirContext ctx = mlirModuleGetContext(module);
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  if (mlirLogicalResultIsFailure(mlirParsePassPipeline(
          opm, mlirStringRefCreateFromCString(pipeline), printToStdout, NULL)))
    fail(pipeline);
  if (mlirLogicalResultIsFailure(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module))))
    fail(pipeline);
  mlirPassManagerDestroy(pm);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: capi <libomp.so>\n");
    return 2;
  }
  attnRegisterAllPasses();
  /* Idempotent: a second registration must not abort. */
  attnRegisterAllPasses();

  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  attnRegisterAllDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  attnRegisterAllLLVMTranslations(ctx);

  MlirDialect attn =
      mlirDialectHandleLoadDialect(mlirGetDialectHandle__attn__(), ctx);
  MlirStringRef ns = mlirDialectGetNamespace(attn);
  // CHECK: dialect: attn
  printf("dialect: %.*s\n", (int)ns.length, ns.data);

  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(kModule));
  if (mlirModuleIsNull(module))
    fail("parse");

  /* A pass by name. */
  runPipeline(module, "builtin.module(attn-raise-sdpa,canonicalize)");
  // CHECK-LABEL: raised:
  // CHECK: attn.sdpa {{.*}} scale(5.000000e-01) : tensor<1x1x4x2xf32>
  // CHECK-NOT: linalg.softmax
  printf("raised:\n");
  mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);

  /* A pass by its C constructor. */
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  mlirPassManagerAddOwnedPass(pm, mlirCreateAttnTransformsPolyExpRewrite());
  if (mlirLogicalResultIsFailure(
          mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module))))
    fail("attn-poly-exp");
  mlirPassManagerDestroy(pm);
  // CHECK-LABEL: poly_exp:
  // CHECK: attn.sdpa {{.*}}softmax_exp = #attn.poly_exp<degree = 3>
  printf("poly_exp:\n");
  mlirOperationPrint(mlirModuleGetOperation(module), printToStdout, NULL);

  runPipeline(module, "builtin.module(attn-lower-to-llvm)");
  MlirStringRef libs[] = {mlirStringRefCreateFromCString(argv[1])};
  MlirExecutionEngine jit =
      mlirExecutionEngineCreate(module, 2, 1, libs, false, false);
  if (mlirExecutionEngineIsNull(jit))
    fail("ExecutionEngine");
  mlirExecutionEngineInitialize(jit);
  float result = 0.0f;
  void *args[] = {&result};
  if (mlirLogicalResultIsFailure(mlirExecutionEngineInvokePacked(
          jit, mlirStringRefCreateFromCString("run"), args)))
    fail("invoke");
  // Every score is 0, so every weight is the same whatever the exp: the
  // mean of V's first column.
  // CHECK: result: 2.500
  printf("result: %.3f\n", result);

  mlirExecutionEngineDestroy(jit);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}
