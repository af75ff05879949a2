# RUN: %sanitizer_preload %python %s | FileCheck %s

# Checks the IR layer of attn_mlir: parse and print, pass pipelines by name
# (with the diagnostics they report), the function signatures of a module,
# and compile-and-call on NumPy arrays with dynamic dims, several results
# and bf16, against NumPy.

import sys

import numpy as np

import attn_mlir
from attn_mlir.reference import sdpa

DECODE = """
func.func @decode(%q: tensor<1x8x1x32xf32>, %k: tensor<1x2x?x32xf32>,
                  %v: tensor<1x2x?x32xf32>)
    -> (tensor<1x8x1x32xf32>, tensor<1x8x1xf32>) {
  %o, %lse = attn.sdpa %q, %k, %v
      : tensor<1x8x1x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x32xf32>
      -> tensor<1x8x1x32xf32>, tensor<1x8x1xf32>
  return %o, %lse : tensor<1x8x1x32xf32>, tensor<1x8x1xf32>
}
"""

module = attn_mlir.parse(DECODE)
# CHECK: signature: (['tensor<1x8x1x32xf32>', 'tensor<1x2x?x32xf32>', 'tensor<1x2x?x32xf32>'], ['tensor<1x8x1x32xf32>', 'tensor<1x8x1xf32>'])
print("signature:", module.functions()["decode"])

# A rewrite on a clone: the original is unchanged, remarks are collected.
sparq = attn_mlir.parse(
    DECODE.replace("%o, %lse", "%o").replace(", tensor<1x8x1xf32>", "")
    .replace(", %lse", "").replace("-> (tensor<1x8x1x32xf32>)",
                                   "-> tensor<1x8x1x32xf32>"))
rewritten = sparq.clone().run("attn-sparq{rank=8 top-k=16}")
# CHECK: rewritten: {{.*}}attn.sparq {{.*}} rank(8) top_k(16)
print("rewritten:", [line.strip() for line in str(rewritten).splitlines()
                     if "attn.sparq" in line][0])
# CHECK: original keeps attn.sdpa: True
print("original keeps attn.sdpa:", "attn.sdpa" in str(sparq))
# CHECK: remark: SparQ: expected transfer ratio
print(*[d.severity + ": " + d.message for d in rewritten.context.diagnostics
        if d.severity == "remark"])

# Called on NumPy arrays: the key length is bound from the inputs.
rng = np.random.default_rng(1)
q = rng.standard_normal((1, 8, 1, 32)).astype(np.float32)
k = rng.standard_normal((1, 2, 77, 32)).astype(np.float32)
v = rng.standard_normal((1, 2, 77, 32)).astype(np.float32)
compiled = attn_mlir.compile(module)
out, lse = compiled.decode(q, k, v)
ref_out, ref_lse = sdpa(q, k, v)
# CHECK: decode matches NumPy: True True
print("decode matches NumPy:",
      np.allclose(out, ref_out, atol=2e-5, rtol=2e-5),
      np.allclose(lse, ref_lse, atol=2e-5, rtol=2e-5))

# bf16 arguments and results travel as float32 arrays.
bf16 = attn_mlir.parse("""
func.func @scale(%x: tensor<?x4xbf16>) -> tensor<?x4xbf16> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xbf16>
  %e = tensor.empty(%n) : tensor<?x4xbf16>
  %r = linalg.add ins(%x, %x : tensor<?x4xbf16>, tensor<?x4xbf16>)
      outs(%e : tensor<?x4xbf16>) -> tensor<?x4xbf16>
  return %r : tensor<?x4xbf16>
}
""")
x = np.array([[1.0, -2.5, 3.015625, 0.0]] * 3, np.float32)
# CHECK: bf16 doubled: True (3, 4)
doubled = attn_mlir.compile(bf16).scale(x)
print("bf16 doubled:", np.array_equal(doubled, 2 * x), doubled.shape)


def error(call):
    try:
        call()
    except (TypeError, ValueError, attn_mlir.MlirError) as e:
        lines = str(e).splitlines()
        print("%s: %s" % (type(e).__name__,
                          next((l for l in lines if "error:" in l),
                               lines[-1])))
    else:
        sys.exit("FAIL: no error")


# CHECK: MlirError: loc("-":1:23): error: Dialect `foo' not found for custom op 'foo.bar'
error(lambda: attn_mlir.parse("func.func @f() { %x = foo.bar }"))
# CHECK: MlirError: invalid pass pipeline {{.*}}'no-such-pass'
error(lambda: module.clone().run("no-such-pass"))
# CHECK: ValueError: argument 1 of @decode: shape (1, 3, 77, 32) does not match tensor<1x2x?x32xf32>
error(lambda: compiled.decode(q, np.zeros((1, 3, 77, 32), np.float32), v))
# CHECK: TypeError: @decode takes 3 arguments, got 2
error(lambda: compiled.decode(q, k))
