// RUN: attn-opt %s --attn-gpu-kernel-outlining | FileCheck %s

// Checks that outlining keeps a launch's nvvm.* attributes on its kernel
// (and only those: other attributes and other launches' kernels get none).
// CHECK-LABEL: gpu.module @bounded_kernels
// CHECK: gpu.func @bounded(
// CHECK-SAME: kernel
// CHECK-SAME: nvvm.minctasm = 12 : i32
// CHECK-NOT: attn.note
// CHECK-LABEL: gpu.module @plain_kernels
// CHECK: gpu.func @plain(
// CHECK-NOT: nvvm.minctasm
// CHECK: gpu.return
func.func @launches(%buffer: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1)
      module(@bounded_kernels) function(@bounded) {
    %x = memref.load %buffer[%tx] : memref<32xf32>
    memref.store %x, %buffer[%tx] : memref<32xf32>
    gpu.terminator
  } {nvvm.minctasm = 12 : i32, attn.note = "dropped"}
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1)
      module(@plain_kernels) function(@plain) {
    %x = memref.load %buffer[%tx] : memref<32xf32>
    memref.store %x, %buffer[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}
