"""Norm family: RMSNorm in integers.

rmsnorm (x: (n,) raw at fx; g: F32 gains imported exactly as gm * 2^ge; params fx, eps, fy, width):
    v      = max(floor(sum_i x_i^2 / n) + eps, 1)        mean square in Q(2fx); eps = round_half_up(eps_real * 2^(2fx))
    r      = rsqrt_floor(v, 2fx, 30)                      floor(2^30 / sqrt(v * 2^-2fx)), Q30
    nrm_i  = round_shift(x_i * r, fx)                     x_i / rms in Q30; |nrm_i| <= 2^30 sqrt(n) + 1
    y_i    = saturate(rescale(nrm_i * gm_i, 30 - ge_i - fy), width)   (shift clamped to 62: |nrm*gm| < 2^61)
Fan-in of y_i: all n elements of x and gain i.
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from . import Ctx, Op, Param, operand, register, shift, width


def _sum_squares_vec(x: np.ndarray) -> int:
    m = int(np.abs(x).max()) if x.size else 0
    if m * m * max(x.size, 1) < (1 << 63):
        return int((x * x).sum())
    return sum(int(v) * int(v) for v in x.tolist())  # exact for any int64 input


def _gain_rounding(g, fy):
    """Per-gain (shift, 2^(shift-1)) arrays for output format fy, cached on the weight; (None, None) if some
    shift is not in [1, 62] (then the generic rescale path runs)."""
    cache = g.__dict__.setdefault("_norm_cache", {})
    if fy not in cache:
        s = _gain_shift(g.exp, fy)
        ok = bool(s.size) and int(s.min()) >= 1
        g.__dict__["mant_abs_max"] = int(np.abs(g.mant).max()) if g.mant.size else 0
        cache[fy] = (s, np.left_shift(np.int64(1), s - 1)) if ok else (None, None)
    return cache[fy]


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

    def run(self, ins, args, ctx: Ctx):
        x, g = args
        fx, fy, eps = int(ins.p("fx")), int(ins.p("fy")), int(ins.p("eps"))
        v = max(_sum_squares_vec(x) // x.size + eps, 1)
        r = int(vec.rsqrt_floor(v, 2 * fx, 30))
        nrm = vec.mul_round_shift(x, r, fx)
        s, half = _gain_rounding(g, fy)
        if s is None:
            y = vec.rescale(vec.checked_mul(nrm, g.mant), _gain_shift(g.exp, fy))
        else:
            # round_shift(nrm * gm, s) with every s in [1, 62]; |nrm| <= 2^30 sqrt(n) + 1 and |gm| < 2^24,
            # so nrm * gm + 2^(s-1) stays inside int64 whenever the bound below holds (checked per call).
            if int(np.abs(nrm).max()) * g.mant_abs_max < (1 << 62) - int(half.max()):
                y = (nrm * g.mant + half) >> s
            else:
                y = vec.rescale(vec.checked_mul(nrm, g.mant), s)
        return vec.saturate(y, int(ins.p("width")))

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
