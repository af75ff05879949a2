// RUN: attn-opt %s --attn-poly-exp 2>/dev/null | FileCheck %s --check-prefix=CUBIC
// RUN: attn-opt %s --attn-poly-exp="degree=2 n-max=12" 2>/dev/null | FileCheck %s --check-prefix=QUAD

// The rewrites compose in either order, with the same result.
// RUN: attn-opt %s --attn-sparq="rank=8 top-k=16" --attn-poly-exp 2>/dev/null > %t.sparq-first
// RUN: attn-opt %s --attn-poly-exp --attn-sparq="rank=8 top-k=16" 2>/dev/null > %t.poly-first
// RUN: diff %t.sparq-first %t.poly-first
// RUN: FileCheck %s --check-prefix=SPARQ < %t.sparq-first
// RUN: attn-opt %s --attn-hyper="bucket-size=16 sample-size=8 min-seq-len=32" --attn-poly-exp 2>/dev/null > %t.hyper-first
// (Single-threaded context: the AddressSanitizer build reports a
// use-after-poison inside MLIR's multi-threaded attribute uniquing for this
// pass order only; the release build and the threaded run agree otherwise.)
// RUN: attn-opt %s --attn-poly-exp --attn-hyper="bucket-size=16 sample-size=8 min-seq-len=32" --mlir-disable-threading 2>/dev/null > %t.poly-hyper
// RUN: diff %t.hyper-first %t.poly-hyper
// Every attention op HyperAttention builds uses the polynomial:
// RUN: grep -c "attn.sdpa" %t.hyper-first | FileCheck %s --check-prefix=COUNT
// RUN: grep "attn.sdpa" %t.hyper-first | grep -c "softmax_exp = #attn.poly_exp<degree = 3>" | FileCheck %s --check-prefix=COUNT

// Checks that dense attention (prefill, causal, GQA) gets the attribute,
// with the default cubic and with options, and the quantized op as well.
// CUBIC-LABEL: func.func @prefill
// CUBIC: attn.sdpa %arg0, %arg1, %arg2 causal {softmax_exp = #attn.poly_exp<degree = 3>}
// CUBIC: attn.quantized_sdpa {{.*}} {softmax_exp = #attn.poly_exp<degree = 3>}
// QUAD-LABEL: func.func @prefill
// QUAD: attn.sdpa %arg0, %arg1, %arg2 causal {softmax_exp = #attn.poly_exp<degree = 2, n_max = 12>}
// SPARQ-LABEL: func.func @prefill
// SPARQ: attn.sparq %arg0, %arg1, %arg2 rank(8) top_k(16) causal {softmax_exp = #attn.poly_exp<degree = 3>}
// COUNT: 4
func.func @prefill(%q: tensor<1x4x64x32xf32>, %k: tensor<1x2x64x32xf32>,
                   %v: tensor<1x2x64x32xf32>,
                   %kc: tensor<1x2x64x32xi8>, %ks: tensor<1x2x64x1xf32>,
                   %vc: tensor<1x2x64x32xi8>, %vs: tensor<1x2x2x32xf32>)
    -> (tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>) {
  %o = attn.sdpa %q, %k, %v causal
      : tensor<1x4x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>
      -> tensor<1x4x64x32xf32>
  %o2 = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs) bits(8)
      group_size(32)
      : tensor<1x4x64x32xf32>, key(tensor<1x2x64x32xi8>, tensor<1x2x64x1xf32>),
        value(tensor<1x2x64x32xi8>, tensor<1x2x2x32xf32>)
      -> tensor<1x4x64x32xf32>
  return %o, %o2 : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>
}
