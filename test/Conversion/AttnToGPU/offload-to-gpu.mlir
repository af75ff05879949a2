// RUN: attn-opt %s --attn-offload-to-gpu --split-input-file -verify-diagnostics | FileCheck %s

// Checks a transpose loop with a static innermost extent of 64: the
// buffer it fills becomes device memory (async gpu.alloc, then a wait), and
// the loop two launches (i32 and i64 index arithmetic, the unused one with
// an empty grid) where each warp covers 64 consecutive elements, two per
// lane, 32 apart; the host waits for the launches.
// CHECK-LABEL: func.func @transpose(
// CHECK: %[[T:.*]], %{{.*}} = gpu.alloc async
// CHECK: gpu.wait [
// CHECK: gpu.launch async {{.*}} module(@transpose_loop0_i32_kernels) function(@transpose_loop0_i32)
// CHECK: arith.remui %{{.*}}, %c32_i32 : i32
// CHECK-COUNT-2: memref.store %{{.*}}, %[[T]]
// CHECK: gpu.launch async {{.*}} function(@transpose_loop0_i64)
// CHECK: gpu.wait [
// CHECK-NOT: scf.parallel
// CHECK: gpu.dealloc async
func.func @transpose(%src: memref<64x?xbf16>, %out: memref<?x64xbf16>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %n = memref.dim %src, %c1 : memref<64x?xbf16>
  %t = memref.alloc(%n) : memref<?x64xbf16>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
    %x = memref.load %src[%j, %i] : memref<64x?xbf16>
    memref.store %x, %t[%i, %j] : memref<?x64xbf16>
    scf.reduce
  }
  memref.copy %t, %out : memref<?x64xbf16> to memref<?x64xbf16>
  memref.dealloc %t : memref<?x64xbf16>
  return
}

// -----

// Checks a dynamic innermost extent (one thread per element) and a
// reshape whose shape buffer the host writes: that buffer stays on the
// host, and the reshape becomes a reinterpret_cast of the sizes the host
// loads from it.
// CHECK-LABEL: func.func @reshape(
// CHECK: %[[SHAPE:.*]] = memref.alloc() : memref<2xindex>
// CHECK: %[[M:.*]] = memref.load %[[SHAPE]][%{{.*}}] : memref<2xindex>
// CHECK: %[[N:.*]] = memref.load %[[SHAPE]][%{{.*}}] : memref<2xindex>
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [%[[N]], %[[M]]], strides: [%{{.*}}, 1]
// CHECK: gpu.launch async {{.*}} function(@reshape_loop0_i32)
// CHECK: memref.dealloc %[[SHAPE]]
func.func @reshape(%src: memref<?xf32>, %n: index, %m: index,
                   %out: memref<?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %shape = memref.alloc() : memref<2xindex>
  memref.store %n, %shape[%c0] : memref<2xindex>
  memref.store %m, %shape[%c1] : memref<2xindex>
  %r = memref.reshape %src(%shape)
      : (memref<?xf32>, memref<2xindex>) -> memref<?x?xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %m) step (%c1, %c1) {
    %x = memref.load %r[%i, %j] : memref<?x?xf32>
    memref.store %x, %out[%i, %j] : memref<?x?xf32>
    scf.reduce
  }
  memref.dealloc %shape : memref<2xindex>
  return
}

// -----

// Checks that host code reading device memory is reported, not left to
// fault at run time.
func.func @host_read(%x: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{attn-offload-to-gpu: host code reads or writes device memory; only kernels may}}
  %v = memref.load %x[%c0] : memref<4xf32>
  return %v : f32
}

// -----

// Checks that parallel loops with reductions are reported.
func.func @reduction(%x: memref<?xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{attn-offload-to-gpu: a parallel loop with reductions has no GPU kernel}}
  %s = scf.parallel (%i) = (%c0) to (%n) step (%c1) init (%zero) -> f32 {
    %v = memref.load %x[%i] : memref<?xf32>
    scf.reduce(%v : f32) {
    ^bb0(%a: f32, %b: f32):
      %sum = arith.addf %a, %b : f32
      scf.reduce.return %sum : f32
    }
  }
  return %s : f32
}
