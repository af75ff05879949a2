// Checks that options that make no sense are errors, with exit code 1.
// RUN: not attn-opt %s --attn-quantize="kv-bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not attn-opt %s --attn-quantize="kv-bits=2 group-size=6" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not attn-opt %s --attn-quantize="kv-bits=8 low-priority-heads=1" 2>&1 | FileCheck %s --check-prefix=LOWBITS
// RUN: not attn-opt %s --attn-quantize="low-priority-heads=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not attn-opt %s --attn-quantize="low-priority-heads=3" 2>&1 | FileCheck %s --check-prefix=HEADS
// BITS: attn-quantize: kv-bits must be 8, 4 or 2, got 3
// GROUP: attn-quantize: group-size must be a positive multiple of 4 (codes per byte), got 6
// LOWBITS: attn-quantize: low-priority-heads needs kv-bits=4, got kv-bits=8
// NEGATIVE: attn-quantize: low-priority-heads must be >= 0, got -1
// HEADS: attn-quantize: low-priority-heads (3) exceeds the key/value head count (2)
func.func @f(%q: tensor<1x4x8x64xf32>, %k: tensor<1x2x8x64xf32>,
             %v: tensor<1x2x8x64xf32>) -> tensor<1x4x8x64xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x4x8x64xf32>, tensor<1x2x8x64xf32>,
      tensor<1x2x8x64xf32> -> tensor<1x4x8x64xf32>
  return %o : tensor<1x4x8x64xf32>
}
