"""Window family: the sliding-window attention mask (Gemma's local layers; Mistral-style SWA).

swa_mask (s: (H, n) scores at 16, n = position + 1; params window) -> (H, n):
    y[h, j] = s[h, j] if position - j < window, else MASKED = -2^31 (the i32 minimum).
softmax then gives a masked score probability exactly 0 (fixedpoint softmax: exp_neg is 0 at and below
-EXP_ZERO_Z, about -22.2 in Q16) whenever the row's unmasked maximum is above MASKED + EXP_ZERO_Z, i.e. any score
above -32745.8: the last position (j = position) is never masked and i32 scores of Gemma stay within +-48. So a
query at p attends to keys p - window < j <= p exactly, as llama.cpp's mask. Fan-in of y[h, j]: s[h, j] if it is
inside the window, nothing otherwise (a constant).
Its verifier is contracts/src/ops/Window.sol (WindowFamily, opcode 0xB0).
"""

from __future__ import annotations

import numpy as np

from ..program import L, instr
from . import Ctx, Example, Op, operand, register, size

MASKED = -(1 << 31)


@register
class SwaMask(Op):
    name = "swa_mask"
    opcode = 0xB0
    family = "window"
    params = (size("window"),)
    operands = (operand("s"),)
    solidity = "WindowFamily"

    def shape(self, ins, in_shapes, ctx):
        return in_shapes[0]

    def run(self, ins, args, ctx: Ctx):
        s = np.array(args[0], dtype=np.int64)  # a copy: the scores stay as committed
        cut = ctx.position + 1 - int(ins.p("window"))  # columns j < cut are outside the window
        if cut > 0:
            s[:, :cut] = MASKED
        return s

    def run_many(self, ins, args, ctx: Ctx):  # type: ignore[override]  # Op declares it None (optional)
        out = []
        for t, s in enumerate(args[0]):
            c = Ctx(ctx.program, ctx.position + t, ctx.scratch, ctx.plans)
            out.append(self.run(ins, [s], c))
        return out

    def _inside(self, ins, ctx, j, n) -> bool:
        return ctx.position - j % n < int(ins.p("window"))

    def element(self, ins, args, ctx, j):
        s = args[0]
        n = s.shape[1]
        return int(s[j // n, j % n]) if self._inside(ins, ctx, j, n) else MASKED

    def fan_in(self, ins, args, ctx, j):
        n = args[0].shape[1]
        return [(0, j, j + 1)] if self._inside(ins, ctx, j, n) else []

    def examples(self, rng):
        """Windows 1, 4 and wider than the row, at position 9 (two heads of 10 scores)."""
        s = rng.integers(-(1 << 22), 1 << 22, (2, 10), dtype=np.int64)
        return [Example(instr("y", "swa_mask", [L("s")], window=w), [s], position=9) for w in (1, 4, 512)]
