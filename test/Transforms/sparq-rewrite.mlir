// RUN: attn-opt %s --attn-sparq="rank=16 top-k=64" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=DEFAULT
// RUN: attn-opt %s --attn-sparq="rank=8 top-k=32 local-window=8 group-shared=true" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=OPTIONS
// RUN: attn-opt %s --attn-sparq="rank=16 top-k=64 min-kv-len=1024" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=MINLEN
// RUN: attn-opt %s --attn-sparq="rank=16 top-k=64" -split-input-file -verify-diagnostics -o /dev/null

// Checks a GQA decode step: rank and top-k become attributes, per-head
// selection is the default, no local window; with the options, all of them
// appear; a static Lk of 4096 passes min-kv-len=1024. The remark gives the
// transfer ratio 2*4096*128 / (4096*16 + 2*64*128) = 12.80.
// DEFAULT-LABEL: func.func @decode
// DEFAULT: attn.sparq %arg0, %arg1, %arg2 rank(16) top_k(64) : tensor<1x32x1x128xf32>
// DEFAULT-NOT: attn.sdpa
// OPTIONS-LABEL: func.func @decode
// OPTIONS: attn.sparq %arg0, %arg1, %arg2 rank(8) top_k(32) local_window(8) group_shared : tensor<1x32x1x128xf32>
// MINLEN-LABEL: func.func @decode
// MINLEN: attn.sparq
func.func @decode(%q: tensor<1x32x1x128xf32>, %k: tensor<1x8x4096x128xf32>,
                  %v: tensor<1x8x4096x128xf32>) -> tensor<1x32x1x128xf32> {
  // expected-remark @+1 {{SparQ: expected transfer ratio 12.80x (dense 2*Lk*D = 1048576 element reads per query row and head, SparQ Lk*r + 2*k*D = 81920)}}
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>,
      tensor<1x8x4096x128xf32>, tensor<1x8x4096x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}

// -----

// Checks that causal masking and an explicit scale carry over (prefill,
// Lq > 1), and that a static Lk below min-kv-len stays dense.
// DEFAULT-LABEL: func.func @causal_prefill
// DEFAULT: attn.sparq %arg0, %arg1, %arg2 rank(16) top_k(64) causal scale(1.250000e-01)
// MINLEN-LABEL: func.func @causal_prefill
// MINLEN: attn.sdpa %arg0, %arg1, %arg2 causal scale(1.250000e-01)
// MINLEN-NOT: attn.sparq
func.func @causal_prefill(%q: tensor<2x4x512x64xf32>, %k: tensor<2x4x512x64xf32>,
                          %v: tensor<2x4x512x64xf32>) -> tensor<2x4x512x64xf32> {
  // expected-remark @+1 {{SparQ: expected transfer ratio}}
  %o = attn.sdpa %q, %k, %v causal scale(0.125) : tensor<2x4x512x64xf32>,
      tensor<2x4x512x64xf32>, tensor<2x4x512x64xf32> -> tensor<2x4x512x64xf32>
  return %o : tensor<2x4x512x64xf32>
}

// -----

// Checks a dynamic key length: with min-kv-len the choice between SparQ and
// dense attention is made at run time; without it SparQ is unconditional.
// The remark gives the formula and its limit 2*D/r.
// DEFAULT-LABEL: func.func @dynamic_len
// DEFAULT-NOT: scf.if
// DEFAULT: attn.sparq
// MINLEN-LABEL: func.func @dynamic_len
// MINLEN: %[[LEN:.*]] = tensor.dim %arg1, %c2
// MINLEN: %[[LONG:.*]] = arith.cmpi sge, %[[LEN]], %c1024
// MINLEN: scf.if %[[LONG]]
// MINLEN: attn.sparq %arg0, %arg1, %arg2 rank(16) top_k(64) causal
// MINLEN: } else {
// MINLEN: attn.sdpa %arg0, %arg1, %arg2 causal
func.func @dynamic_len(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x?x64xf32>,
                       %v: tensor<1x8x?x64xf32>) -> tensor<1x8x1x64xf32> {
  // expected-remark @+1 {{SparQ: expected transfer ratio 2*Lk*D / (Lk*r + 2*k*D) with D = 64, r = 16, k = 64 (8.00x as Lk grows)}}
  %o = attn.sdpa %q, %k, %v causal : tensor<1x8x1x64xf32>,
      tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

// -----

// Checks that a mask operand keeps the op dense, with a warning.
// DEFAULT-LABEL: func.func @masked
// DEFAULT: attn.sdpa %arg0, %arg1, %arg2 mask
// DEFAULT-NOT: attn.sparq
func.func @masked(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x128x64xf32>,
                  %v: tensor<1x8x128x64xf32>, %m: tensor<1x128xi1>)
    -> tensor<1x8x1x64xf32> {
  // expected-warning @+1 {{attn-sparq: left dense: SparQ supports causal masking only, not a mask operand}}
  %o = attn.sdpa %q, %k, %v mask(%m : tensor<1x128xi1>)
      : tensor<1x8x1x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

// -----

// Checks that an op whose LSE is asked for stays dense, with a warning.
// DEFAULT-LABEL: func.func @with_lse
// DEFAULT: attn.sdpa
// DEFAULT-NOT: attn.sparq
func.func @with_lse(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x128x64xf32>,
                    %v: tensor<1x8x128x64xf32>)
    -> (tensor<1x8x1x64xf32>, tensor<1x8x1xf32>) {
  // expected-warning @+1 {{attn-sparq: left dense: SparQ attention has no log-sum-exp result}}
  %o, %l = attn.sdpa %q, %k, %v : tensor<1x8x1x64xf32>,
      tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>
      -> tensor<1x8x1x64xf32>, tensor<1x8x1xf32>
  return %o, %l : tensor<1x8x1x64xf32>, tensor<1x8x1xf32>
}
