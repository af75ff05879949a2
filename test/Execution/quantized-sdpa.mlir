// End-to-end error of --attn-quantize against dense attention, each on
// standard-normal Q, K, V (GQA 8 query heads on 4 key/value heads, D = 64,
// Lk = 300, decode and prefill rows). Every run is also checked against
// attention over the reference's dequantized K and V at the f32 tolerance,
// which pins the compiled decoding and integer products to ALGORITHMS.md §5.
// The stated bounds are on the max abs error against dense attention
// (outputs are of magnitude ~0.1-1):

// INT8 keys and values, Q K^T in int8 x int8 -> i32: bound 0.01.
// RUN: attn-opt %s --attn-quantize="kv-bits=8 group-size=32 qk-int8=true" 2>/dev/null > %t8.mlir
// RUN: %check-attn %t8.mlir --function=prefill --op=qsdpa --q=1x8x20x64 --k=1x4x300x64 --v=1x4x300x64 --causal --bits=8 --group-size=32 --qk-int8 --dense-bound=0.01

// INT4 keys and values (groups of 32), float products: bound 0.1.
// RUN: attn-opt %s --attn-quantize="kv-bits=4 group-size=32" 2>/dev/null > %t4.mlir
// RUN: %check-attn %t4.mlir --function=prefill --op=qsdpa --q=1x8x20x64 --k=1x4x300x64 --v=1x4x300x64 --causal --bits=4 --group-size=32 --dense-bound=0.1

// INT4 with half the key/value heads at INT2 (low-priority-heads=2 of 4):
// bound 0.3.
// RUN: attn-opt %s --attn-quantize="kv-bits=4 group-size=32 low-priority-heads=2" 2>/dev/null > %tmix.mlir
// RUN: %check-attn %tmix.mlir --function=prefill --op=qsdpa --q=1x8x20x64 --k=1x4x300x64 --v=1x4x300x64 --causal --bits=4 --group-size=32 --low-priority-heads=2 --dense-bound=0.3

// INT4 with both products in INT8 and the polynomial exp (the TurboAttention
// configuration); the rounded weights (1/127 steps) are allowed 0.02 against
// the reference that keeps them exact: dense bound 0.1.
// RUN: attn-opt %s --attn-quantize="kv-bits=4 group-size=32 qk-int8=true pv-int8=true" --attn-poly-exp 2>/dev/null > %tturbo.mlir
// RUN: %check-attn %tturbo.mlir --function=prefill --op=qsdpa --q=1x8x20x64 --k=1x4x300x64 --v=1x4x300x64 --causal --bits=4 --group-size=32 --qk-int8 --pv-int8 --pv-bound=0.02 --poly-exp=3 --dense-bound=0.1

// The form a model uses: the cache arrives quantized (INT2, groups of 16)
// as function arguments, decode step with an LSE-free output: bound 0.5.
// RUN: %check-attn %s --function=decode_int2 --op=qsdpa --q=1x8x1x64 --k=1x4x300x64 --v=1x4x300x64 --bits=2 --group-size=16 --prequantized --dense-bound=0.5

func.func @prefill(%q: tensor<1x8x20x64xf32>, %k: tensor<1x4x?x64xf32>,
                   %v: tensor<1x4x?x64xf32>) -> tensor<1x8x20x64xf32> {
  %o = attn.sdpa %q, %k, %v causal
      : tensor<1x8x20x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>
      -> tensor<1x8x20x64xf32>
  return %o : tensor<1x8x20x64xf32>
}

func.func @decode_int2(%q: tensor<1x8x1x64xf32>,
    %kc: tensor<1x4x?x16xi8>, %ks: tensor<1x4x?x4xf32>,
    %kst: tensor<1x4x?x4xi8>, %kz: tensor<1x4x?x4xi8>,
    %vc: tensor<1x4x?x16xi8>, %vs: tensor<1x4x?x64xf32>,
    %vst: tensor<1x4x?x64xi8>, %vz: tensor<1x4x?x64xi8>)
    -> tensor<1x8x1x64xf32> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(2) group_size(16)
      : tensor<1x8x1x64xf32>,
        key(tensor<1x4x?x16xi8>, tensor<1x4x?x4xf32>, tensor<1x4x?x4xi8>,
            tensor<1x4x?x4xi8>),
        value(tensor<1x4x?x16xi8>, tensor<1x4x?x64xf32>,
              tensor<1x4x?x64xi8>, tensor<1x4x?x64xi8>)
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}
