"""TurboAttention on the CPU, in one run: decode over a quantized KV cache
next to dense decode over f32 and f16 caches, and prefill with the
polynomial exp next to the math.exp softmax.

Decode (B=1, Hq=32, Hkv=8, D=128, Lq=1, f32 queries) for Lk in {4k, 16k,
64k}: the cache arrives quantized as function arguments (the form a model
uses; attn.quantized_sdpa reads it directly), in groups of 32 (keys along
D, values along the keys). Prints per configuration the median time, the
KV bytes one step reads (codes, scales, steps, zero points), the ratio of
the f32 and f16 caches' bytes to it (compression), the speedup over dense
f32 and f16 decode, and the output's relative error ||O - O_f32|| /
||O_f32|| against dense f32 attention. Inputs are Gaussian with heavy
hitters (32 keys per key/value head aligned with the group's queries, the
structure of real attention; i.i.d. Gaussian keys give near-uniform
attention whose small output makes every relative error look large).

Prefill (B=1, H=8, D=64, f32, causal and not) for L in {2k, 4k}: dense
attention with the cubic attn.poly_exp (--attn-poly-exp) against the same
loop nest with math.exp: median times, speedup, relative error.

Times are medians of --reps repetitions after a warm-up (attn-run
--benchmark). Nothing is asserted.

Usage: /usr/bin/python3 benchmarks/bench_turbo.py --bin build/release/bin
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from attn_mlir.reference.turbo import quantize  # noqa: E402
from bench_sparq import heavy_hitter_inputs, run  # noqa: E402

HQ, HKV, D, GROUP = 32, 8, 128, 32

DENSE_DECODE = """
func.func @dense(%q: tensor<1x32x1x128x{t}>, %k: tensor<1x8x?x128x{t}>,
                 %v: tensor<1x8x?x128x{t}>) -> tensor<1x32x1x128x{t}> {{
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128x{t}>, tensor<1x8x?x128x{t}>,
      tensor<1x8x?x128x{t}> -> tensor<1x32x1x128x{t}>
  return %o : tensor<1x32x1x128x{t}>
}}
"""

QUANTIZED_DECODE = """
func.func @quantized(%q: tensor<1x32x1x128xf32>, {key_args}, {value_args})
    -> tensor<1x32x1x128xf32> {{
  %o = attn.quantized_sdpa %q, key({key_names}), value({value_names})
      bits({bits}) group_size({group}) {flags}
      : tensor<1x32x1x128xf32>, key({key_types}), value({value_types})
      -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}}
"""

PREFILL = """
func.func @prefill(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {{
  %o = attn.sdpa %q, %k, %v {causal} {attrs}
      : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
      -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}}
"""


def tensor_type(array):
    dims = ["?" if i == 2 else str(n) for i, n in enumerate(array.shape)]
    element = {np.int8: "i8", np.float32: "f32"}[array.dtype.type]
    return "tensor<%sx%s>" % ("x".join(dims), element)


def quantized_mlir(bits, key_layout, value_layout, flags):
    def side(prefix, layout):
        names = ["%%%s%d" % (prefix, i) for i in range(len(layout))]
        types = [tensor_type(a) for a in layout]
        args = ", ".join("%s: %s" % nt for nt in zip(names, types))
        return args, ", ".join(names), ", ".join(types)
    key_args, key_names, key_types = side("k", key_layout)
    value_args, value_names, value_types = side("v", value_layout)
    return QUANTIZED_DECODE.format(
        key_args=key_args, value_args=value_args, key_names=key_names,
        value_names=value_names, key_types=key_types,
        value_types=value_types, bits=bits, group=GROUP, flags=flags)


def save(work, name, array):
    path = os.path.join(work, name + ".npy")
    np.save(path, np.ascontiguousarray(array))
    return path


def rel_err(got, ref):
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def decode(args, attn_run, work, rng):
    configs = [("INT8", 8, ""), ("INT8, QK int8", 8, "qk_int8"),
               ("INT4", 4, ""), ("INT4, QK+PV int8", 4, "qk_int8 pv_int8"),
               ("INT2", 2, "")]
    print("Decode, B=1 Hq=32 Hkv=8 D=128, groups of %d:\n" % GROUP)
    print("| Lk | cache | ms | KV MB read | vs f32 bytes | vs f16 bytes | "
          "speedup vs f32 | speedup vs f16 | rel. error |")
    print("|---:|:---|---:|---:|---:|---:|---:|---:|---:|")
    for lk in map(int, args.lens.split(",")):
        arrays = heavy_hitter_inputs(rng, HKV, lk, D)
        q, k, v = arrays["q"], arrays["k"], arrays["v"]
        out = os.path.join(work, "out.npy")
        f32_bytes = 2 * k.nbytes
        times, results = {}, {}
        for t, dtype in (("f32", np.float32), ("f16", np.float16)):
            mlir = os.path.join(work, "dense_%s.mlir" % t)
            with open(mlir, "w") as f:
                f.write(DENSE_DECODE.format(t=t))
            paths = [save(work, n + t, a.astype(dtype))
                     for n, a in (("q", q), ("k", k), ("v", v))]
            times[t] = run(attn_run, mlir, "dense", paths, args.reps, out)
            results[t] = np.load(out).astype(np.float64)
        exact = results["f32"]
        for t, kv_bytes in (("f32", f32_bytes), ("f16", f32_bytes // 2)):
            print("| %d | dense %s | %.2f | %.1f | %.2fx | %.2fx | %.2fx | "
                  "%.2fx | %.4f |" %
                  (lk, t, times[t], kv_bytes / 2**20, f32_bytes / kv_bytes,
                   f32_bytes / 2 / kv_bytes, times["f32"] / times[t],
                   times["f16"] / times[t], rel_err(results[t], exact)))
        q_path = save(work, "q", q)
        layouts = {}
        for name, bits, flags in configs:
            if bits not in layouts:
                layouts[bits] = (quantize(k, 3, GROUP, bits),
                                 quantize(v, 2, GROUP, bits))
            key_layout, value_layout = layouts[bits]
            kv_bytes = sum(a.nbytes for a in key_layout + value_layout)
            mlir = os.path.join(work, "quantized.mlir")
            with open(mlir, "w") as f:
                f.write(quantized_mlir(bits, key_layout, value_layout, flags))
            paths = [q_path] + [save(work, "k%d" % i, a)
                                for i, a in enumerate(key_layout)]
            paths += [save(work, "v%d" % i, a)
                      for i, a in enumerate(value_layout)]
            ms = run(attn_run, mlir, "quantized", paths, args.reps, out)
            got = np.load(out).astype(np.float64)
            print("| %d | %s | %.2f | %.1f | %.2fx | %.2fx | %.2fx | %.2fx | "
                  "%.4f |" % (lk, name, ms, kv_bytes / 2**20,
                              f32_bytes / kv_bytes, f32_bytes / 2 / kv_bytes,
                              times["f32"] / ms, times["f16"] / ms,
                              rel_err(got, exact)))
        del layouts


def prefill(args, attn_run, work, rng):
    print("\nPrefill, B=1 H=8 D=64, f32, cubic poly_exp vs math.exp:\n")
    print("| L | mask | exp ms | poly_exp ms | speedup | rel. error |")
    print("|---:|:---|---:|---:|---:|---:|")
    for length in map(int, args.prefill_lens.split(",")):
        arrays = [rng.standard_normal((1, 8, length, 64), np.float32)
                  for _ in range(3)]
        paths = [save(work, n, a) for n, a in zip("qkv", arrays)]
        for causal in ("", "causal"):
            results, times = {}, {}
            for kind, attrs in (("exp", ""), ("poly", "{softmax_exp = "
                                "#attn.poly_exp<degree = 3>}")):
                mlir = os.path.join(work, "prefill.mlir")
                with open(mlir, "w") as f:
                    f.write(PREFILL.format(causal=causal, attrs=attrs))
                out = os.path.join(work, "prefill_%s.npy" % kind)
                times[kind] = run(attn_run, mlir, "prefill", paths,
                                  args.prefill_reps, out)
                results[kind] = np.load(out).astype(np.float64)
            print("| %d | %s | %.1f | %.1f | %.2fx | %.2g |" %
                  (length, causal or "none", times["exp"], times["poly"],
                   times["exp"] / times["poly"],
                   rel_err(results["poly"], results["exp"])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--lens", default="4096,16384,65536")
    parser.add_argument("--prefill-reps", type=int, default=3)
    parser.add_argument("--prefill-lens", default="2048,4096")
    args = parser.parse_args()
    attn_run = os.path.join(args.bin, "attn-run")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        decode(args, attn_run, work, rng)
        prefill(args, attn_run, work, rng)


if __name__ == "__main__":
    main()
