// Checks bottom-right aligned causal masking with Lq < Lk (a KV cache),
// Lq == Lk, and Lq > Lk (the first Lq - Lk queries see no key: output 0,
// LSE -inf), all through one function with dynamic B, Lq and Lk.
// RUN: %check-attn %s --function=causal --q=2x4x45x32 --k=2x2x150x32 --v=2x2x150x32 --causal --lse
// RUN: %check-attn %s --function=causal --q=1x4x77x32 --k=1x2x77x32 --v=1x2x77x32 --causal --lse
// RUN: %check-attn %s --function=causal --q=1x4x40x32 --k=1x2x25x32 --v=1x2x25x32 --causal --lse | FileCheck %s
// CHECK: rows with no visible key: 60, all exactly 0

func.func @causal(%q: tensor<?x4x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                  %v: tensor<?x2x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v causal : tensor<?x4x?x32xf32>,
      tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>
      -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
  return %o, %lse : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>
}
