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


class _Group:
    """Linear instructions that read the same input in the same formats, run as one stacked kernel call.

    Exactness is per output row, so stacking the matrices' rows changes no result; it only saves calls
    (the float reference fuses q|k|v and gate|up the same way). The stacked fast form replaces the members'
    own fast forms, keeping memory flat.
    """

    def __init__(self, names: list[str], weights: list, prep, fx: int, fy: int):
        self.names, self.fx, self.fy, self.prep = names, fx, fy, prep
        self.rows = np.cumsum([0] + [w.shape[0] for w in weights])


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

    def plan(self, program, weights, plans):
        """Group linear instructions by (input, fx, fy, weight type, K) and stack each group's matrices."""
        groups: dict[tuple, list] = {}
        for ins in program.instrs:
            if ins.op != self.name or ins.inputs[0].kind != "local":
                continue
            w = weights[ins.inputs[1].name]
            key = (ins.inputs[0].name, ins.p("fx"), ins.p("fy"), w.qm.ggml_type, w.shape[1])
            groups.setdefault(key, []).append(ins)
        for key, members in groups.items():
            if len(members) < 2:
                continue
            ws = [weights[i.inputs[1].name] for i in members]
            raw = np.concatenate([np.asarray(w.raw).reshape(-1) for w in ws])
            qm = vec.decode_matrix(raw, key[3], sum(w.shape[0] for w in ws), key[4])
            g = _Group([i.name for i in members], ws, vec.prepare(qm), int(key[1]), int(key[2]))
            for i, w in zip(members, ws):
                plans[("linear", i.name)] = g
                w.prep = None  # the group's stacked form is the one used

    def run(self, ins, args, ctx: Ctx):
        x, w = args
        w.check_type(ins)
        g = ctx.plans.get(("linear", ins.name))
        if g is None:
            y = vec.qlinear(x, w.prep, int(ins.p("fx")), int(ins.p("fy")))
        else:
            key = ("linear", ins.name)
            y = ctx.scratch.pop(key, None)
            if y is None:
                ys = vec.qlinear(x, g.prep, g.fx, g.fy)
                for k, name in enumerate(g.names):
                    ctx.scratch[("linear", name)] = ys[..., g.rows[k]:g.rows[k + 1]]
                y = ctx.scratch.pop(key)
        return vec.saturate(y, int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        x, w = args
        y = ref.qlinear_row([int(v) for v in x], w.qm, j, int(ins.p("fx")), int(ins.p("fy")))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, w = args
        rb = w.row_bytes
        return [(0, 0, len(x)), (1, j * rb, (j + 1) * rb)]
