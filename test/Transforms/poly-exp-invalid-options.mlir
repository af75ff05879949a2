// Checks that options that make no sense are errors, with exit code 1.
// RUN: not attn-opt %s --attn-poly-exp="degree=4" 2>&1 | FileCheck %s --check-prefix=DEGREE
// RUN: not attn-opt %s --attn-poly-exp="n-max=-1" 2>&1 | FileCheck %s --check-prefix=NMAX
// DEGREE: attn-poly-exp: degree must be 2 or 3, got 4
// NMAX: attn-poly-exp: n-max must be >= 0, got -1
func.func @f() {
  return
}
