"""Compiled integer layers of the vec twin (numba, no floating point): the nonlinear functions of
``fixedpoint.ref.nonlinear`` as scalar compiled functions, and whole rows of the engine's elementwise layers
(RMSNorm, SwiGLU, RoPE, softmax, the saturating glue) as single loops with no numpy temporaries.

Every function computes exactly what the ref twin computes (the same integer operations; the tests compare them
on random and edge inputs); only the evaluation order of independent elements differs. Where the ref divides by a
constant (the exp polynomial's round_div by i * 2^30) the kernel uses the identity
floor((a + i 2^29) / (i 2^30)) = floor(floor((a + i 2^29) / 2^30) / i) for a >= 0, i >= 1 (nested floors of
positive divisors), and the inner floor division by i is an exact multiply and shift (see _M2.._M11).

Range contracts: each kernel states the input bounds under which every intermediate fits int64; callers prove
them once per plan (static widths) or per call with one max, and use the generic numpy twin otherwise. A row
kernel that meets a value outside its contract returns a status instead of a wrong value.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numba import njit

from ..constants import EXP_TERMS, EXP_ZERO_Z, LN2_Q48


class _JitOptions(TypedDict):  # typed, so that mypy matches ``njit(**_OPTS)`` with numba's own stubs
    cache: bool
    nogil: bool
    boundscheck: bool


_OPTS: _JitOptions = {"cache": True, "nogil": True, "boundscheck": False}

ONE30 = 1 << 30
INT64_MAX = (1 << 63) - 1
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
if EXP_TERMS != 11:  # the unrolled polynomial below is written for the constant's 11 terms
    raise ImportError("fixedpoint.vec.layers: the exp polynomial is unrolled for EXP_TERMS == 11")


# -- scalar nonlinear functions (ref.nonlinear, one value at a time) ---------------------------------------


# floor(v / i) for 0 <= v < 2^30 and 2 <= i <= 11 as (v * _M[i]) >> 34 with _M[i] = ceil(2^34 / i): the error
# v (_M[i] - 2^34 / i) / 2^34 < 2^30 / 2^34 = 1/16 < 1/i cannot carry floor(v / i) past the next integer (the
# fraction of v / i is at most (i - 1) / i), and v * _M[i] < 2^30 * 2^33 fits int64. No division is left, so the
# softmax and silu loops vectorize (AVX-512 has 64-bit multiplies and per-lane shifts, no 64-bit divide).
_M2, _M3, _M4, _M5, _M6, _M7, _M8, _M9, _M10, _M11 = (-(-(1 << 34) // i) for i in range(2, 12))
# k = floor(z 2^32 / LN2_Q48) for 0 <= z < EXP_ZERO_Z (< 2^21): (z * _KM) >> 40 with _KM = floor(2^72 / LN2_Q48)
# is k or k - 1 (its error z (2^72 / LN2_Q48 - _KM) / 2^40 < 2^-19), so one comparison corrects it.
_KM = (1 << 72) // LN2_Q48


@njit(inline="always", **_OPTS)
def _rd(a: int, m: int) -> int:  # round_div(a, i << 30) for 0 <= a <= 2^60, m = _M[i]
    return (a >> 30) * m >> 34


@njit(**_OPTS)
def exp_poly1(t: int) -> int:
    """ref.nonlinear._exp_poly(t) for 0 <= t <= ln2 * 2^30 (t * acc < 2^60 and 0 < acc <= 2^30 at every step)."""
    acc = ONE30
    acc = ONE30 - _rd(t * acc + (11 << 29), _M11)
    acc = ONE30 - _rd(t * acc + (10 << 29), _M10)
    acc = ONE30 - _rd(t * acc + (9 << 29), _M9)
    acc = ONE30 - _rd(t * acc + (8 << 29), _M8)
    acc = ONE30 - _rd(t * acc + (7 << 29), _M7)
    acc = ONE30 - _rd(t * acc + (6 << 29), _M6)
    acc = ONE30 - _rd(t * acc + (5 << 29), _M5)
    acc = ONE30 - _rd(t * acc + (4 << 29), _M4)
    acc = ONE30 - _rd(t * acc + (3 << 29), _M3)
    acc = ONE30 - _rd(t * acc + (2 << 29), _M2)
    acc = ONE30 - ((t * acc + (1 << 29)) >> 30)
    return acc


@njit(**_OPTS)
def exp_neg1(x: int) -> int:
    """ref.exp_neg(x) for any int64 x <= 0 (Q16 in, Q30 out); x > 0 is the caller's error (not checked).
    Branch-free (selects only), so loops calling it vectorize."""
    live = x > -EXP_ZERO_Z  # else the result is 0 (decided on x: -x overflows at x = -2^63)
    zc = -x if live else 0  # compute on 0 where dead, select 0 below
    z48 = zc << 32  # < 2^53
    k = (zc * _KM) >> 40
    if (k + 1) * LN2_Q48 <= z48:
        k += 1  # k = floor(z48 / LN2_Q48) <= 31
    rem = z48 - k * LN2_Q48
    p = exp_poly1((rem + (1 << 17)) >> 18)  # round_shift(rem, 18) <= ln2 * 2^30
    r = (p + ((1 << k) >> 1)) >> k  # round_shift(p, k); k == 0 adds 0
    return r if live else 0


@njit(**_OPTS)
def sigmoid1(x: int) -> int:
    """ref.sigmoid(x) for |x| <= 2^62 (not checked)."""
    ax = x if x >= 0 else -x
    e = exp_neg1(-ax)
    d = ONE30 + e
    s = ((e << 30) + (d >> 1)) // d  # e << 30 <= 2^60
    return ONE30 - s if x >= 0 else s


@njit(**_OPTS)
def silu1(x: int) -> int:
    """ref.silu(x) for |x| < 2^32 (then |x * sigmoid(x)| < 2^62: the ref's narrow path, not checked)."""
    return (x * sigmoid1(x) + (1 << 29)) >> 30


# -- unsigned 128-bit helpers for rsqrt_floor (numba has no int128) ---------------------------------------


@njit(**_OPTS)
def rsqrt_floor1(v: int, e: int) -> int | np.int64:
    """isqrt(floor(2^e / v)) for 1 <= v <= 2^63 - 1 and 0 <= e <= 126: ref.rsqrt_floor(v, fv, fr) with
    e = 2 fr + fv. Returns -1 if the result would leave int64 (the ref raises)."""
    # q = floor(2^e / v) as 128 bits (qh, ql), by long division one bit at a time (the remainder stays < v)
    uv = np.uint64(v)
    one = np.uint64(1)
    qh, ql = np.uint64(0), np.uint64(0)
    rem = one  # the leading 1 of 2^e
    for i in range(e, -1, -1):
        if rem >= uv:
            rem -= uv
            if i >= 64:
                qh |= one << np.uint64(i - 64)
            else:
                ql |= one << np.uint64(i)
        if i:
            rem <<= one
    # r = floor(sqrt(q)) digit by digit (two bits of q per step): res, bit and q as 128-bit (hi, lo) pairs
    rh, rl = np.uint64(0), np.uint64(0)
    bh, bl = one << np.uint64(62), np.uint64(0)  # 2^126: the largest power of four below 2^128
    while (bh > qh) or (bh == qh and bl > ql):
        if bh == 0 and bl == 0:
            break
        bl = (bl >> np.uint64(2)) | (bh << np.uint64(62))
        bh >>= np.uint64(2)
    while bh or bl:
        # t = res + bit (no carry out of 128 bits: res + bit <= q or the comparison fails below)
        tl = rl + bl
        th = rh + bh + (one if tl < rl else np.uint64(0))
        if (qh > th) or (qh == th and ql >= tl):
            borrow = one if ql < tl else np.uint64(0)
            ql -= tl
            qh = qh - th - borrow
            # res = (res >> 1) + bit
            rl = (rl >> one) | (rh << np.uint64(63))
            rh >>= one
            nl = rl + bl
            rh = rh + bh + (one if nl < rl else np.uint64(0))
            rl = nl
        else:
            rl = (rl >> one) | (rh << np.uint64(63))
            rh >>= one
        bl = (bl >> np.uint64(2)) | (bh << np.uint64(62))
        bh >>= np.uint64(2)
    if rh or rl > np.uint64(INT64_MAX):
        return -1
    return np.int64(rl)


# -- whole rows ------------------------------------------------------------------------------------------


@njit(**_OPTS)
def rmsnorm_rows(
    x: np.ndarray, eps: int, fx: int, gm: np.ndarray, gs: np.ndarray, gh: np.ndarray, lo: int, hi: int, out: np.ndarray
) -> int:
    """out[t] = RMSNorm of x[t] (engine/ops/norm.py) for every row t of x (T, n), gains gm with per-gain
    shifts gs (all in [1, 62]) and halves gh = 2^(gs-1), saturated to [lo, hi].

    Returns -1 when every row was computed, else the index of the first row outside the kernel's contract
    (rows before it are written): n * max|x|^2 <= 2^63 - 1, floor(sumsq / n) + eps <= 2^63 - 1, 2 fx + 60 <= 126,
    max|x| * r + 2^(fx-1) and max|nrm| * max|gm| + max(gh) within int64. The caller computes such rows generically.
    """
    T, n = x.shape
    gmax = 0
    hmax = 0
    for i in range(n):
        a = gm[i] if gm[i] >= 0 else -gm[i]
        gmax = max(gmax, a)
        hmax = max(hmax, gh[i])
    e = 60 + 2 * fx
    half = (1 << (fx - 1)) if fx > 0 else 0
    for t in range(T):
        m = 0
        for i in range(n):
            a = x[t, i] if x[t, i] >= 0 else -x[t, i]
            if a > m:
                m = a
        if m > 3037000499 or m * m > INT64_MAX // n or e > 126:  # 3037000499 = isqrt(2^63 - 1)
            return t
        ss = 0
        for i in range(n):
            ss += x[t, i] * x[t, i]
        v = ss // n
        if v > INT64_MAX - eps:
            return t
        v = max(v + eps, 1)
        r = rsqrt_floor1(v, e)
        if r < 0 or (r > 0 and m > (INT64_MAX - half) // r):
            return t
        nm = 0
        for i in range(n):
            y = (x[t, i] * r + half) >> fx
            out[t, i] = y
            a = y if y >= 0 else -y
            nm = max(nm, a)
        if gmax and nm > (INT64_MAX - hmax) // gmax:
            return t
        for i in range(n):
            y = (out[t, i] * gm[i] + gh[i]) >> gs[i]
            out[t, i] = lo if y < lo else hi if y > hi else y
    return -1


@njit(**_OPTS)
def swiglu_rows(gu: np.ndarray, n: int, sh: int, lo: int, hi: int, out: np.ndarray) -> None:
    """out[t, j] = saturate(mul_round_shift(silu(sat(gu[t, j])), sat(gu[t, n + j]), sh)) with sat = saturate to
    [lo, hi]: linear_swiglu's tail on the stacked gate|up rows gu (T, 2n) (elementwise.py's swiglu when
    gu holds g|u). Contract: [lo, hi] within i32 (then every intermediate fits), 0 <= sh <= 62."""
    T = gu.shape[0]
    half = (1 << (sh - 1)) if sh > 0 else 0
    for t in range(T):
        for j in range(n):
            g = gu[t, j]
            g = lo if g < lo else hi if g > hi else g
            u = gu[t, n + j]
            u = lo if u < lo else hi if u > hi else u
            y = (silu1(g) * u + half) >> sh
            out[t, j] = lo if y < lo else hi if y > hi else y


@njit(**_OPTS)
def swiglu_pair(g: np.ndarray, u: np.ndarray, sh: int, lo: int, hi: int, out: np.ndarray) -> None:
    """The same as swiglu_rows for separate g and u (T, n) arrays (the unfused swiglu op)."""
    T, n = g.shape
    half = (1 << (sh - 1)) if sh > 0 else 0
    for t in range(T):
        for j in range(n):
            a = g[t, j]
            a = lo if a < lo else hi if a > hi else a
            b = u[t, j]
            b = lo if b < lo else hi if b > hi else b
            y = (silu1(a) * b + half) >> sh
            out[t, j] = lo if y < lo else hi if y > hi else y


@njit(**_OPTS)
def rope_rows(
    z: np.ndarray,
    col0: int,
    ncols: int,
    cos: np.ndarray,
    sin: np.ndarray,
    pos: np.ndarray,
    hd: int,
    lo: int,
    hi: int,
    out: np.ndarray,
) -> int:
    """out[t, m] = rope(saturate(z[t, col0 + m])) at position pos[t] for m < ncols (rope.py, linear_rope's tail):
    pairs (2i, 2i+1) of every head of hd, cos/sin rows pos[t] in Q30. Contract: [lo, hi] within i32 and
    |cos|, |sin| <= 2^30 (then |a*c - b*s| + 2^29 <= 2^62 + 2^29 fits int64; at 2^31 it can reach 2^63)."""
    T = z.shape[0]
    h2 = hd // 2
    for t in range(T):
        p = pos[t]
        for base in range(0, ncols, 2):
            a = z[t, col0 + base]
            a = lo if a < lo else hi if a > hi else a
            b = z[t, col0 + base + 1]
            b = lo if b < lo else hi if b > hi else b
            i = (base % hd) // 2
            c = cos[p, i]
            s = sin[p, i]
            y0 = (a * c - b * s + (1 << 29)) >> 30
            y1 = (a * s + b * c + (1 << 29)) >> 30
            out[t, base] = lo if y0 < lo else hi if y0 > hi else y0
            out[t, base + 1] = lo if y1 < lo else hi if y1 > hi else y1
    return h2


@njit(**_OPTS)
def softmax_row(x: np.ndarray, out: np.ndarray) -> None:
    """ref.softmax of one row x (n >= 1, any int64 values) into out (Q30)."""
    n = x.shape[0]
    m = x[0]
    for j in range(1, n):
        if x[j] > m:
            m = x[j]
    floor = (m if m > -INT64_MAX - 1 + EXP_ZERO_Z else -INT64_MAX - 1 + EXP_ZERO_Z) - EXP_ZERO_Z
    s = 0
    for j in range(n):
        v = x[j] if x[j] > floor else floor
        e = exp_neg1(v - m)
        out[j] = e
        s += e  # <= n 2^30
    h = s >> 1
    for j in range(n):
        out[j] = ((out[j] << 30) + h) // s


@njit(**_OPTS)
def softmax_rows(x: np.ndarray, out: np.ndarray) -> None:
    """softmax_row over every row of x (R, n)."""
    for r in range(x.shape[0]):
        softmax_row(x[r], out[r])


@njit(**_OPTS)
def add_sat_rows(h: np.ndarray, y: np.ndarray, lo: int, hi: int, out: np.ndarray) -> bool:
    """out = saturate(h + saturate(y, lo, hi), lo, hi) (linear_add's tail, add's body) for (T, n) arrays.
    Returns False (out partly written) if some h + saturate(y) leaves int64 (checked_add raises there)."""
    T, n = h.shape
    for t in range(T):
        for j in range(n):
            b = y[t, j]
            b = lo if b < lo else hi if b > hi else b
            a = h[t, j]
            if (b > 0 and a > INT64_MAX - b) or (b < 0 and a < -INT64_MAX - 1 - b):
                return False
            s = a + b
            out[t, j] = lo if s < lo else hi if s > hi else s
    return True


@njit(**_OPTS)
def saturate_into(y: np.ndarray, lo: int, hi: int, out: np.ndarray) -> None:
    """out = min(max(y, lo), hi) elementwise over (T, n)."""
    T, n = y.shape
    for t in range(T):
        for j in range(n):
            v = y[t, j]
            out[t, j] = lo if v < lo else hi if v > hi else v
