"""Scale family: multiply by a constant the template fixes (e.g. Gemma's embedding scale sqrt(d_model)).

scale (x: (n,) at f; params c, s, width) -> (n,) at f:  y[i] = saturate(mul_round_shift(x[i], c, s), width)
    i.e. x[i] * (c * 2^-s), the product exact, rounded half up once, saturated to `width` bits; c in int32 (the
    constant's integer, e.g. round(sqrt(640) * 2^26)), s in [0, 62]. Fan-in of y[i]: x[i].
Its verifier is contracts/src/ops/Scale.sol (ScaleFamily, opcode 0x70).
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from . import Ctx, Example, Op, Param, operand, register, shift, width
from ..program import L, instr

I32 = (-(1 << 31), (1 << 31) - 1)


@register
class Scale(Op):
    name = "scale"
    opcode = 0x70
    family = "scale"
    params = (Param("c", *I32), shift("s"), width())
    operands = (operand("x"),)
    solidity = "ScaleFamily"

    def shape(self, ins, in_shapes, ctx):
        return in_shapes[0]

    def run(self, ins, args, ctx: Ctx):
        (x,) = args
        return vec.saturate(vec.mul_round_shift(x, int(ins.p("c")), int(ins.p("s"))), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        (x,) = args
        return ref.saturate(ref.mul_round_shift(int(x[j]), int(ins.p("c")), int(ins.p("s"))), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        return [(0, j, j + 1)]

    def examples(self, rng):
        x = rng.integers(*I32, 100, dtype=np.int64, endpoint=True)
        x[:4] = [I32[0], I32[1], 0, -1]
        cases = [
            (1_697_734_891, 26, 32),
            (-3, 0, 32),
            (I32[1], 40, 64),
            (I32[0], 62, 2),
        ]  # isqrt(640 << 52): sqrt(640) Q26
        return [Example(instr("y", "scale", [L("x")], c=c, s=s, width=w), [x]) for c, s, w in cases]
