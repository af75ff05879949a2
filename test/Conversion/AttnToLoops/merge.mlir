// RUN: attn-opt %s --convert-attn-to-loops | FileCheck %s

// Checks that attn.merge becomes two elementwise linalg.generic ops: the
// LSE combine over rows, which also yields each side's weight
// exp(l_i - lse) = e_i / (e1 + e2), then the weighted sum over [rows, Dv]
// (no exp per element).
// CHECK-LABEL: func.func @merge
// CHECK: %[[R:.+]]:3 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins(%{{.+}}, %{{.+}} : tensor<4x?xf32>, tensor<4x?xf32>)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.log
// CHECK: arith.divf
// CHECK: %[[O:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%{{.+}}, %[[R]]#1, %{{.+}}, %[[R]]#2 :
// CHECK-NOT: math.exp
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: return %[[O]], %[[R]]#0
func.func @merge(%o1: tensor<4x?x8xf16>, %l1: tensor<4x?xf32>,
                 %o2: tensor<4x?x8xf16>, %l2: tensor<4x?xf32>)
    -> (tensor<4x?x8xf16>, tensor<4x?xf32>) {
  %o, %l = attn.merge %o1, %l1, %o2, %l2 : tensor<4x?x8xf16>, tensor<4x?xf32>
  return %o, %l : tensor<4x?x8xf16>, tensor<4x?xf32>
}
