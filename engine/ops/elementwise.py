"""Elementwise family.

add    (a, b: same shape, same format)         y = saturate(a + b, width)
swiglu (g at 16, u at fu; params fu, fy, width) y = saturate(mul_round_shift(silu(g), u, 16 + fu - fy), width)
       silu from fixedpoint (Q16 in, Q16 out). Fan-in of one output: the same index of each input.
"""

from __future__ import annotations

from fixedpoint import ref, vec

from . import Ctx, Op, operand, register, shift, width


class _Pointwise(Op):
    family = "elementwise"
    solidity = "ElementwiseFamily"

    def shape(self, ins, in_shapes, ctx):
        if len(set(in_shapes)) != 1:
            raise ValueError(f"{ins.name}: operand shapes differ: {in_shapes}")
        return in_shapes[0]

    def fan_in(self, ins, args, ctx, j):
        return [(i, j, j + 1) for i in range(len(args))]


@register
class Add(_Pointwise):
    name = "add"
    opcode = 0x50
    params = (width(),)
    operands = (operand("a"), operand("b"))

    def run(self, ins, args, ctx: Ctx):
        a, b = args
        return vec.saturate(vec.checked_add(a, b), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        a, b = args
        return ref.saturate(ref.checked_add(int(a[j]), int(b[j])), int(ins.p("width")))


@register
class SwiGLU(_Pointwise):
    name = "swiglu"
    opcode = 0x51
    params = (shift("fu"), shift("fy"), width())
    operands = (operand("g"), operand("u"))

    def shape(self, ins, in_shapes, ctx):
        if not 0 <= self._shift(ins) <= 62:
            raise ValueError(f"{ins.name}: swiglu needs 0 <= 16 + fu - fy <= 62")
        return super().shape(ins, in_shapes, ctx)

    def _shift(self, ins):
        return 16 + int(ins.p("fu")) - int(ins.p("fy"))

    def run(self, ins, args, ctx: Ctx):
        g, u = args
        return vec.saturate(vec.mul_round_shift(vec.silu(g), u, self._shift(ins)), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        g, u = args
        return ref.saturate(ref.mul_round_shift(ref.silu(int(g[j])), int(u[j]), self._shift(ins)), int(ins.p("width")))
