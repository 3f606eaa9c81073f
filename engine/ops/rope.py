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

from . import Ctx, Op, operand, register, size, width


def rotate(x, c, s, hd: int, width: int):
    """The rope of x (..., H*hd) with one position's angles c, s (hd/2,): pairs (2i, 2i+1) of every head."""
    xp = x.reshape(-1, hd // 2, 2)  # (H, hd/2, 2)
    a, b = xp[..., 0], xp[..., 1]
    y = np.empty_like(xp)
    # |a|, |b| <= 2^31 (i32 activations) and the Q30 tables |c|, |s| <= 2^30: each product <= 2^61 and their sum
    # fits int64. Tables or inputs past that (no model's) take the checked path, which raises where ref does.
    big = max(_absmax(a), _absmax(b)) * max(_absmax(c), _absmax(s)) > (1 << 61)
    if big:
        ac, bs = vec.checked_mul(a, c), vec.checked_mul(b, s)
        as_, bc = vec.checked_mul(a, s), vec.checked_mul(b, c)
        y[..., 0] = vec.round_shift(vec.checked_add(ac, -bs), 30)
        y[..., 1] = vec.round_shift(vec.checked_add(as_, bc), 30)
    else:
        y[..., 0] = vec.round_shift(a * c - b * s, 30)
        y[..., 1] = vec.round_shift(a * s + b * c, 30)
    return vec.saturate(y.reshape(-1), width)


def _absmax(v) -> int:
    v = np.asarray(v)
    return max(abs(int(v.max())), abs(int(v.min()))) if v.size else 0


def rotate_element(a: int, b: int, c: int, s: int, odd: bool, width: int) -> int:
    """Element 2i (odd False) or 2i+1 (odd True) of the rope of the pair (a, b) = x[2i], x[2i+1] by (c, s)."""
    # the products and their sum as rotate's checked path computes them: FixedPointOverflow where it leaves int64
    if odd:
        v = ref.checked_add(ref.checked_mul(a, s), ref.checked_mul(b, c))
    else:
        v = ref.checked_add(ref.checked_mul(a, c), -ref.checked_mul(b, s))
    return ref.saturate(ref.round_shift(v, 30), width)


def table_fan_in(m: int, cos, position: int, hd: int, j: int) -> list[tuple[int, int, int]]:
    """The cos and sin entries (operands m, m + 1) rope element j reads at this position."""
    t = position * cos.shape[1] + (j % hd) // 2
    return [(m, t, t + 1), (m + 1, t, t + 1)]


@register
class Rope(Op):
    name = "rope"
    opcode = 0x30
    family = "rope"
    params = (size("head_dim"), size("n_heads"), width())
    operands = (operand("x"), operand("cos", "weight"), operand("sin", "weight"))
    solidity = "RopeFamily"

    def shape(self, ins, in_shapes, ctx):
        (n,), _, _ = in_shapes
        if n != int(ins.p("n_heads")) * int(ins.p("head_dim")):
            raise ValueError(f"{ins.name}: {n} elements is not n_heads*head_dim")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, cos, sin = args
        p = ctx.position
        return rotate(x, cos.data[p], sin.data[p], int(ins.p("head_dim")), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        x, cos, sin = args
        hd = int(ins.p("head_dim"))
        i = (j % hd) // 2
        base = j - (j % 2)
        c, s = int(cos.data[ctx.position][i]), int(sin.data[ctx.position][i])
        return rotate_element(int(x[base]), int(x[base + 1]), c, s, j % 2 == 1, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, cos, _ = args
        base = j - (j % 2)
        return [(0, base, base + 2)] + table_fan_in(1, cos, ctx.position, int(ins.p("head_dim")), j)
