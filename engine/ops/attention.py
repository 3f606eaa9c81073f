"""Attention family: KV-cache append, scores, softmax, weighted sum (grouped-query attention).

kv_append (prev: state cache (context, kvd); new: (kvd,)) -> cache (context, kvd):
    row p (this token's position) = new; rows < p = prev's rows; rows > p = 0.
attn_scores (q: (H*hd,) at fq; K: cache at fk; params n_heads, n_kv_heads, head_dim, fy, width) -> (H, p+1):
    s[h, j] = saturate(round_shift(dot(q_h, K[j, g*hd:(g+1)*hd]) * cm, fq + fk + cs - fy), width)
    with g = h // (H / H_kv) and cm * 2^-cs = floor(2^30/sqrt(hd)) * 2^-30 (trailing zero bits stripped,
    so hd = 64 gives cm = 1, cs = 3: exactly 1/8).
softmax (s: (H, n) at 16) -> (H, n) Q30: fixedpoint softmax per row.
attn_mix (p: (H, n) Q30; V: cache at fv; params ..., fy, width) -> (H*hd,):
    y[h*hd + d] = saturate(round_shift(sum_{j<n} p[h, j] * V[j, g*hd + d], 30 + fv - fy), width)
    (p >= 0 and sum_j p[h, j] <= 2^30 + n/2, so the sum stays within |V| * 2^31: no int64 overflow).
"""
from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from . import Ctx, Op, register


class Rows:
    """A KV cache: logical shape (capacity, width); only the first ``n`` rows are stored (the rest are 0).

    Appending shares one growing buffer between successive tokens: rows below n never change, so the
    previous token's Rows (a smaller n) stays valid.
    """

    __slots__ = ("buf", "n", "capacity")

    def __init__(self, buf: np.ndarray, n: int, capacity: int):
        self.buf, self.n, self.capacity = buf, n, capacity

    @classmethod
    def empty(cls, capacity: int, width: int) -> "Rows":
        return cls(np.zeros((16, width), dtype=np.int64), 0, capacity)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.capacity, self.buf.shape[1])

    @property
    def valid(self) -> np.ndarray:
        return self.buf[: self.n]

    @property
    def size(self) -> int:
        return self.capacity * self.buf.shape[1]

    def appended(self, row: np.ndarray, at: int) -> "Rows":
        if at != self.n:
            raise ValueError(f"KV append at position {at} but the cache holds {self.n} rows")
        if at >= self.capacity:
            raise ValueError(f"KV cache full: position {at} >= context {self.capacity}")
        buf = self.buf
        if at >= buf.shape[0]:
            buf = np.zeros((min(self.capacity, 2 * buf.shape[0]), buf.shape[1]), dtype=np.int64)
            buf[: self.n] = self.buf[: self.n]
        buf[at] = row
        return Rows(buf, at + 1, self.capacity)

    def get(self, r: int, c: int) -> int:
        return int(self.buf[r, c]) if r < self.n else 0

    def to_array(self) -> np.ndarray:
        """The full logical tensor (tests and small models only)."""
        out = np.zeros(self.shape, dtype=np.int64)
        out[: self.n] = self.valid
        return out


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


@register
class KVAppend(Op):
    name = "kv_append"
    opcode = 0x40
    family = "attention"

    def shape(self, ins, in_shapes, ctx):
        (cap, w), (n,) = in_shapes
        if n != w:
            raise ValueError(f"{ins.name}: row of {n} elements for a cache of width {w}")
        return (cap, w)

    def empty_state(self, ins, ctx):
        return Rows.empty(ctx.program.context, int(ins.p("width_elems")))

    def run(self, ins, args, ctx: Ctx):
        prev, new = args
        return prev.appended(np.asarray(new, dtype=np.int64), ctx.position)

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

    def shape(self, ins, in_shapes, ctx):
        return (int(ins.p("n_heads")), ctx.position + 1)

    def _shift(self, ins, cs):
        return int(ins.p("fq")) + int(ins.p("fk")) + cs - int(ins.p("fy"))

    def run(self, ins, args, ctx: Ctx):
        q, K = args
        H, Hkv, hd = int(ins.p("n_heads")), int(ins.p("n_kv_heads")), int(ins.p("head_dim"))
        cm, cs = _score_scale(hd)
        n = ctx.position + 1
        G = H // Hkv
        keys = K.buf[:n].reshape(n, Hkv, hd)
        qg = q.reshape(Hkv, G, hd)
        out = np.empty((Hkv, G, n), dtype=np.int64)
        for g in range(Hkv):                                 # (G, hd) @ (hd, n): all query heads of a group
            out[g] = vec.matmul_exact(qg[g], np.ascontiguousarray(keys[:, g, :].T))
        out = vec.mul_round_shift(out.reshape(H, n), cm, self._shift(ins, cs))
        return vec.saturate(out, int(ins.p("width")))

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

    def shape(self, ins, in_shapes, ctx):
        return in_shapes[0]

    def run(self, ins, args, ctx: Ctx):
        return vec.softmax(args[0])

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
class AttnMix(Op):
    name = "attn_mix"
    opcode = 0x43
    family = "attention"

    def shape(self, ins, in_shapes, ctx):
        return (int(ins.p("n_heads")) * int(ins.p("head_dim")),)

    def _shift(self, ins):
        return 30 + int(ins.p("fv")) - int(ins.p("fy"))

    def run(self, ins, args, ctx: Ctx):
        p, V = args
        H, Hkv, hd = int(ins.p("n_heads")), int(ins.p("n_kv_heads")), int(ins.p("head_dim"))
        n = p.shape[1]
        G = H // Hkv
        vals = V.buf[:n].reshape(n, Hkv, hd)
        pg = p.reshape(Hkv, G, n)
        out = np.empty((Hkv, G, hd), dtype=np.int64)
        for g in range(Hkv):                                 # (G, n) @ (n, hd): all query heads of a group
            out[g] = vec.matmul_exact(pg[g], np.ascontiguousarray(vals[:, g, :]))
        out = vec.round_shift(out.reshape(-1), self._shift(ins))
        return vec.saturate(out, int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        p, V = args
        hd = int(ins.p("head_dim"))
        h, d = divmod(j, hd)
        g = _group(ins, h)
        acc = sum(int(p[h, r]) * V.get(r, g * hd + d) for r in range(p.shape[1]))
        return ref.saturate(ref.round_shift(acc, self._shift(ins)), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        p, V = args
        hd, n, kvd = int(ins.p("head_dim")), p.shape[1], V.shape[1]
        h, d = divmod(j, hd)
        col = _group(ins, h) * hd + d
        return [(0, h * n, (h + 1) * n)] + [(1, r * kvd + col, r * kvd + col + 1) for r in range(n)]
