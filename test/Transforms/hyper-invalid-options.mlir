// Checks that options that make no sense are refused with a message and a
// failing exit code: bucket-size 0, a negative sample-size, num-projs
// outside [1, 16], min-seq-len 0 (the causal recursion would not end).
// RUN: not attn-opt %s --attn-hyper="bucket-size=0" 2>&1 | FileCheck %s --check-prefix=BUCKET
// RUN: not attn-opt %s --attn-hyper="sample-size=-1" 2>&1 | FileCheck %s --check-prefix=SAMPLES
// RUN: not attn-opt %s --attn-hyper="num-projs=17" 2>&1 | FileCheck %s --check-prefix=PROJS
// RUN: not attn-opt %s --attn-hyper="num-projs=0" 2>&1 | FileCheck %s --check-prefix=PROJS0
// RUN: not attn-opt %s --attn-hyper="min-seq-len=0" 2>&1 | FileCheck %s --check-prefix=MINLEN
// BUCKET: error: attn-hyper: bucket-size must be >= 1, got 0
// SAMPLES: error: attn-hyper: sample-size must be >= 0, got -1
// PROJS: error: attn-hyper: num-projs must be in [1, 16], got 17
// PROJS0: error: attn-hyper: num-projs must be in [1, 16], got 0
// MINLEN: error: attn-hyper: min-seq-len must be >= 1, got 0

func.func @prefill(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32> -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}
