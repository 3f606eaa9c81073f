"""Embedding family: the token's row of a quantized matrix, rounded to a fixed-point format.

embed:  h[k] = saturate(round_half_up(w[tok, k] * 2^f), width) for 0 <= tok < vocab;
        h = 0 for an out-of-range tok (defined, so the one-step never reverts; the engine refuses such
        prompts before running). Inputs: TOKEN (1,), W (vocab, dim). Fan-in: the token and row tok of W.
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec
from fixedpoint.vec.quant import fields

from . import Ctx, Op, ggml_type, operand, register, shift, width


def dequant_row_fixed(qm, n: int, f: int) -> np.ndarray:
    """round_half_up(w[n, k] * 2^f) for every k of row n, exactly (vec twin of ``dequant_row_fixed_ref``)."""
    b = qm.block
    q, dm, de, mm, me = (a[0] for a in fields(qm, qm.raw[n : n + 1]))  # vectorized decode of row n
    q = q.astype(np.int64).reshape(-1, b)  # (nb, B)
    dm, de, mm, me = (a[:, None] for a in (dm, de, mm, me))  # (nb, 1)
    # w = dm*q*2^de + mm*2^me; bring both terms to the common exponent e0 = min(de, me), exactly.
    e0 = np.minimum(de, me)
    v = vec.shift_left(dm * q, de - e0) + vec.shift_left(np.broadcast_to(mm, q.shape), me - e0)
    return vec.rescale(v, np.broadcast_to(-(e0 + f), q.shape)).reshape(-1)


def dequant_elem_fixed_ref(qm, n: int, k: int, f: int) -> int:
    """round_half_up(w[n, k] * 2^f) exactly, with Python ints (the spec of ``dequant_row_fixed``).

    Reads the fields with the reference's plain-int decoder (``QuantMatrix.q`` etc.: fixedpoint.ref.blocks)."""
    b = k // qm.block
    q = int(qm.q[n][k])
    dm, de = int(qm.d_mant[n][b]), int(qm.d_exp[n][b])
    mm, me = int(qm.m_mant[n][b]), int(qm.m_exp[n][b])
    e0 = min(de, me)
    v = ((dm * q) << (de - e0)) + (mm << (me - e0))
    return ref.rescale(v, -(e0 + f))


@register
class Embed(Op):
    name = "embed"
    opcode = 0x01
    family = "embedding"
    params = (shift("f"), width(), ggml_type())
    operands = (operand("token", "token", "local"), operand("W", "weight"))
    solidity = "EmbeddingFamily"

    def shape(self, ins, in_shapes, ctx):
        (_one,), (vocab, dim) = in_shapes
        return (dim,)

    def run(self, ins, args, ctx: Ctx):
        tok, w = args
        w.check_type(ins)
        t = int(tok[0])
        vocab, dim = w.shape
        if not 0 <= t < vocab:
            return np.zeros(dim, dtype=np.int64)
        return vec.saturate(dequant_row_fixed(w.qm, t, int(ins.p("f"))), int(ins.p("width")))

    def element(self, ins, args, ctx, j):
        tok, w = args
        t = int(tok[0])
        if not 0 <= t < w.shape[0]:
            return 0
        return ref.saturate(dequant_elem_fixed_ref(w.qm, t, j, int(ins.p("f"))), int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        tok, w = args
        t, rb = int(tok[0]), w.row_bytes
        row = [(1, t * rb, (t + 1) * rb)] if 0 <= t < w.shape[0] else []
        return [(0, 0, 1)] + row
