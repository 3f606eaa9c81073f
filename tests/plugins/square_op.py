"""An op family from outside the core, as a plugin brings one (tests only): square.

square (x: (n,) at fx; params f, width) -> (n,):  y[i] = saturate(round_shift(x[i] * x[i], f), width)
Fan-in of y[i]: x[i]. Its verifier is SquareFamily.sol beside this file (opcode 0x7F01).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.ops import Example, Op, operand, register, shift, width
from engine.program import L, instr
from fixedpoint import ref, vec


@register
class Square(Op):
    name = "square"
    opcode = 0x7F01
    family = "square"
    params = (shift("f"), width())
    operands = (operand("x"),)
    solidity = "SquareFamily"
    solidity_file = str(Path(__file__).with_name("SquareFamily.sol"))

    def shape(self, ins, in_shapes, ctx):
        return in_shapes[0]

    def run(self, ins, args, ctx):
        (x,) = args
        return vec.saturate(vec.round_shift(vec.checked_mul(x, x), int(ins.p("f"))), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        (x,) = args
        v = int(x[j])
        return ref.saturate(ref.round_shift(ref.checked_mul(v, v), int(ins.p("f"))), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        return [(0, j, j + 1)]

    def examples(self, rng):
        x = rng.integers(-(1 << 31), 1 << 31, 70, dtype=np.int64)
        x[:4] = [-(1 << 31), (1 << 31) - 1, 0, -1]
        return [Example(instr("y", "square", [L("x")], f=f, width=w), [x]) for f, w in ((16, 32), (0, 40))]
