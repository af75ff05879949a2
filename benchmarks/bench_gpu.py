#!/usr/bin/env python3
"""Checks and times the GPU kernels of --attn-lower-to-nvvm on an NVIDIA GPU.

Loads build/gpu-bench/libattn_gpu_kernels.so (benchmarks/gpu/build.sh) with
ctypes and calls its functions on PyTorch CUDA tensors through the C ABI of
include/attn/Runtime/AttnCudaRuntime.h (memref descriptors of device
pointers), on PyTorch's current stream. In one run it

  1. checks every compiled function against a float32 PyTorch reference of
     ALGORITHMS.md §1 on fresh random inputs (outputs poisoned with NaN
     first), over shapes that reach every kernel path;
  2. times decode (B=1, Hq=32, Hkv=8, D=128, bf16) and prefill (B=4, H=32,
     D=128, bf16) next to torch.nn.functional.scaled_dot_product_attention
     with the cuDNN and FLASH backends, on the same inputs, and checks each
     timed result too.

Needs a CUDA GPU and PyTorch; prints a table and writes JSON to --json.
"""

import argparse
import ctypes
import json
import math
import os
import statistics
import sys
from functools import partial

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from attn_mlir.reference.hyper import hyper_attention as hyper_numpy  # noqa: E402
from attn_mlir.reference.sparq import sparq as sparq_numpy  # noqa: E402
from attn_mlir.reference.turbo import dequantize as dequantize_numpy  # noqa: E402
from attn_mlir.reference.turbo import poly_exp64  # noqa: E402
from attn_mlir.reference.turbo import quantize as quantize_numpy  # noqa: E402


def descriptor_type(rank):
    class Descriptor(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    return Descriptor


class Kernels:
    """The compiled functions, called on contiguous CUDA tensors."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.attnCudaGetLastError.restype = ctypes.c_char_p
        self.lib.attnCudaSetStream.argtypes = [ctypes.c_void_p]
        self.types = {r: descriptor_type(r) for r in range(1, 5)}

    def use_stream(self, stream):
        self.lib.attnCudaSetStream(ctypes.c_void_p(stream.cuda_stream))

    def descriptor(self, t):
        assert t.is_cuda and t.is_contiguous()
        d = self.types[t.dim()]()
        d.allocated = d.aligned = t.data_ptr()
        d.offset = 0
        for i, (size, stride) in enumerate(zip(t.shape, t.stride())):
            d.sizes[i], d.strides[i] = size, stride
        return d

    def call(self, name, inputs, outputs):
        descriptors = [self.descriptor(t) for t in list(inputs) + list(outputs)]
        getattr(self.lib, "_mlir_ciface_" + name)(
            *[ctypes.byref(d) for d in descriptors])
        error = self.lib.attnCudaGetLastError()
        if error:
            raise RuntimeError(error.decode())


def poly_exp_torch(x, degree=3, n_max=None):
    """attn.poly_exp in float32 (ALGORITHMS.md §5): 2^-n * p(f), 0 from
    n >= min(n_max, 127)."""
    c = {3: (0.999899, -0.691077, 0.230595, -0.039510),
         2: (0.997926, -0.667377, 0.171329)}[degree]
    limit = float(min(n_max or 127, 127))
    y = -torch.clamp(x.float(), max=0) * math.log2(math.e)
    n = torch.floor(torch.clamp(y, max=limit))
    f = y - n
    p = torch.full_like(f, c[-1])
    for coefficient in c[-2::-1]:
        p = p * f + coefficient
    return torch.where(y >= limit, torch.zeros_like(p), p * torch.exp2(-n))


def masked_scores(q, k, v, causal, scale=None):
    """float32 scaled scores (-inf where causal masking hides a key) and the
    values, each key/value head repeated for its GQA group."""
    q, k, v = q.float(), k.float(), v.float()
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-1, -2)) * scale
    lq, lk = q.shape[2], k.shape[2]
    if causal:
        i = torch.arange(lq, device=q.device)[:, None]
        j = torch.arange(lk, device=q.device)[None, :]
        s = s.masked_fill(j > i + (lk - lq), float("-inf"))
    return s, v


def row_max_weights(s, exp):
    """The weights exp(s - row max) (row max 0 for rows with nothing
    visible), the row max and the weights' row sum."""
    row_max = s.amax(dim=-1, keepdim=True)
    w = exp(s - torch.where(torch.isinf(row_max), 0, row_max))
    return w, row_max, w.sum(dim=-1, keepdim=True)


def reference(q, k, v, causal, scale=None, exp=None):
    """float32 attention of ALGORITHMS.md §1: GQA by head groups, causal
    aligned at the bottom right, rows with no visible key give 0 and -inf."""
    s, v = masked_scores(q, k, v, causal, scale)
    if exp is not None:  # weights exp(s - rowmax) / sum, with lse
        w, row_max, total = row_max_weights(s, exp)
        return w @ v / total, (row_max + total.log()).squeeze(-1)
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - torch.where(torch.isinf(lse), 0, lse)[..., None])
    return p @ v, lse


def weight_rounding_noise(q, k, v, causal, exp=None, levels=127):
    """The expected norm of the output error of rounding each softmax weight
    (at most 1) to a multiple of 1 / levels (pv_int8): independent errors
    uniform in half a level move row r, dim d by sum_j e_j (v_jd - o_rd) /
    sum_j w_j, of variance sum_j (v_jd - o_rd)^2 / (12 levels^2 (sum_j
    w_j)^2). Weights rounded against a running maximum below the row's have
    smaller errors, so this is an upper estimate."""
    s, v = masked_scores(q, k, v, causal)
    w, _, total = row_max_weights(s, exp or torch.exp)
    o = w @ v / total.clamp(min=1e-30)
    seen = torch.isfinite(s).float()
    spread = (seen @ (v * v) - 2 * o * (seen @ v)
              + seen.sum(-1, keepdim=True) * o * o)
    variance = spread.clamp(min=0) / (12 * levels ** 2 * total.clamp(
        min=1e-30) ** 2)
    return variance.sum().sqrt().item()


def rel_error(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def poisoned(shape, dtype):
    return torch.full(shape, float("nan"), dtype=dtype, device="cuda")


def tolerance(dtype, poly_degree=None):
    """Relative error a checked result may have: bf16/f16 outputs round at
    4e-3; the polynomial exp adds 4x its fit error of 2^-f (2e-4 cubic,
    4e-3 quadratic), as test/Python/attention.py allows."""
    base = 1e-4 if dtype == torch.float32 else 1e-2
    return base + {None: 0.0, 3: 8e-4, 2: 1.6e-2}[poly_degree]


def record(results, name, label, ok, errors):
    """Prints and keeps one check; returns 1 when it failed."""
    results.append({"function": name, "shape": label, "ok": ok, **errors})
    print(f"{'ok  ' if ok else 'FAIL'} {name:16s} {label:24s} {errors}",
          flush=True)
    return int(not ok)


def check(kernels, name, q, k, v, causal, out_dv, with_lse, scale=None,
          limit=1e-2, exp=None):
    b, hq, lq, _ = q.shape
    out = poisoned((b, hq, lq, out_dv), q.dtype)
    outputs = [out]
    if with_lse:
        lse = poisoned((b, hq, lq), torch.float32)
        outputs.append(lse)
    kernels.call(name, [q, k, v], outputs)
    torch.cuda.synchronize()
    ref, ref_lse = reference(q, k, v, causal, scale, exp)
    errors = {"out": rel_error(out, ref)}
    if exp is not None:  # how far the polynomial's result is from exp's
        errors["vs_exp"] = rel_error(out, reference(q, k, v, causal, scale)[0])
    ok = not torch.isnan(out).any().item() and errors["out"] < limit
    if with_lse:
        finite = torch.isfinite(ref_lse)
        same_inf = bool((torch.isinf(lse) == ~finite).all().item())
        errors["lse"] = (rel_error(lse[finite], ref_lse[finite])
                         if finite.any() else 0.0)
        ok = ok and same_inf and errors["lse"] < limit / 10
    return ok, errors


def correctness(kernels, only=""):
    torch.manual_seed(0)
    bf16, f16, f32 = torch.bfloat16, torch.float16, torch.float32
    rnd = lambda *s, dtype=bf16: torch.randn(*s, device="cuda", dtype=dtype)
    cases = []
    for lk in (1, 37, 1000, 8197):
        cases.append(("decode", f"Lk={lk}", (rnd(1, 32, 1, 128), rnd(1, 8, lk, 128),
                                             rnd(1, 8, lk, 128)), False, 128, False))
    for lq, lk in ((1, 1), (100, 100), (300, 300), (1024, 1024), (100, 300),
                   (300, 100), (17, 2000)):
        for causal in (False, True):
            name = "prefill_causal" if causal else "prefill"
            cases.append((name, f"B=2 Lq={lq} Lk={lk}",
                          (rnd(2, 32, lq, 128), rnd(2, 32, lk, 128),
                           rnd(2, 32, lk, 128)), causal, 128, False))
    for lq, lk in ((100, 100), (300, 1000)):
        for causal in (False, True):
            name = "prefill_poly_causal" if causal else "prefill_poly"
            cases.append((name, f"B=2 Lq={lq} Lk={lk}",
                          (rnd(2, 32, lq, 128), rnd(2, 32, lk, 128),
                           rnd(2, 32, lk, 128)), causal, 128, False))
    for lq, lk in ((1, 5), (3, 700), (50, 50), (8, 3000)):
        cases.append(("gqa_f16_lse", f"Lq={lq} Lk={lk}",
                      (rnd(2, 8, lq, 64, dtype=f16), rnd(2, 2, lk, 64, dtype=f16),
                       rnd(2, 2, lk, 32, dtype=f16)), True, 32, True))
    for lq, lk in ((1, 10), (33, 33), (5, 900)):
        cases.append(("simt_poly", f"Lq={lq} Lk={lk}",
                      (rnd(2, 4, lq, 40, dtype=f32), rnd(2, 2, lk, 40, dtype=f32),
                       rnd(2, 2, lk, 24, dtype=f32)), True, 24, True))
        cases.append(("simt_f32", f"Lq={lq} Lk={lk}",
                      (rnd(2, 4, lq, 40, dtype=f32), rnd(2, 2, lk, 40, dtype=f32),
                       rnd(2, 2, lk, 24, dtype=f32)), True, 24, True))
    results, failed = sparq_correctness(kernels, only)
    more, more_failed = quantized_correctness(kernels, only)
    results += more
    failed += more_failed
    for name, label, (q, k, v), causal, dv, lse in cases:
        if only not in name:
            continue
        scale = 0.2 if name == "gqa_f16_lse" else None
        # The quadratic on CUDA cores, the cubic on tensor cores.
        degree = (2 if name.startswith("simt") else 3) if "poly" in name else None
        exp = partial(poly_exp_torch, degree=degree) if degree else None
        try:
            ok, errors = check(kernels, name, q, k, v, causal, dv, lse, scale,
                               tolerance(q.dtype, degree), exp)
        except Exception as e:  # report and go on: one run must say it all
            ok, errors = False, {"exception": str(e)}
        failed += record(results, name, label, ok, errors)
    return results, failed


def numpy64(t):
    return t.double().cpu().numpy()


# The attn.sparq functions of kernels.mlir: their attributes, and whether
# they take key_transposed and value_mean.
SPARQ = {
    "sparq_decode": dict(rank=16, top_k=128, group_shared=True,
                         bandwidth_form=True),
    "sparq_heads": dict(rank=8, top_k=64, local_window=16, causal=True),
    "sparq_f16_transposed": dict(rank=8, top_k=32, bandwidth_form=True),
    "sparq_poly": dict(rank=8, top_k=20, local_window=4, group_shared=True,
                       causal=True, exp=partial(poly_exp64, degree=3,
                                                n_max=12)),
}


def sparq_inputs(name, q, k, v):
    if not SPARQ[name].get("bandwidth_form"):
        return [q, k, v]
    value_mean = v.float().mean(dim=2).to(v.dtype)
    return [q, k, v, k.transpose(2, 3).contiguous(), value_mean]


def sparq_reference(name, inputs):
    """ALGORITHMS.md §3 in float64 NumPy (attn_mlir.reference.sparq)."""
    options = {k: v for k, v in SPARQ[name].items() if k != "bandwidth_form"}
    value_mean = (numpy64(inputs[4]) if SPARQ[name].get("bandwidth_form")
                  else None)
    return torch.from_numpy(sparq_numpy(
        *(numpy64(t) for t in inputs[:3]), value_mean=value_mean, **options))


def sparq_correctness(kernels, only=""):
    rnd = lambda *s, dtype: torch.randn(*s, device="cuda", dtype=dtype)
    bf16, f16, f32 = torch.bfloat16, torch.float16, torch.float32
    cases = [("sparq_decode", lk, (rnd(1, 32, 1, 128, dtype=bf16),
                                   rnd(1, 8, lk, 128, dtype=bf16),
                                   rnd(1, 8, lk, 128, dtype=bf16)))
             for lk in (1, 100, 2048, 5000, 20000)]
    cases += [("sparq_heads", f"Lq={lq} Lk={lk}",
               (rnd(2, 8, lq, 64, dtype=f16), rnd(2, 2, lk, 64, dtype=f16),
                rnd(2, 2, lk, 64, dtype=f16)))
              for lq, lk in ((1, 10), (4, 300), (3, 4500))]
    cases += [("sparq_poly", f"Lq={lq} Lk={lk}",
               (rnd(1, 4, lq, 40, dtype=f32), rnd(1, 2, lk, 40, dtype=f32),
                rnd(1, 2, lk, 24, dtype=f32)))
              for lq, lk in ((1, 7), (5, 50), (2, 3000))]
    cases += [("sparq_f16_transposed", lk,
               (rnd(1, 8, 1, 64, dtype=f16), rnd(1, 2, lk, 64, dtype=f16),
                rnd(1, 2, lk, 64, dtype=f16)))
              for lk in (1001, 3000, 9000)]
    # Ties (drawn last, so that the cases above keep their inputs): all keys
    # but every 97th are zero, so that most of the top k are equal and chosen
    # by position.
    sparse_keys = torch.zeros(1, 8, 6000, 128, device="cuda", dtype=bf16)
    sparse_keys[:, :, ::97] = rnd(1, 8, len(range(0, 6000, 97)), 128,
                                  dtype=bf16)
    cases += [("sparq_decode", "Lk=6000 ties",
               (rnd(1, 32, 1, 128, dtype=bf16), sparse_keys,
                rnd(1, 8, 6000, 128, dtype=bf16)))]
    results, failed = [], 0
    for name, label, (q, k, v) in cases:
        if only not in name:
            continue
        label = label if isinstance(label, str) else f"Lk={label}"
        try:
            inputs = sparq_inputs(name, q, k, v)
            out = poisoned(q.shape[:3] + v.shape[3:], q.dtype)
            kernels.call(name, inputs, [out])
            torch.cuda.synchronize()
            err = rel_error(out.cpu(), sparq_reference(name, inputs))
            exp = SPARQ[name].get("exp")
            limit = tolerance(q.dtype, exp.keywords["degree"] if exp else None)
            ok = not torch.isnan(out).any().item() and err < limit
            errors = {"out": err}
        except Exception as e:  # report and go on: one run must say it all
            ok, errors = False, {"exception": str(e)}
        failed += record(results, name, label, ok, errors)
    return results, failed


def time_ms(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def sdpa(backend, q, k, v, causal):
    def run():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(
                q, k, v, is_causal=causal, enable_gqa=k.shape[1] != q.shape[1])
    return run


def copy_bandwidth():
    src = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), 10)
    return 2 * src.numel() / ms / 1e9  # TB/s: bytes read plus written


class Rotation:
    """Calls that cycle through input sets, so that no set stays in L2."""

    def __init__(self, inputs):
        self.inputs, self.next = inputs, 0

    def reset(self):
        self.next = 0

    def __call__(self, fn):
        def run():
            x = self.inputs[self.next % len(self.inputs)]
            self.next += 1
            return fn(x)
        return run


def measure(kernels, name, make_inputs, causal, units, reps, sets):
    """Times our kernel, cuDNN and FLASH on the same rotating input sets;
    checks each result on the first set against the float32 reference
    (restricted to a few heads when it would not fit)."""
    inputs = [make_inputs() for _ in range(sets)]
    q0, k0, v0 = inputs[0]
    out = torch.full_like(q0, float("nan"))  # every element must be written
    row = {}
    rotating = Rotation(inputs)
    ours = rotating(lambda x: kernels.call(name, list(x), [out]))

    # Query heads 0 and 1 and the key/value heads they read.
    heads = slice(0, 2)
    kv_heads = slice(0, 1) if k0.shape[1] < q0.shape[1] else heads
    ref, _ = reference(q0[:1, heads], k0[:1, kv_heads], v0[:1, kv_heads],
                       causal)
    contenders = [("attn", ours)]
    for label, backend in (("cuDNN", SDPBackend.CUDNN_ATTENTION),
                           ("FLASH", SDPBackend.FLASH_ATTENTION)):
        contenders.append((label, rotating(
            lambda x, backend=backend: sdpa(backend, *x, causal)())))
    for label, fn in contenders:
        try:
            rotating.reset()
            result = fn()
            torch.cuda.synchronize()
            got = out if label == "attn" else result
            err = rel_error(got[:1, heads], ref)
            unwritten = int(torch.isnan(got).sum().item())
            if unwritten:
                raise RuntimeError(f"{unwritten} NaN outputs, first at "
                                   f"{torch.isnan(got).nonzero()[0].tolist()}")
            ms = time_ms(fn, reps)
            row[label] = {"ms": ms, "rate": units / ms / 1e9, "rel_err": err}
        except Exception as e:
            row[label] = {"error": str(e).splitlines()[0][:120]}
    return row


def time_graph_ms(kernels, fn, reps, calls=20):
    """Device time per call of `fn`: `calls` calls captured in one CUDA
    graph, the median of `reps` replays divided by `calls`. Unlike time_ms
    it leaves out the host's cost of issuing a call (Python, ctypes,
    PyTorch's dispatch), which is tens of microseconds, as a serving loop
    that replays graphs does."""
    # Warm-up calls on the capture stream fill the runtime's per-stream
    # cache of device blocks, so that the captured calls allocate nothing.
    main_stream = torch.cuda.current_stream()
    capture = torch.cuda.Stream()
    capture.wait_stream(main_stream)
    graph = torch.cuda.CUDAGraph()
    try:
        kernels.use_stream(capture)
        with torch.cuda.stream(capture):
            for _ in range(3):
                fn()
        capture.synchronize()
        with torch.cuda.graph(graph, stream=capture,
                              capture_error_mode="thread_local"):
            for _ in range(calls):
                fn()
    finally:
        kernels.use_stream(main_stream)
    return time_ms(graph.replay, reps) / calls


def time_decode(kernels, row, label, ours, cudnn, dense, reps):
    """Times `ours` next to cuDNN's and our dense decode into `row`, with
    the speedups: per call as issued from Python (ms), and as replayed from
    a CUDA graph (graph ms)."""
    for name, fn in ((label, ours), ("cuDNN", cudnn), ("attn dense", dense)):
        row[name + " ms"] = time_ms(fn, reps)
        row[name + " graph ms"] = time_graph_ms(kernels, fn, reps)
    for unit in ("ms", "graph ms"):
        for other in ("cuDNN", "attn dense"):
            row[f"speedup vs {other} ({unit})"] = (row[f"{other} {unit}"] /
                                                   row[f"{label} {unit}"])


def sparq_bench(kernels, reps):
    """SparQ decode (B=1, Hq=32, Hkv=8, D=128, bf16, r=16, k=128,
    group-shared, bandwidth form) next to cuDNN's and our dense decode on
    the same q, K, V; the error is against the NumPy SparQ reference."""
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    rows = []
    for lk in (32768, 131072):
        sets = 4
        inputs = [sparq_inputs("sparq_decode", rnd(1, 32, 1, 128),
                               rnd(1, 8, lk, 128), rnd(1, 8, lk, 128))
                  for _ in range(sets)]
        out = torch.full_like(inputs[0][0], float("nan"))
        rotating = Rotation(inputs)
        ours = rotating(lambda x: kernels.call("sparq_decode", x, [out]))
        dense = rotating(lambda x: kernels.call("decode", x[:3], [out]))
        cudnn = rotating(lambda x: sdpa(SDPBackend.CUDNN_ATTENTION, *x[:3],
                                        False)())
        row = {"case": f"sparq decode Lk={lk // 1024}k"}
        try:
            rotating.reset()
            ours()
            torch.cuda.synchronize()
            row["rel_err"] = rel_error(out.cpu(),
                                       sparq_reference("sparq_decode",
                                                       inputs[0]))
            dense_ref, _ = reference(*inputs[0][:3], False)
            row["rel_err_vs_dense"] = rel_error(out, dense_ref)
            time_decode(kernels, row, "sparq", ours, cudnn, dense, reps)
        except Exception as e:
            row["error"] = str(e).splitlines()[0][:160]
        print(row, flush=True)
        rows.append(row)
    return rows


# attn.quantized_sdpa functions of kernels.mlir: (bits, group size, qk_int8,
# pv_int8, causal, polynomial degree or None).
QUANTIZED = {
    "quantized_int4": (4, 32, False, False, False, None),
    "quantized_prefill": (4, 32, True, False, True, 3),
    "quantized_prefill_int8": (8, 128, True, True, True, 3),
    "quantized_int8_g32_lse": (8, 32, True, True, False, None),
    "quantized_int2_lse": (2, 16, False, False, True, None),
    "quantized_int8_lse": (8, 64, True, True, False, None),
    "quantized_group12": (4, 12, False, False, False, None),
    "quantized_int4_qk8_lse": (4, 32, True, False, True, 3),
    "quantized_int4_pv8_g64": (4, 64, False, True, False, None),
}


def quantize_torch(x, axis, group, bits):
    """attn.quantize (ALGORITHMS.md §5) on the GPU, for a length along
    `axis` that is a multiple of `group`: [codes, scale(, step, zero)]."""
    g = x.float().movedim(axis, -1).unflatten(-1, (-1, group))
    s1 = g.abs().amax(-1) / 127
    safe = torch.where(s1 > 0, s1, torch.ones_like(s1))[..., None]
    q8 = torch.where(s1[..., None] > 0, torch.round(g / safe),
                     torch.zeros_like(g)).clamp(-127, 127)
    extra = []
    if bits != 8:
        z = q8.amin(-1)
        s2 = torch.clamp(torch.ceil((q8.amax(-1) - z) / (2 ** bits - 1)), min=1)
        q8 = torch.round((q8 - z[..., None]) / s2[..., None]).clamp(
            0, 2 ** bits - 1)
        extra = [s2, z]
    codes = q8.flatten(-2).movedim(-1, axis).to(torch.int32)
    if bits == 8:
        packed = codes.to(torch.int8)
    else:
        per = 8 // bits
        c = codes.unflatten(-1, (-1, per))
        packed = sum(c[..., j] << (bits * j) for j in range(per))
        packed = packed.to(torch.uint8).view(torch.int8)
    back = lambda a: a.movedim(-1, axis).contiguous()
    return ([packed.contiguous(), back(s1)]
            + [back(a).to(torch.int8) for a in extra])


def dequantize_torch(layout, axis, group, bits, shape):
    """attn.dequantize (ALGORITHMS.md §5) of `layout` on the GPU, float32."""
    expand = lambda a: a.repeat_interleave(group, dim=axis).narrow(
        axis, 0, shape[axis])
    codes = layout[0]
    if bits == 8:
        q8 = codes.float()
    else:
        per = 8 // bits
        u = codes.view(torch.uint8).to(torch.int32)
        code = torch.stack([(u >> (bits * j)) & ((1 << bits) - 1)
                            for j in range(per)], -1).flatten(-2)
        code = code[..., :shape[-1]]
        step, zero = (expand(a.to(torch.int32)) for a in layout[2:4])
        q8 = (code * step + zero).clamp(-127, 127).float()
    return q8 * expand(layout[1])


def quantized_reference(name, q, k_layout, v_layout, k_shape, v_shape,
                        dequantize=None):
    """The float32 reference of attn.quantized_sdpa on the same codes: K and
    V dequantized (NumPy's attn.dequantize unless `dequantize` is given),
    q through INT8 groups when qk_int8, weights not rounded: the output, the
    lse and, with pv_int8, the expected norm of the weights' rounding error
    (weight_rounding_noise; else 0)."""
    bits, group, qk_int8, pv_int8, causal, degree = QUANTIZED[name]
    if dequantize is None:
        pad = [None, None] if bits == 8 else []
        host = lambda ts: [t.cpu().numpy() for t in ts]

        def dequantize(layout, axis, shape):
            x = dequantize_numpy(*host(layout), *pad, axis, group, bits, shape)
            return torch.from_numpy(x).cuda()
    k_hat = dequantize(k_layout, 3, k_shape)
    v_hat = dequantize(v_layout, 2, v_shape)
    if qk_int8:
        codes, scale = quantize_numpy(q.float().cpu().numpy(), 3, group, 8)
        q = torch.from_numpy(dequantize_numpy(codes, scale, None, None, 3,
                                              group, 8, q.shape)).cuda()
    exp = partial(poly_exp_torch, degree=degree) if degree else None
    out, lse = reference(q, k_hat, v_hat, causal, None, exp)
    noise = (weight_rounding_noise(q, k_hat, v_hat, causal, exp)
             if pv_int8 else 0.0)
    return out, lse, noise


def quantized_tolerance(name, dtype, ref, noise):
    """tolerance() plus, with pv_int8, three times the expected relative
    error of the weights' rounding (`noise`, the expected norm of the error,
    against the norm of the reference output `ref`)."""
    degree = QUANTIZED[name][5]
    return tolerance(dtype, degree) + 3 * noise / ref.float().norm().item()


def quantized_correctness(kernels, only=""):
    """Each attn.quantized_sdpa function on codes that NumPy's attn.quantize
    made from random K and V, against quantized_reference."""
    torch.manual_seed(1)
    bf16, f16 = torch.bfloat16, torch.float16
    shapes = {  # (B, Hq, Hkv, D, Dv, dtype), then (Lq, Lk) pairs
        "quantized_int4": ((1, 32, 8, 128, 128, bf16),
                           ((1, 1), (1, 100), (1, 5000), (2, 3000), (3, 700),
                            (40, 333), (1, 3000, "edge"), (2, 700, "edge"))),
        "quantized_prefill": ((2, 32, 32, 128, 128, bf16),
                              ((1, 64), (8, 300), (100, 100), (300, 1000))),
        "quantized_prefill_int8": ((2, 32, 32, 128, 128, bf16),
                                   ((1, 64), (8, 300), (100, 100),
                                    (300, 1000), (700, 700), (129, 4000))),
        "quantized_int8_g32_lse": ((2, 8, 2, 128, 256, f16),
                                   ((1, 1), (3, 77), (40, 1000), (300, 300),
                                    (17, 2049))),
        "quantized_int2_lse": ((2, 8, 2, 64, 32, f16),
                               ((1, 5), (3, 700), (50, 50), (8, 3000))),
        "quantized_int8_lse": ((1, 4, 2, 64, 64, bf16),
                               ((1, 10), (33, 33), (5, 900))),
        "quantized_group12": ((1, 4, 2, 48, 32, bf16),
                              ((1, 10), (7, 500), (20, 130))),
        "quantized_int4_qk8_lse": ((1, 6, 2, 64, 128, f16),
                                   ((1, 1), (1, 77), (2, 1000), (2, 4099),
                                    (3, 640))),
        "quantized_int4_pv8_g64": ((2, 8, 1, 256, 64, bf16),
                                   ((1, 3), (1, 1000), (1, 6000), (2, 500))),
    }
    results, failed = [], 0
    for name, ((b, hq, hkv, d, dv, dtype), lengths) in shapes.items():
        if only not in name:
            continue
        bits, group, _, _, _, _ = QUANTIZED[name]
        for lq, lk, *edge in lengths:
            label = f"Lq={lq} Lk={lk}" + (" edge parameters" if edge else "")
            try:
                q = torch.randn(b, hq, lq, d, device="cuda", dtype=dtype)
                k = torch.randn(b, hkv, lk, d)
                v = torch.randn(b, hkv, lk, dv)
                k_layout = [torch.from_numpy(a).cuda().contiguous() for a in
                            quantize_numpy(k.numpy(), 3, group, bits)]
                v_layout = [torch.from_numpy(a).cuda().contiguous() for a in
                            quantize_numpy(v.numpy(), 2, group, bits)]
                if edge:
                    # Codes and parameters attn.quantize never writes: any
                    # code, and for an eighth of the groups any step
                    # (negative ones too) and zero points down to -128, so
                    # that both clamps of q8' act.
                    for layout in (k_layout, v_layout):
                        layout[0].copy_(torch.randint_like(
                            layout[0], -128, 128))
                        odd = torch.rand(layout[2].shape, device="cuda") < 1 / 8
                        layout[2].copy_(torch.where(
                            odd, torch.randint_like(layout[2], -128, 128),
                            layout[2]))
                        layout[3].copy_(torch.where(
                            odd, torch.randint_like(layout[3], -128, -100),
                            layout[3]))
                out = poisoned((b, hq, lq, dv), dtype)
                outputs = [out]
                with_lse = name.endswith("_lse")
                if with_lse:
                    lse = poisoned((b, hq, lq), torch.float32)
                    outputs.append(lse)
                kernels.call(name, [q] + k_layout + v_layout, outputs)
                torch.cuda.synchronize()
                ref, ref_lse, noise = quantized_reference(
                    name, q, k_layout, v_layout, k.shape, v.shape)
                limit = quantized_tolerance(name, dtype, ref, noise)
                errors = {"out": rel_error(out, ref)}
                ok = not torch.isnan(out).any().item() and errors["out"] < limit
                if with_lse:
                    finite = torch.isfinite(ref_lse)
                    ok = ok and bool((torch.isinf(lse) == ~finite).all().item())
                    errors["lse"] = rel_error(lse[finite], ref_lse[finite])
                    ok = ok and errors["lse"] < limit / 10
                if name == "quantized_int4" and lk == 5000:
                    # The bench's GPU dequantize against NumPy's.
                    mine = dequantize_torch(k_layout, 3, group, bits, k.shape)
                    theirs = dequantize_numpy(
                        *[t.cpu().numpy() for t in k_layout], 3, group, bits,
                        k.shape)
                    errors["dequantize_torch"] = rel_error(
                        mine, torch.from_numpy(theirs).cuda())
                    ok = ok and errors["dequantize_torch"] == 0.0
            except Exception as e:  # report and go on
                ok, errors = False, {"exception": str(e)}
            failed += record(results, name, label, ok, errors)
    return results, failed


def quantized_bench(kernels, reps):
    """INT4-KV decode (B=1, Hq=32, Hkv=8, D=128, groups of 32, bf16 queries)
    next to our bf16 dense decode and cuDNN's on the K and V it was
    quantized from; TurboAttention's prefill (cubic polynomial, causal;
    B=4, H=32, D=128) next to our bf16 prefill, on an INT4 cache with INT8
    queries and on an INT8 cache with both products in INT8.
    Errors are against quantized_reference (GPU dequantize) on the same
    codes; 'vs unquantized' is the error against dense attention."""
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    rows = []
    for lk in (32768, 131072):
        sets = 4 if lk <= 32768 else 2
        inputs = []
        for _ in range(sets):
            q, k, v = rnd(1, 32, 1, 128), rnd(1, 8, lk, 128), rnd(1, 8, lk, 128)
            inputs.append((q, k, v, quantize_torch(k, 3, 32, 4)
                           + quantize_torch(v, 2, 32, 4)))
        out = torch.full_like(inputs[0][0], float("nan"))
        rotating = Rotation(inputs)
        ours = rotating(lambda x: kernels.call("quantized_int4",
                                               [x[0]] + x[3], [out]))
        dense = rotating(lambda x: kernels.call("decode", x[:3], [out]))
        cudnn = rotating(lambda x: sdpa(SDPBackend.CUDNN_ATTENTION, *x[:3],
                                        False)())
        row = {"case": f"int4-KV decode Lk={lk // 1024}k"}
        try:
            rotating.reset()
            ours()
            torch.cuda.synchronize()
            q, k, v, layout = inputs[0]
            deq = lambda lay, axis, shape: dequantize_torch(lay, axis, 32, 4,
                                                            shape)
            ref, _, _ = quantized_reference("quantized_int4", q, layout[:4],
                                            layout[4:], k.shape, v.shape, deq)
            row["rel_err"] = rel_error(out, ref)
            row["rel_err vs unquantized"] = rel_error(
                out, reference(q, k, v, False)[0])
            time_decode(kernels, row, "int4", ours, cudnn, dense, reps)
        except Exception as e:
            row["error"] = str(e).splitlines()[0][:160]
        print(row, flush=True)
        rows.append(row)
    prefills = (("int4+qk_int8+poly", "quantized_prefill"),
                ("int8+qk_int8+pv_int8+poly", "quantized_prefill_int8"))
    for length in (4096, 16384):
        q, k, v = (rnd(4, 32, length, 128) for _ in range(3))
        for label, name in prefills:
            rows.append(quantized_prefill_row(kernels, reps, label, name,
                                              q, k, v))
    return rows


def quantized_prefill_row(kernels, reps, label, name, q, k, v):
    """One quantized prefill next to our bf16 prefill (with ex2 and with the
    polynomial) on the K and V it was quantized from."""
    bits, group = QUANTIZED[name][:2]
    layout = (quantize_torch(k, 3, group, bits)
              + quantize_torch(v, 2, group, bits))
    keys = len(layout) // 2
    out = torch.full_like(q, float("nan"))
    row = {"case": f"{label} prefill L={q.shape[2] // 1024}k causal"}
    try:
        kernels.call(name, [q] + layout, [out])
        torch.cuda.synchronize()
        one = lambda t: t[:1, :2].contiguous()
        deq = lambda lay, axis, shape: dequantize_torch(
            [one(t) for t in lay], axis, group, bits,
            (1, 2) + tuple(shape[2:]))
        ref, _, noise = quantized_reference(name, one(q), layout[:keys],
                                            layout[keys:], k.shape, v.shape,
                                            deq)
        row["rel_err"] = rel_error(out[:1, :2], ref)
        if noise:
            row["expected rel_err of the weights' rounding"] = (
                noise / ref.float().norm().item())
        for what, kernel, args in (
                ("quantized", name, [q] + layout),
                ("attn bf16", "prefill_causal", [q, k, v]),
                ("attn bf16 poly", "prefill_poly_causal", [q, k, v])):
            row[what + " ms"] = time_ms(
                lambda kernel=kernel, args=args: kernels.call(kernel, args,
                                                              [out]), reps)
        row["speedup vs attn bf16"] = (row["attn bf16 ms"]
                                       / row["quantized ms"])
    except Exception as e:
        row["error"] = str(e).splitlines()[0][:160]
    print(row, flush=True)
    return row


def poly_bench(kernels, reps):
    """Our bf16 prefill (B=4, H=32, D=128) with the polynomial exp next to
    the same kernels with ex2.approx, on the same inputs."""
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    rows = []
    for length in (4096, 16384):
        for causal in (False, True):
            q, k, v = (rnd(4, 32, length, 128) for _ in range(3))
            out = torch.empty_like(q)
            suffix = "_causal" if causal else ""
            row = {"case": f"prefill poly L={length // 1024}k"
                           f"{' causal' if causal else ''}"}
            for label, name in (("exp2", "prefill" + suffix),
                                ("poly", "prefill_poly" + suffix)):
                row[label + " ms"] = time_ms(
                    lambda name=name: kernels.call(name, [q, k, v], [out]),
                    reps)
            row["poly speedup"] = row["exp2 ms"] / row["poly ms"]
            print(row, flush=True)
            rows.append(row)
    return rows


def profile(kernels, name):
    """Kernel times of `name` at its largest benchmarked shape, or for
    HyperAttention at the length given after a colon (hyper_causal_d64:32768)."""
    name, _, length = name.partition(":")
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    if name.startswith("sparq"):
        inputs = sparq_inputs(name, rnd(1, 32, 1, 128), rnd(1, 8, 131072, 128),
                              rnd(1, 8, 131072, 128))
        out = torch.empty_like(inputs[0])
    elif name == "quantized_int4":
        k, v = rnd(1, 8, 131072, 128), rnd(1, 8, 131072, 128)
        inputs = ([rnd(1, 32, 1, 128)] + quantize_torch(k, 3, 32, 4)
                  + quantize_torch(v, 2, 32, 4))
        out = torch.empty_like(inputs[0])
    elif name.startswith("hyper_causal_d"):
        d = int(name[len("hyper_causal_d"):])
        inputs = [rnd(1, 32, int(length or 32768), d) for _ in range(3)]
        out = torch.empty_like(inputs[0])
    else:
        raise SystemExit(f"no profile shape for {name}")
    for _ in range(3):
        kernels.call(name, inputs, [out])
    torch.cuda.synchronize()
    from torch.profiler import ProfilerActivity
    with torch.profiler.profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            kernels.call(name, inputs, [out])
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=70))
    return 0


def scan(kernels, name):
    """Graph time per call and kernel times of `name` (quantized_int4) by
    key length: how much of a call depends on the length."""
    if name != "quantized_int4":
        raise SystemExit(f"no scan for {name}")
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    from torch.profiler import ProfilerActivity
    for lk in (4096, 16384, 32768, 65536, 131072, 262144):
        inputs = []
        for _ in range(2):
            k, v = rnd(1, 8, lk, 128), rnd(1, 8, lk, 128)
            inputs.append([rnd(1, 32, 1, 128)] + quantize_torch(k, 3, 32, 4)
                          + quantize_torch(v, 2, 32, 4))
        out = torch.empty_like(inputs[0][0])
        call = Rotation(inputs)(lambda x: kernels.call(name, x, [out]))
        graph_us = 1000 * time_graph_ms(kernels, call, 50)
        for _ in range(3):
            call()
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[ProfilerActivity.CUDA]) as p:
            for _ in range(10):
                call()
            torch.cuda.synchronize()
        kernel_us = {e.key[len(name) + 1:]: round(e.device_time, 1)
                     for e in p.key_averages() if e.key.startswith(name)}
        print({"keys": lk, "graph us": round(graph_us, 1), **kernel_us},
              flush=True)
    return 0


def run_check(rows, case, check):
    """One check: `check(row)` fills its errors and "ok"; an exception fails
    it. The row is printed and kept in `rows`."""
    row = {"case": case}
    try:
        check(row)
    except Exception as e:
        row["error"], row["ok"] = str(e).splitlines()[0][:120], False
    print(row, flush=True)
    rows.append(row)


def quantize_checks(kernels):
    """attn.quantize on the GPU (INT4, groups of 32, keys along D and values
    along the keys) against the NumPy reference of ALGORITHMS.md §5 on the
    same bf16 inputs: packed codes, steps and zero points exactly, scales
    to float32 rounding."""
    torch.manual_seed(3)
    rows = []
    for name, axis in (("quantize_keys", 3), ("quantize_values", 2)):
        for length in (64, 4096):
            x = torch.randn(1, 8, length, 128, device="cuda",
                            dtype=torch.bfloat16)
            want = [torch.from_numpy(a).cuda() for a in quantize_numpy(
                x.float().cpu().numpy(), axis, 32, 4)]
            dtypes = (torch.int8, torch.float32, torch.int8, torch.int8)
            got = [torch.full(w.shape, -1, device="cuda", dtype=t)
                   for w, t in zip(want, dtypes)]
            def check(row):
                kernels.call(name, [x], got)
                torch.cuda.synchronize()
                as_bytes = lambda t: t.to(torch.int64) & 0xFF
                row["code mismatches"] = int(
                    (as_bytes(got[0]) != as_bytes(want[0])).sum().item())
                row["step/zero mismatches"] = sum(
                    int((g.to(torch.int64) != w.to(torch.int64)).sum().item())
                    for g, w in zip(got[2:], want[2:]))
                row["scale err"] = rel_error(got[1], want[1])
                row["ok"] = (row["code mismatches"] == 0
                             and row["step/zero mismatches"] == 0
                             and row["scale err"] < 1e-6)
            run_check(rows, f"{name} L={length}", check)
    # attn.topk against torch.topk (sorted, largest first; random floats
    # have no ties).
    for length in (16, 5000):
        x = torch.randn(8, length, device="cuda")
        values = torch.full((8, 16), float("nan"), device="cuda")
        indices = torch.full((8, 16), -1, device="cuda", dtype=torch.int64)
        def check(row):
            kernels.call("topk", [x], [values, indices])
            torch.cuda.synchronize()
            want = torch.topk(x, 16, dim=-1)
            row["ok"] = (bool(torch.equal(values, want.values))
                         and bool(torch.equal(indices, want.indices)))
        run_check(rows, f"topk L={length}", check)
    return rows


def mask_checks(kernels):
    """attn.sdpa with masks against the float32 reference with the mask
    applied: an i1 keep-mask on the tensor cores (some rows fully masked:
    output 0, lse -inf) and an additive float mask (with -inf entries) on
    the CUDA cores, both at decode and prefill lengths."""
    torch.manual_seed(2)
    rows = []
    cases = [("masked_bool", lq, lk) for lq, lk in ((1, 700), (300, 1000))]
    cases += [("masked_additive_f32", lq, lk) for lq, lk in ((1, 300), (33, 500))]
    for name, lq, lk in cases:
        boolean = name == "masked_bool"
        dtype = torch.bfloat16 if boolean else torch.float32
        hq, hkv, d, dv = (8, 4, 64, 64) if boolean else (4, 2, 40, 24)
        rnd = lambda *s: torch.randn(*s, device="cuda", dtype=dtype)
        q, k, v = rnd(2, hq, lq, d), rnd(2, hkv, lk, d), rnd(2, hkv, lk, dv)
        if boolean:
            mask = torch.rand(1, hq, lq, lk, device="cuda") < 0.7
            mask[:, :, 1::7] = False  # rows that see no key
            additive = torch.zeros(mask.shape, device="cuda").masked_fill(
                ~mask, float("-inf"))
        else:
            mask = torch.randn(lq, lk, device="cuda")
            mask[:, ::3] = float("-inf")
            additive = mask
        out = torch.full((2, hq, lq, dv), float("nan"), device="cuda",
                         dtype=dtype)
        lse = torch.full((2, hq, lq), float("nan"), device="cuda")
        def check(row):
            kernels.call(name, [q, k, v, mask], [out, lse])
            torch.cuda.synchronize()
            group = hq // hkv
            kf = k.float().repeat_interleave(group, dim=1)
            vf = v.float().repeat_interleave(group, dim=1)
            s = q.float() @ kf.transpose(-1, -2) / math.sqrt(d) + additive
            ref_lse = torch.logsumexp(s, dim=-1)
            p = torch.exp(s - torch.where(torch.isinf(ref_lse), 0,
                                          ref_lse)[..., None])
            ref = p @ vf
            finite = torch.isfinite(ref_lse)
            row["out"] = rel_error(out, ref)
            row["lse"] = rel_error(lse[finite], ref_lse[finite])
            row["ok"] = (bool(torch.equal(torch.isfinite(lse), finite))
                         and not torch.isnan(out).any().item()
                         and row["out"] < tolerance(dtype)
                         and row["lse"] < 1e-4)
        run_check(rows, f"{name} Lq={lq} Lk={lk}", check)
    return rows


def hyper_checks(kernels):
    """HyperAttention (bucket 256, samples 256, 7 projections, min-seq-len
    4096, seed 0) against the NumPy reference of ALGORITHMS.md §4 on the
    same bf16 inputs: causal with GQA and lse at lengths of one and two
    recursion levels (one odd, for the padding row), and the non-causal
    core. Returns rows with the relative errors and pass/fail."""
    torch.manual_seed(1)
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    rows = []
    cases = [("hyper_check", n, True) for n in (8192, 8269, 12000)]
    cases.append(("hyper_core_check", 8192, False))
    for name, n, causal in cases:
        hq, hkv, d = (8, 4, 64) if causal else (4, 4, 128)
        q, k, v = rnd(1, hq, n, d), rnd(1, hkv, n, d), rnd(1, hkv, n, d)
        out = torch.full_like(q, float("nan"))
        outputs = [out]
        if causal:
            lse = torch.full((1, hq, n), float("nan"), device="cuda")
            outputs.append(lse)
        def check(row):
            kernels.call(name, [q, k, v], outputs)
            torch.cuda.synchronize()
            ref_out, ref_lse = hyper_numpy(
                *(x.float().cpu().numpy() for x in (q, k, v)), causal=causal)
            ref_out = torch.from_numpy(ref_out).cuda()
            row["rel_err"] = rel_error(out, ref_out)
            if causal:
                row["lse_err"] = rel_error(lse, torch.from_numpy(ref_lse).cuda())
            # bf16 output rounding (4e-3) plus the sort: a row whose hash
            # sits on a hyperplane (|x.r| ~ 1e-7) may land in a neighbouring
            # block in float32 against float64.
            row["ok"] = (not torch.isnan(out).any().item()
                         and row["rel_err"] < 1e-2
                         and row.get("lse_err", 0) < 1e-3)
        run_check(rows, f"{name} L={n}", check)
    return rows


def hyper_bench(kernels, reps):
    """HyperAttention causal (B=1, H=32, bf16, D=64 and 128) next to cuDNN's
    exact causal attention on the same inputs, with the error of
    HyperAttention against cuDNN's result."""
    rnd = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    rows = []
    for d in (64, 128):
        for n in (32768, 65536, 131072):
            q, k, v = rnd(1, 32, n, d), rnd(1, 32, n, d), rnd(1, 32, n, d)
            out = torch.full_like(q, float("nan"))
            name = f"hyper_causal_d{d}"
            ours = lambda: kernels.call(name, [q, k, v], [out])
            cudnn = sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, True)
            row = {"case": f"hyper causal D={d} L={n // 1024}k"}
            try:
                exact = cudnn()
                ours()
                torch.cuda.synchronize()
                row["rel_err vs exact"] = rel_error(out, exact)
                del exact
                row["hyper ms"] = time_ms(ours, reps)
                row["cuDNN ms"] = time_ms(cudnn, reps)
                row["speedup vs cuDNN"] = row["cuDNN ms"] / row["hyper ms"]
            except Exception as e:
                row["error"] = str(e).splitlines()[0][:120]
            print(row, flush=True)
            rows.append(row)
            del q, k, v, out
            torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", default=os.path.join(
        HERE, "..", "build", "gpu-bench", "libattn_gpu_kernels.so"))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--json", default=None)
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--profile", default="",
                        help="print the kernel times of one benchmarked "
                             "function (torch.profiler) and stop")
    parser.add_argument("--scan", default="",
                        help="graph and kernel times of one function "
                             "(quantized_int4) by key length, and stop")
    parser.add_argument("--checks", default="",
                        help="only the checks of functions containing this")
    parser.add_argument("--bench", default="dense,sparq,poly,quantized,hyper",
                        help="comma-separated benchmarks to run "
                             "(dense, sparq, poly, quantized, hyper)")
    args = parser.parse_args()

    kernels = Kernels(os.path.abspath(args.lib))
    # A stream of our own (the legacy default stream is handle 0, which
    # would mean "the runtime's stream"): inputs, our calls and SDPA are all
    # ordered on it.
    stream = torch.cuda.Stream()
    torch.cuda.set_stream(stream)
    kernels.use_stream(stream)
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}",
          flush=True)
    if args.profile:
        return profile(kernels, args.profile)
    if args.scan:
        return scan(kernels, args.scan)
    checks, failed = correctness(kernels, args.checks)
    report = {"checks": checks, "failed": failed}
    benches = set(args.bench.split(","))
    if not args.checks or "quantize" in args.checks:
        report["quantize_checks"] = quantize_checks(kernels)
        failed += sum(not row["ok"] for row in report["quantize_checks"])
        checks = checks + report["quantize_checks"]
        report["failed"] = failed
    if not args.checks or "mask" in args.checks:
        report["mask_checks"] = mask_checks(kernels)
        failed += sum(not row["ok"] for row in report["mask_checks"])
        checks = checks + report["mask_checks"]
        report["failed"] = failed
    if "hyper" in benches and (not args.checks or "hyper" in args.checks):
        report["hyper_checks"] = hyper_checks(kernels)
        failed += sum(not row["ok"] for row in report["hyper_checks"])
        checks = checks + report["hyper_checks"]
        report["failed"] = failed
    if not args.skip_bench and "hyper" in benches:
        report["hyper"] = hyper_bench(kernels, max(3, args.reps // 4))
    if not args.skip_bench and "sparq" in benches:
        report["sparq"] = sparq_bench(kernels, args.reps * 5)
    if not args.skip_bench and "poly" in benches:
        report["poly"] = poly_bench(kernels, args.reps)
    if not args.skip_bench and "quantized" in benches:
        report["quantized"] = quantized_bench(kernels, args.reps * 5)
    if not args.skip_bench and "dense" in benches:
        report["copy_tb_s"] = copy_bandwidth()
        bf16 = torch.bfloat16
        rnd = lambda *s: torch.randn(*s, device="cuda", dtype=bf16)
        rows = []
        for lk in (8192, 32768, 131072):
            make = lambda lk=lk: (rnd(1, 32, 1, 128), rnd(1, 8, lk, 128),
                                  rnd(1, 8, lk, 128))
            nbytes = 2 * (2 * 8 * lk * 128) + 2 * (2 * 32 * 128)
            sets = max(2, min(8, (256 << 20) // nbytes + 1))
            r = measure(kernels, "decode", make, False, nbytes,
                        args.reps * 5, sets)
            rows.append({"case": f"decode Lk={lk // 1024}k", "unit": "TB/s", **r})
            print(rows[-1], flush=True)
        for length in (4096, 16384):
            for causal in (False, True):
                make = lambda L=length: (rnd(4, 32, L, 128), rnd(4, 32, L, 128),
                                         rnd(4, 32, L, 128))
                flops = 4 * 4 * 32 * length * length * 128 / (2 if causal else 1)
                r = measure(kernels, "prefill_causal" if causal else "prefill",
                            make, causal, flops, args.reps, 2)
                rows.append({"case": f"prefill L={length // 1024}k"
                             f"{' causal' if causal else ''}", "unit": "TFLOP/s",
                             **r})
                print(rows[-1], flush=True)
        report["bench"] = rows
        print(f"\ndevice copy: {report['copy_tb_s']:.2f} TB/s")
        print(f"{'case':22s} {'unit':8s} {'attn':>8s} {'cuDNN':>8s} {'FLASH':>8s}"
              f" {'vs cuDNN':>9s} {'attn err':>9s}")
        for row in rows:
            rate = {k: row[k].get("rate") for k in ("attn", "cuDNN", "FLASH")}
            fmt = lambda x: f"{x:8.2f}" if x else f"{'n/a':>8s}"
            ratio = (rate["attn"] / rate["cuDNN"]) if rate["attn"] and rate["cuDNN"] else None
            err = row["attn"].get("rel_err")
            print(f"{row['case']:22s} {row['unit']:8s} {fmt(rate['attn'])} "
                  f"{fmt(rate['cuDNN'])} {fmt(rate['FLASH'])} "
                  f"{(f'{ratio:9.2f}' if ratio else 'n/a'):>9s} "
                  f"{(f'{err:9.1e}' if err is not None else 'n/a'):>9s}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(f"\n{len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
