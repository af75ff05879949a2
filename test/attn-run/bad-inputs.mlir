// Checks that attn-run answers bad input with one line and exit code 1,
// never a crash.
// RUN: %python -c "import numpy as np; np.save('%t.q.npy', np.zeros((1,2,3,8), np.float32)); np.save('%t.k.npy', np.zeros((1,1,5,8), np.float32)); np.save('%t.v4.npy', np.zeros((1,1,4,8), np.float32)); np.save('%t.h.npy', np.zeros((1,2,3,8), np.float16)); np.save('%t.r3.npy', np.zeros((2,3,8), np.float32)); np.save('%t.wide.npy', np.zeros((1,2,3,9), np.float32))"
// RUN: printf 'junk' > %t.junk.npy

// Missing file.
// RUN: not attn-run %s --function=f --input=@%t.missing.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: attn-run: error: '{{.*}}missing.npy': cannot open

// Not a .npy file.
// RUN: not attn-run %s --function=f --input=@%t.junk.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=JUNK
// JUNK: attn-run: error: '{{.*}}junk.npy': not a .npy file

// Wrong number of inputs.
// RUN: not attn-run %s --function=f --input=@%t.q.npy 2>&1 | FileCheck %s --check-prefix=COUNT
// COUNT: attn-run: error: function 'f' takes 3 arguments, got 1 --input

// Wrong rank.
// RUN: not attn-run %s --function=f --input=@%t.r3.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: attn-run: error: input #0 ('{{.*}}', tensor<1x2x?x8xf32>): rank is 3, expected 4

// Wrong dtype.
// RUN: not attn-run %s --function=f --input=@%t.h.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: attn-run: error: input #0 ('{{.*}}', tensor<1x2x?x8xf32>): dtype is float16, expected float32

// Static dim that does not match.
// RUN: not attn-run %s --function=f --input=@%t.wide.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: attn-run: error: input #0 ('{{.*}}', tensor<1x2x?x8xf32>): shape is (1, 2, 3, 9), dim 3 must be 8

// Dynamic dims that the op needs equal but the inputs bind differently.
// RUN: not attn-run %s --function=f --input=@%t.q.npy --input=@%t.k.npy --input=@%t.v4.npy 2>&1 | FileCheck %s --check-prefix=BIND
// BIND: attn-run: error: input #2 dim 2 is 4 but must equal input #1 dim 2 (5): attn.sdpa key and value length

// Unknown function, too many outputs, malformed flags.
// RUN: not attn-run %s --function=g 2>&1 | FileCheck %s --check-prefix=NOFUNC
// NOFUNC: attn-run: error: no function named 'g'
// RUN: not attn-run %s --function=f --input=@%t.q.npy --input=@%t.k.npy --input=@%t.k.npy --output=@%t.o1.npy --output=@%t.o2.npy 2>&1 | FileCheck %s --check-prefix=OUTS
// OUTS: attn-run: error: function 'f' returns 1 results, got 2 --output
// RUN: not attn-run %s --function=f --input=%t.q.npy --input=@%t.k.npy --input=@%t.k.npy 2>&1 | FileCheck %s --check-prefix=AT
// AT: attn-run: error: --input must be @file.npy

// A good call still works, and --benchmark prints min and median.
// RUN: attn-run %s --function=f --input=@%t.q.npy --input=@%t.k.npy --input=@%t.k.npy --benchmark=3 | FileCheck %s --check-prefix=OK
// OK: benchmark: 3 runs, min {{[0-9.]+}} ms, median {{[0-9.]+}} ms
// OK: result #0: float32 (1, 2, 3, 8)

func.func @f(%q: tensor<1x2x?x8xf32>, %k: tensor<1x1x?x8xf32>,
             %v: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %o = attn.sdpa %q, %k, %v : tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>,
      tensor<1x1x?x8xf32> -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}
