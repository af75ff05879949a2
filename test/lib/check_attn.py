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
      [--poly-exp=DEGREE[:N_MAX]]
  %check-attn %s --function=NAME --op=poly_exp --input=SHAPE [--degree=D]
      [--n-max=N] [--coefficients=C0,C1,...] [--range=LO,HI]
      [--exp-bound=B] [--dtype=...]
  %check-attn %s --function=NAME --op=quantize --input=SHAPE --axis=A
      --group-size=G --bits=B [--low-priority-heads=N] [--ties]
      [--also=DEQUANTIZE_FUNCTION]
  %check-attn %s --function=NAME --op=qsdpa --q=... --k=... --v=...
      --bits=B --group-size=G [--qk-int8] [--pv-int8] [--causal]
      [--low-priority-heads=N] [--prequantized] [--poly-exp=...]
      [--dense-bound=E] [--pv-bound=E]

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

For poly_exp the result must equal the float32 NumPy evaluation of the same
formula bit for bit (inputs: a spread over [-60, 0] with 0, -0, -inf, NaN,
positive and below-range values, or uniform in --range); --exp-bound also
bounds the relative error against exp. For quantize every result must equal
the NumPy reference of ALGORITHMS.md §5 bit for bit; --ties makes every group
hold 127 and half-integers, so that stage 1 rounds exact ties; --also runs a
dequantize function on the reference codes and requires its result bit for
bit. For qsdpa the result is checked against attention over the reference's
dequantized K and V (and INT8 Q with --qk-int8) at the f32 tolerance
(--pv-bound replaces it with --pv-int8, whose rounded weights the reference
does not model), and against dense attention on the float inputs: the max
abs error must stay within --dense-bound. --prequantized passes the
reference's codes and scales as inputs instead of q, k, v. --poly-exp makes
the references' softmaxes use the polynomial exp; the tolerance then grows
by the polynomial's relative error (2e-4 cubic, 4e-3 quadratic), which the
online softmax can compound across its rescalings, times 4.

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

from attn_mlir.reference import gather, merge, sdpa, sparq, topk
from attn_mlir.reference.turbo import (dequantize, poly_exp, poly_exp64,
                                       quantize, quantized_sdpa)
from attn_mlir.reference.hyper import (hyper_attention, lsh_sort_bucket,
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
        np.save(path, np.ascontiguousarray(array))
        args.append("--input=@" + path)
    outs = [os.path.join(workdir, "out%d.npy" % i) for i in range(num_outputs)]
    args += ["--output=@" + p for p in outs]
    subprocess.run(args, check=True)
    return [np.load(p) for p in outs]


def compare(name, got, ref, dtype, extra=0.0):
    """Checks got against ref at the tolerance of dtype, both parts widened
    by `extra`."""
    atol, rtol = (t + extra for t in TOLERANCES[dtype])
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
    equal_nan = got.dtype.kind == "f"
    if got.shape != ref.shape or not np.array_equal(got, ref,
                                                    equal_nan=equal_nan):
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
    exp, extra = softmax_exp(args)
    ref_o, ref_l = hyper_attention(
        q, k, v, causal=args.causal, scale=args.scale,
        bucket_size=args.bucket_size, sample_size=args.sample_size,
        num_projs=args.num_projs, min_seq_len=args.min_seq_len,
        seed=args.hyper_seed, exp=exp)
    results = run(args.attn_run, args.mlir, args.function, [q, k, v],
                  2 if args.lse else 1, workdir)
    compare("out", results[0], ref_o, args.dtype, extra)
    if args.lse:
        compare("lse", results[1], ref_l, "f32", extra)
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
    exp, extra = softmax_exp(args)
    ref = sparq(q, k, v, args.rank, args.top_k, args.local_window,
                args.group_shared, args.causal, args.scale, value_mean, exp)
    got, = run(args.attn_run, args.mlir, args.function, inputs, 1, workdir)
    compare("out", got, ref, args.dtype, extra)
    if args.also:
        also, = run(args.attn_run, args.mlir, args.also, [q, k, v], 1,
                    workdir)
        compare("out of " + args.also, also, ref, args.dtype)
        diff = float(np.abs(also.astype(np.float64) - got).max())
        print("%s vs %s: max abs difference %.3g" % (args.function, args.also,
                                                     diff))
        compare(args.function + " against " + args.also, got,
                also.astype(np.float64), args.dtype)


# Relative error of the polynomial against exp, by degree (measured on
# [-20, 0]: 1.9e-4 and 3.8e-3).
POLY_ERROR = {3: 2e-4, 2: 4e-3}


def softmax_exp(args):
    """The references' softmax exp and the tolerance it adds."""
    if not args.poly_exp:
        return np.exp, 0.0
    degree, _, n_max = args.poly_exp.partition(":")
    degree, n_max = int(degree), int(n_max) if n_max else None
    return (lambda x: poly_exp64(x, degree, n_max)), 4 * POLY_ERROR[degree]


def check_poly_exp(args, rng, dtype, workdir):
    if args.range:
        lo, hi = (float(t) for t in args.range.split(","))
        x = rng.uniform(lo, hi, args.input).astype(dtype)
    else:
        x = (-rng.exponential(10.0, args.input)).astype(dtype)
        specials = [0.0, -0.0, -np.inf, np.nan, 2.5, -1e-30, -87.0, -88.7,
                    -300.0, -np.log(2.0), -20 * np.log(2.0)]
        x.reshape(-1)[:len(specials)] = specials
    coefficients = ([float(c) for c in args.coefficients.split(",")]
                    if args.coefficients else None)
    ref = poly_exp(x, args.degree, coefficients, args.n_max)
    got, = run(args.attn_run, args.mlir, args.function, [x], 1, workdir)
    check_exact("result", got, ref)
    if args.exp_bound:
        exact = np.exp(x.astype(np.float64))
        rel = float((np.abs(got.astype(np.float64) - exact) / exact).max())
        print("max relative error against exp: %.3g (bound %g)" %
              (rel, args.exp_bound))
        if rel > args.exp_bound:
            sys.exit("FAIL: relative error against exp above the bound")


def quantize_input(args, rng, dtype):
    x = rng.standard_normal(args.input)
    if len(args.input) == 4:
        # Heads of clearly different priority: head h spreads its channels
        # over a range that grows with h.
        heads, dim = args.input[1], args.input[3]
        x *= 1 + np.arange(heads)[None, :, None, None] * \
            np.linspace(0, 1, dim)[None, None, None, :]
    xt = np.moveaxis(x, args.axis, -1)
    if args.ties:
        # Group max 127 (s1 = 1) and half-integers: x / s1 ties exactly.
        xt[...] = rng.integers(-253, 254, xt.shape) / 2.0
        xt[..., ::args.group_size] = 127.0
    # All-zero groups: the first group of every third row.
    xt[::3, ..., :args.group_size] = 0.0
    return x.astype(dtype)


def check_quantize(args, rng, dtype, workdir):
    x = quantize_input(args, rng, dtype)
    ref = quantize(x, args.axis, args.group_size, args.bits,
                   args.low_priority_heads)
    got = run(args.attn_run, args.mlir, args.function, [x], len(ref),
              workdir)
    for name, g, r in zip(["codes", "scale", "step", "zero"], got, ref):
        check_exact(name, g, r)
    if args.also:
        back, = run(args.attn_run, args.mlir, args.also, list(ref), 1,
                    workdir)
        pad = (None, None) if args.bits == 8 else ()
        check_exact("dequantized", back,
                    dequantize(*ref, *pad, args.axis, args.group_size,
                               args.bits, x.shape, dtype))


def check_qsdpa(args, rng, dtype, workdir):
    q, k, v = (rng.standard_normal(s).astype(dtype)
               for s in (args.q, args.k, args.v))
    exp, extra = softmax_exp(args)
    inputs = [q, k, v]
    if args.prequantized:
        inputs = ([q] + list(quantize(k, 3, args.group_size, args.bits)) +
                  list(quantize(v, 2, args.group_size, args.bits)))
    got, = run(args.attn_run, args.mlir, args.function, inputs, 1, workdir)
    ref = quantized_sdpa(q, k, v, args.bits, args.group_size, args.qk_int8,
                         args.causal, args.scale, args.low_priority_heads,
                         exp)
    if args.pv_int8:
        extra += args.pv_bound
    compare("out against the quantized reference", got, ref, args.dtype,
                 extra)
    dense = sdpa(q, k, v, scale=args.scale, causal=args.causal, exp=exp)[0]
    err = float(np.abs(got.astype(np.float64) - dense).max())
    rel = float(np.linalg.norm(got - dense) / np.linalg.norm(dense))
    print("against dense attention: max abs err %.3g (bound %g), relative "
          "L2 %.3g" % (err, args.dense_bound, rel))
    if err > args.dense_bound:
        sys.exit("FAIL: error against dense attention above the bound")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mlir")
    parser.add_argument("--attn-run", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--op", choices=["sdpa", "merge", "sparq", "topk",
                                         "gather", "lsh", "hyper",
                                         "poly_exp", "quantize", "qsdpa"],
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
    parser.add_argument("--poly-exp")
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--n-max", type=int)
    parser.add_argument("--coefficients")
    parser.add_argument("--range")
    parser.add_argument("--exp-bound", type=float)
    parser.add_argument("--group-size", type=int)
    parser.add_argument("--bits", type=int)
    parser.add_argument("--low-priority-heads", type=int)
    parser.add_argument("--qk-int8", action="store_true")
    parser.add_argument("--pv-int8", action="store_true")
    parser.add_argument("--prequantized", action="store_true")
    parser.add_argument("--dense-bound", type=float, default=np.inf)
    parser.add_argument("--pv-bound", type=float, default=0.0)
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
        if args.op == "poly_exp":
            return check_poly_exp(args, rng, dtype, workdir)
        if args.op == "quantize":
            return check_quantize(args, rng, dtype, workdir)
        if args.op == "qsdpa":
            return check_qsdpa(args, rng, dtype, workdir)

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
        exp, extra = softmax_exp(args)
        ref_o, ref_l = sdpa(q, k, v, mask=mask, scale=args.scale,
                            causal=args.causal, exp=exp)
        results = run(args.attn_run, args.mlir, args.function, inputs,
                      2 if args.lse else 1, workdir)
        compare("out", results[0], ref_o, args.dtype, extra)
        if args.lse:
            compare("lse", results[1], ref_l, "f32", extra)
        empty = ~np.isfinite(ref_l)
        if empty.any():
            if not np.all(results[0][empty] == 0):
                sys.exit("FAIL: a row with no visible key is not exactly 0")
            print("rows with no visible key: %d, all exactly 0" % empty.sum())


if __name__ == "__main__":
    main()
