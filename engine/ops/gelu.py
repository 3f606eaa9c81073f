"""GELU family: the GELU(tanh)-gated FFN product (Gemma's ``down(gelu_tanh(gate(x)) * up(x))`` middle).

geglu (g at 16, u at fu; params fu, fy, width): y = saturate(mul_round_shift(gelu_tanh(g), u, 16 + fu - fy), width)
    gelu_tanh from fixedpoint (Q16 in, Q16 out: within 1 LSB of 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))).
    Error against the real product at the exact inputs: |u| 2^-fu LSB of Q16 from gelu_tanh plus 1/2 LSB of fy from
    the one rounding, i.e. at most (|u| 2^(fy - 16 - fu) + 1/2) LSB of the output (tests/test_gemma3_ops.py checks
    it against mpmath). Fan-in of one output: the same index of g and of u.
Its verifier is contracts/src/ops/Gelu.sol (GeluFamily, opcode 0x80).
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from ..program import L, instr
from . import Ctx, Example, Op, operand, register, shift, width


@register
class GeGLU(Op):
    name = "geglu"
    opcode = 0x80
    family = "gelu"
    params = (shift("fu"), shift("fy"), width())
    operands = (operand("g"), operand("u"))
    solidity = "GeluFamily"

    def shape(self, ins, in_shapes, ctx):
        if len(set(in_shapes)) != 1:
            raise ValueError(f"{ins.name}: operand shapes differ: {in_shapes}")
        if not 0 <= self._shift(ins) <= 62:
            raise ValueError(f"{ins.name}: geglu needs 0 <= 16 + fu - fy <= 62")
        return in_shapes[0]

    def _shift(self, ins) -> int:
        return 16 + int(ins.p("fu")) - int(ins.p("fy"))

    def run(self, ins, args, ctx: Ctx):
        g, u = args
        return vec.saturate(vec.mul_round_shift(vec.gelu_tanh(g), u, self._shift(ins)), int(ins.p("width")))

    def run_many(self, ins, args, ctx: Ctx):  # type: ignore[override]  # Op declares it None (optional)
        """Elementwise: the block's rows at once (equal to ``run`` row by row)."""
        g, u = (np.asarray(a).reshape(ctx.count, -1) for a in args)
        return self.run(ins, [g, u], ctx)

    def element(self, ins, args, ctx, j):
        g, u = args
        y = ref.mul_round_shift(ref.gelu_tanh(int(g[j])), int(u[j]), self._shift(ins))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        return [(0, j, j + 1), (1, j, j + 1)]

    def examples(self, rng):
        """Gemma's formats (gate, up at F16, act at F12) over gelu's whole range, and the i32 extremes."""
        g = rng.integers(-(1 << 22), 1 << 22, 64, dtype=np.int64)
        u = rng.integers(-(1 << 21), 1 << 21, 64, dtype=np.int64)
        g[:6] = [0, 1, -1, (1 << 31) - 1, -(1 << 31), 1 << 20]
        u[:6] = [5, (1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 3, -7]
        return [
            Example(instr("y", "geglu", [L("g"), L("u")], fu=fu, fy=fy, width=w), [g, u])
            for fu, fy, w in ((16, 12, 32), (16, 16, 32), (0, 16, 64), (20, 0, 8))
        ]
