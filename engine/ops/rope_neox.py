"""NEOX RoPE family: rotate-half RoPE, pairs (i, i + hd/2) of every head (GGUF's NEOX layout: Gemma, Qwen, GPT-NeoX).

rope_neox (x: (H*hd,) raw at f; cos, sin: derived tables (context, hd/2) in Q30; params n_heads, head_dim, width):
    at position p, head h, i < hd/2, with a = x[h*hd + i], b = x[h*hd + i + hd/2], c = cos[p, i], s = sin[p, i]:
    y[h*hd + i]        = saturate(round_shift(a*c - b*s, 30), width)
    y[h*hd + i + hd/2] = saturate(round_shift(a*s + b*c, 30), width)
The tables are ``fixedpoint.rope_table`` of one base each (a template may hold several: Gemma's 10k local and 1M
global tables), committed in the model root like weights. Error against the real rotation at the exact inputs:
the tables' (<= 2 LSB of Q30 each) plus 1/2 LSB of the one rounding. Fan-in of one output: 2 elements of x, one
cos and one sin entry.
Its verifier is contracts/src/ops/RopeNeox.sol (RopeNeoxFamily, opcode 0xA0).
"""

from __future__ import annotations

import numpy as np

from fixedpoint import vec

from ..program import L, W, instr
from . import Ctx, Example, Op, operand, register, size, width
from .rope import rotate_element


def rotate_half(x, c, s, hd: int, width: int):
    """The NEOX rope of x (..., H*hd) by one position's angles c, s (hd/2,) (or (T, 1, hd/2) for T positions)."""
    xp = np.asarray(x).reshape(*np.shape(x)[:-1], -1, 2, hd // 2)  # (..., H, 2, hd/2): halves of each head
    a, b = xp[..., 0, :], xp[..., 1, :]
    y = np.empty_like(xp)
    # |a|, |b| < 2^31 (i32 activations), |c|, |s| <= 2^30: each product < 2^61 and their sum fits int64; inputs past
    # that (no model's) take the checked path, which raises where ref does.
    if max(_absmax(a), _absmax(b)) * max(_absmax(c), _absmax(s)) > (1 << 61):
        y[..., 0, :] = vec.round_shift(vec.checked_add(vec.checked_mul(a, c), -vec.checked_mul(b, s)), 30)
        y[..., 1, :] = vec.round_shift(vec.checked_add(vec.checked_mul(a, s), vec.checked_mul(b, c)), 30)
    else:
        y[..., 0, :] = vec.round_shift(a * c - b * s, 30)
        y[..., 1, :] = vec.round_shift(a * s + b * c, 30)
    return vec.saturate(y.reshape(np.shape(x)), width)


def _absmax(v) -> int:
    v = np.asarray(v)
    return max(abs(int(v.max())), abs(int(v.min()))) if v.size else 0


@register
class RopeNeox(Op):
    name = "rope_neox"
    opcode = 0xA0
    family = "rope_neox"
    params = (size("head_dim"), size("n_heads"), width())
    operands = (operand("x"), operand("cos", "weight"), operand("sin", "weight"))
    solidity = "RopeNeoxFamily"

    def shape(self, ins, in_shapes, ctx):
        (n,), _, _ = in_shapes
        if n != int(ins.p("n_heads")) * int(ins.p("head_dim")) or int(ins.p("head_dim")) % 2:
            raise ValueError(f"{ins.name}: {n} elements is not n_heads*head_dim (head_dim even)")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, cos, sin = args
        p = ctx.position
        return rotate_half(np.asarray(x), cos.data[p], sin.data[p], int(ins.p("head_dim")), int(ins.p("width")))

    def run_many(self, ins, args, ctx: Ctx):  # type: ignore[override]  # Op declares it None (optional)
        x, cos, sin = args
        p, t = ctx.position, ctx.count
        x = np.asarray(x).reshape(t, -1)
        c, s = cos.data[p : p + t][:, None, :], sin.data[p : p + t][:, None, :]
        return rotate_half(x, c, s, int(ins.p("head_dim")), int(ins.p("width")))

    def _pair(self, ins, j):
        """(index of a, index of b, table column i, second half?) of element j."""
        hd = int(ins.p("head_dim"))
        h, d = divmod(j, hd)
        i = d % (hd // 2)
        return h * hd + i, h * hd + i + hd // 2, i, d >= hd // 2

    def element(self, ins, args, ctx, j):
        x, cos, sin = args
        ia, ib, i, second = self._pair(ins, j)
        c, s = int(cos.data[ctx.position][i]), int(sin.data[ctx.position][i])
        return rotate_element(int(x[ia]), int(x[ib]), c, s, second, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        _, cos, _ = args
        ia, ib, i, _ = self._pair(ins, j)
        t = ctx.position * cos.shape[1] + i
        return [(0, ia, ia + 1), (0, ib, ib + 1), (1, t, t + 1), (2, t, t + 1)]

    def examples(self, rng):
        """Two heads of 8 at position 3 of base-10k tables, with i32 extremes in x."""
        from ..weights import TWeight

        inv = vec.rope_inv_freq(625, 4, 8, 40)  # 10000 = 625 * 2^4
        c, s = vec.rope_table(8, inv)
        tabs = [TWeight("cos", np.asarray(c, np.int64)), TWeight("sin", np.asarray(s, np.int64))]
        x = rng.integers(-(1 << 31), 1 << 31, 16, dtype=np.int64)
        x[:2] = [(1 << 31) - 1, -(1 << 31)]
        ins = instr("y", self.name, [L("x"), W("cos"), W("sin")], head_dim=8, n_heads=2, width=32)
        return [Example(ins, [x, *tabs], position=3, context=8)]
