"""attn_mlir.attention: every attention variant of the project, compiled for
the CPU and called on NumPy arrays."""

import threading

import numpy as np

from .execution import compile as compile_module
from .ir import parse
from .reference import VARIANTS

# Pass options of each variant (underscores for dashes), by pass.
_PASS_OPTIONS = {
    "attn-sparq": ("rank", "top_k", "local_window", "group_shared",
                   "min_kv_len"),
    "attn-hyper": ("bucket_size", "sample_size", "num_projs", "min_seq_len",
                   "seed"),
    "attn-poly-exp": ("degree", "n_max"),
    "attn-quantize": ("kv_bits", "group_size", "qk_int8", "pv_int8",
                      "low_priority_heads"),
}
_VARIANT_PASSES = {
    "dense": (),
    "sparq": ("attn-sparq",),
    "hyper": ("attn-hyper",),
    "poly_exp": ("attn-poly-exp",),
    "quantize": ("attn-quantize",),
    "turbo": ("attn-quantize", "attn-poly-exp"),
}
_ELEMENT_TYPES = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16"}

_cache = {}
_cache_lock = threading.Lock()


def _option_text(value):
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(int(value))


def pipeline_for(variant, **options):
    """The pass pipeline of a variant, e.g. pipeline_for("sparq", top_k=64)
    -> "attn-sparq{top-k=64}"."""
    if variant not in VARIANTS:
        raise ValueError("unknown variant %r (one of %s)" %
                         (variant, ", ".join(VARIANTS)))
    passes = _VARIANT_PASSES[variant]
    allowed = [o for p in passes for o in _PASS_OPTIONS[p]]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError("%s: unknown options %s (it takes %s)" %
                        (variant, ", ".join(unknown),
                         ", ".join(allowed) or "none"))
    stages = []
    for name in passes:
        given = ["%s=%s" % (o.replace("_", "-"), _option_text(options[o]))
                 for o in _PASS_OPTIONS[name] if o in options]
        stages.append(name + ("{%s}" % " ".join(given) if given else ""))
    return ",".join(stages)


def _tensor_type(shape, element):
    return "tensor<%s>" % "x".join([str(d) for d in shape] + [element])


def sdpa_module_text(q_shape, k_shape, v_shape, element, causal=False,
                     mask=None, scale=None, name="attention"):
    """A module with one function computing attn.sdpa on static shapes;
    `mask` is (shape, element type) or None."""
    out_shape = tuple(q_shape[:3]) + (v_shape[3],)
    types = [_tensor_type(s, element) for s in (q_shape, k_shape, v_shape)]
    args = ["%%q: %s" % types[0], "%%k: %s" % types[1], "%%v: %s" % types[2]]
    attrs = ""
    if mask is not None:
        mask_type = _tensor_type(*mask)
        args.append("%%mask: %s" % mask_type)
        attrs += " mask(%%mask : %s)" % mask_type
    if causal:
        attrs += " causal"
    if scale is not None:
        attrs += " scale(%r)" % float(scale)
    out_type = _tensor_type(out_shape, element)
    return (
        "func.func @%s(%s) -> %s {\n"
        "  %%o = attn.sdpa %%q, %%k, %%v%s : %s -> %s\n"
        "  return %%o : %s\n"
        "}\n" % (name, ", ".join(args), out_type, attrs, ", ".join(types),
                 out_type, out_type))


def attention(q, k, v, variant="dense", causal=False, mask=None, scale=None,
              num_threads=0, **options):
    """Attention of one of the project's variants, compiled for the CPU.

    q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv], float32 or
    float16 (all three alike; Hq a multiple of Hkv). mask: None, a float
    array added to the scaled scores or a bool array (True keeps),
    broadcastable to [B, Hq, Lq, Lk] from the right, rank 2 to 4. scale:
    default 1/sqrt(D). causal: query i sees key j iff j <= i + Lk - Lq.

    variant: "dense", "sparq", "hyper", "poly_exp", "quantize" or "turbo"
    (quantize and poly_exp); `options` are the variant's pass options with
    underscores for dashes (see attn_mlir.reference.attention and
    docs/generated/Passes). num_threads: OpenMP threads (0: all cores).

    Returns [B, Hq, Lq, Dv] in q's dtype. Each (shapes, dtypes, variant,
    options) is compiled once per process.
    """
    q, k, v = (np.asarray(x) for x in (q, k, v))
    element = _ELEMENT_TYPES.get(q.dtype)
    if element is None or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError("q, k and v must all be float32 or all float16, got "
                        "%s, %s, %s" % (q.dtype, k.dtype, v.dtype))
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError("q, k and v must be [B, H, L, D] arrays")
    mask_spec = None
    inputs = [q, k, v]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == np.bool_:
            mask_element = "i1"
        elif mask.dtype in _ELEMENT_TYPES:
            mask_element = _ELEMENT_TYPES[mask.dtype]
        else:
            mask = mask.astype(np.float32)
            mask_element = "f32"
        mask_spec = (mask.shape, mask_element)
        inputs.append(mask)
    pipeline = pipeline_for(variant, **options)

    key = (q.shape, k.shape, v.shape, element, causal, mask_spec,
           None if scale is None else float(scale), pipeline, num_threads)
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is None:
            module = parse(sdpa_module_text(q.shape, k.shape, v.shape,
                                            element, causal, mask_spec,
                                            scale))
            compiled = compile_module(module, pipeline,
                                      num_threads=num_threads)
            _cache[key] = compiled
    return compiled.attention(*inputs)
