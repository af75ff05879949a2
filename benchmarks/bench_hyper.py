"""HyperAttention next to compiled dense attention, in one run.

Prefill, B=1, H=8, D=64, f32, n in {8k, 16k, 32k, 64k} (--sizes), causal
and non-causal, --attn-hyper with its defaults (bucket 256, 256 samples,
7 projections, min-seq-len 4096). Prints one Markdown table: dense and
HyperAttention times, the speedup, time(n) / time(n/2) of HyperAttention
(the goal is <= 2.4 from 16k up: near-linear cost), and the error
||O - O_exact|| / ||O_exact|| against compiled dense attention.

Inputs have structure for LSH to find (i.i.d. Gaussian queries and keys
give near-uniform attention, where every method's error only measures
sampling noise): 64 cluster centres c_j ~ N(0, I_D) / sqrt(D) * 6 per head;
every query and key is its cluster's centre plus N(0, 0.5^2 I_D) / sqrt(D)
* 6 (so rows of one cluster point the same way and score highly with each
other); values are the cluster's own random vector u_j ~ N(0, I) plus
N(0, 0.25^2 I) (values correlated with the clusters, so a query's output is
dominated by its cluster's value). Clusters are assigned to positions at
random.

Times: dense is timed once (--dense-reps, default 1, after no warm-up:
64k dense takes minutes on two cores); HyperAttention is the median of
--reps (default 3) after one warm-up. Nothing is asserted.

Usage: /usr/bin/python3 benchmarks/bench_hyper.py --bin build/release/bin
"""

import argparse
import os
import re
import subprocess
import tempfile

import numpy as np

FUNC = """
func.func @attn(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                %v: tensor<1x8x?x64xf32>) -> tensor<1x8x?x64xf32> {{
  %o = attn.sdpa %q, %k, %v {causal}
      : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
      -> tensor<1x8x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}}
"""


def clustered_inputs(rng, n, heads=8, d=64, clusters=64):
    scale = 6.0 / np.sqrt(d)
    centres = rng.standard_normal((heads, clusters, d)) * scale
    values = rng.standard_normal((heads, clusters, d))
    which = rng.integers(0, clusters, (heads, n))
    pick = np.take_along_axis
    def rows(noise):
        base = pick(centres, which[..., None], axis=1)
        return base + noise * scale * rng.standard_normal((heads, n, d))
    q = rows(0.5)
    k = rows(0.5)
    v = pick(values, which[..., None], axis=1) + \
        0.25 * rng.standard_normal((heads, n, d))
    return [x[None].astype(np.float32) for x in (q, k, v)]


def timed(attn_run, mlir, paths, out, reps, warmup):
    args = [attn_run, mlir, "--function=attn", "--benchmark=%d" % reps,
            "--warmup=%d" % warmup, "--output=@" + out]
    args += ["--input=@" + p for p in paths]
    text = subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", text).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--sizes", default="8192,16384,32768,65536")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dense-reps", type=int, default=1)
    parser.add_argument("--modes", default="noncausal,causal")
    args = parser.parse_args()
    attn_run = os.path.join(args.bin, "attn-run")
    attn_opt = os.path.join(args.bin, "attn-opt")
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)

    print("| mode | n | dense ms | hyper ms | speedup | hyper t(n)/t(n/2) "
          "| rel. error |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for mode in args.modes.split(","):
            dense_mlir = os.path.join(work, "dense_%s.mlir" % mode)
            with open(dense_mlir, "w") as f:
                f.write(FUNC.format(causal="causal" if mode == "causal"
                                    else ""))
            hyper_mlir = os.path.join(work, "hyper_%s.mlir" % mode)
            with open(hyper_mlir, "w") as f:
                subprocess.run([attn_opt, dense_mlir, "--attn-hyper"],
                               check=True, stdout=f,
                               stderr=subprocess.DEVNULL)
            previous = None
            for n in sizes:
                paths = []
                for name, x in zip("qkv", clustered_inputs(rng, n)):
                    paths.append(os.path.join(work, name + ".npy"))
                    np.save(paths[-1], x)
                dense_out = os.path.join(work, "dense.npy")
                hyper_out = os.path.join(work, "hyper.npy")
                hyper_ms = timed(attn_run, hyper_mlir, paths, hyper_out,
                                 args.reps, 1)
                dense_ms = timed(attn_run, dense_mlir, paths, dense_out,
                                 args.dense_reps, 0)
                exact = np.load(dense_out).astype(np.float64)
                approx = np.load(hyper_out).astype(np.float64)
                error = np.linalg.norm(approx - exact) / np.linalg.norm(exact)
                growth = "" if previous is None else \
                    "%.2f" % (hyper_ms / previous)
                previous = hyper_ms
                print("| %s | %dk | %.0f | %.0f | %.1fx | %s | %.3f |" %
                      (mode, n // 1024, dense_ms, hyper_ms,
                       dense_ms / hyper_ms, growth, error), flush=True)


if __name__ == "__main__":
    main()
