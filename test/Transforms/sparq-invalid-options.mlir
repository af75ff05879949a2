// Checks that options that make no sense are refused with a message and a
// failing exit code: rank 0, top-k 0, a local window above top-k, a
// negative min-kv-len, and a rank above an op's head dim (64 here).
// RUN: not attn-opt %s --attn-sparq="rank=0" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not attn-opt %s --attn-sparq="top-k=0" 2>&1 | FileCheck %s --check-prefix=TOPK
// RUN: not attn-opt %s --attn-sparq="top-k=16 local-window=17" 2>&1 | FileCheck %s --check-prefix=WINDOW
// RUN: not attn-opt %s --attn-sparq="min-kv-len=-1" 2>&1 | FileCheck %s --check-prefix=MINLEN
// RUN: not attn-opt %s --attn-sparq="rank=65" 2>&1 | FileCheck %s --check-prefix=HEADDIM
// RANK: error: attn-sparq: rank must be >= 1, got 0
// TOPK: error: attn-sparq: top-k must be >= 1, got 0
// WINDOW: error: attn-sparq: local-window must be in [0, top-k = 16], got 17
// MINLEN: error: attn-sparq: min-kv-len must be >= 0, got -1
// HEADDIM: error: attn-sparq: rank (65) exceeds the head dim (64)

func.func @decode(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x?x64xf32>,
                  %v: tensor<1x8x?x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x8x1x64xf32>, tensor<1x8x?x64xf32>,
      tensor<1x8x?x64xf32> -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}
