"""Dense attention written with upstream linalg/tensor ops, in the shapes
torch-mlir lowers torch.nn.functional.scaled_dot_product_attention to: K
transposed on 4-D, batch_matmul on [B*H, L, D] between collapse_shape and
expand_shape, elementwise linalg.generic for scale and mask, and the softmax
decomposed into keepdim max, subtract, exp, keepdim sum and divide.

torch_sdpa(b, hq, hkv, lq, lk, d, scale_on=..., mask=..., softmax=...)
returns (module text, the scale it applies). For --attn-raise-sdpa tests.
"""

ID4 = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>"
ROW4 = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>"
RED_OUT = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>"
MASK2 = "affine_map<(d0, d1, d2, d3) -> (d2, d3)>"
GQA_IN = "affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>"
ID5 = "affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>"
PAR4 = '["parallel", "parallel", "parallel", "parallel"]'
RED4 = '["parallel", "parallel", "parallel", "reduction"]'


def t(*shape):
    return "tensor<%sxf32>" % "x".join(str(s) for s in shape)


class _Emitter:
    def __init__(self):
        self.lines = []
        self.count = 0

    def fresh(self, stem):
        self.count += 1
        return "%%%s%d" % (stem, self.count)

    def emit(self, text):
        self.lines.append("  " + text)

    def empty(self, shape):
        name = self.fresh("e")
        self.emit("%s = tensor.empty() : %s" % (name, t(*shape)))
        return name

    def fill(self, value, shape):
        name = self.fresh("f")
        self.emit("%s = linalg.fill ins(%s : f32) outs(%s : %s) -> %s" %
                  (name, value, self.empty(shape), t(*shape), t(*shape)))
        return name

    def generic(self, inputs, maps, shape, iterators, body, out=None):
        """inputs: [(value, type)]; body: lines using %a0.. and %out,
        yielding %r."""
        name = self.fresh("g")
        init = out or self.empty(shape)
        args = ", ".join("%%a%d: f32" % i for i in range(len(inputs)))
        ins = ""
        if inputs:
            ins = "ins(%s : %s) " % (", ".join(v for v, _ in inputs),
                                     ", ".join(ty for _, ty in inputs))
        self.emit("%s = linalg.generic {indexing_maps = [%s], "
                  "iterator_types = %s} %souts(%s : %s) {" %
                  (name, ", ".join(maps), iterators, ins, init, t(*shape)))
        self.emit("^bb0(%s%s%%out: f32):" % (args, ", " if args else ""))
        for line in body:
            self.emit("  " + line)
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % t(*shape))
        return name

    def collapse_heads(self, value, b, h, l, d):
        name = self.fresh("c")
        self.emit("%s = tensor.collapse_shape %s [[0, 1], [2], [3]] : %s "
                  "into %s" % (name, value, t(b, h, l, d), t(b * h, l, d)))
        return name

    def expand_heads(self, value, b, h, l, d):
        name = self.fresh("x")
        self.emit("%s = tensor.expand_shape %s [[0, 1], [2], [3]] "
                  "output_shape [%d, %d, %d, %d] : %s into %s" %
                  (name, value, b, h, l, d, t(b * h, l, d), t(b, h, l, d)))
        return name

    def batch_matmul(self, lhs, rhs, n, m, k, p):
        zero = self.fill("%zero", (n, m, p))
        name = self.fresh("mm")
        self.emit("%s = linalg.batch_matmul ins(%s, %s : %s, %s) outs(%s : "
                  "%s) -> %s" % (name, lhs, rhs, t(n, m, k), t(n, k, p),
                                 zero, t(n, m, p), t(n, m, p)))
        return name

    def row_reduce(self, value, shape, combine, init):
        row = shape[:3]
        acc = self.fill(init, row)
        reduced = self.generic([(value, t(*shape))], [ID4, RED_OUT], row,
                               RED4, ["%%r = %s %%a0, %%out : f32" % combine],
                               out=acc)
        name = self.fresh("k")
        self.emit("%s = tensor.expand_shape %s [[0], [1], [2, 3]] "
                  "output_shape [%d, %d, %d, 1] : %s into %s" %
                  (name, reduced, row[0], row[1], row[2], t(*row),
                   t(*row, 1)))
        return name

    def row_binary(self, value, row, shape, op):
        return self.generic([(value, t(*shape)), (row, t(*shape[:3], 1))],
                            [ID4, ROW4, ID4], shape, PAR4,
                            ["%%r = %s %%a0, %%a1 : f32" % op])


def torch_sdpa(b, hq, hkv, lq, lk, d, scale_on="scores", mask="none",
               softmax="decomposed"):
    """scale_on: "scores" (multiply by 1/sqrt(d)), "divide" (divide by
    sqrt(d)), "query" (q * 1/sqrt(d)), "both" (q and k by d**-0.25) or
    "none"; mask: "none", "additive" (a [Lq, Lk] argument) or "causal" (a
    linalg.index/cmpi/select generic); softmax: "decomposed", "no_max" or
    "linalg" (linalg.softmax)."""
    e = _Emitter()
    e.emit("%zero = arith.constant 0.0 : f32")
    e.emit("%ninf = arith.constant 0xFF800000 : f32")
    scale = d ** -0.5
    e.emit("%%scale = arith.constant %r : f64" % scale)
    e.emit("%tscale = arith.truncf %scale : f64 to f32")
    e.emit("%%root = arith.constant %r : f32" % (scale ** 0.5))
    e.emit("%%sqrtd = arith.constant %r : f32" % (d ** 0.5))
    args = ["%%q: %s" % t(b, hq, lq, d), "%%k: %s" % t(b, hkv, lk, d),
            "%%v: %s" % t(b, hkv, lk, d)]
    if mask == "additive":
        args.append("%%mask: %s" % t(lq, lk))

    def scaled(value, shape, factor):
        return e.generic([(value, t(*shape))], [ID4, ID4], shape, PAR4,
                         ["%%r = arith.mulf %%a0, %s : f32" % factor])

    # repeat_interleave of K and V over the group (enable_gqa).
    def grouped(value):
        if hq == hkv:
            return value
        group = hq // hkv
        unsq = e.fresh("u")
        e.emit("%s = tensor.expand_shape %s [[0], [1, 2], [3], [4]] "
               "output_shape [%d, %d, 1, %d, %d] : %s into "
               "tensor<%dx%dx1x%dx%dxf32>" %
               (unsq, value, b, hkv, lk, d, t(b, hkv, lk, d), b, hkv, lk, d))
        init = e.fresh("e")
        e.emit("%s = tensor.empty() : tensor<%dx%dx%dx%dx%dxf32>" %
               (init, b, hkv, group, lk, d))
        bcast = e.fresh("b")
        e.emit("%s = linalg.generic {indexing_maps = [%s, %s], "
               "iterator_types = [\"parallel\", \"parallel\", \"parallel\", "
               "\"parallel\", \"parallel\"]} ins(%s : "
               "tensor<%dx%dx1x%dx%dxf32>) outs(%s : "
               "tensor<%dx%dx%dx%dx%dxf32>) {" %
               (bcast, GQA_IN, ID5, unsq, b, hkv, lk, d, init, b, hkv, group,
                lk, d))
        e.emit("^bb0(%in: f32, %out: f32):")
        e.emit("  linalg.yield %in : f32")
        e.emit("} -> tensor<%dx%dx%dx%dx%dxf32>" % (b, hkv, group, lk, d))
        name = e.fresh("r")
        e.emit("%s = tensor.collapse_shape %s [[0], [1, 2], [3], [4]] : "
               "tensor<%dx%dx%dx%dx%dxf32> into %s" %
               (name, bcast, b, hkv, group, lk, d, t(b, hq, lk, d)))
        return name

    q, k, v = "%q", grouped("%k"), grouped("%v")
    if scale_on in ("query", "both"):
        q = scaled(q, (b, hq, lq, d), "%root" if scale_on == "both" else
                   "%tscale")
    kt = e.fresh("kt")
    e.emit("%s = linalg.transpose ins(%s : %s) outs(%s : %s) "
           "permutation = [0, 1, 3, 2]" %
           (kt, k, t(b, hq, lk, d), e.empty((b, hq, d, lk)), t(b, hq, d, lk)))
    if scale_on == "both":
        kt = scaled(kt, (b, hq, d, lk), "%root")
    s3 = e.batch_matmul(e.collapse_heads(q, b, hq, lq, d),
                        e.collapse_heads(kt, b, hq, d, lk), b * hq, lq, d, lk)
    shape = (b, hq, lq, lk)
    s = e.expand_heads(s3, b, hq, lq, lk)
    if scale_on == "scores":
        s = e.generic([(s, t(*shape))], [ID4, ID4], shape, PAR4,
                      ["%t = arith.truncf %scale : f64 to f32",
                       "%r = arith.mulf %a0, %t : f32"])
    elif scale_on == "divide":
        s = e.generic([(s, t(*shape))], [ID4, ID4], shape, PAR4,
                      ["%r = arith.divf %a0, %sqrtd : f32"])
    if mask == "additive":
        s = e.generic([(s, t(*shape)), ("%mask", t(lq, lk))],
                      [ID4, MASK2, ID4], shape, PAR4,
                      ["%r = arith.addf %a0, %a1 : f32"])
    elif mask == "causal":
        bias = e.generic([], [ID4], shape, PAR4,
                         ["%i = linalg.index 2 : index",
                          "%j = linalg.index 3 : index",
                          "%keep = arith.cmpi ule, %j, %i : index",
                          "%r = arith.select %keep, %zero, %ninf : f32"])
        s = e.generic([(s, t(*shape)), (bias, t(*shape))], [ID4, ID4, ID4],
                      shape, PAR4, ["%r = arith.addf %a0, %a1 : f32"])
    if softmax == "linalg":
        p = e.fresh("p")
        e.emit("%s = linalg.softmax dimension(3) ins(%s : %s) outs(%s : %s)"
               " -> %s" % (p, s, t(*shape), e.empty(shape), t(*shape),
                           t(*shape)))
    else:
        shifted = s
        if softmax == "decomposed":
            mx = e.row_reduce(s, shape, "arith.maximumf", "%ninf")
            shifted = e.row_binary(s, mx, shape, "arith.subf")
        ex = e.generic([(shifted, t(*shape))], [ID4, ID4], shape, PAR4,
                       ["%r = math.exp %a0 : f32"])
        total = e.row_reduce(ex, shape, "arith.addf", "%zero")
        p = e.row_binary(ex, total, shape, "arith.divf")
    o3 = e.batch_matmul(e.collapse_heads(p, b, hq, lq, lk),
                        e.collapse_heads(v, b, hq, lk, d), b * hq, lq, lk, d)
    o = e.expand_heads(o3, b, hq, lq, d)
    e.emit("return %s : %s" % (o, t(b, hq, lq, d)))
    applied = 1.0 if scale_on == "none" else scale
    text = ("func.func @sdpa(%s) -> %s {\n" % (", ".join(args),
                                               t(b, hq, lq, d))
            + "\n".join(e.lines) + "\n}\n")
    return text, applied
