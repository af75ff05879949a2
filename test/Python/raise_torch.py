# RUN: %sanitizer_preload %python %s | FileCheck %s

# Checks --attn-raise-sdpa on attention in torch-mlir's linalg form
# (test/lib/linalg_attention.py) through attn_mlir: every configuration
# (GQA, the four places of the scale, causal and additive masks, the three
# softmax forms) becomes one attn.sdpa with no linalg left (but for a causal
# mask that must stay an operand), and the module
# computes the same before and after raising, both against the NumPy
# reference of ALGORITHMS.md §1 (the linalg.softmax form only after).

import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import attn_mlir  # noqa: E402
from attn_mlir.reference import sdpa  # noqa: E402
from linalg_attention import torch_sdpa  # noqa: E402

ATOL = RTOL = 2e-5  # f32, as check_attn.py
rng = np.random.default_rng(7)


def check(name, got, ref):
    err = np.abs(got - ref)
    bound = ATOL + RTOL * np.abs(ref)
    if not np.all(err <= bound):
        sys.exit("FAIL %s: max abs err %g" % (name, err.max()))


configs = itertools.product(
    [(1, 4, 4, 16, 16, 16), (2, 8, 2, 8, 24, 32)],      # B, Hq, Hkv, Lq, Lk, D
    ["scores", "divide", "query", "both", "none"],
    ["none", "additive", "causal"],
    ["decomposed", "no_max", "linalg"])
count = 0
for (b, hq, hkv, lq, lk, d), scale_on, mask, softmax in configs:
    name = "%dx%dx%dx%dx%dx%d/%s/%s/%s" % (b, hq, hkv, lq, lk, d, scale_on,
                                          mask, softmax)
    text, scale = torch_sdpa(b, hq, hkv, lq, lk, d, scale_on, mask, softmax)
    module = attn_mlir.parse(text)
    raised = module.clone().run("attn-raise-sdpa, canonicalize")
    ir = str(raised)
    # Only a causal mask that must stay a mask operand (Lq != Lk) may be
    # left as a linalg.generic.
    left = ["linalg.batch_matmul", "linalg.transpose", "linalg.softmax",
            "math.exp"]
    if mask != "causal" or lq == lk:
        left.append("linalg.generic")
    if ir.count("attn.sdpa") != 1 or any(op in ir for op in left):
        sys.exit("FAIL %s: not raised to one attn.sdpa:\n%s" % (name, ir))
    # A causal mask stays causal only when Lq = Lk.
    if mask == "causal" and ("causal" in ir) != (lq == lk):
        sys.exit("FAIL %s: causal attribute wrong:\n%s" % (name, ir))

    q = rng.standard_normal((b, hq, lq, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, lk, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, lk, d)).astype(np.float32)
    args = [q, k, v]
    ref_mask = None
    if mask == "additive":
        ref_mask = rng.standard_normal((lq, lk)).astype(np.float32)
        args.append(ref_mask)
    elif mask == "causal":
        i, j = np.arange(lq)[:, None], np.arange(lk)[None, :]
        ref_mask = np.where(j <= i, 0.0, -np.inf)
    ref, _ = sdpa(q, k, v, mask=ref_mask, scale=scale)
    # --attn-lower-to-llvm does not decompose linalg.softmax: that form
    # runs only raised.
    if softmax != "linalg":
        check(name + " (linalg)", attn_mlir.compile(module).sdpa(*args), ref)
    check(name + " (raised)", attn_mlir.compile(raised).sdpa(*args), ref)
    count += 1

# CHECK: 90 linalg attention forms raised, same results before and after
print("%d linalg attention forms raised, same results before and after"
      % count)
