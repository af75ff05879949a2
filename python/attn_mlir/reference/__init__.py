"""NumPy references of ALGORITHMS.md, the contract the tests check.

Everything here is plain NumPy (float64 unless a function says otherwise)
and needs no compiled library.
"""

from functools import partial

import numpy as np

from .dense import merge, sdpa
from .hyper import hyper_attention, lsh_sort_bucket, projections
from .sparq import gather, sparq, sparq_transfer_ratio, topk
from .turbo import (dequantize, head_priority, poly_exp, poly_exp64,
                    quantize, quantized_sdpa)

VARIANTS = ("dense", "sparq", "hyper", "poly_exp", "quantize", "turbo")


def _poly_exp_fn(degree=3, n_max=0):
    return partial(poly_exp64, degree=degree, n_max=n_max or None)


def attention(q, k, v, variant="dense", causal=False, mask=None, scale=None,
              **options):
    """What attn_mlir.attention computes, in NumPy: [B, Hq, Lq, D] q,
    [B, Hkv, Lk, D] k, [B, Hkv, Lk, Dv] v -> [B, Hq, Lq, Dv] float64.

    `options` are those of the variant's pass, with underscores for dashes
    and the passes' defaults (docs/generated/Passes): sparq: rank, top_k,
    local_window, group_shared, min_kv_len; hyper: bucket_size,
    sample_size, num_projs, min_seq_len, seed; poly_exp: degree, n_max;
    quantize: kv_bits, group_size, qk_int8, pv_int8, low_priority_heads;
    turbo: those of poly_exp and quantize.
    """
    if variant not in VARIANTS:
        raise ValueError("unknown variant %r (one of %s)" %
                         (variant, ", ".join(VARIANTS)))
    options = dict(options)

    def take(name, default):
        return options.pop(name, default)

    if variant == "dense":
        out, _ = sdpa(q, k, v, mask=mask, scale=scale, causal=causal)
    elif variant == "sparq":
        rank, top_k = take("rank", 32), take("top_k", 128)
        local_window = take("local_window", 0)
        group_shared = take("group_shared", False)
        if k.shape[2] < take("min_kv_len", 0) or mask is not None:
            out, _ = sdpa(q, k, v, mask=mask, scale=scale, causal=causal)
        else:
            out = sparq(q, k, v, rank, top_k, local_window=local_window,
                        group_shared=group_shared, causal=causal,
                        scale=scale)
    elif variant == "hyper":
        if mask is not None:
            raise ValueError("hyper: masks are not supported")
        out, _ = hyper_attention(
            q, k, v, causal=causal, scale=scale,
            bucket_size=take("bucket_size", 256),
            sample_size=take("sample_size", 256),
            num_projs=take("num_projs", 7),
            min_seq_len=take("min_seq_len", 4096), seed=take("seed", 0))
    else:
        exp = None
        if variant in ("poly_exp", "turbo"):
            exp = _poly_exp_fn(take("degree", 3), take("n_max", 0))
        if variant == "poly_exp":
            out, _ = sdpa(q, k, v, mask=mask, scale=scale, causal=causal,
                          exp=exp)
        else:
            bits = take("kv_bits", 4)
            group_size = take("group_size", 32)
            qk_int8 = take("qk_int8", False)
            take("pv_int8", False)  # Weights are not rounded here.
            low = take("low_priority_heads", 0) or None
            if mask is not None or q.shape[-1] % group_size:
                # The pass leaves these dense.
                out, _ = sdpa(q, k, v, mask=mask, scale=scale,
                              causal=causal, exp=exp or np.exp)
            else:
                kwargs = {"exp": exp} if exp is not None else {}
                out = quantized_sdpa(q, k, v, bits, group_size,
                                     qk_int8=qk_int8, causal=causal,
                                     scale=scale, low_priority_heads=low,
                                     **kwargs)
    if options:
        raise TypeError("%s: unknown options %s" %
                        (variant, ", ".join(sorted(options))))
    return out


__all__ = ["VARIANTS", "attention", "dequantize", "gather", "head_priority",
           "hyper_attention", "lsh_sort_bucket", "merge", "poly_exp",
           "poly_exp64", "projections", "quantize", "quantized_sdpa", "sdpa",
           "sparq", "sparq_transfer_ratio", "topk"]
