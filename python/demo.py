"""The main demo: an IR file with dense attention through attn-opt and
attn-run, checked against NumPy and timed.

Run through scripts/demo.sh, which builds the tools first.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_mlir.reference import sdpa, sparq, sparq_transfer_ratio  # noqa: E402
from attn_mlir.reference.turbo import quantize, quantized_sdpa  # noqa: E402
from attn_mlir.reference.hyper import (  # noqa: E402
    hyper_attention, projection_margin, projections)


def banner(text):
    print("\n" + "=" * 78 + "\n" + text + "\n" + "=" * 78)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="directory of attn-opt")
    parser.add_argument("--example", required=True)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--sparq-example")
    parser.add_argument("--sparq-len", type=int, default=32768)
    parser.add_argument("--hyper-example")
    parser.add_argument("--hyper-len", type=int, default=8192)
    parser.add_argument("--turbo-example")
    parser.add_argument("--turbo-len", type=int, default=16384)
    args = parser.parse_args()
    attn_opt = os.path.join(args.bin, "attn-opt")
    attn_run = os.path.join(args.bin, "attn-run")

    banner("1. The input: %s" % args.example)
    print(open(args.example).read())

    banner("2. After --convert-attn-to-loops (first 60 lines)")
    loops = subprocess.run([attn_opt, args.example, "--convert-attn-to-loops",
                            "--canonicalize"], check=True,
                           capture_output=True, text=True).stdout
    print("\n".join(loops.splitlines()[:60]))
    print("... (%d lines)" % len(loops.splitlines()))

    banner("3. After --attn-lower-to-llvm")
    llvm = subprocess.run([attn_opt, args.example, "--attn-lower-to-llvm"],
                          check=True, capture_output=True, text=True).stdout
    ops = {}
    for line in llvm.splitlines():
        for word in line.split():
            if word.startswith(("llvm.", "omp.")) and "(" not in word[:5]:
                name = word.split("(")[0].rstrip(",")
                ops[name] = ops.get(name, 0) + 1
                break
    print("%d lines of LLVM dialect; most frequent ops:" % len(llvm.splitlines()))
    for name, count in sorted(ops.items(), key=lambda kv: -kv[1])[:10]:
        print("  %6d  %s" % (count, name))

    n = args.seq_len
    banner("4. attn-run: causal GQA, B=1, Hq=8, Hkv=2, Lq=Lk=%d, D=64, f32" % n)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 8, n, 64), dtype=np.float32)
    k = rng.standard_normal((1, 2, n, 64), dtype=np.float32)
    v = rng.standard_normal((1, 2, n, 64), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, array in (("q", q), ("k", k), ("v", v)):
            paths.append(os.path.join(tmp, name + ".npy"))
            np.save(paths[-1], array)
        out = os.path.join(tmp, "o.npy")
        cmd = [attn_run, args.example, "--function=attention"] + \
            ["--input=@" + p for p in paths] + ["--output=@" + out,
                                                "--benchmark=5"]
        print("$ " + " ".join(os.path.basename(c) if i == 0 else c
                              for i, c in enumerate(cmd)))
        result = subprocess.run(cmd, check=True, capture_output=True,
                                text=True).stdout
        print(result.strip())
        got = np.load(out)

    start = time.perf_counter()
    ref, _ = sdpa(q, k, v, causal=True)
    ref_ms = (time.perf_counter() - start) * 1e3
    err = np.abs(got - ref).max()
    ok = err <= 2e-5 + 2e-5 * np.abs(ref).max()
    banner("5. Result check")
    print("max |attn-run - NumPy float64 reference| = %.3g  -> %s"
          % (err, "OK" if ok else "MISMATCH"))
    print("NumPy reference (float64, einsum) took %.0f ms" % ref_ms)
    if args.sparq_example:
        ok = demo_sparq(args, attn_opt, attn_run) and ok
    if args.hyper_example:
        ok = demo_hyper(args, attn_opt, attn_run) and ok
    if args.turbo_example:
        ok = demo_turbo(args, attn_opt, attn_run) and ok
    return 0 if ok else 1


def print_remarks(stderr):
    print("stderr (the remark):")
    print("\n".join(l for l in stderr.splitlines() if "remark" in l))


def run_timed(attn_run, mlir, function, arrays, tmp, reps=10):
    paths = []
    for i, array in enumerate(arrays):
        paths.append(os.path.join(tmp, "in%d.npy" % i))
        np.save(paths[-1], array)
    out = os.path.join(tmp, "out.npy")
    text = subprocess.run(
        [attn_run, mlir, "--function=" + function, "--benchmark=%d" % reps,
         "--output=@" + out] + ["--input=@" + p for p in paths],
        check=True, capture_output=True, text=True).stdout
    print("  %s: %s" % (function, text.strip()))
    median = float(text.split("median ")[1].split(" ms")[0])
    return np.load(out), median


def demo_sparq(args, attn_opt, attn_run):
    banner("6. SparQ: --attn-sparq on %s" % args.sparq_example)
    options = "--attn-sparq=rank=16 top-k=128 group-shared=true"
    result = subprocess.run([attn_opt, args.sparq_example, options],
                            check=True, capture_output=True, text=True)
    print("$ attn-opt %s '%s'" % (os.path.basename(args.sparq_example),
                                   options))
    print(result.stdout.split("func.func @sparq_bandwidth")[0].rstrip())
    print_remarks(result.stderr)

    n = args.sparq_len
    banner("7. SparQ decode vs dense decode: B=1, Hq=32, Hkv=8, D=128, "
           "Lk=%d, r=16, k=128, f32" % n)
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 32, 1, 128), dtype=np.float32)
    k = 0.5 * rng.standard_normal((1, 8, n, 128), dtype=np.float32)
    # Heavy hitters: 32 keys per kv head aligned with the group's queries.
    mean = q.reshape(8, 4, 128).mean(axis=1)
    mean /= np.linalg.norm(mean, axis=-1, keepdims=True)
    for g in range(8):
        k[0, g, rng.choice(n, 32, replace=False)] += 2 * np.sqrt(128) * mean[g]
    v = rng.standard_normal((1, 8, n, 128), dtype=np.float32)
    kt = np.ascontiguousarray(k.transpose(0, 1, 3, 2))
    vmean = v.mean(axis=2)
    with tempfile.TemporaryDirectory() as tmp:
        dense, dense_ms = run_timed(attn_run, args.sparq_example, "decode",
                                    [q, k, v], tmp)
        approx, sparq_ms = run_timed(attn_run, args.sparq_example,
                                     "sparq_bandwidth",
                                     [q, k, v, kt, vmean], tmp)
    ref = sparq(q, k, v, 16, 128, group_shared=True, value_mean=vmean)
    err = np.abs(approx - ref).max()
    ok = err <= 2e-5 + 2e-5 * np.abs(ref).max()
    print("max |compiled SparQ - NumPy SparQ reference| = %.3g  -> %s"
          % (err, "OK" if ok else "MISMATCH"))
    print("||SparQ - dense|| / ||dense|| = %.3g" %
          (np.linalg.norm(approx - dense) / np.linalg.norm(dense)))
    print("speedup %.1fx; theoretical transfer ratio %.1fx" %
          (dense_ms / sparq_ms, sparq_transfer_ratio(n, 128, 16, 128)))
    return ok


def demo_hyper(args, attn_opt, attn_run):
    banner("8. HyperAttention: --attn-hyper on %s" % args.hyper_example)
    with tempfile.TemporaryDirectory() as tmp:
        hyper_mlir = os.path.join(tmp, "hyper.mlir")
        # min-seq-len 1024 (default 4096) keeps the float64 NumPy reference
        # of the exact diagonal segments small.
        options = "--attn-hyper=min-seq-len=1024"
        result = subprocess.run([attn_opt, args.hyper_example, options,
                                 "--canonicalize", "-o", hyper_mlir],
                                check=True, capture_output=True, text=True)
        print("$ attn-opt %s %s --canonicalize" %
              (os.path.basename(args.hyper_example), options))
        with open(hyper_mlir) as f:
            ops = [l.strip() for l in f
                   if re.search(r"attn\.|scf\.(if|for|while)", l)]
        print("the attn ops and control flow of the result (%d lines):" %
              len(ops))
        for line in ops:
            print("  " + (line if len(line) < 150 else line[:147] + "..."))
        print_remarks(result.stderr)

        n = args.hyper_len
        banner("9. Causal HyperAttention vs dense: B=1, H=8, D=64, n=%d, "
               "f32, clustered inputs" % n)
        rng = np.random.default_rng(2)
        centres = rng.standard_normal((8, 64, 64)) * 0.75
        which = rng.integers(0, 64, (8, n))
        rows = lambda: (np.take_along_axis(centres, which[..., None], 1) +
                        0.375 * rng.standard_normal((8, n, 64)))
        q, k = rows()[None], rows()[None]
        v = rng.standard_normal((1, 8, n, 64))
        q, k, v = (x.astype(np.float32) for x in (q, k, v))
        # Keep every hash bit unambiguous (|x . r| >= 1e-3), so that the
        # compiled f32 hash and the float64 reference agree bit for bit.
        r = projections(0, 64, 7).astype(np.float64)
        for x in (q, k):
            while projection_margin(x, r) < 1e-3:
                bad = (np.abs(x.astype(np.float64) @ r) < 1e-3).any(axis=-1)
                x[bad] += np.float32(1e-2) * rng.standard_normal(
                    (int(bad.sum()), 64), dtype=np.float32)
        dense, dense_ms = run_timed(attn_run, args.hyper_example, "prefill",
                                    [q, k, v], tmp, reps=1)
        approx, hyper_ms = run_timed(attn_run, hyper_mlir, "prefill",
                                     [q, k, v], tmp, reps=3)
    ref, _ = hyper_attention(q, k, v, causal=True, min_seq_len=1024)
    err = np.abs(approx - ref).max()
    ok = err <= 2e-5 + 2e-5 * np.abs(ref).max()
    print("max |compiled HyperAttention - NumPy reference| = %.3g  -> %s"
          % (err, "OK" if ok else "MISMATCH"))
    print("||HyperAttention - dense|| / ||dense|| = %.3g" %
          (np.linalg.norm(approx - dense) / np.linalg.norm(dense)))
    print("speedup over compiled dense causal attention: %.1fx" %
          (dense_ms / hyper_ms))
    return ok


def demo_turbo(args, attn_opt, attn_run):
    banner("10. TurboAttention: --attn-quantize and --attn-poly-exp on %s" %
           args.turbo_example)
    options = ["--attn-quantize=kv-bits=4 qk-int8=true", "--attn-poly-exp"]
    result = subprocess.run([attn_opt, args.turbo_example] + options,
                            check=True, capture_output=True, text=True)
    print("$ attn-opt %s %s" % (os.path.basename(args.turbo_example),
                                " ".join('"%s"' % o for o in options)))
    printing = False
    for line in result.stdout.splitlines():
        if "func.func @decode(" in line:
            printing = True
        elif "func.func" in line:
            printing = False
        if "attn." in line and printing:
            print("  " + line.strip()[:150] + ("..." if len(line) > 150
                                                else ""))
    print_remarks(result.stderr)

    n = args.turbo_len
    banner("11. Decode over a pre-quantized INT4 cache vs dense f32: Lk=%d, "
           "Hq=32, Hkv=8, D=128" % n)
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 32, 1, 128), dtype=np.float32)
    k = rng.standard_normal((1, 8, n, 128), dtype=np.float32)
    v = rng.standard_normal((1, 8, n, 128), dtype=np.float32)
    keys, values = quantize(k, 3, 32, 4), quantize(v, 2, 32, 4)
    cache_bytes = sum(a.nbytes for a in keys + values)
    print("KV cache: f32 %.0f MB, INT4 codes + scales %.1f MB (%.2fx smaller)"
          % (2 * k.nbytes / 2**20, cache_bytes / 2**20,
             2 * k.nbytes / cache_bytes))
    with tempfile.TemporaryDirectory() as tmp:
        dense, dense_ms = run_timed(attn_run, args.turbo_example, "decode",
                                    [q, k, v], tmp)
        got, int4_ms = run_timed(attn_run, args.turbo_example, "decode_int4",
                                 [q] + list(keys) + list(values), tmp)
    ref = quantized_sdpa(q, k, v, 4, 32, qk_int8=True)
    err = np.abs(got - ref).max()
    ok = err <= 2e-5 + 2e-5 * np.abs(ref).max()
    print("max |compiled - NumPy reference of the quantized attention| = "
          "%.3g  -> %s" % (err, "OK" if ok else "MISMATCH"))
    print("||INT4 - dense f32|| / ||dense f32|| = %.3g" %
          (np.linalg.norm(got - dense) / np.linalg.norm(dense)))
    print("speedup over compiled dense f32 decode: %.2fx" %
          (dense_ms / int4_ms))
    return ok


if __name__ == "__main__":
    sys.exit(main())
