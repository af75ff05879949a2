"""Runs one function of a test file through attn-run on random inputs and
compares the results with the NumPy reference of ALGORITHMS.md (§1 for
attn.sdpa, §2 for attn.merge, §3 for SparQ and its top-k and gather ops, §4
for HyperAttention and its LSH sort).

Usage (from a RUN line):
  %check-attn %s --function=NAME --op=sdpa --q=BxHqxLqxD --k=... --v=...
      [--mask=f32:SHAPE | --mask=bool:SHAPE] [--causal] [--scale=S] [--lse]
      [--dtype=f32|f16] [--mask-rows=I,J]
  %check-attn %s --function=NAME --op=merge --out=SHAPE [--dtype=...]
  %check-attn %s --function=NAME --op=sparq --q=... --k=... --v=...
      --rank=R --top-k=K [--local-window=L] [--group-shared] [--causal]
      [--bandwidth] [--ties] [--also=FUNCTION]
  %check-attn %s --function=NAME --op=topk --input=SHAPE --top-k=K
      [--magnitude] [--ties]
  %check-attn %s --function=NAME --op=gather --input=SHAPE --indices=SHAPE
      --axis=A
  %check-attn %s --function=NAME --op=lsh --input=SHAPE --projections=DxP
      [--ties]
  %check-attn %s --function=NAME --op=hyper --q=... --k=... --v=...
      [--causal] [--lse] [--bucket-size=B] [--sample-size=M]
      [--num-projs=P] [--min-seq-len=N] [--hyper-seed=S] [--clustered]

--bandwidth passes the transposed key cache and the mean of V over all keys
as two more inputs; --also runs a second function on the same inputs and
requires the same result. --ties draws values from a few integers and
repeats every key, so top-k selections split ties. For lsh, --ties draws
rows and projections from small integers, so that many dot products are
exactly 0 and many rows share a hash key; without it the rows are Gaussian
and every dot product stays at least 1e-3 away from 0, so that its sign does
not depend on the order of summation. For hyper, the projections come from
--hyper-seed exactly as the pass makes them, and the inputs are redrawn until
every projection of every row is that far from 0 as well (the compiled hash
then equals the reference's, bit for bit).

Exits non-zero (and says why) when a result differs from the reference by
more than the tolerance of its dtype, when a row with no visible key is not
exactly 0 with LSE -inf, or when any result holds a NaN.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from attn_ref import gather, merge, sdpa, sparq, topk
from attn_ref.hyper import (hyper_attention, lsh_sort_bucket,
                            projection_margin, projections)

# |got - ref| <= ATOL + RTOL * |ref|. f32: the kernel accumulates in f32
# (unit roundoff 6e-8) over dot products of D <= 128 terms and sums of
# <= 1e4 weights, and uses a polynomial exp accurate to a few ulp: errors are
# around 1e-6 on outputs of magnitude ~1, so 2e-5 leaves a 10x margin while
# any indexing or masking bug (errors ~0.1-1) fails. f16: the inputs are
# exact in f16 for both sides; the output is rounded to f16 (half an ulp is
# 4.9e-4 relative), hence 2e-3.
TOLERANCES = {"f32": (2e-5, 2e-5), "f16": (2e-3, 2e-3)}
NP_DTYPES = {"f32": np.float32, "f16": np.float16}


def shape(text):
    return tuple(int(d) for d in text.split("x"))


def run(attn_run, mlir, function, inputs, num_outputs, workdir):
    args = [attn_run, mlir, "--function=" + function]
    for i, array in enumerate(inputs):
        path = os.path.join(workdir, "in%d.npy" % i)
        np.save(path, array)
        args.append("--input=@" + path)
    outs = [os.path.join(workdir, "out%d.npy" % i) for i in range(num_outputs)]
    args += ["--output=@" + p for p in outs]
    subprocess.run(args, check=True)
    return [np.load(p) for p in outs]


def compare(name, got, ref, dtype):
    atol, rtol = TOLERANCES[dtype]
    got = got.astype(np.float64)
    if np.isnan(got).any():
        sys.exit("FAIL %s: NaN in the result" % name)
    if got.shape != ref.shape:
        sys.exit("FAIL %s: shape %s, expected %s" % (name, got.shape, ref.shape))
    finite = np.isfinite(ref)
    if not np.array_equal(got[~finite], ref[~finite]):
        sys.exit("FAIL %s: infinities differ from the reference" % name)
    err = np.abs(got[finite] - ref[finite])
    bound = atol + rtol * np.abs(ref[finite])
    worst = float((err / bound).max()) if err.size else 0.0
    print("%s: max abs err %.3g (%.2f of tolerance)" %
          (name, float(err.max()) if err.size else 0.0, worst))
    if worst > 1.0:
        sys.exit("FAIL %s: error above tolerance atol=%g rtol=%g" %
                 (name, atol, rtol))


def check_exact(name, got, ref):
    if got.shape != ref.shape or not np.array_equal(got, ref):
        bad = np.argwhere(got != ref) if got.shape == ref.shape else None
        sys.exit("FAIL %s: differs from the reference%s" %
                 (name, "" if bad is None else " first at %s: got %s, "
                  "expected %s" % (tuple(bad[0]), got[tuple(bad[0])],
                                   ref[tuple(bad[0])])))
    print("%s: exact match, shape %s" % (name, got.shape))


def check_topk(args, rng, workdir):
    if args.ties:
        x = rng.integers(-3, 4, args.input).astype(np.float32)
    else:
        x = rng.standard_normal(args.input).astype(np.float32)
    x.reshape(-1)[5::17] = np.nan
    ref_v, ref_i = topk(x, args.top_k, magnitude=args.magnitude)
    got_v, got_i = run(args.attn_run, args.mlir, args.function, [x], 2,
                       workdir)
    check_exact("indices", got_i.astype(np.int64), ref_i.astype(np.int64))
    check_exact("values", np.nan_to_num(got_v, nan=7.5),
                np.nan_to_num(ref_v, nan=7.5))


def check_gather(args, rng, workdir):
    source = rng.standard_normal(args.input).astype(np.float32)
    # Some indices out of range on both sides: they are clamped.
    n = args.input[args.axis]
    indices = rng.integers(-2, n + 2, args.indices).astype(np.int64)
    ref = gather(source, indices, args.axis)
    got, = run(args.attn_run, args.mlir, args.function, [source, indices], 1,
               workdir)
    check_exact("result", got, ref)


# Every dot product of a hashed row with a projection is kept this far from 0.
LSH_MARGIN = 1e-3


def unambiguous_rows(rng, shape, r, clustered=False):
    """Rows of `shape` whose projections onto `r` are all at least
    LSH_MARGIN away from 0 (offending rows are redrawn)."""
    if clustered:
        x = clustered_rows(rng, shape)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    for _ in range(100):
        dots = np.abs(x.astype(np.float64) @ r.astype(np.float64))
        bad = (dots < LSH_MARGIN).any(axis=-1)
        if not bad.any():
            return x
        x[bad] = rng.standard_normal((int(bad.sum()), shape[-1]))
    sys.exit("could not draw rows with unambiguous hashes")


def clustered_rows(rng, shape, clusters=16):
    """Rows near a few random directions: structure for LSH to find."""
    centers = rng.standard_normal((clusters, shape[-1]))
    which = rng.integers(0, clusters, shape[:-1])
    x = 2.0 * centers[which] + 0.5 * rng.standard_normal(shape)
    return x.astype(np.float32)


def check_lsh(args, rng, workdir):
    d, p = args.projections
    if args.ties:
        x = rng.integers(-2, 3, args.input).astype(np.float32)
        r = rng.integers(-2, 3, (d, p)).astype(np.float32)
    else:
        r = rng.standard_normal((d, p)).astype(np.float32)
        x = unambiguous_rows(rng, args.input, r)
        print("smallest |x . r|: %.3g" % projection_margin(x, r))
    ref_perm, ref_rank = lsh_sort_bucket(x, r)
    got_perm, got_rank = run(args.attn_run, args.mlir, args.function, [x, r],
                             2, workdir)
    check_exact("permutation", got_perm.astype(np.int64), ref_perm)
    check_exact("rank", got_rank.astype(np.int64), ref_rank)


def check_hyper(args, rng, workdir):
    d = args.q[-1]
    r = projections(args.hyper_seed, d, args.num_projs)
    q = unambiguous_rows(rng, args.q, r, args.clustered)
    k = unambiguous_rows(rng, args.k, r, args.clustered)
    v = rng.standard_normal(args.v).astype(np.float32)
    ref_o, ref_l = hyper_attention(
        q, k, v, causal=args.causal, scale=args.scale,
        bucket_size=args.bucket_size, sample_size=args.sample_size,
        num_projs=args.num_projs, min_seq_len=args.min_seq_len,
        seed=args.hyper_seed)
    results = run(args.attn_run, args.mlir, args.function, [q, k, v],
                  2 if args.lse else 1, workdir)
    compare("out", results[0], ref_o, args.dtype)
    if args.lse:
        compare("lse", results[1], ref_l, "f32")
    dense, _ = sdpa(q, k, v, scale=args.scale, causal=args.causal)
    print("relative error of the approximation against dense: %.3g" %
          (np.linalg.norm(ref_o - dense) / np.linalg.norm(dense)))


def sparq_inputs(args, rng, dtype):
    if not args.ties:
        return [rng.standard_normal(s).astype(dtype)
                for s in (args.q, args.k, args.v)]
    # |q| takes two values, so the rank selection splits ties; every key
    # appears twice, so every approximate score ties with another one.
    q = rng.choice([-2.0, -1.0, 1.0, 2.0], args.q).astype(dtype)
    half = args.k[:2] + ((args.k[2] + 1) // 2,) + args.k[3:]
    k = np.repeat(rng.integers(-2, 3, half), 2, axis=2)[:, :, :args.k[2]]
    v = rng.standard_normal(args.v).astype(dtype)
    return [q, k.astype(dtype), v]


def check_sparq(args, rng, dtype, workdir):
    q, k, v = sparq_inputs(args, rng, dtype)
    inputs = [q, k, v]
    value_mean = None
    if args.bandwidth:
        value_mean = v.astype(np.float64).mean(axis=2).astype(dtype)
        inputs += [np.ascontiguousarray(k.transpose(0, 1, 3, 2)), value_mean]
    ref = sparq(q, k, v, args.rank, args.top_k, args.local_window,
                args.group_shared, args.causal, args.scale, value_mean)
    got, = run(args.attn_run, args.mlir, args.function, inputs, 1, workdir)
    compare("out", got, ref, args.dtype)
    if args.also:
        also, = run(args.attn_run, args.mlir, args.also, [q, k, v], 1,
                    workdir)
        compare("out of " + args.also, also, ref, args.dtype)
        diff = float(np.abs(also.astype(np.float64) - got).max())
        print("%s vs %s: max abs difference %.3g" % (args.function, args.also,
                                                     diff))
        compare(args.function + " against " + args.also, got,
                also.astype(np.float64), args.dtype)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mlir")
    parser.add_argument("--attn-run", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--op", choices=["sdpa", "merge", "sparq", "topk",
                                         "gather", "lsh", "hyper"],
                        default="sdpa")
    parser.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    parser.add_argument("--q", type=shape)
    parser.add_argument("--k", type=shape)
    parser.add_argument("--v", type=shape)
    parser.add_argument("--mask")
    parser.add_argument("--mask-rows", default="",
                        help="query indices whose mask drops every key")
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--scale", type=float)
    parser.add_argument("--lse", action="store_true")
    parser.add_argument("--out", type=shape)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--local-window", type=int, default=0)
    parser.add_argument("--group-shared", action="store_true")
    parser.add_argument("--bandwidth", action="store_true")
    parser.add_argument("--ties", action="store_true")
    parser.add_argument("--also")
    parser.add_argument("--magnitude", action="store_true")
    parser.add_argument("--input", type=shape)
    parser.add_argument("--indices", type=shape)
    parser.add_argument("--axis", type=int)
    parser.add_argument("--projections", type=shape)
    parser.add_argument("--bucket-size", type=int, default=256)
    parser.add_argument("--sample-size", type=int, default=256)
    parser.add_argument("--num-projs", type=int, default=7)
    parser.add_argument("--min-seq-len", type=int, default=4096)
    parser.add_argument("--hyper-seed", type=int, default=0)
    parser.add_argument("--clustered", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    dtype = NP_DTYPES[args.dtype]
    with tempfile.TemporaryDirectory() as workdir:
        if args.op == "merge":
            o1 = rng.standard_normal(args.out).astype(dtype)
            o2 = rng.standard_normal(args.out).astype(dtype)
            l1 = (3 * rng.standard_normal(args.out[:-1])).astype(np.float32)
            l2 = (3 * rng.standard_normal(args.out[:-1])).astype(np.float32)
            # Rows with one or both sides empty (-inf).
            l1.reshape(-1)[::5] = -np.inf
            l2.reshape(-1)[::7] = -np.inf
            ref_o, ref_l = merge(o1, l1, o2, l2)
            got_o, got_l = run(args.attn_run, args.mlir, args.function,
                               [o1, l1, o2, l2], 2, workdir)
            compare("out", got_o, ref_o, args.dtype)
            compare("lse", got_l, ref_l, "f32")
            return

        if args.op == "topk":
            return check_topk(args, rng, workdir)
        if args.op == "gather":
            return check_gather(args, rng, workdir)
        if args.op == "sparq":
            return check_sparq(args, rng, dtype, workdir)
        if args.op == "lsh":
            return check_lsh(args, rng, workdir)
        if args.op == "hyper":
            return check_hyper(args, rng, workdir)

        q = rng.standard_normal(args.q).astype(dtype)
        k = rng.standard_normal(args.k).astype(dtype)
        v = rng.standard_normal(args.v).astype(dtype)
        inputs = [q, k, v]
        mask = None
        if args.mask:
            kind, mask_shape = args.mask.split(":")
            mask_shape = shape(mask_shape)
            if kind == "bool":
                mask = rng.random(mask_shape) < 0.7
            else:
                mask = rng.standard_normal(mask_shape).astype(
                    NP_DTYPES[kind])
                mask.reshape(-1)[::3] = -np.inf
            for row in filter(None, args.mask_rows.split(",")):
                mask[..., int(row), :] = False if kind == "bool" else -np.inf
            inputs.append(mask)
        ref_o, ref_l = sdpa(q, k, v, mask=mask, scale=args.scale,
                            causal=args.causal)
        results = run(args.attn_run, args.mlir, args.function, inputs,
                      2 if args.lse else 1, workdir)
        compare("out", results[0], ref_o, args.dtype)
        if args.lse:
            compare("lse", results[1], ref_l, "f32")
        empty = ~np.isfinite(ref_l)
        if empty.any():
            if not np.all(results[0][empty] == 0):
                sys.exit("FAIL: a row with no visible key is not exactly 0")
            print("rows with no visible key: %d, all exactly 0" % empty.sum())


if __name__ == "__main__":
    main()
