// RUN: attn-opt %s --attn-offload-to-gpu --split-input-file -verify-diagnostics | FileCheck %s

// Checks a transpose loop with a static innermost extent of 64: the
// buffer it fills becomes device memory (async gpu.alloc, then a wait), and
// the loop two scalar launches (i32 and i64 index arithmetic, the unused
// one with an empty grid) where each warp covers 64 consecutive elements,
// two per lane, 32 apart (the vector launches are checked below); the host
// waits for the launches.
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

// -----

// Checks the vector form of a row gather scaled per row (the glue's
// gathers and merges): the host checks each buffer indexed by the
// innermost induction variable (unit innermost stride, other strides
// multiples of 8, first element 16-byte aligned; %src has dynamic strides)
// and picks the scalar or the vector launches by an empty grid. In the
// vector kernel each thread takes 8 consecutive bf16 of a row: one 16-byte
// vector.load of %src through a unit-stride view, its eight elements, the
// row's index and weight as scalars, one 16-byte vector.store.
// CHECK-LABEL: func.func @gather_rows(
// CHECK-SAME: %[[SRC:[^:]*]]: memref<?x64xbf16, strided<[?, ?], offset: ?>>
// CHECK-SAME: %[[OUT:[^:]*]]: memref<?x64xbf16>
// CHECK: %{{.*}}, %[[OFF:.*]], %{{.*}}:2, %[[STRIDES:.*]]:2 = memref.extract_strided_metadata %[[SRC]]
// CHECK: arith.cmpi eq, %[[STRIDES]]#1, %c1
// CHECK: arith.remui %[[STRIDES]]#0, %c8
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[SRC]]
// CHECK: %[[BYTES:.*]] = arith.muli %[[OFF]], %c2
// CHECK: %[[ADDR:.*]] = arith.addi %[[PTR]], %[[BYTES]]
// CHECK: arith.remui %[[ADDR]], %c16
// CHECK: memref.extract_aligned_pointer_as_index %[[OUT]]
// CHECK: %[[FITS:.*]] = arith.andi
// CHECK: %[[SCALAR:.*]] = arith.select %[[FITS]], %c0{{.*}}, %{{.*}} : index
// CHECK: arith.select %{{.*}}, %[[SCALAR]], %c0
// CHECK: gpu.launch async {{.*}} function(@gather_rows_loop0_i32)
// CHECK-COUNT-2: memref.store %{{.*}}, %[[OUT]]
// CHECK: gpu.launch async {{.*}} function(@gather_rows_loop0_i64)
// CHECK: %[[VBLOCKS:.*]] = arith.select %[[FITS]], %{{.*}}, %c0
// CHECK: arith.select %{{.*}}, %[[VBLOCKS]], %c0
// CHECK: gpu.launch async {{.*}} function(@gather_rows_loop0_vec_i32)
// CHECK: %[[VIEW:.*]] = memref.reinterpret_cast %[[SRC]] to offset: [%{{.*}}], sizes: [%{{.*}}, 64], strides: [%{{.*}}, 1]
// CHECK: memref.load %{{.*}} : memref<?xindex>
// CHECK: %[[ROW:.*]] = vector.load %[[VIEW]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x64xbf16, strided<[?, 1], offset: ?>>, vector<8xbf16>
// CHECK-COUNT-8: vector.extract %[[ROW]]
// CHECK: memref.load %{{.*}} : memref<?xf32>
// CHECK: %[[PACKED:.*]] = vector.from_elements
// CHECK: vector.store %[[PACKED]], %[[OUT]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x64xbf16>, vector<8xbf16>
// CHECK: gpu.launch async {{.*}} function(@gather_rows_loop0_vec_i64)
func.func @gather_rows(%src: memref<?x64xbf16, strided<[?, ?], offset: ?>>,
                       %rows: memref<?xindex>, %w: memref<?xf32>,
                       %out: memref<?x64xbf16>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %n = memref.dim %out, %c0 : memref<?x64xbf16>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
    %r = memref.load %rows[%i] : memref<?xindex>
    %x = memref.load %src[%r, %j] : memref<?x64xbf16, strided<[?, ?], offset: ?>>
    %s = memref.load %w[%i] : memref<?xf32>
    %xf = arith.extf %x : bf16 to f32
    %y = arith.mulf %xf, %s : f32
    %yb = arith.truncf %y : f32 to bf16
    memref.store %yb, %out[%i, %j] : memref<?x64xbf16>
    scf.reduce
  }
  return
}

// -----

// Checks that the widest vector-accessed element sets the width (f32:
// vectors of 4, so the bf16 loads move 8 bytes), that a memref.copy of a
// statically sized row takes the vector form too, and that a loop whose
// innermost extent is dynamic has none.
// CHECK-LABEL: func.func @widen(
// CHECK: function(@widen_loop0_vec_i32)
// CHECK: vector.load %{{.*}} {alignment = 8 : i64} : memref<?x32xbf16>, vector<4xbf16>
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x32xf32>, vector<4xf32>
// CHECK: function(@widen_loop1_vec_i32)
// CHECK: vector.load %{{.*}} : memref<?x32xf32>, vector<4xf32>
// CHECK: function(@widen_loop2_i32)
// CHECK-NOT: _vec_
// CHECK: return
func.func @widen(%a: memref<?x32xbf16>, %b: memref<?x32xf32>,
                 %c: memref<?x32xf32>, %d: memref<?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %n = memref.dim %a, %c0 : memref<?x32xbf16>
  %m = memref.dim %d, %c1 : memref<?x?xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c32) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<?x32xbf16>
    %y = arith.extf %x : bf16 to f32
    memref.store %y, %b[%i, %j] : memref<?x32xf32>
    scf.reduce
  }
  memref.copy %b, %c : memref<?x32xf32> to memref<?x32xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %m) step (%c1, %c1) {
    %x = memref.load %d[%i, %j] : memref<?x?xf32>
    %y = arith.addf %x, %x : f32
    memref.store %y, %d[%i, %j] : memref<?x?xf32>
    scf.reduce
  }
  return
}
