"""Linear family: y = x W^T with W a GGUF matrix imported exactly (Q4_0/Q4_1/Q8_0/F16/F32).

linear:  y[n] = saturate(round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx), width)
         params fx, fy, width, wtype (the GGML type id of W: how its raw bytes decode)
         x: (K,) raw at fx; W: (N, K); y: (N,) raw at fy. One rounding of the exact dot product.
Fan-in of y[n]: all K elements of x and row n of W (its raw bytes).
"""
from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from . import Ctx, Op, register


@register
class Linear(Op):
    name = "linear"
    opcode = 0x10
    family = "linear"

    def shape(self, ins, in_shapes, ctx):
        (k,), (n, k2) = in_shapes
        if k != k2:
            raise ValueError(f"{ins.name}: x has {k} elements but W is {n}x{k2}")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, w = args
        w.check_type(ins)
        y = vec.qlinear(x, w.prep, int(ins.p("fx")), int(ins.p("fy")))
        return vec.saturate(y, int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        x, w = args
        y = ref.qlinear_row([int(v) for v in x], w.qm, j, int(ins.p("fx")), int(ins.p("fy")))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, w = args
        rb = w.row_bytes
        return [(0, 0, len(x)), (1, j * rb, (j + 1) * rb)]
