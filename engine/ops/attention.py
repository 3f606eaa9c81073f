"""Attention family: KV-cache append, scores, softmax, weighted sum (grouped-query attention).

kv_append (prev: state cache (context, kvd); new: (kvd,)) -> cache (context, kvd):
    row p (this token's position) = new; rows < p = prev's rows; rows > p = 0.
attn_scores (q: (H*hd,) at fq; K: cache at fk; params n_heads, n_kv_heads, head_dim, fy, width) -> (H, p+1):
    s[h, j] = saturate(round_shift(dot(q_h, K[j, g*hd:(g+1)*hd]) * cm, fq + fk + cs - fy), width)
    with g = h // (H / H_kv) and cm * 2^-cs = floor(2^30/sqrt(hd)) * 2^-30 (trailing zero bits stripped,
    so hd = 64 gives cm = 1, cs = 3: exactly 1/8).
softmax (s: (H, n) at 16) -> (H, n) Q30: fixedpoint softmax per row.
attn_mix_partial (p: (H, n) Q30; V: cache at fv; params chunk, fp, fv, head_dim, n_heads, n_kv_heads, width)
    -> (ceil(n/chunk), H*hd) at fp, the weighted sum of V over each chunk of ``chunk`` positions:
    part[c, h*hd + d] = saturate(round_shift(sum_{c*chunk <= r < min(n, (c+1)*chunk)} p[h, r] * V[r, g*hd + d],
                                             30 + fv - fp), width)
attn_mix (part: (C, W) at fp; params fp, fy, width) -> (W,), the sum of the partials:
    y[j] = saturate(round_shift(sum_{c<C} part[c, j], fp - fy), width)
Splitting the sum over positions into chunks keeps every one-step's fan-in bounded: a partial reads one chunk
of one probability row and the matching ``chunk`` V elements; the sum reads C = ceil(n/chunk) partials.
Ranges: p >= 0 and sum_r p[h, r] <= 2^30 + n/2 (softmax rows), so a chunk's sum is within
|V|max * (2^30 + n/2) < 2^31 * 2^31 = 2^62 and the C partials' sum within C * 2^31: no int64 overflow.
With the llama template (fv = 16, fp = 20, fy = 12, width 32) a partial saturates only where the weighted mean
of V passes 2^11 in value (SmolLM2's V stays below 2^4 on tests/data/prompts.txt); rounding the partials adds
at most C/2 LSB at fp, C/2^9 LSB of the output.
"""

from __future__ import annotations

import functools

import numpy as np

from fixedpoint import ref, vec
from fixedpoint.formats import INT64_MAX
from fixedpoint.vec.layers import softmax_rows as _fast_softmax

from ..values import I32_MAX, Rows
from . import Ctx, Op, _fast, operand, register, shift, size, width


@functools.lru_cache(maxsize=64)
def _score_scale(head_dim: int) -> tuple[int, int]:
    """(cm, cs) with cm * 2^-cs == floor(2^30 / sqrt(head_dim)) * 2^-30 and cm odd (or 0)."""
    c = ref.rsqrt_floor(head_dim, 0, 30)
    cs = 30
    while c and c % 2 == 0 and cs > 0:
        c //= 2
        cs -= 1
    return c, cs


def _group(ins, h: int) -> int:
    return h // (int(ins.p("n_heads")) // int(ins.p("n_kv_heads")))


def _sat_bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _fast_cache(c) -> bool:
    """A cache the compiled kernels read: an engine-built Rows (int32 buffer with its row maxima)."""
    return isinstance(c, Rows) and c.buf.dtype == np.int32 and c.amax is not None


def _amax(a: np.ndarray) -> int:
    return int(_fast.absmax(a.reshape(a.shape[0], -1))) if a.size else 0


class _Params:
    """An attention instruction's static numbers, read once per loaded model (Op.plan) instead of per call."""

    def __init__(self, ins, keys):
        for k in keys:
            setattr(self, k, int(ins.p(k)))


def _params(op, ins, ctx, keys):
    pl = ctx.plans.get((op.name, ins.name))
    if pl is None:
        pl = ctx.plans[(op.name, ins.name)] = _Params(ins, keys)
    return pl


@register
class KVAppend(Op):
    name = "kv_append"
    opcode = 0x40
    family = "attention"
    params = (size("width_elems"),)
    operands = (operand("prev", "state"), operand("new"))
    solidity = "AttentionFamily"

    def shape(self, ins, in_shapes, ctx):
        (cap, w), (n,) = in_shapes
        if n != w:
            raise ValueError(f"{ins.name}: row of {n} elements for a cache of width {w}")
        return (cap, w)

    def empty_state(self, ins, ctx):
        return Rows.empty(ctx.program.context, int(ins.p("width_elems")))

    def run(self, ins, args, ctx: Ctx):
        prev, new = args
        return prev.appended(np.asarray(new), ctx.position)

    def run_many(self, ins, args, ctx: Ctx):
        """The caches after each of the block's appends (prev: the cache before the block; new: (T, width))."""
        prev, new = args
        return prev.appended_rows(np.asarray(new).reshape(ctx.count, -1), ctx.position)

    def element(self, ins, args, ctx, j):
        prev, new = args
        w = prev.shape[1]
        r, c = divmod(j, w)
        p = ctx.position
        return int(new[c]) if r == p else prev.get(r, c) if r < p else 0

    def fan_in(self, ins, args, ctx, j):
        prev, _ = args
        r, c = divmod(j, prev.shape[1])
        if r == ctx.position:
            return [(1, c, c + 1)]
        return [(0, j, j + 1)] if r < ctx.position else []


@register
class AttnScores(Op):
    name = "attn_scores"
    opcode = 0x41
    family = "attention"
    params = (shift("fk"), shift("fq"), shift("fy"), size("head_dim"), size("n_heads"), size("n_kv_heads"), width())
    operands = (operand("q"), operand("K"))
    solidity = "AttentionFamily"

    def shape(self, ins, in_shapes, ctx):
        return (int(ins.p("n_heads")), ctx.position + 1)

    def _shift(self, ins, cs):
        return int(ins.p("fq")) + int(ins.p("fk")) + cs - int(ins.p("fy"))

    _KEYS = ("n_heads", "n_kv_heads", "head_dim", "width")

    def run(self, ins, args, ctx: Ctx):
        q, K = args
        return self._one(ins, np.asarray(q), K, ctx.position + 1, _params(self, ins, ctx, self._KEYS))

    def run_many(self, ins, args, ctx: Ctx):
        q, Ks = args
        pl = _params(self, ins, ctx, self._KEYS)
        return [self._one(ins, q[t], Ks[t], ctx.position + t + 1, pl) for t in range(ctx.count)]

    def _one(self, ins, q, K, n, pl):
        H, Hkv, hd = pl.n_heads, pl.n_kv_heads, pl.head_dim
        cm, cs = _score_scale(hd)
        sh = self._shift(ins, cs)
        if _fast_cache(K) and q.dtype == np.int64 and n <= K.n and 0 <= sh <= 62:
            kmax = int(_fast.rows_max(K.amax, n))
            qmax = _amax(q.reshape(1, -1))
            if hd * qmax * kmax * cm + (1 << max(sh - 1, 0)) <= INT64_MAX:
                out = np.empty((H, n), np.int64)
                lo, hi = _sat_bounds(pl.width)
                # int32 q (when it fits) makes the products 32 x 32 -> 64-bit multiplies (vpmuldq)
                qk = q.astype(np.int32) if qmax <= I32_MAX else np.ascontiguousarray(q)
                _fast.scores(qk, K.buf, n, H, H // Hkv, hd, cm, sh, lo, hi, out)
                return out
        G = H // Hkv
        rows = np.zeros((n, K.shape[1]), np.int64)  # rows past the cache's are 0 (as K.get)
        m = min(n, K.n)
        rows[:m] = K.buf[:m]
        keys = rows.reshape(n, Hkv, hd).transpose(1, 2, 0)  # (Hkv, hd, n)
        out = vec.bmm_exact(q.reshape(Hkv, G, hd), np.ascontiguousarray(keys))  # per group, (G, hd) @ (hd, n)
        out = vec.mul_round_shift(out.reshape(H, n), cm, sh)
        return vec.saturate(out, pl.width)

    def element(self, ins, args, ctx, j):
        q, K = args
        hd = int(ins.p("head_dim"))
        cm, cs = _score_scale(hd)
        h, r = divmod(j, ctx.position + 1)
        g = _group(ins, h)
        dot = sum(int(q[h * hd + d]) * K.get(r, g * hd + d) for d in range(hd))
        return ref.saturate(ref.mul_round_shift(dot, cm, self._shift(ins, cs)), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        q, K = args
        hd = int(ins.p("head_dim"))
        h, r = divmod(j, ctx.position + 1)
        g, kvd = _group(ins, h), K.shape[1]
        return [(0, h * hd, (h + 1) * hd), (1, r * kvd + g * hd, r * kvd + (g + 1) * hd)]


@register
class Softmax(Op):
    name = "softmax"
    opcode = 0x42
    family = "attention"
    params = ()
    operands = (operand("s"),)
    solidity = "AttentionFamily"

    def shape(self, ins, in_shapes, ctx):
        return in_shapes[0]

    def run(self, ins, args, ctx: Ctx):
        s = args[0]
        if isinstance(s, np.ndarray) and s.ndim == 2 and s.shape[1] and s.dtype == np.int64:
            out = np.empty(s.shape, np.int64)
            _fast_softmax(s, out)
            return out
        return vec.softmax(s)

    def run_many(self, ins, args, ctx: Ctx):
        return [self.run(ins, [s], ctx) for s in args[0]]

    def element(self, ins, args, ctx, j):
        s = args[0]
        n = s.shape[1]
        h, c = divmod(j, n)
        return ref.softmax([int(v) for v in s[h]])[c]

    def fan_in(self, ins, args, ctx, j):
        n = args[0].shape[1]
        h = j // n
        return [(0, h * n, (h + 1) * n)]


@register
class AttnMixPartial(Op):
    """part[c, h*hd + d] = saturate(round_shift(sum_{c*chunk <= r < min(n, (c+1)*chunk)} p[h, r] * V[r, g*hd + d],
    30 + fv - fp), width) for p: (H, n) Q30 (n = position + 1), V: the (context, H_kv*hd) cache at fv,
    g = h // (H / H_kv); output (ceil(n/chunk), H*hd) at fp.

    Range: softmax rows have p >= 0 and sum_r p[h, r] <= 2^30 + n/2, so |sum| <= max|V| * (2^30 + n/2) < 2^62
    for |V| < 2^31 (i32) and n < 2^31: exact in int64. The fan-in of one element: one chunk of one row of p
    (``chunk`` elements) and one V column over the chunk's rows (``chunk`` elements, one leaf each).
    """

    name = "attn_mix_partial"
    opcode = 0x44
    family = "attention"
    params = (size("chunk"), shift("fp"), shift("fv"), size("head_dim"), size("n_heads"), size("n_kv_heads"), width())
    operands = (operand("p"), operand("V"))
    solidity = "AttentionFamily"

    def shape(self, ins, in_shapes, ctx):
        n = in_shapes[0][1]
        return (-(-n // int(ins.p("chunk"))), int(ins.p("n_heads")) * int(ins.p("head_dim")))

    def _shift(self, ins):
        return 30 + int(ins.p("fv")) - int(ins.p("fp"))

    _KEYS = ("n_heads", "n_kv_heads", "head_dim", "chunk", "width")

    def run(self, ins, args, ctx: Ctx):
        p, V = args
        return self._one(ins, p, V, _params(self, ins, ctx, self._KEYS))

    def run_many(self, ins, args, ctx: Ctx):
        ps, Vs = args
        pl = _params(self, ins, ctx, self._KEYS)
        return [self._one(ins, ps[t], Vs[t], pl) for t in range(ctx.count)]

    def _one(self, ins, p, V, pl):
        H, Hkv, hd, c = pl.n_heads, pl.n_kv_heads, pl.head_dim, pl.chunk
        n = p.shape[1]
        C, G = -(-n // c), H // Hkv
        m = min(n, V.n)  # rows past the cache's are 0 (as V.get)
        sh = self._shift(ins)
        if _fast_cache(V) and p.dtype == np.int64 and p.ndim == 2 and 0 <= sh <= 62:
            bound = c * _amax(p) * int(_fast.rows_max(V.amax, m)) + (1 << max(sh - 1, 0))
            if bound <= INT64_MAX:
                out = np.empty((C, H * hd), np.int64)
                lo, hi = _sat_bounds(pl.width)
                _fast.mix_partial(np.ascontiguousarray(p), V.buf, m, H, G, hd, c, sh, lo, hi, out)
                return out
        vals = np.zeros((C * c, V.shape[1]), dtype=np.int64)  # zero rows pad the last chunk: they add nothing
        vals[:m] = V.buf[:m]
        pp = np.zeros((H, C * c), dtype=np.int64)
        pp[:, :n] = p
        a = pp.reshape(Hkv, G, C, c).transpose(0, 2, 1, 3).reshape(Hkv * C, G, c)
        b = vals.reshape(C, c, Hkv, hd).transpose(2, 0, 1, 3).reshape(Hkv * C, c, hd)
        out = vec.bmm_exact(a, b).reshape(Hkv, C, G, hd)  # per group and chunk, (G, chunk) @ (chunk, hd)
        out = vec.round_shift(out.transpose(1, 0, 2, 3).reshape(C, H * hd), sh)
        return vec.saturate(out, pl.width)

    def _span(self, ins, n, j):
        """(r0, r1, h, column of V) of element j: the chunk's positions [r0, r1) and the head."""
        hd, c = int(ins.p("head_dim")), int(ins.p("chunk"))
        ci, hj = divmod(j, int(ins.p("n_heads")) * hd)
        h, d = divmod(hj, hd)
        return ci * c, min(n, (ci + 1) * c), h, _group(ins, h) * hd + d

    def element(self, ins, args, ctx, j):
        p, V = args
        r0, r1, h, col = self._span(ins, p.shape[1], j)
        acc = sum(int(p[h, r]) * V.get(r, col) for r in range(r0, r1))
        return ref.saturate(ref.round_shift(acc, self._shift(ins)), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        p, V = args
        n, kvd = p.shape[1], V.shape[1]
        r0, r1, h, col = self._span(ins, n, j)
        return [(0, h * n + r0, h * n + r1)] + [(1, r * kvd + col, r * kvd + col + 1) for r in range(r0, r1)]


@register
class AttnMix(Op):
    """y[j] = saturate(round_shift(sum_{c<C} part[c, j], fp - fy), width) for part: (C, W) at fp, the
    attn_mix_partial chunks; output (W,) at fy.

    Range: |part| < 2^31 (i32), so |sum| < C * 2^31: exact in int64 for C < 2^32. The fan-in of one element:
    the C partials of column j (stride W, one leaf each).
    """

    name = "attn_mix"
    opcode = 0x43
    family = "attention"
    params = (shift("fp"), shift("fy"), width())
    operands = (operand("part"),)
    solidity = "AttentionFamily"

    def shape(self, ins, in_shapes, ctx):
        return (in_shapes[0][1],)

    def _shift(self, ins):
        return int(ins.p("fp")) - int(ins.p("fy"))

    def run(self, ins, args, ctx: Ctx):
        part = args[0]
        sh, w = self._shift(ins), int(ins.p("width"))
        fast = isinstance(part, np.ndarray) and part.dtype == np.int64 and part.ndim == 2 and 0 <= sh <= 62
        if fast and part.shape[0] * _amax(part) + (1 << max(sh - 1, 0)) <= INT64_MAX:
            out = np.empty(part.shape[1], np.int64)
            lo, hi = _sat_bounds(w)
            _fast.mix_sum(np.ascontiguousarray(part), sh, lo, hi, out)
            return out
        pmax = max(-int(part.min()), int(part.max())) if part.size else 0
        if part.shape[0] * pmax <= INT64_MAX:  # every partial sum fits: a plain sum is exact
            acc = part.sum(axis=0)
        else:
            acc = vec.matmul_exact(np.ones(part.shape[0], dtype=np.int64), part)  # exact, raises past int64
        return vec.saturate(vec.round_shift(acc, self._shift(ins)), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        part = args[0]
        acc = sum(int(part[c, j]) for c in range(part.shape[0]))
        return ref.saturate(ref.round_shift(acc, self._shift(ins)), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        C, W = args[0].shape
        return [(0, c * W + j, c * W + j + 1) for c in range(C)]
