"""Compiled dense attention next to NumPy matmul + softmax, in one run.

Prints two Markdown tables:
- decode (B=1, Hq=32, Hkv=8, D=128, f32, Lq=1): compiled time and achieved
  GB/s (bytes of Q, K, V and O over the median time) next to the machine's
  read bandwidth, measured here by a parallel streaming sum compiled by the
  same pipeline (read_bandwidth.mlir, 1 GiB);
- prefill (B=1, H=8, D=64, f32, Lq=Lk): compiled and NumPy times, causal
  and not;
- the peak resident memory of attn-run on one causal 16k x 16k head
  (the score matrix alone would be 1 GiB).

Times are medians of --benchmark repetitions after a warm-up (attn-run) and
the best of --numpy-reps runs (NumPy). Nothing is asserted.

Usage: /usr/bin/python3 benchmarks/bench_dense.py --bin build/release/bin
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def attn_run_median_ms(attn_run, mlir, function, arrays, reps, workdir):
    args = [attn_run, mlir, "--function=" + function,
            "--benchmark=%d" % reps]
    for i, array in enumerate(arrays):
        path = os.path.join(workdir, "in%d.npy" % i)
        np.save(path, array)
        args.append("--input=@" + path)
    out = subprocess.run(args, check=True, capture_output=True,
                         text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", out).group(1))


def max_rss_mb(cmd):
    """Peak RSS of `cmd`, measured from a fresh interpreter's children."""
    code = ("import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code] + cmd, check=True,
                         capture_output=True, text=True).stdout
    return int(out) / 1024


def numpy_attention(q, k, v, causal):
    """matmul + softmax + matmul in float32, GQA by grouping query heads."""
    b, hq, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    g = hq // hkv
    qg = q.reshape(b, hkv, g * lq, d)
    s = np.matmul(qg, k.transpose(0, 1, 3, 2)) * np.float32(1 / np.sqrt(d))
    s = s.reshape(b, hq, lq, lk)
    if causal:
        i = np.arange(lq)[:, None]
        j = np.arange(lk)[None, :]
        s = np.where(j <= i + (lk - lq), s, np.float32(-np.inf))
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s.reshape(b, hkv, g * lq, lk), v).reshape(b, hq, lq, -1)


def numpy_best_ms(fn, reps):
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--numpy-reps", type=int, default=2)
    parser.add_argument("--decode-lens", default="4096,8192,16384,32768,65536")
    parser.add_argument("--prefill-lens", default="1024,2048,4096,8192")
    parser.add_argument("--memory-len", type=int, default=16384)
    args = parser.parse_args()
    attn_run = os.path.join(args.bin, "attn-run")
    dense = os.path.join(HERE, "dense.mlir")
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as workdir:
        n = args.memory_len
        paths = []
        for name in "qkv":
            paths.append(os.path.join(workdir, name + ".npy"))
            np.save(paths[-1], rng.standard_normal((1, 1, n, 64),
                                                   dtype=np.float32))
        rss = max_rss_mb([attn_run, dense, "--function=one_head_causal"] +
                         ["--input=@" + p for p in paths])
        print("Memory: one causal %d x %d head (D=64, f32): attn-run peak "
              "RSS %.0f MB (inputs and output %.0f MB; the scores alone "
              "would be %.0f MB)\n" % (n, n, rss, 4 * n * 64 * 4 / 2**20,
                                       n * n * 4 / 2**20))

        buf = np.ones((65536, 4096), dtype=np.float32)  # 1 GiB
        bw_ms = attn_run_median_ms(attn_run,
                                   os.path.join(HERE, "read_bandwidth.mlir"),
                                   "read_sum", [buf], args.reps, workdir)
        read_bw = buf.nbytes / bw_ms / 1e6
        del buf
        print("Machine read bandwidth (parallel streaming sum of 1 GiB): "
              "%.1f GB/s\n" % read_bw)

        print("Decode: B=1, Hq=32, Hkv=8, D=128, f32, Lq=1\n")
        print("| Lk | compiled ms | GB/s | % of read bw | NumPy ms | "
              "NumPy / compiled |")
        print("|---:|---:|---:|---:|---:|---:|")
        for lk in map(int, args.decode_lens.split(",")):
            q = rng.standard_normal((1, 32, 1, 128), dtype=np.float32)
            k = rng.standard_normal((1, 8, lk, 128), dtype=np.float32)
            v = rng.standard_normal((1, 8, lk, 128), dtype=np.float32)
            ms = attn_run_median_ms(attn_run, dense, "decode", [q, k, v],
                                    args.reps, workdir)
            gbs = (2 * q.nbytes + k.nbytes + v.nbytes) / ms / 1e6
            np_ms = numpy_best_ms(lambda: numpy_attention(q, k, v, False),
                                  args.numpy_reps)
            print("| %d | %.2f | %.1f | %.0f%% | %.2f | %.2fx |" %
                  (lk, ms, gbs, 100 * gbs / read_bw, np_ms, np_ms / ms))

        print("\nPrefill: B=1, H=8, D=64, f32, Lq=Lk\n")
        print("| L | causal | compiled ms | GFLOP/s | NumPy ms | "
              "NumPy / compiled |")
        print("|---:|:---:|---:|---:|---:|---:|")
        for n in map(int, args.prefill_lens.split(",")):
            q, k, v = (rng.standard_normal((1, 8, n, 64), dtype=np.float32)
                       for _ in range(3))
            for causal in (False, True):
                fn = "prefill_causal" if causal else "prefill"
                ms = attn_run_median_ms(attn_run, dense, fn, [q, k, v],
                                        max(3, args.reps // 3), workdir)
                flops = 4 * 8 * n * n * 64 * (0.5 if causal else 1.0)
                np_ms = numpy_best_ms(
                    lambda: numpy_attention(q, k, v, causal), args.numpy_reps)
                print("| %d | %s | %.1f | %.1f | %.1f | %.2fx |" %
                      (n, "yes" if causal else "no", ms, flops / ms / 1e6,
                       np_ms, np_ms / ms))


if __name__ == "__main__":
    main()
