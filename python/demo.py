"""The main demo: an IR file with dense attention through attn-opt and
attn-run, checked against NumPy and timed.

Run through scripts/demo.sh, which builds the tools first.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_ref import sdpa  # noqa: E402


def banner(text):
    print("\n" + "=" * 78 + "\n" + text + "\n" + "=" * 78)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="directory of attn-opt")
    parser.add_argument("--example", required=True)
    parser.add_argument("--seq-len", type=int, default=2048)
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
