"""NumPy references of TurboAttention (ALGORITHMS.md §5): the polynomial
exp, staged INT8 -> INT4/INT2 group quantization with packing, the head
priority, and attention over a quantized key/value cache.

poly_exp, quantize and dequantize follow the ops operation by operation in
float32 and integers, so that compiled results match them bit for bit.
"""

import numpy as np

from .dense import sdpa

LOG2E = np.float32(1.4426950408889634)
FITS = {
    3: np.array([0.999899, -0.691077, 0.230595, -0.039510], np.float32),
    2: np.array([0.997926, -0.667377, 0.171329], np.float32),
}


def poly_exp(x, degree=3, coefficients=None, n_max=None):
    """attn.poly_exp in float32: 2^-n * p(f), 0 from n >= min(n_max, 127)."""
    x = np.asarray(x)
    out_dtype = x.dtype
    x = x.astype(np.float32)
    c = (FITS[degree] if coefficients is None
         else np.asarray(coefficients, np.float32))
    limit = np.float32(min(n_max if n_max is not None else 127, 127))
    y = np.minimum(x, np.float32(0)) * -LOG2E
    n = np.floor(np.fmin(y, limit)).astype(np.int32)
    f = y - n.astype(np.float32)
    p = np.full_like(f, c[-1])
    for coefficient in c[-2::-1]:
        p = p * f + coefficient
    power = ((127 - n) << 23).astype(np.int32).view(np.float32)
    with np.errstate(invalid="ignore"):  # inf/NaN inputs
        dropped = y >= limit
        result = p * power
    return np.where(dropped, np.float32(0), result).astype(out_dtype)


def poly_exp64(x, degree=3, n_max=None):
    """The same formula in float64, for the softmax references."""
    c = FITS[degree].astype(np.float64)
    limit = min(n_max if n_max is not None else 127, 127)
    with np.errstate(all="ignore"):  # -inf scores: dropped below
        y = -np.minimum(np.asarray(x, np.float64), 0.0) * np.log2(np.e)
        n = np.floor(np.fmin(y, 127.0))
        p = np.polynomial.polynomial.polyval(y - n, c)
        return np.where(y >= limit, 0.0, p * np.exp2(-n))


def head_priority(x):
    """§5 priority of each head of x [B, H, L, D]: std over channels of the
    channel's range over batch and positions."""
    x = np.asarray(x, np.float64)
    gap = x.max(axis=(0, 2)) - x.min(axis=(0, 2))  # [H, D]
    return gap.std(axis=1)


def low_priority_mask(x, num_low):
    """True for the num_low heads of lowest priority (ties: lower head)."""
    order = np.argsort(head_priority(x), kind="stable")
    mask = np.zeros(x.shape[1], bool)
    mask[order[:num_low]] = True
    return mask


def _groups(n, group_size):
    return [(s, min(s + group_size, n)) for s in range(0, n, group_size)]


def quantize(x, axis, group_size, bits, low_priority_heads=None):
    """attn.quantize: returns (codes, scale) for bits 8 and (codes, scale,
    step, zero) for bits 4 and 2, codes packed along the last axis."""
    x = np.asarray(x).astype(np.float32)
    axis = axis % x.ndim
    xt = np.moveaxis(x, axis, -1)
    n = xt.shape[-1]
    spans = _groups(n, group_size)
    levels = np.full(xt.shape[:-1], (1 << bits) - 1, np.int64)
    if low_priority_heads:
        low = low_priority_mask(x, low_priority_heads)
        head_levels = np.where(low, 3, (1 << bits) - 1)
        # dim 1 of x sits at position 1 of xt unless axis is 0 or 1.
        head_axis = 1 if axis > 1 else 0
        shape = [1] * (xt.ndim - 1)
        shape[head_axis] = x.shape[1]
        levels = np.broadcast_to(head_levels.reshape(shape), levels.shape)
    codes = np.zeros(xt.shape, np.int64)
    scale = np.zeros(xt.shape[:-1] + (len(spans),), np.float32)
    step = np.zeros_like(scale, np.int64)
    zero = np.zeros_like(scale, np.int64)
    for g, (s, e) in enumerate(spans):
        part = xt[..., s:e]
        s1 = np.abs(part).max(axis=-1) / np.float32(127)
        with np.errstate(divide="ignore", invalid="ignore"):
            q8 = np.clip(np.rint(part / s1[..., None]), -127, 127)
        q8 = np.where(s1[..., None] == 0, 0, q8).astype(np.int64)
        scale[..., g] = s1
        if bits == 8:
            codes[..., s:e] = q8
            continue
        z = q8.min(axis=-1)
        s2 = np.maximum(1, -(-(q8.max(axis=-1) - z) // levels))
        code = np.rint((q8 - z[..., None]) / s2[..., None])
        codes[..., s:e] = np.clip(code, 0, levels[..., None])
        step[..., g], zero[..., g] = s2, z
    codes = np.moveaxis(codes, -1, axis)
    back = lambda a: np.moveaxis(a, -1, axis)
    packed = _pack(codes, bits)
    if bits == 8:
        return packed, back(scale)
    return (packed, back(scale), back(step).astype(np.int8),
            back(zero).astype(np.int8))


def _pack(codes, bits):
    if bits == 8:
        return codes.astype(np.int8)
    per = 8 // bits
    n = codes.shape[-1]
    padded = np.zeros(codes.shape[:-1] + (-(-n // per) * per,), np.int64)
    padded[..., :n] = codes
    byte = np.zeros(padded.shape[:-1] + (padded.shape[-1] // per,), np.int64)
    for k in range(per):
        byte |= padded[..., k::per] << (k * bits)
    return byte.astype(np.uint8).view(np.int8)


def unpack(codes, bits, n):
    """Codes along the last axis from their packed bytes (n of them)."""
    if bits == 8:
        return np.asarray(codes).astype(np.int64)
    per = 8 // bits
    byte = np.asarray(codes).view(np.uint8).astype(np.int64)
    out = np.zeros(byte.shape[:-1] + (byte.shape[-1] * per,), np.int64)
    for k in range(per):
        out[..., k::per] = (byte >> (k * bits)) & ((1 << bits) - 1)
    return out[..., :n]


def int8_codes(codes, scale, step, zero, axis, group_size, bits, shape):
    """q8' of attn.dequantize (integers) for a float tensor of `shape`."""
    axis = axis % len(shape)
    code = unpack(codes, bits, shape[-1])
    if bits == 8:
        return code
    expand = lambda a: np.repeat(np.asarray(a, np.int64), group_size,
                                 axis=axis).take(range(shape[axis]), axis=axis)
    return np.clip(code * expand(step) + expand(zero), -127, 127)


def dequantize(codes, scale, step, zero, axis, group_size, bits, shape,
               dtype=np.float32):
    """attn.dequantize: q8' * s1 in float32."""
    axis = axis % len(shape)
    q8 = int8_codes(codes, scale, step, zero, axis, group_size, bits, shape)
    s1 = np.repeat(np.asarray(scale, np.float32), group_size,
                   axis=axis).take(range(shape[axis]), axis=axis)
    return (q8.astype(np.float32) * s1).astype(dtype)


def quantized_sdpa(q, k, v, bits, group_size, qk_int8=False, causal=False,
                   scale=None, low_priority_heads=None, exp=np.exp):
    """Attention over K and V quantized as attn.quantized_sdpa reads them
    (K grouped along D, V along the keys), with an exact softmax in float64
    and weights not rounded (pv_int8 rounds them; its tests bound that).

    Returns out [B, Hq, Lq, Dv] float64."""
    q = np.asarray(q, np.float32)
    k_layout = quantize(k, 3, group_size, bits, low_priority_heads)
    v_layout = quantize(v, 2, group_size, bits, low_priority_heads)
    pad = (None, None) if bits == 8 else ()
    k_hat = dequantize(*k_layout, *pad, 3, group_size, bits, k.shape)
    v_hat = dequantize(*v_layout, *pad, 2, group_size, bits, v.shape)
    if qk_int8:
        q_codes, q_scale = quantize(q, 3, group_size, 8)
        q = dequantize(q_codes, q_scale, None, None, 3, group_size, 8,
                       q.shape)
    return sdpa(q, k_hat, v_hat, scale=scale, causal=causal, exp=exp)[0]
