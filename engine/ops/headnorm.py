"""Head-norm family: RMSNorm of every attention head on its own (Gemma 3's q and k norms, before RoPE).

head_rmsnorm (x: (H*hd,) raw at fx; g: F32 gains (hd,), shared by the heads; params eps, fx, fy, head_dim, width):
    rmsnorm (engine/ops/norm.py, the same integer steps and rounding) of each head's hd elements x[h*hd:(h+1)*hd]
    with the gain vector g: y[h*hd + d] = rmsnorm(x[h*hd:(h+1)*hd], g)[d]. Error against the real
    x / rms(x) * g at the exact inputs: as rmsnorm's, 1/2 + |g| 2^(fy - 30) + |y| ((rms + 1) 2^-30 + 1/v) LSB of fy
    (the mean square v, raw at 2 fx, and the Q30 inverse rms are floors; the normalized value rounds at Q30, the
    product once at fy). Fan-in of y[h*hd + d]: the hd elements of head h
    and gain d (bytes [4d, 4d + 4) of the raw F32 vector).
Its verifier is contracts/src/ops/HeadNorm.sol (HeadNormFamily, opcode 0x90).
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref

from ..program import L, W, instr
from . import Ctx, Example, Param, operand, register, shift, size, width
from .norm import RMSNorm, _gain_shift


@register
class HeadRMSNorm(RMSNorm):
    name = "head_rmsnorm"
    opcode = 0x90
    family = "headnorm"
    params = (Param("eps", 0, 1 << 62), shift("fx"), shift("fy"), size("head_dim"), width())  # type: ignore[assignment]
    operands = (operand("x"), operand("g", "weight"))
    solidity = "HeadNormFamily"

    def shape(self, ins, in_shapes, ctx):
        (n,), (m,) = in_shapes
        hd = int(ins.p("head_dim"))
        if m != hd or n % hd:
            raise ValueError(f"{ins.name}: x has {n} elements and gain {m}: needs heads of head_dim {hd}")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, g = args
        hd = int(ins.p("head_dim"))
        return self._rows(np.asarray(x).reshape(-1, hd), self._plan(ins, g, ctx)).reshape(-1)

    def run_many(self, ins, args, ctx: Ctx):  # type: ignore[override]  # Op declares it None (optional)
        x, g = args
        hd = int(ins.p("head_dim"))
        return self._rows(np.asarray(x).reshape(-1, hd), self._plan(ins, g, ctx)).reshape(ctx.count, -1)

    def element(self, ins, args, ctx, j):
        x, g = args
        hd = int(ins.p("head_dim"))
        fx, fy, eps = int(ins.p("fx")), int(ins.p("fy")), int(ins.p("eps"))
        h, d = divmod(j, hd)
        xs = [int(v) for v in x[h * hd : (h + 1) * hd]]
        v = max(sum(a * a for a in xs) // hd + eps, 1)
        nrm = ref.mul_round_shift(xs[d], ref.rsqrt_floor(v, 2 * fx, 30), fx)
        y = ref.rescale(ref.checked_mul(nrm, int(g.mant[d])), _gain_shift(int(g.exp[d]), fy))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        hd = int(ins.p("head_dim"))
        h, d = divmod(j, hd)
        return [(0, h * hd, (h + 1) * hd), (1, 4 * d, 4 * d + 4)]

    def examples(self, rng):
        """Two heads of 16 at F16 -> F14 (one head all zero: the eps floor), gains with a zero and a negative."""
        from ..weights import vweight

        x = rng.integers(-(1 << 22), 1 << 22, 32, dtype=np.int64)
        x[16:] = 0
        x[3] = (1 << 31) - 1
        g = (1.0 + rng.integers(-64, 65, 16) / 8).astype(np.float32)
        g[:2] = [0.0, -1.5]
        ins = instr("y", self.name, [L("x"), W("g")], eps=4295, fx=16, fy=14, head_dim=16, width=32)
        return [Example(ins, [x, vweight("g", g.view(np.uint8))])]
