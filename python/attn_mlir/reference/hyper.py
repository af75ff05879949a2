"""NumPy reference of HyperAttention (ALGORITHMS.md §4, docs/HyperAttention.md)
and of the counter-based random numbers it draws from (§6), in float64.

Independent of the compiler: it follows the documented streams and draw
indices literally, so the compiled code must reproduce its projections and
samples bit for bit and its outputs to rounding.
"""

import numpy as np

from .dense import merge, sdpa

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _u64(x):
    """x as uint64; Python ints (negative ones too) wrap modulo 2^64."""
    if isinstance(x, (int, np.integer)):
        return np.uint64(int(x) & _MASK64)
    x = np.asarray(x)
    if x.dtype == np.uint64:
        return x
    # Through int64 so negative values wrap (two's complement).
    return x.astype(np.int64).view(np.uint64)


def splitmix64(x):
    """SplitMix64 of ALGORITHMS.md §6, elementwise over uint64 values."""
    x = _u64(x)
    # uint64 arithmetic wraps; numpy warns on scalar overflow only.
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MUL1
        z = (z ^ (z >> np.uint64(27))) * _MUL2
        return z ^ (z >> np.uint64(31))


def draw(seed, stream, j):
    """The j-th draw of `stream` under `seed` (j may be an array)."""
    key = _u64(seed) ^ (_u64(stream) << np.uint64(32))
    return splitmix64(key ^ _u64(j))


def _uniform(seed, stream, i):
    """u(i) in (0, 1]: the top 53 bits of a draw, plus one ulp."""
    bits = draw(seed, stream, i) >> np.uint64(11)
    return (bits.astype(np.float64) + 1.0) * 2.0 ** -53


def projections(seed, head_dim, num_projs):
    """R[D, P] (float32): R[d, p] is standard normal number d * P + p of
    stream 0 (Box-Muller on draws 2j and 2j + 1), rounded from double."""
    j = np.arange(head_dim * num_projs, dtype=np.uint64)
    u1 = _uniform(seed, 0, np.uint64(2) * j)
    u2 = _uniform(seed, 0, np.uint64(2) * j + np.uint64(1))
    normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return normal.reshape(head_dim, num_projs).astype(np.float32)


def _codes(x, r):
    """Sign-bit code sum_p (x . r[:, p] > 0) 2^p of every row."""
    proj = np.asarray(x, np.float64) @ np.asarray(r, np.float64)
    bits = (proj > 0).astype(np.int64)
    return (bits << np.arange(proj.shape[-1], dtype=np.int64)).sum(axis=-1)


def lsh_sort_bucket(x, r):
    """sortLSH: (perm, rank), int64 of shape x.shape[:-1]. perm lists the
    rows in stable ascending order of gray(code); rank is its inverse."""
    code = _codes(x, r)
    key = code ^ (code >> 1)
    perm = np.argsort(key, axis=-1, kind="stable").astype(np.int64)
    rank = np.empty_like(perm)
    positions = np.broadcast_to(np.arange(perm.shape[-1], dtype=np.int64),
                                perm.shape)
    np.put_along_axis(rank, perm, positions, axis=-1)
    return perm, rank


def projection_margin(x, r):
    """min |x . r[:, p]| over all rows and projections: how far the closest
    sign bit is from flipping (tests keep it away from rounding)."""
    proj = np.asarray(x, np.float64) @ np.asarray(r, np.float64)
    return float(np.abs(proj).min())


def sample_positions(seed, stream, batch, kv_heads, sample_size, key_len):
    """Sorted key positions [batch, kv_heads, m]: sample i of batch b and
    kv head g is draw(seed, stream, (b * Hkv + g) * m + i) mod key_len."""
    j = np.arange(batch * kv_heads * sample_size, dtype=np.uint64)
    pos = draw(seed, stream, j) % np.uint64(key_len)
    return pos.astype(np.int64).reshape(batch, kv_heads, sample_size)


def hyper_core(q, k, v, r, scale, bucket_size, sample_size, min_seq_len,
               seed, level, exp=np.exp):
    """Non-causal HyperAttention core: sorted block diagonal plus a uniform
    sample of sorted keys (stream 1 + level), LSE-merged.

    q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv].
    Returns (out [B, Hq, Lq, Dv], lse [B, Hq, Lq]) in float64.
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    batch, hq, lq, _ = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    assert hq % hkv == 0, "Hq must be a multiple of Hkv"
    group = hq // hkv
    if lq < min_seq_len:
        return sdpa(q, k, v, scale=scale, exp=exp)

    perm_q, rank_q = lsh_sort_bucket(q, r)
    perm_k, _ = lsh_sort_bucket(k, r)
    qs = np.take_along_axis(q, perm_q[..., None], axis=2)
    ks = np.take_along_axis(k, perm_k[..., None], axis=2)
    vs = np.take_along_axis(v, perm_k[..., None], axis=2)

    nb = -(-lk // bucket_size)
    bq = -(-lq // nb)
    q_block = np.arange(lq) // bq  # key block each sorted query attends

    # Block diagonal: sorted query i sees sorted keys of block i // bq; the
    # last block simply ends at Lk, so no padding key ever contributes.
    k_block = np.arange(lk) // bucket_size
    o_blk, l_blk = sdpa(qs, ks, vs, mask=q_block[:, None] == k_block[None, :],
                        scale=scale, exp=exp)

    # Residual: the same sampled sorted positions for every query head of a
    # kv head; a sample inside the query's own block was already counted.
    pos = sample_positions(seed, 1 + level, batch, hkv, sample_size, lk)
    k_smp = np.take_along_axis(ks, pos[..., None], axis=2)
    v_smp = np.take_along_axis(vs, pos[..., None], axis=2)
    keep = (pos[:, :, None, :] // bucket_size) != q_block[None, None, :, None]
    keep = np.repeat(keep, group, axis=1)  # [B, Hq, Lq, m]
    o_smp, l_smp = sdpa(qs, k_smp, v_smp, mask=keep, scale=scale, exp=exp)
    # Each sample stands for Lk / m keys; -inf (no sample left) stays -inf.
    l_smp = l_smp + np.log(lk / sample_size)

    o, lse = merge(o_blk, l_blk, o_smp, l_smp)
    # Sorted position rank_q[r] holds original row r.
    out = np.take_along_axis(o, rank_q[..., None], axis=2)
    lse = np.take_along_axis(lse, rank_q, axis=2)
    return out, lse


def _halves(x, pad):
    """[B', H, n, E] -> [2B', H, n', E] with batch b' * 2 + half, after
    appending `pad` zero rows to every segment."""
    if pad:
        x = np.concatenate([x, np.zeros_like(x[:, :, :pad])], axis=2)
    b, h, n, e = x.shape
    x = x.reshape(b, h, 2, n // 2, e).transpose(0, 2, 1, 3, 4)
    return x.reshape(2 * b, h, n // 2, e)


def _causal(q, k, v, r, scale, bucket_size, sample_size, min_seq_len, seed,
            level, exp=np.exp):
    """Algorithm 4 on segments [B', H, n, *] of recursion level `level`
    (batch b' = b * 2^level + segment)."""
    n = q.shape[2]
    if n <= min_seq_len:
        return sdpa(q, k, v, scale=scale, causal=True, exp=exp)
    pad = n % 2
    half = (n + pad) // 2
    qh, kh, vh = (_halves(x, pad) for x in (q, k, v))
    o_d, l_d = _causal(qh, kh, vh, r, scale, bucket_size, sample_size,
                       min_seq_len, seed, level + 1, exp)
    bb, hq = q.shape[0], q.shape[1]
    o_d = o_d.reshape(bb, 2, hq, half, -1)
    l_d = l_d.reshape(bb, 2, hq, half)
    split = lambda x: x.reshape(bb, 2, *x.shape[1:])
    qs, ks, vs = split(qh), split(kh), split(vh)
    # Second half's queries against the first half's keys: all visible.
    o_off, l_off = hyper_core(qs[:, 1], ks[:, 0], vs[:, 0], r, scale,
                              bucket_size, sample_size, min_seq_len, seed,
                              level, exp)
    o_lo, l_lo = merge(o_d[:, 1], l_d[:, 1], o_off, l_off)
    out = np.stack([o_d[:, 0], o_lo], axis=2).reshape(bb, hq, 2 * half, -1)
    lse = np.stack([l_d[:, 0], l_lo], axis=2).reshape(bb, hq, 2 * half)
    return out[:, :, :n], lse[:, :, :n]


def hyper_attention(q, k, v, causal=False, scale=None, bucket_size=256,
                    sample_size=256, num_projs=7, min_seq_len=4096, seed=0,
                    exp=np.exp):
    """HyperAttention of docs/HyperAttention.md.

    q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv]; causal needs
    Lq == Lk; exp is the softmaxes' exponential. Returns (out [B, Hq, Lq, Dv], lse [B, Hq, Lq]) in float64.
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    d = q.shape[-1]
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    r = projections(seed, d, num_projs)
    if not causal:
        return hyper_core(q, k, v, r, scale, bucket_size, sample_size,
                          min_seq_len, seed, 0, exp)
    assert q.shape[2] == k.shape[2], "causal HyperAttention needs Lq == Lk"
    return _causal(q, k, v, r, scale, bucket_size, sample_size, min_seq_len,
                   seed, 0, exp)
