"""Integer nonlinear functions, numpy twin over int64 arrays. Same names and specs as ``fixedpoint.ref.nonlinear``.

Vectorized step for step like the reference (the same integer operations in the same order), so the
twins agree bit for bit; every intermediate is bounded well inside int64 (bounds noted inline).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..constants import (
    COS_DIVISORS,
    EXP_TERMS,
    EXP_ZERO_Z,
    GELU_CLAMP,
    GELU_K1_Q30,
    GELU_K3_Q30,
    HALF_PI_LOW_Q60,
    HALF_PI_Q32,
    ISQRT_MAX_ROOT,
    LN2_Q48,
    SIN_DIVISORS,
    TANH_MAX,
)
from ..errors import FixedPointValueError
from ..formats import INT64_MIN
from ..ref import nonlinear as _ref
from .core import I64, as_int, check_shift

__all__ = [
    "isqrt",
    "rsqrt_floor",
    "mul_sqrt_round_shift",
    "exp_neg",
    "sigmoid",
    "silu",
    "tanh",
    "gelu_tanh",
    "softmax",
    "sin_cos",
    "rope_inv_freq",
    "rope_table",
]

ONE30 = np.int64(1 << 30)


def _rdiv(a: I64, d: int) -> I64:
    """round_div(a, d) for a positive int d: floor((a + floor(d/2)) / d); |a| < 2^62 here."""
    return (a + (d >> 1)) // d


def _rshift(a: I64, s: int | I64) -> I64:
    """round_shift for s >= 1 (scalar or array, values well inside int64)."""
    return (a + (np.int64(1) << (np.asarray(s, dtype=np.int64) - 1))) >> s


def isqrt(n: npt.ArrayLike) -> I64:
    """floor(sqrt(n)) for 0 <= n <= 2^63 - 1; exact."""
    n = as_int(n, "n")
    if n.size and int(n.min()) < 0:
        raise FixedPointValueError(f"isqrt of negative n={int(n.min())}")
    # float64 sqrt is within 1 of the root (relative error ~2^-53); two corrections each way make it exact.
    r = np.clip(np.sqrt(n.astype(np.float64)).astype(np.int64), 0, ISQRT_MAX_ROOT)
    for _ in range(2):
        r = np.where(r * r > n, r - 1, r)
    for _ in range(2):
        r1 = np.minimum(r + 1, ISQRT_MAX_ROOT)
        r = np.where((r1 > r) & (r1 * r1 <= n), r1, r)
    return r


def rsqrt_floor(v: npt.ArrayLike, fv: int, fr: int) -> I64:
    """floor(2^fr / sqrt(v * 2^-fv)) = isqrt(floor(2^(2fr+fv) / v)) for v >= 1; exact (0 LSB below the real value, < 1 above)."""
    v = as_int(v, "v")
    fv, fr = check_shift(fv, "fv"), check_shift(fr, "fr")
    if v.size and int(v.min()) < 1:
        raise FixedPointValueError(f"rsqrt_floor needs v >= 1, got v={int(v.min())}")
    # One value per normalized row: big-int exactness matters more than vector speed here.
    out = [_ref.rsqrt_floor(int(x), fv, fr) for x in v.ravel().tolist()]
    return np.array(out, dtype=np.int64).reshape(v.shape)


def mul_sqrt_round_shift(m: npt.ArrayLike, n: npt.ArrayLike, s: int) -> I64:
    """floor(m * sqrt(n) * 2^-s + 1/2) for m in int64, 0 <= n <= 2^32, s in [0, 62]; exact (0 LSB: one rounding of the real product)."""
    m, n = as_int(m, "m"), as_int(n, "n")
    s = check_shift(s)
    if n.size and (int(n.min()) < 0 or int(n.max()) > _ref.MUL_SQRT_MAX_N):
        bad = int(n.min()) if int(n.min()) < 0 else int(n.max())
        raise FixedPointValueError(f"mul_sqrt_round_shift needs 0 <= n <= 2^32, got n={bad}")
    m, n, sb = np.broadcast_arrays(m, n, np.asarray(s, dtype=np.int64))
    if not m.size:
        return np.zeros(m.shape, dtype=np.int64)
    # Fast path when every t = 4 m^2 n < 2^61 (checked in float64 with room for its rounding): then t, its
    # shift, the root and r^2 4^s <= t all fit int64.
    if float((4.0 * m.astype(np.float64) ** 2 * n).max()) < 2.0**60:
        t = 4 * m * m * n
        r = isqrt(t >> (2 * sb))
        inexact = ((r * r) << (2 * sb)) != t
        return np.where(m >= 0, (r + 1) >> 1, -((r + inexact) >> 1))
    # Wide entries: the reference's big-int steps, one element at a time (exact; raises where it raises).
    out = [_ref.mul_sqrt_round_shift(int(a), int(b), int(c)) for a, b, c in zip(m.ravel(), n.ravel(), sb.ravel())]
    return np.array(out, dtype=np.int64).reshape(m.shape)


def _exp_poly(t: I64) -> I64:
    acc = np.full(t.shape, ONE30, dtype=np.int64)
    for i in range(EXP_TERMS, 0, -1):
        acc = ONE30 - _rdiv(t * acc, i << 30)  # t*acc <= 2^29.5 * 2^30
    return acc


def exp_neg(x: npt.ArrayLike) -> I64:
    """exp(x * 2^-16) in Q30 for x <= 0 in Q16: k = floor(-x*2^32 / LN2_Q48), p = exp_poly(round_shift(rem, 18)), result round_shift(p, k) (0 when k >= 32)."""
    x = as_int(x, "x")
    if x.size and int(x.max()) > 0:
        raise FixedPointValueError(f"exp_neg needs x <= 0, got x={int(x.max())}")
    z = -np.maximum(x, -EXP_ZERO_Z)  # z <= EXP_ZERO_Z < 2^21: z << 32 fits
    live = z < EXP_ZERO_Z
    z48 = np.where(live, z, 0) << 32
    k = z48 // LN2_Q48
    rem = z48 - k * LN2_Q48
    p = _exp_poly(_rshift(rem, 18))
    out = np.where(k == 0, p, _rshift(p, np.maximum(k, 1)))
    return np.where(live, out, 0)


def sigmoid(x: npt.ArrayLike) -> I64:
    """1/(1 + exp(-x * 2^-16)) in Q30 for |x| <= 2^62 in Q16: e = exp_neg(-|x|), s = round_div(e * 2^30, 2^30 + e), sigmoid = x >= 0 ? 2^30 - s : s."""
    x = as_int(x, "x")
    if x.size and (int(x.max()) > (1 << 62) or int(x.min()) < -(1 << 62)):
        bad = int(x.max()) if int(x.max()) > (1 << 62) else int(x.min())
        raise FixedPointValueError(f"sigmoid needs |x| <= 2^62, got x={bad}")
    e = exp_neg(-np.abs(x))
    d = ONE30 + e
    s: I64 = ((e << 30) + (d >> 1)) // d  # e << 30 <= 2^60
    return np.where(x >= 0, ONE30 - s, s)


def silu(x: npt.ArrayLike) -> I64:
    """x * sigmoid(x) in Q16 for |x| <= 2^62 in Q16: mul_round_shift(x, sigmoid(x), 30)."""
    from .core import mul_round_shift

    x = as_int(x, "x")
    return mul_round_shift(x, sigmoid(x), 30)


def tanh(x: npt.ArrayLike) -> I64:
    """tanh(x * 2^-16) in Q30 for |x| <= 2^61 in Q16: 2 * sigmoid(2x) - 2^30."""
    x = as_int(x, "x")
    if x.size and (int(x.max()) > TANH_MAX or int(x.min()) < -TANH_MAX):
        bad = int(x.max()) if int(x.max()) > TANH_MAX else int(x.min())
        raise FixedPointValueError(f"tanh needs |x| <= 2^61, got x={bad}")
    return 2 * sigmoid(2 * x) - ONE30


def gelu_tanh(x: npt.ArrayLike) -> I64:
    """0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) = x sigmoid(2u) in Q16 for |x| <= 2^62 in Q16: c = clamp(x, +-2^20), v = round_shift(K1 * c + K3 * round_shift(c^3, 32), 30), mul_round_shift(x, sigmoid(v), 30)."""
    from .core import mul_round_shift

    x = as_int(x, "x")
    if x.size and (int(x.max()) > (1 << 62) or int(x.min()) < -(1 << 62)):
        bad = int(x.max()) if int(x.max()) > (1 << 62) else int(x.min())
        raise FixedPointValueError(f"gelu_tanh needs |x| <= 2^62, got x={bad}")
    c = np.clip(x, -GELU_CLAMP, GELU_CLAMP)
    # |c^3| <= 2^60; K1 |c| <= 2^51, K3 * 2^28 < 2^55: the sum fits int64
    v = _rshift(GELU_K1_Q30 * c + GELU_K3_Q30 * _rshift(c * c * c, 32), 30)
    return mul_round_shift(x, sigmoid(v), 30)


def softmax(x: npt.ArrayLike) -> I64:
    """Q30 probabilities of Q16 scores: e_j = exp_neg(max(x_j - max, -EXP_ZERO_Z)), p_j = round_div(e_j * 2^30, sum e); len(row) >= 1."""
    x = as_int(x, "x")
    if x.shape[-1:] == (0,) or x.ndim == 0:
        raise FixedPointValueError("softmax of an empty row")
    m = x.max(axis=-1, keepdims=True)
    # x - m without overflow: entries below m - EXP_ZERO_Z have exp 0 exactly as in the reference, so clip
    # them there first (the clip point itself is kept inside int64).
    floor = np.maximum(m, INT64_MIN + EXP_ZERO_Z) - EXP_ZERO_Z
    e = exp_neg(np.maximum(x, floor) - m)
    s = e.sum(axis=-1, keepdims=True)  # <= n * 2^30
    p: I64 = ((e << 30) + (s >> 1)) // s
    return p


def _sin_cos_q30(r: I64) -> tuple[I64, I64]:
    r2 = _rshift(r * r, 30)
    acc = np.full(r.shape, ONE30, dtype=np.int64)
    for d in reversed(SIN_DIVISORS):
        acc = ONE30 - _rdiv(r2 * acc, d << 30)
    s = _rshift(r * acc, 30)
    acc = np.full(r.shape, ONE30, dtype=np.int64)
    for d in reversed(COS_DIVISORS):
        acc = ONE30 - _rdiv(r2 * acc, d << 30)
    return acc, s


def sin_cos(theta: npt.ArrayLike) -> tuple[I64, I64]:
    """(cos, sin) of theta * 2^-32 radians in Q30 for |theta| <= 2^52: quadrant k = round(theta / (pi/2)), Cody-Waite remainder in Q60, nested Taylor on |r| <= pi/4."""
    theta = as_int(theta, "theta")
    if theta.size and int(np.abs(theta).max()) > (1 << 52):
        raise FixedPointValueError(f"sin_cos needs |theta| <= 2^52, got {int(np.abs(theta).max())}")
    k = (theta + (HALF_PI_Q32 >> 1)) // HALF_PI_Q32
    r32 = theta - k * HALF_PI_Q32  # |r32| <= 2^31.7
    r60 = (r32 << 28) - k * HALF_PI_LOW_Q60  # k*tail <= 2^20 * 2^27
    c, s = _sin_cos_q30(_rshift(r60, 30))
    q = k % 4
    cos = np.select([q == 0, q == 1, q == 2], [c, -s, -c], s)
    sin = np.select([q == 0, q == 1, q == 2], [s, c, -s], -c)
    return cos, sin


def rope_inv_freq(base_mant: int, base_exp: int, head_dim: int, f: int = 40) -> I64:
    """[floor(2^f * base^(-2i/head_dim)) for i < head_dim/2] with base = base_mant * 2^base_exp > 0; exact (big ints)."""
    return np.array(_ref.rope_inv_freq(base_mant, base_exp, head_dim, f), dtype=np.int64)


def rope_table(n_pos: int, inv_freq: npt.ArrayLike) -> tuple[I64, I64]:
    """(cos, sin) arrays (n_pos, len(inv_freq)) in Q30 of theta = round_shift(p * inv_freq[i], 8) (Q40 -> Q32 radians)."""
    _ref._check_table_args(n_pos)
    inv = as_int(inv_freq, "inv_freq")
    p = np.arange(n_pos, dtype=np.int64)[:, None]
    theta = _rshift(p * inv[None, :], 8)  # p * inv <= 2^13 * 2^40
    return sin_cos(theta)
