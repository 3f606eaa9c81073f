"""RoPE family: rotate adjacent pairs (2i, 2i+1) of every head by a position's angles (GGUF llama layout).

rope (x: (H*hd,) raw at f; cos, sin: derived tables (context, hd/2) in Q30; params n_heads, head_dim, width):
    at position p, for head h and pair i, with a = x[h*hd+2i], b = x[h*hd+2i+1], c = cos[p,i], s = sin[p,i]:
    y[h*hd+2i]   = saturate(round_shift(a*c - b*s, 30), width)
    y[h*hd+2i+1] = saturate(round_shift(a*s + b*c, 30), width)
The tables come from ``fixedpoint.rope_table`` (integer sin/cos of integer angles) and are committed in the
model root like weights. Fan-in of one output: 2 elements of x, one cos and one sin entry.
"""
from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from . import Ctx, Op, register


@register
class Rope(Op):
    name = "rope"
    opcode = 0x30
    family = "rope"

    def shape(self, ins, in_shapes, ctx):
        (n,), _, _ = in_shapes
        if n != int(ins.p("n_heads")) * int(ins.p("head_dim")):
            raise ValueError(f"{ins.name}: {n} elements is not n_heads*head_dim")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, cos, sin = args
        hd = int(ins.p("head_dim"))
        p = ctx.position
        c, s = cos.data[p], sin.data[p]                 # (hd/2,)
        xp = x.reshape(-1, hd // 2, 2)                    # (H, hd/2, 2)
        a, b = xp[..., 0], xp[..., 1]
        y = np.empty_like(xp)
        y[..., 0] = vec.round_shift(a * c - b * s, 30)
        y[..., 1] = vec.round_shift(a * s + b * c, 30)
        return vec.saturate(y.reshape(-1), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        x, cos, sin = args
        hd = int(ins.p("head_dim"))
        i = (j % hd) // 2
        base = j - (j % 2)
        a, b = int(x[base]), int(x[base + 1])
        c, s = int(cos.data[ctx.position][i]), int(sin.data[ctx.position][i])
        v = a * c - b * s if j % 2 == 0 else a * s + b * c
        return ref.saturate(ref.round_shift(v, 30), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, cos, _ = args
        hd = int(ins.p("head_dim"))
        i = (j % hd) // 2
        base = j - (j % 2)
        t = ctx.position * cos.shape[1] + i
        return [(0, base, base + 2), (1, t, t + 1), (2, t, t + 1)]
