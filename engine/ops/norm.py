"""Norm family: RMSNorm in integers.

rmsnorm (x: (n,) raw at fx; g: F32 gains imported exactly as gm * 2^ge; params fx, eps, fy, width):
    v      = max(floor(sum_i x_i^2 / n) + eps, 1)        mean square in Q(2fx); eps = round_half_up(eps_real * 2^(2fx))
    r      = rsqrt_floor(v, 2fx, 30)                      floor(2^30 / sqrt(v * 2^-2fx)), Q30
    nrm_i  = round_shift(x_i * r, fx)                     x_i / rms in Q30; |nrm_i| <= 2^30 sqrt(n) + 1
    y_i    = saturate(rescale(nrm_i * gm_i, 30 - ge_i - fy), width)   (shift clamped to 62: |nrm*gm| < 2^61)
Fan-in of y_i: all n elements of x and gain i (bytes [4i, 4i + 4) of the raw F32 vector).
rmsnorm_typed (0x21; params eps, fx, fy, gtype, width): the same with gains of GGML type gtype (F32 0, F16 1,
    BF16 30; each exactly gm * 2^ge: |gm| < 2^11 (F16), 2^8 (BF16)); fan-in bytes [bi, bi + b), b = 4 or 2.
    Templates emit it only for non-F32 gains, so every existing ``rmsnorm`` instruction encodes as before.
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec
from fixedpoint.vec import layers

from . import Ctx, Example, Op, Param, ggml_type, operand, register, shift, width


def _sum_squares_vec(x: np.ndarray) -> int:
    m = int(np.abs(x).max()) if x.size else 0
    if m * m * max(x.size, 1) < (1 << 63):
        return int((x * x).sum())
    return sum(int(v) * int(v) for v in x.tolist())  # exact for any int64 input


class _NormPlan:
    """An rmsnorm instruction's constants, built once per loaded model (``RMSNorm.plan``): the per-gain shifts
    s_i = min(30 - ge_i - fy, 62) and halves 2^(s_i - 1) when every s_i is in [1, 62] (``fast``: the compiled
    row kernel, fixedpoint.vec.layers.rmsnorm_rows), else only the generic path's shifts."""

    def __init__(self, ins, g):
        self.fx, self.fy, self.eps = int(ins.p("fx")), int(ins.p("fy")), int(ins.p("eps"))
        self.width = w = int(ins.p("width"))
        self.lo, self.hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        self.shift = _gain_shift(np.asarray(g.exp, np.int64), self.fy)
        self.fast = bool(self.shift.size) and int(self.shift.min()) >= 1
        self.gm = np.ascontiguousarray(g.mant, dtype=np.int64)
        self.gh = np.left_shift(np.int64(1), self.shift - 1) if self.fast else None
        self.gain = g


_TYPE_IDS = {"F32": 0, "F16": 1, "BF16": 30}  # engine/loaders GGML_TYPES ids of the gain types


def _gain_shift(ge, fy):
    return np.minimum(30 - ge - fy, 62) if isinstance(ge, np.ndarray) else min(30 - ge - fy, 62)


@register
class RMSNorm(Op):
    name = "rmsnorm"
    opcode = 0x20
    family = "norm"
    params = (Param("eps", 0, 1 << 62), shift("fx"), shift("fy"), width())
    operands = (operand("x"), operand("g", "weight"))
    solidity = "NormFamily"

    def shape(self, ins, in_shapes, ctx):
        (n,), (m,) = in_shapes
        if n != m:
            raise ValueError(f"{ins.name}: x has {n} elements, gain has {m}")
        return (n,)

    def plan(self, program, weights, plans):
        for ins in program.instrs:
            if ins.op == self.name:
                plans[(self.name, ins.name)] = _NormPlan(ins, weights[ins.inputs[1].name])

    def _plan(self, ins, g, ctx: Ctx) -> _NormPlan:
        pl = ctx.plans.get((self.name, ins.name))
        return pl if pl is not None and pl.gain is g else _NormPlan(ins, g)

    def run(self, ins, args, ctx: Ctx):
        x, g = args
        return self._rows(np.asarray(x).reshape(1, -1), self._plan(ins, g, ctx))[0]

    def run_many(self, ins, args, ctx: Ctx):
        x, g = args
        return self._rows(np.asarray(x).reshape(ctx.count, -1), self._plan(ins, g, ctx))

    def _rows(self, x2: np.ndarray, pl: _NormPlan) -> np.ndarray:
        """The rmsnorm of every row of x2 (T, n): the compiled kernel, rows outside its contract generically."""
        out = np.empty(x2.shape, np.int64)
        t = 0
        if pl.fast and x2.dtype == np.int64 and x2.shape[1]:
            x2 = np.ascontiguousarray(x2)
            while t < x2.shape[0]:
                bad = layers.rmsnorm_rows(x2[t:], pl.eps, pl.fx, pl.gm, pl.shift, pl.gh, pl.lo, pl.hi, out[t:])
                if bad < 0:
                    return out
                t += bad
                out[t] = self._generic(x2[t], pl)
                t += 1
            return out
        for t in range(x2.shape[0]):
            out[t] = self._generic(x2[t], pl)
        return out

    def _generic(self, x, pl: _NormPlan) -> np.ndarray:
        """The numpy twin of one row (any int64 input: exact, or FixedPointOverflow as the ref)."""
        x = vec.as_int(x, "x")
        v = max(_sum_squares_vec(x) // x.size + pl.eps, 1)
        r = int(vec.rsqrt_floor(v, 2 * pl.fx, 30))
        nrm = vec.mul_round_shift(x, r, pl.fx)
        y = vec.rescale(vec.checked_mul(nrm, pl.gm), pl.shift)
        return vec.saturate(y, pl.width)

    def element(self, ins, args, ctx, j):
        x, g = args
        fx, fy, eps = int(ins.p("fx")), int(ins.p("fy")), int(ins.p("eps"))
        xs = [int(v) for v in x]
        v = max(sum(a * a for a in xs) // len(xs) + eps, 1)
        r = ref.rsqrt_floor(v, 2 * fx, 30)
        nrm = ref.mul_round_shift(xs[j], r, fx)
        ge = int(g.exp[j])
        y = ref.rescale(ref.checked_mul(nrm, int(g.mant[j])), _gain_shift(ge, fy))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, g = args
        return [(0, 0, x.size), (1, 4 * j, 4 * j + 4)]


@register
class RMSNormTyped(RMSNorm):
    name = "rmsnorm_typed"
    opcode = 0x21
    family = "norm"
    params = (Param("eps", 0, 1 << 62), shift("fx"), shift("fy"), ggml_type("gtype"), width())
    operands = (operand("x"), operand("g", "weight"))
    solidity = "NormFamily"

    def _check(self, ins, g) -> None:
        if int(ins.p("gtype")) != g.type_id:
            raise ValueError(
                f"{ins.name}: the template says gain type {ins.p('gtype')} but {g.name} is {g.ggml_type} ({g.type_id})"
            )

    def run(self, ins, args, ctx: Ctx):
        self._check(ins, args[1])
        return super().run(ins, args, ctx)

    def fan_in(self, ins, args, ctx, j):
        x, g = args
        b = g.elem_bytes
        return [(0, 0, x.size), (1, b * j, b * j + b)]

    def examples(self, rng):
        """F16, BF16 and F32 gains (one subnormal, one zero, one negative) on x at F16 with an outlier."""
        from ..program import L, W, instr
        from ..weights import vweight

        out = []
        x = rng.integers(-(1 << 20), 1 << 20, 70, dtype=np.int64)
        x[3] = (1 << 31) - 1
        g = (1.0 + rng.integers(-32, 33, 70) / 128).astype(np.float32)
        g[:3] = [2.0**-20, 0.0, -1.5]
        for gtype, raw in (
            ("F16", g.astype("<f2").view(np.uint8)),
            ("BF16", (g.view(np.uint32) >> 16).astype("<u2").view(np.uint8)),
            ("F32", g.view(np.uint8)),
        ):
            ins = instr("y", self.name, [L("x"), W("g")], fx=16, fy=12, eps=42950, width=32, gtype=_TYPE_IDS[gtype])
            out.append(Example(ins, [x, vweight("g", raw, gtype)]))
        return out
