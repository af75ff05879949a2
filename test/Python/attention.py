# RUN: %sanitizer_preload %python %s | FileCheck %s

# Checks attn_mlir.attention for every variant of the project against
# attn_mlir.reference.attention (the NumPy references of ALGORITHMS.md) on
# the same inputs: GQA, causal, float and bool masks, f16, and the errors a
# caller gets for bad arguments.

import sys

import numpy as np

import attn_mlir
from attn_mlir.reference import attention as reference

# |got - ref| <= tol + tol * |ref|, per dtype as check_attn.py; the
# polynomial exp adds 4x its relative error (2e-4 cubic, 4e-3 quadratic).
TOLERANCE = {np.float32: 2e-5, np.float16: 2e-3}
POLY = {3: 8e-4, 2: 1.6e-2}
rng = np.random.default_rng(3)


def inputs(b, hq, hkv, lq, lk, d, dtype=np.float32):
    return (rng.standard_normal((b, hq, lq, d)).astype(dtype),
            rng.standard_normal((b, hkv, lk, d)).astype(dtype),
            rng.standard_normal((b, hkv, lk, d)).astype(dtype))


def check(name, q, k, v, variant="dense", **kwargs):
    got = attn_mlir.attention(q, k, v, variant=variant, **kwargs)
    ref = reference(q, k, v, variant=variant, **kwargs)
    tol = TOLERANCE[q.dtype.type]
    if variant in ("poly_exp", "turbo"):
        tol += POLY[kwargs.get("degree", 3)]
    err = np.abs(got.astype(np.float64) - ref)
    if got.dtype != q.dtype or got.shape != ref.shape or \
            not np.all(err <= tol + tol * np.abs(ref)):
        sys.exit("FAIL %s: max abs err %g" % (name, err.max()))
    print("%s: ok (max abs err %.1e)" % (name, err.max()))


q, k, v = inputs(2, 8, 2, 16, 48, 32)
# CHECK: dense causal GQA: ok
check("dense causal GQA", q, k, v, causal=True)
# CHECK: dense float mask: ok
check("dense float mask", q, k, v,
      mask=rng.standard_normal((16, 48)).astype(np.float32), scale=0.3)
# CHECK: dense bool mask: ok
check("dense bool mask", q, k, v, mask=rng.random((2, 1, 16, 48)) < 0.7)
# CHECK: dense f16: ok
check("dense f16", *inputs(1, 4, 4, 8, 40, 64, np.float16), causal=True)
# CHECK: sparq decode: ok
check("sparq decode", *inputs(1, 8, 2, 1, 96, 32), variant="sparq", rank=8,
      top_k=16, local_window=4, group_shared=True)
# CHECK: sparq prefill causal: ok
check("sparq prefill causal", q, k, v, variant="sparq", rank=16, top_k=24,
      causal=True)
# CHECK: hyper causal: ok
hq_, hk_, hv_ = inputs(1, 2, 2, 64, 64, 16)
check("hyper causal", hq_, hk_, hv_, variant="hyper", causal=True,
      bucket_size=8, sample_size=8, min_seq_len=16, seed=5)
# CHECK: poly_exp quadratic: ok
check("poly_exp quadratic", q, k, v, variant="poly_exp", degree=2)
# CHECK: quantize int4 qk-int8: ok
check("quantize int4 qk-int8", q, k, v, variant="quantize", kv_bits=4,
      group_size=16, qk_int8=True)
# CHECK: turbo int2 causal: ok
check("turbo int2 causal", q, k, v, variant="turbo", kv_bits=2,
      group_size=16, causal=True)

# Compiled once per configuration.
cache = sys.modules["attn_mlir.attention"]._cache
before = len(cache)
attn_mlir.attention(q, k, v, causal=True)
# CHECK: cached: True
print("cached:", len(cache) == before)


def error(call):
    try:
        call()
    except (TypeError, ValueError, attn_mlir.MlirError) as e:
        print("%s: %s" % (type(e).__name__, str(e).splitlines()[-1]))
    else:
        sys.exit("FAIL: no error")


# CHECK: TypeError: sparq: unknown options topk
error(lambda: attn_mlir.attention(q, k, v, variant="sparq", topk=4))
# CHECK: ValueError: unknown variant 'flash'
error(lambda: attn_mlir.attention(q, k, v, variant="flash"))
# CHECK: TypeError: q, k and v must all be float32 or all float16
error(lambda: attn_mlir.attention(q, k.astype(np.float64), v))
# CHECK: MlirError: {{.*}}error: 'attn.sdpa' op query heads (8) must be a multiple of key/value heads (3)
error(lambda: attn_mlir.attention(*inputs(1, 8, 3, 4, 4, 16)))
# CHECK: MlirError: {{.*}}attn-sparq: rank must be >= 1, got 0
error(lambda: attn_mlir.attention(q, k, v, variant="sparq", rank=0))
