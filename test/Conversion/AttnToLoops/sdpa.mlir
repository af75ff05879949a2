// RUN: attn-opt %s --convert-attn-to-loops -split-input-file | FileCheck %s
// RUN: attn-opt %s --convert-attn-to-loops="row-block=4 key-tile=32" -split-input-file | FileCheck %s --check-prefix=TILES

// Checks the shape of the loop nest for GQA with a dynamic key length: the
// operands enter as read-only buffers, one scf.parallel runs over (batch,
// kv head, row block), scratch is per work item on the stack and sized by
// the tiles only, keys are walked in tiles, and the result leaves as a
// tensor.
// CHECK-LABEL: func.func @gqa
// CHECK-SAME: (%[[Q:.+]]: tensor<1x8x4x64xf32>, %[[K:.+]]: tensor<1x2x?x64xf32>, %[[V:.+]]: tensor<1x2x?x32xf32>)
// CHECK-DAG: %[[QB:.+]] = bufferization.to_buffer %[[Q]] read_only
// CHECK-DAG: %[[KB:.+]] = bufferization.to_buffer %[[K]] read_only
// CHECK-DAG: %[[VB:.+]] = bufferization.to_buffer %[[V]] read_only
// CHECK: %[[OUT:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1x8x4x32xf32>
// CHECK: scf.parallel
// CHECK: memref.alloca_scope
// CHECK-DAG: memref.alloca() : memref<16xf32>
// CHECK-DAG: memref.alloca() : memref<16x32xf32>
// CHECK-DAG: memref.alloca() : memref<256xf32>
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c256{{.*}} {
// CHECK: memref.prefetch %[[KB]]
// CHECK: vector.load %[[QB]]{{.*}} vector<64xf32>
// CHECK: vector.load %[[KB]]{{.*}} vector<64xf32>
// CHECK: vector.reduction <add>, %{{.+}} fastmath<reassoc,contract> : vector<64xf32> into f32
// CHECK: math.exp %{{.+}} : vector<256xf32>
// CHECK: vector.load %[[VB]]{{.*}} vector<32xf32>
// CHECK: vector.fma
// CHECK: %[[T:.+]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: return %[[T]]
// TILES-LABEL: func.func @gqa
// TILES-DAG: memref.alloca() : memref<4x32xf32>
// TILES-DAG: memref.alloca() : memref<32xf32>
func.func @gqa(%q: tensor<1x8x4x64xf32>, %k: tensor<1x2x?x64xf32>,
               %v: tensor<1x2x?x32xf32>) -> tensor<1x8x4x32xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x8x4x64xf32>, tensor<1x2x?x64xf32>,
      tensor<1x2x?x32xf32> -> tensor<1x8x4x32xf32>
  return %o : tensor<1x8x4x32xf32>
}

// -----

// Checks that f16 operands are widened to f32 after loading and the output
// narrowed back, and that the LSE result is a second f32 buffer.
// CHECK-LABEL: func.func @half_lse
// CHECK: %[[OUT:.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<1x2x?x16xf16>
// CHECK: %[[LSE:.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<1x2x?xf32>
// CHECK: arith.extf %{{.+}} : vector<16xf16> to vector<16xf32>
// CHECK: arith.truncf %{{.+}} : vector<16xf32> to vector<16xf16>
// CHECK: math.log
// CHECK: bufferization.to_tensor %[[OUT]]
// CHECK: bufferization.to_tensor %[[LSE]]
func.func @half_lse(%q: tensor<1x2x?x16xf16>, %k: tensor<1x2x?x16xf16>,
                    %v: tensor<1x2x?x16xf16>)
    -> (tensor<1x2x?x16xf16>, tensor<1x2x?xf32>) {
  %o, %l = attn.sdpa %q, %k, %v : tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>,
      tensor<1x2x?x16xf16> -> tensor<1x2x?x16xf16>, tensor<1x2x?xf32>
  return %o, %l : tensor<1x2x?x16xf16>, tensor<1x2x?xf32>
}

// -----

// Checks that a causal op bounds the key loop by the block's last visible
// key (bottom-right aligned: i + Lk - Lq + 1, clamped to [0, Lk]).
// CHECK-LABEL: func.func @causal
// CHECK: %[[KB:.+]] = bufferization.to_buffer %arg1
// CHECK: %[[LK:.+]] = memref.dim %[[KB]], %c2{{.*}} : memref<1x1x?x8xf32>
// CHECK: scf.parallel
// CHECK: arith.maxsi
// CHECK: %[[END:.+]] = arith.minsi %{{.+}}, %[[LK]] : index
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[END]] step %c256
func.func @causal(%q: tensor<1x1x?x8xf32>, %k: tensor<1x1x?x8xf32>,
                  %v: tensor<1x1x?x8xf32>) -> tensor<1x1x?x8xf32> {
  %o = attn.sdpa %q, %k, %v causal : tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>,
      tensor<1x1x?x8xf32> -> tensor<1x1x?x8xf32>
  return %o : tensor<1x1x?x8xf32>
}

// -----

// Checks the two mask kinds: a boolean mask selects -inf, a float mask is
// added; a broadcast (size-1) mask dim is read at index 0.
// CHECK-LABEL: func.func @masks
// CHECK: %[[BM:.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<1x4xi1>
// CHECK: memref.load %[[BM]][%c0{{.*}}, %{{.+}}] : memref<1x4xi1>
// CHECK: arith.select %{{.+}}, %{{.+}}, %cst{{.*}} : f32
// CHECK: %[[FM:.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<2x4xf32>
// CHECK: memref.load %[[FM]]
// CHECK: arith.addf
func.func @masks(%q: tensor<1x1x2x8xf32>, %k: tensor<1x1x4x8xf32>,
                 %v: tensor<1x1x4x8xf32>, %b: tensor<1x4xi1>,
                 %f: tensor<2x4xf32>)
    -> (tensor<1x1x2x8xf32>, tensor<1x1x2x8xf32>) {
  %o1 = attn.sdpa %q, %k, %v mask(%b : tensor<1x4xi1>) : tensor<1x1x2x8xf32>,
      tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32> -> tensor<1x1x2x8xf32>
  %o2 = attn.sdpa %q, %k, %v mask(%f : tensor<2x4xf32>) : tensor<1x1x2x8xf32>,
      tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32> -> tensor<1x1x2x8xf32>
  return %o1, %o2 : tensor<1x1x2x8xf32>, tensor<1x1x2x8xf32>
}
