// RUN: attn-opt %s --attn-lower-to-llvm | FileCheck %s
// RUN: attn-opt %s --attn-lower-to-llvm="num-threads=2 key-tile=32" | FileCheck %s --check-prefix=THREADS

// Checks that the pipeline leaves nothing but the LLVM dialect: the function
// becomes an llvm.func taking expanded memref descriptors, the parallel loop
// becomes OpenMP (lowered to LLVM-dialect omp ops), exp and log become
// polynomials (no libm call), and no attn, tensor or memref op remains.
// CHECK-NOT: attn.sdpa
// CHECK-NOT: attn.merge
// CHECK-LABEL: llvm.func @f(
// CHECK: omp.parallel
// CHECK: omp.wsloop
// CHECK-NOT: llvm.intr.exp
// CHECK-NOT: llvm.intr.log(
// CHECK-NOT: tensor.
// CHECK-NOT: memref.
// CHECK-NOT: scf.
// THREADS: omp.parallel num_threads(%{{.+}} : i32)
func.func @f(%q: tensor<1x4x?x32xf16>, %k: tensor<1x2x?x32xf16>,
             %v: tensor<1x2x?x32xf16>, %m: tensor<?x?xi1>)
    -> (tensor<1x4x?x32xf16>, tensor<1x4x?xf32>) {
  %o, %l = attn.sdpa %q, %k, %v mask(%m : tensor<?x?xi1>) causal
      : tensor<1x4x?x32xf16>, tensor<1x2x?x32xf16>, tensor<1x2x?x32xf16>
      -> tensor<1x4x?x32xf16>, tensor<1x4x?xf32>
  %o2, %l2 = attn.merge %o, %l, %o, %l : tensor<1x4x?x32xf16>, tensor<1x4x?xf32>
  return %o2, %l2 : tensor<1x4x?x32xf16>, tensor<1x4x?xf32>
}
