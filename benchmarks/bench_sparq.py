"""SparQ decode next to compiled dense decode, in one run.

Decode step (B=1, Hq=32, D=128, Lq=1, f32, k=128) for Hkv in {8, 32},
Lk in {4k, 16k, 64k} and r in {16, 32}, SparQ in its bandwidth form (the
transposed key cache and the value mean passed in). With Hkv=8 both GQA
selection modes run: per head (each query head reads its own r rows of Kt)
and group-shared (the 4 heads of a group read one set). Prints one Markdown
table: dense and SparQ median times, the speedup, the theoretical transfer
ratio of ALGORITHMS.md §3 (2*Lk*D / (Lk*r + 2*k*D)) and the speedup as a
fraction of it, plus the output's relative error ||O - O_dense|| / ||O_dense|| against
compiled dense attention.

Inputs have the heavy-hitter structure SparQ relies on (i.i.d. Gaussian
keys give near-uniform attention, which no top-k method approximates):
queries are N(0, 1); keys are 0.5 * N(0, 1) except for 32 positions per
key/value head, drawn at random, whose keys are 2 * sqrt(D) times the unit
mean of the group's queries plus 0.5 * N(0, 1). About 97% of each head's
attention then falls on those 32 keys.

Times are medians of --reps repetitions after a warm-up (attn-run
--benchmark). Nothing is asserted.

Usage: /usr/bin/python3 benchmarks/bench_sparq.py --bin build/release/bin
"""

import argparse
import os
import re
import subprocess
import tempfile

import numpy as np

DENSE = """
func.func @dense(%q: tensor<1x32x1x128xf32>, %k: tensor<1x{h}x?x128xf32>,
                 %v: tensor<1x{h}x?x128xf32>) -> tensor<1x32x1x128xf32> {{
  %o = attn.sdpa %q, %k, %v : tensor<1x32x1x128xf32>, tensor<1x{h}x?x128xf32>,
      tensor<1x{h}x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}}
"""

SPARQ = """
func.func @sparq(%q: tensor<1x32x1x128xf32>, %k: tensor<1x{h}x?x128xf32>,
                 %v: tensor<1x{h}x?x128xf32>, %kt: tensor<1x{h}x128x?xf32>,
                 %vm: tensor<1x{h}x128xf32>) -> tensor<1x32x1x128xf32> {{
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x{h}x128x?xf32>)
      value_mean(%vm : tensor<1x{h}x128xf32>) rank({r}) top_k(128) {shared}
      : tensor<1x32x1x128xf32>, tensor<1x{h}x?x128xf32>,
        tensor<1x{h}x?x128xf32> -> tensor<1x32x1x128xf32>
  return %o : tensor<1x32x1x128xf32>
}}
"""


def run(attn_run, mlir, function, paths, reps, out):
    args = [attn_run, mlir, "--function=" + function,
            "--benchmark=%d" % reps, "--output=@" + out]
    args += ["--input=@" + p for p in paths]
    text = subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", text).group(1))


def heavy_hitter_inputs(rng, hkv, lk, d, hitters=32):
    q = rng.standard_normal((1, 32, 1, d), np.float32)
    k = rng.standard_normal((1, hkv, lk, d), np.float32)
    k *= np.float32(0.5)
    group = q.reshape(hkv, 32 // hkv, d).mean(axis=1)
    group /= np.linalg.norm(group, axis=-1, keepdims=True)
    for g in range(hkv):
        pos = rng.choice(lk, hitters, replace=False)
        k[0, g, pos] += np.float32(2 * np.sqrt(d)) * group[g]
    v = rng.standard_normal((1, hkv, lk, d), np.float32)
    return {"q": q, "k": k, "v": v}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--lens", default="4096,16384,65536")
    parser.add_argument("--kv-heads", default="8,32")
    parser.add_argument("--ranks", default="16,32")
    args = parser.parse_args()
    attn_run = os.path.join(args.bin, "attn-run")
    rng = np.random.default_rng(0)
    top_k, d = 128, 128

    print("| Hkv | GQA selection | Lk | r | dense ms | SparQ ms | speedup | "
          "theoretical | speedup / theoretical | rel. error |")
    print("|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for hkv in map(int, args.kv_heads.split(",")):
            modes = ["per head", "group-shared"] if hkv < 32 else ["MHA"]
            for lk in map(int, args.lens.split(",")):
                arrays = heavy_hitter_inputs(rng, hkv, lk, d)
                arrays["kt"] = np.ascontiguousarray(
                    arrays["k"].transpose(0, 1, 3, 2))
                arrays["vm"] = arrays["v"].mean(axis=2)
                paths = {}
                for name, array in arrays.items():
                    paths[name] = os.path.join(work, name + ".npy")
                    np.save(paths[name], array)
                del arrays
                dense_mlir = os.path.join(work, "dense.mlir")
                with open(dense_mlir, "w") as f:
                    f.write(DENSE.format(h=hkv))
                dense_out = os.path.join(work, "dense_out.npy")
                dense_ms = run(attn_run, dense_mlir, "dense",
                               [paths[n] for n in "qkv"], args.reps,
                               dense_out)
                exact = np.load(dense_out).astype(np.float64)
                for r in map(int, args.ranks.split(",")):
                    for mode in modes:
                        mlir = os.path.join(work, "sparq.mlir")
                        with open(mlir, "w") as f:
                            f.write(SPARQ.format(
                                h=hkv, r=r,
                                shared="group_shared"
                                if mode == "group-shared" else ""))
                        out = os.path.join(work, "sparq_out.npy")
                        ms = run(attn_run, mlir, "sparq",
                                 [paths[n] for n in ("q", "k", "v", "kt",
                                                     "vm")],
                                 args.reps, out)
                        got = np.load(out).astype(np.float64)
                        err = (np.linalg.norm(got - exact) /
                               np.linalg.norm(exact))
                        theory = 2 * lk * d / (lk * r + 2 * top_k * d)
                        print("| %d | %s | %d | %d | %.2f | %.3f | %.1fx | "
                              "%.1fx | %.0f%% | %.2f |" %
                              (hkv, mode, lk, r, dense_ms, ms, dense_ms / ms,
                               theory, 100 * dense_ms / ms / theory, err))


if __name__ == "__main__":
    main()
