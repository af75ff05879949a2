"""NumPy references for attn.topk, attn.gather and SparQ attention
(ALGORITHMS.md §3), computed in float64."""

import numpy as np


def topk(x, k, magnitude=False):
    """The k largest entries along the last axis (by |x| with magnitude),
    ties to the lower index; returns (values, indices) best first. NaN ranks
    as -inf. A k beyond the row pads with value 0 and index -1."""
    x = np.asarray(x)
    key = np.abs(x) if magnitude else x
    key = np.where(np.isnan(key), -np.inf, key.astype(np.float64))
    n = x.shape[-1]
    # A stable sort of -key keeps equal keys in index order.
    order = np.argsort(-key, axis=-1, kind="stable")[..., :min(k, n)]
    values = np.take_along_axis(x, order, axis=-1)
    if k > n:
        pad = x.shape[:-1] + (k - n,)
        values = np.concatenate([values, np.zeros(pad, x.dtype)], axis=-1)
        order = np.concatenate([order, -np.ones(pad, order.dtype)], axis=-1)
    return values, order


def gather(source, indices, axis):
    """result[b..., i..., t...] = source[b..., indices[b..., i...], t...];
    batch dims of size 1 in indices broadcast; indices are clamped."""
    source = np.asarray(source)
    indices = np.clip(np.asarray(indices), 0, source.shape[axis] - 1)
    batch = source.shape[:axis]
    idx_dims = indices.shape[axis:]
    indices = np.broadcast_to(indices, batch + idx_dims)
    out = np.empty(batch + idx_dims + source.shape[axis + 1:], source.dtype)
    for b in np.ndindex(*batch):
        out[b] = source[b][indices[b]]
    return out


def _softmax(x, exp=np.exp):
    e = exp(x - x.max())
    return e / e.sum()


def _best(key, count):
    """Positions of the `count` largest keys, ties to the lower index."""
    return np.argsort(-key, kind="stable")[:count]


def sparq(q, k, v, rank, top_k, local_window=0, group_shared=False,
          causal=False, scale=None, value_mean=None, exp=np.exp):
    """SparQ attention of ALGORITHMS.md §3.

    q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv];
    value_mean: None (the mean of V over the visible keys) or [B, Hkv, Dv]
    (used for every row); exp: the softmaxes' exponential. Returns out
    [B, Hq, Lq, Dv] in float64.
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    batch, hq, lq, d = q.shape
    hkv, lk, dv = k.shape[1], k.shape[2], v.shape[3]
    group = hq // hkv
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    out = np.zeros((batch, hq, lq, dv))
    for b in range(batch):
        for g in range(hkv):
            heads = list(range(g * group, (g + 1) * group))
            units = [heads] if group_shared else [[h] for h in heads]
            for i in range(lq):
                end = min(max(i + lk - lq + 1, 0), lk) if causal else lk
                if end == 0:
                    continue
                keys, values = k[b, g, :end], v[b, g, :end]
                for unit in units:
                    absq = sum(np.abs(q[b, h, i]) for h in unit)
                    i1 = _best(absq, rank)
                    approx = {}
                    for h in unit:
                        qq = q[b, h, i]
                        total, part = np.abs(qq).sum(), np.abs(qq[i1]).sum()
                        tau = np.sqrt(d * part / total) if total > 0 else np.sqrt(d)
                        # q^ = 0 (group_shared only) scores every key 0.
                        logits = (keys[:, i1] @ qq[i1] / tau if tau > 0
                                  else np.zeros(end))
                        approx[h] = _softmax(logits, exp)
                    rank_key = sum(approx[h] for h in unit)
                    window = min(local_window, end)
                    ranked = _best(rank_key[:end - window],
                                   min(top_k, end) - window)
                    chosen = np.concatenate(
                        [ranked, np.arange(end - window, end)]).astype(int)
                    mean = (values.mean(axis=0) if value_mean is None
                            else np.asarray(value_mean, np.float64)[b, g])
                    for h in unit:
                        p = _softmax(scale * keys[chosen] @ q[b, h, i], exp)
                        alpha = approx[h][chosen].sum()
                        out[b, h, i] = (alpha * (p @ values[chosen])
                                        + (1 - alpha) * mean)
    return out


def sparq_transfer_ratio(lk, d, rank, top_k):
    """Dense over SparQ element reads per query row and head (§3)."""
    return 2 * lk * d / (lk * rank + 2 * top_k * d)
