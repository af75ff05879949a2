"""Independent NumPy references for attn.sdpa (ALGORITHMS.md §1) and
attn.merge (§2).

Computed in float64 from the inputs as given (f16 inputs are widened first),
so the reference's own rounding error is far below any tolerance a test
uses.
"""

import numpy as np


def sdpa(q, k, v, mask=None, scale=None, causal=False, exp=np.exp):
    """Dense scaled dot-product attention.

    q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv].
    mask: None, a float array added to the scaled scores, or a bool array
    (True keeps), broadcastable to [B, Hq, Lq, Lk].
    exp: the softmax's exponential (np.exp, or a polynomial exp).
    Returns (out [B, Hq, Lq, Dv] float64, lse [B, Hq, Lq] float64).
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    batch, hq, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    assert hq % hkv == 0, "Hq must be a multiple of Hkv"
    group = hq // hkv
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    # Query head h reads key/value head h // group.
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = scale * np.einsum("bhid,bhjd->bhij", q, k)
    visible = np.ones((lq, lk), dtype=bool)
    if causal:
        i = np.arange(lq)[:, None]
        j = np.arange(lk)[None, :]
        visible = j <= i + (lk - lq)
    visible = np.broadcast_to(visible, scores.shape)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == bool:
            visible = visible & np.broadcast_to(mask, scores.shape)
        else:
            scores = scores + mask.astype(np.float64)
    scores = np.where(visible, scores, -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    has_key = np.isfinite(row_max)
    safe_max = np.where(has_key, row_max, 0.0)
    weights = np.where(visible, exp(scores - safe_max), 0.0)
    row_sum = weights.sum(axis=-1, keepdims=True)
    safe_sum = np.where(row_sum > 0, row_sum, 1.0)
    out = np.einsum("bhij,bhjd->bhid", weights / safe_sum, v)
    out = np.where(row_sum > 0, out, 0.0)
    with np.errstate(divide="ignore"):
        lse = np.where(row_sum > 0, safe_max + np.log(safe_sum), -np.inf)
    return out, lse[..., 0]


def merge(o1, l1, o2, l2):
    """LSE combine of two partial results over disjoint key sets."""
    o1, l1, o2, l2 = (np.asarray(x, dtype=np.float64) for x in (o1, l1, o2, l2))
    m = np.maximum(l1, l2)
    finite = np.isfinite(m)
    safe_m = np.where(finite, m, 0.0)
    with np.errstate(divide="ignore"):
        lse = np.where(finite,
                       safe_m + np.log(np.exp(l1 - safe_m) + np.exp(l2 - safe_m)),
                       -np.inf)
    safe_l = np.where(finite, lse, 0.0)
    w1 = np.where(finite, np.exp(l1 - safe_l), 0.0)[..., None]
    w2 = np.where(finite, np.exp(l2 - safe_l), 0.0)[..., None]
    return w1 * o1 + w2 * o2, lse
