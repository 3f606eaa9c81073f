"""Exact GGUF weight import and the exact quantized linear layer, numpy twin. Same names and specs as
``fixedpoint.ref.quant`` (which documents the block layouts); ``QuantMatrix`` and ``PreparedQuant`` are
the reference's classes, re-exported.

The fast kernel (``prepare`` + ``qlinear``), for a block-quantized matrix W (N x K, sub-blocks of B = 32 or
16 elements sharing one (D, M); every type of ``fixedpoint.ref.blocks`` but F16/BF16/F32):

    sum_k w[n,k] x[k] = 2^E_n * sum_b ( Dsh[b,n] * P[b,n] + Msh[b,n] * X[b] )
    P[b,n] = sum_j c[n, bB+j] * x[bB+j]        X[b] = sum_j x[bB+j]
    Dsh[b,n] = D_mant << (D_exp - E_n)         Msh[b,n] = (M_mant << (M_exp - E_n)) - o * Dsh[b,n]

with E_n the least scale exponent of row n (or, when the bound below still holds, one E for the whole
matrix, so that rounding is a scalar shift), and c = q + o the stored code: a nibble in [0, 15] for Q4_0
(o = 8), Q4_1, Q4_K, Q2_K, Q3_K (o = 4), an int8 for Q8_0, Q5_0, Q5_1, Q5_K, Q6_K (o = 0); D*q + M =
D*c + (M - o*D), the same sum. All of it is integer arithmetic in compiled loops (``kernels.py``), exact by
bounds checked once:

1. P in int32: |P| <= B * max|c| * max|x| < 2^31 when max|x| <= lim = floor((2^31 - 1) / (B * max|c|))
   (4-bit codes, B = 32: 4473924, about 2^22; Q8_0: 524287 for max|c| = 128; Q6_K, B = 16: 4194303).
2. The sum over sub-blocks in int64: every partial sum is bounded by lim * G_n, G_n = sum_b (|Dsh| sum_j |c|
   + B |Msh|) (exact, at prepare; |Dsh|, |M_mant << (M_exp - E_n)| < 2^35 is required of a fast row). Rows
   with lim * G_n > 2^63 - 1 are not on the fast path.
3. x beyond lim is split into limbs x = sum_i x_i 2^(L*i) (low limbs in [0, 2^L), top limb signed,
   2^L - 1 <= lim), each limb one more input column of the same kernel call; the limb results are combined
   in int64 when sum_i max|x_i| 2^(L*i) * max G_n fits, else with Python ints. The exact sum is rounded once
   per row: round_half_up(S * 2^-(fx - fy - E_n)).

Every operation is an integer add or multiply whose result fits its type, so thread splits and vector
widths cannot change a result. F16/BF16/F32 matrices run the same way with B = 1 and no codes: a dense int32
w = mant << (exp - E_n) per weight (rows whose exponents span more than 31 bits minus the mantissa's are slow).
Rows off the fast path (exponent spans of about 24 binades, or G_n too large) use an exact Python-int path
(slow, correct). Memory of the fast form: 0.5 (4-bit codes) or 1 (int8 codes) byte per weight + 16 bytes per
sub-block, 4 bytes per weight dense; the (rare) rounding cache is written idempotently, so concurrent calls are
safe.

Speed (scripts/bench_qlinear.py, SmolLM2, 2-core machine, one thread): a 1536x576 Q4_1 matrix 0.10 ms
(float32 GEMV on the dequantized matrix: 0.15 ms), one token's 211 matrices ~22 ms (float32: ~28 ms); the
kernel reads 0.5-1 byte per weight where the GEMV reads 4.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN
from ..ref.quant import GGML_TYPES, PreparedQuant, QuantMatrix, _parse_x, _qm_of, _row_index
from . import kernels
from .blocks import bf16_decode, canonical, decode_fields, find_inf_nan, fp16_decode, fp32_decode
from .core import as_int, check_shift

__all__ = [
    "GGML_TYPES",
    "QuantMatrix",
    "PreparedQuant",
    "bf16_decode",
    "fp16_decode",
    "fp32_decode",
    "decode_matrix",
    "dequant_exact_row",
    "prepare",
    "qlinear",
    "qlinear_row",
]

I32_MAX = (1 << 31) - 1
CHUNK = 1 << 20  # elements decoded per chunk when preparing (bounds temporary memory)
_NO_EXP = 1 << 20  # stands for "no nonzero scale" when taking a row's least exponent
# stored code of q on the fast path: (bits, offset) with code = q + offset in [0, 15] (4-bit) or int8 (8-bit)
_CODES = {
    "Q4_0": (4, 8),
    "Q4_1": (4, 0),
    "Q4_K": (4, 0),
    "Q2_K": (4, 0),
    "Q3_K": (4, 4),
    "Q5_0": (8, 0),
    "Q5_1": (8, 0),
    "Q5_K": (8, 0),
    "Q6_K": (8, 0),
    "Q8_0": (8, 0),
}
_SH_BITS = 35  # |Dsh|, |Msh| < 2^35 on the fast path


def fields(qm: QuantMatrix, raw_rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(q int8 (r, K), d_mant, d_exp, m_mant, m_exp int64 (r, K // B)) of raw rows of qm (default: all rows),
    vectorized (``fixedpoint.vec.blocks.decode_fields``); the same values as ``qm.fields``."""
    return decode_fields(qm.raw if raw_rows is None else raw_rows, qm.ggml_type, qm.shape[1])


# --------------------------------------------------------------------------------------------- matrix


def decode_matrix(raw: np.ndarray, ggml_type: str, n_rows: int, n_cols: int) -> QuantMatrix:
    """The QuantMatrix of ``raw`` (uint8, N * row_bytes bytes, any shape) read as an ``ggml_type`` N x K matrix.

    FixedPointTypeError for a non-uint8 raw or non-str type; FixedPointValueError for an unknown type, a
    size mismatch, K not a multiple of the block size, or any inf/NaN scale (naming its bits, row and block).
    The matrix keeps (a read-only view of) raw; its fields are decoded on access.
    """
    qm = QuantMatrix(raw, ggml_type, n_rows, n_cols)
    bad = find_inf_nan(qm.raw, ggml_type)
    if bad is not None:
        row, blkno, kind, v, width = bad
        raise FixedPointValueError(
            f"{ggml_type} row {row} block {blkno}: {kind} bits 0x{v:0{width // 4}x} "
            f"encode inf or NaN, which has no exact value"
        )
    return qm


def _least_exp(dm: np.ndarray, de: np.ndarray, mm: np.ndarray, me: np.ndarray) -> np.ndarray:
    """Per row, the least exponent of a nonzero scale (d or m); 0 for a row whose scales are all zero."""
    e = np.minimum(np.where(dm != 0, de, _NO_EXP).min(axis=1), np.where(mm != 0, me, _NO_EXP).min(axis=1))
    return np.where(e == _NO_EXP, 0, e)


def dequant_exact_row(qm: QuantMatrix | PreparedQuant, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row n of the matrix as exact dyadics: w[n][k] = mant * 2^exp for the k-th pair, canonical (mant odd or (0, 0)).

    qm: a QuantMatrix or PreparedQuant; n in [0, N) else FixedPointValueError. Returns (mant, exp), two int64
    arrays of K entries (the ref twin returns the same values as a list of pairs); |mant| < 2^58.
    """
    qm = _qm_of(qm)
    n = _row_index(qm, n)
    q, dm, de, mm, me = fields(qm, qm.raw[n : n + 1])
    b = qm.block
    dm, de, mm, me = (np.repeat(a[0], b) for a in (dm, de, mm, me))
    # common exponent of the two terms: both fp16-based (exponents >= -24) and |D q|, |M| < 2^38 by value, so
    # every shifted term is below 2^62; a zero term contributes no exponent (F32 exponents can be far apart)
    e = np.where(mm == 0, de, np.where(dm == 0, me, np.minimum(de, me)))
    v = ((dm * q[0]) << np.where(dm == 0, 0, de - e)) + (mm << np.where(mm == 0, 0, me - e))
    return canonical(v, e, 63)


# ------------------------------------------------------------------------------------------ prepare


class _Fast:
    """The fast form (see module doc).

    bits 4 or 8; qp the packed q (kernels.py layouts); dsh, msh (nb, Np) int32 when every value fits, else int64
    (msh zeros without a min, has_min False); n the real row count (Np = n, or n + 1 padded for 4-bit); e (N,)
    int64 least exponents E_n, e_lo/e_hi their range; gmax = max G_n over fast rows (Python int); lim,
    limb_bits: the one-pass bound of |x| and the low-limb width L (2^L - 1 <= lim); slow_rows: int64 indices of
    rows on the exact path; rounding: cache of per-row shift arrays.
    """

    __slots__ = (
        "bits",
        "qp",
        "dsh",
        "msh",
        "has_min",
        "n",
        "e",
        "e_lo",
        "e_hi",
        "gmax",
        "lim",
        "limb_bits",
        "slow_rows",
        "rounding",
    )
    bits: int
    qp: np.ndarray
    dsh: np.ndarray | None  # None for a dense (bits 32) form
    msh: np.ndarray | None
    has_min: bool
    n: int
    e: np.ndarray
    e_lo: int
    e_hi: int
    gmax: int
    lim: int
    limb_bits: int
    slow_rows: np.ndarray
    rounding: dict[Any, Any]


def prepare(qm: QuantMatrix | PreparedQuant) -> PreparedQuant:
    """The form of ``qm`` this twin's ``qlinear`` runs fastest, built once (ref: the QuantMatrix; vec: a PreparedQuant).

    The fast form holds 0.5 (4-bit codes: Q4_0, Q4_1, Q4_K, Q2_K, Q3_K) or 1 (int8 codes: Q8_0, Q5_0, Q5_1,
    Q5_K, Q6_K) byte per weight plus 16 bytes per sub-block (int64 scales); F16/BF16/F32 matrices a dense int32
    per weight (``_prepare_dense``). qm: a QuantMatrix (a PreparedQuant is returned as is). A matrix none of
    whose rows qualify gets no fast form (``fast`` is None: ``qlinear`` uses the exact path). Rows with a
    shifted scale of 2^35 or more (exponent spans of about 24 binades), or whose G_n * lim exceeds 2^63 - 1, are
    listed in ``fast.slow_rows`` and computed exactly with Python ints. Decodes CHUNK elements at a time.
    """
    if isinstance(qm, PreparedQuant):
        return qm
    qm = _qm_of(qm)
    if qm.ggml_type not in _CODES:
        return _prepare_dense(qm)
    n, k = qm.shape
    b = qm.block
    nb = k // b
    bits, off = _CODES[qm.ggml_type]
    half = (n + 1) // 2
    npad = 2 * half if bits == 4 else n
    qp = np.zeros((nb, b, half), np.uint8) if bits == 4 else np.empty((nb, b, n), np.int8)
    dsh = np.zeros((nb, npad), np.int64)
    msh = np.zeros((nb, npad), np.int64)
    e = np.zeros(n, np.int64)
    g: list[Any] = [None] * n  # G_n (a Python int), or None for a row off the fast path
    qmax = 1
    step = max(1, CHUNK // k)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        q, dm, de, mm, me = fields(qm, qm.raw[lo:hi])
        en = _least_exp(dm, de, mm, me)
        e[lo:hi] = en
        sd = np.minimum(np.where(dm != 0, de - en[:, None], 0), _SH_BITS)  # >= 0; a zero scale gets no shift
        sm = np.minimum(np.where(mm != 0, me - en[:, None], 0), _SH_BITS)
        dsh_c, msh_c = dm << sd, mm << sm  # |mant| < 2^19: no wrap
        lim_sh = 1 << _SH_BITS
        ok = cast(np.ndarray, ((np.abs(dsh_c) < lim_sh) & (np.abs(msh_c) < lim_sh)).all(axis=1))  # (rows,)
        dsh_c = np.where(ok[:, None], dsh_c, 0)
        msh_c = np.where(ok[:, None], msh_c, 0)
        # stored as the code q + off: D*q + M = D*code + (M - off*D), so Msh -= off * Dsh (|Msh| < 2^39)
        code = q.astype(np.int16) + off
        msh_c = msh_c - off * dsh_c
        q3 = code.reshape(hi - lo, nb, b)
        qmax = max(qmax, int(np.abs(code).max()))
        if bits == 8:
            qp[:, :, lo:hi] = q3.astype(np.int8).transpose(1, 2, 0)
        else:  # row r < half in the low nibble of byte r, row half + r in the high nibble
            for r0, r1, sh in ((lo, min(hi, half), 0), (max(lo, half), hi, 4)):
                if r0 < r1:
                    qp[:, :, r0 - half * (sh // 4) : r1 - half * (sh // 4)] |= (
                        q3[r0 - lo : r1 - lo].astype(np.uint8) << np.uint8(sh)
                    ).transpose(1, 2, 0)
        # G_n = sum_b |Dsh| sum_j |code| + B |Msh| over the stored codes: each term < 2^35 * 2^12 + 2^44 fits
        # int64; the row sum does for nb < 2^14 sub-blocks, beyond that it is summed with Python ints
        qabs = np.abs(q3.astype(np.int64)).sum(axis=2)
        gn = (np.abs(dsh_c) * qabs + b * np.abs(msh_c)).sum(axis=1, dtype=np.int64 if nb < (1 << 14) else object)
        g[lo:hi] = [int(v) if o else None for v, o in zip(gn.tolist(), ok.tolist())]
        dsh[:, lo:hi] = dsh_c.T
        msh[:, lo:hi] = msh_c.T
    lim = I32_MAX // (b * qmax)  # |P| <= B * qmax * lim fits int32
    slow = [i for i, gi in enumerate(g) if gi is None or gi * lim > INT64_MAX]
    if slow:
        dsh[:, slow] = 0  # their fast-path output is discarded; zeros keep every bound of the fast path true
        msh[:, slow] = 0
    fast = [i for i, gi in enumerate(g) if gi is not None and gi * lim <= INT64_MAX]
    if not fast:
        return PreparedQuant(qm, None, 0)
    gmax = max(g[i] for i in fast)
    # One exponent for the whole matrix when the bound allows (it does for SmolLM2): rounding then shifts
    # every row alike, which is cheaper than per-row shifts. Slow rows get no shift.
    e0 = int(e[fast].min())
    g0 = max(g[i] << (int(e[i]) - e0) for i in fast)
    if g0 * lim <= INT64_MAX:
        up = np.zeros(npad, np.int64)
        up[:n] = np.where(np.isin(np.arange(n), slow), 0, e - e0)
        dsh <<= up[None, :]  # exact: |Dsh| << up <= G_n << up <= g0 < 2^63
        msh <<= up[None, :]
        e[:], gmax = e0, g0
    if max(int(np.abs(dsh).max(initial=0)), int(np.abs(msh).max(initial=0))) <= I32_MAX:
        # every shifted scale fits int32 (SmolLM2's take 21 bits at most): half the scale bytes a token reads;
        # the kernels widen each to int64 before its product, so the sums are the same
        dsh, msh = dsh.astype(np.int32), msh.astype(np.int32)
    f = _Fast()
    f.bits, f.qp, f.dsh, f.msh, f.n, f.e, f.lim = bits, qp, dsh, msh, n, e, lim
    f.has_min = bool(msh.any())
    f.e_lo, f.e_hi = int(e.min()), int(e.max())
    f.limb_bits = (lim + 1).bit_length() - 1  # the largest L with 2^L - 1 <= lim
    f.gmax = gmax
    f.slow_rows = np.array(slow, np.int64)
    f.rounding = {}
    nbytes = qp.nbytes + dsh.nbytes + msh.nbytes + e.nbytes
    return PreparedQuant(qm, f, nbytes)


def _prepare_dense(qm: QuantMatrix) -> PreparedQuant:
    """The dense fast form of an F16 / BF16 / F32 matrix: w (K, N) int32, w[k, n] = mant << (exp - E_n) (E_n the
    row's least exponent), for rows whose every w fits int32 and whose G_n = sum_k |w| is at most 2^47; the other
    rows are slow rows. lim = min(2^31 - 1, (2^63 - 1) // max G_n) >= 2^16 bounds |x| for one pass."""
    n, k = qm.shape
    w32 = np.zeros((k, n), np.int32)
    e = np.zeros(n, np.int64)
    g: list[Any] = [None] * n  # as in prepare
    step = max(1, CHUNK // k)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        _, dm, de, _, _ = fields(qm, qm.raw[lo:hi])
        en = np.where(dm != 0, de, _NO_EXP).min(axis=1)
        en = np.where(en == _NO_EXP, 0, en)
        sh = np.where(dm != 0, de - en[:, None], 0)
        wv = dm << np.minimum(sh, 31)  # |mant| < 2^24: below 2^55, no wrap
        ok = cast(np.ndarray, ((sh <= 31) & (np.abs(wv) < (1 << 31))).all(axis=1))  # (rows,)
        wv = np.where(ok[:, None], wv, 0)
        gn = np.abs(wv).sum(axis=1)  # < K * 2^31
        e[lo:hi] = en
        w32[:, lo:hi] = wv.T.astype(np.int32)
        g[lo:hi] = [int(v) if o and v <= (1 << 47) else None for v, o in zip(gn.tolist(), ok.tolist())]
    slow = [i for i, gi in enumerate(g) if gi is None]
    fast = [i for i, gi in enumerate(g) if gi is not None]
    if not fast:
        return PreparedQuant(qm, None, 0)
    w32[:, slow] = 0
    gmax = max(max(g[i] for i in fast), 1)
    f = _Fast()
    f.bits, f.qp, f.dsh, f.msh, f.has_min, f.n, f.e = 32, w32, None, None, False, n, e
    f.lim = min(I32_MAX, INT64_MAX // gmax)
    f.e_lo, f.e_hi = int(e.min()), int(e.max())
    f.limb_bits = (f.lim + 1).bit_length() - 1
    f.gmax = gmax
    f.slow_rows = np.array(slow, np.int64)
    f.rounding = {}
    return PreparedQuant(qm, f, w32.nbytes + e.nbytes)


# ------------------------------------------------------------------------------------------- qlinear


def _as_x(x: Any, k: int) -> tuple[np.ndarray, bool]:
    """x as int64 (T, K) and whether it was 1-D; the same checks, in the same order, as the ref twin."""
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_ or x.dtype.kind not in "iu":
            raise FixedPointTypeError(f"x must be an integer array, got dtype {x.dtype}")
        if x.ndim not in (1, 2) or x.shape[-1] != k:
            raise FixedPointValueError(f"x must have shape (K,) or (T, K) with K={k}, got {x.shape}")
        return as_int(x, "x").reshape(-1, k), x.ndim == 1
    rows, one = _parse_x(x, k)
    return np.array(rows, dtype=np.int64).reshape(-1, k), one


def _round_rows(s: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """round_half_up(s[n, t] * 2^-sh[n]) for int64 s (N, C) and int64 sh (N,); FixedPointOverflow names the first
    (in (t, n) order) result outside int64. Never forms s + 2^(sh-1) (it could wrap)."""
    sh = sh[:, None]
    right = np.maximum(sh, 1)
    r63 = np.minimum(right, 63)
    # floor((s + 2^(r-1)) / 2^r) = (s >> r) + bit (r-1) of s; 0 for r >= 64 since |s| <= 2^63 <= 2^(r-1)
    down = np.where(right >= 64, 0, (s >> r63) + ((s >> (r63 - 1)) & 1))
    if int(sh.min()) > 0:
        return down
    left = np.clip(-sh, 0, 63)
    fits = (s >= (INT64_MIN >> left)) & (s <= (INT64_MAX >> left)) & ((-sh <= 63) | (s == 0))
    bad = (sh <= 0) & ~fits
    if bad.any():
        tt, nn = np.nonzero(bad.T)  # first in (t, n) order
        t, n = int(tt[0]), int(nn[0])
        v = int(s[n, t]) << int(-sh[n, 0])
        raise FixedPointOverflow(f"qlinear: y[{n}] (input row {t}) = {v} overflows int64")
    return np.where(sh > 0, down, s << left)


def _round_obj(s: list[list[int]], sh: list[int]) -> np.ndarray:
    """Python-int rounding of rows s[n][t] by 2^-sh[n]; (N, C) int64 or FixedPointOverflow."""
    out = [[_round_one(v, e) for v in row] for row, e in zip(s, sh)]
    for t in range(len(out[0]) if out else 0):
        for n in range(len(out)):
            if not INT64_MIN <= out[n][t] <= INT64_MAX:
                raise FixedPointOverflow(f"qlinear: y[{n}] (input row {t}) = {out[n][t]} overflows int64")
    return np.array(out, dtype=np.int64).reshape(len(s), -1)


def _round_one(v: int, sh: int) -> int:
    return (v + (1 << (sh - 1))) >> sh if sh > 0 else v << -sh


def _exact_rows(qm: QuantMatrix, rows: np.ndarray, x2: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """(len(rows), T) int64: the exact results of those rows with Python ints (object arrays); the slow path."""
    k, b = qm.shape[1], qm.block
    xo = x2.T.astype(object)  # (K, T)
    out = []
    step = max(1, (1 << 16) // k)
    for lo in range(0, len(rows), step):
        sel = rows[lo : lo + step]
        q, dm, de, mm, me = fields(qm, qm.raw[sel])
        en = _least_exp(dm, de, mm, me)
        r = len(sel)
        # exact w[n,k] * 2^-E_n as Python ints; a zero scale contributes nothing (its shift may be negative)
        sd = np.where(dm != 0, de - en[:, None], 0).astype(object)
        sm = np.where(mm != 0, me - en[:, None], 0).astype(object)
        dsh, msh = dm.astype(object) << sd, mm.astype(object) << sm
        w = dsh[:, :, None] * q.reshape(r, -1, b).astype(object) + msh[:, :, None]
        s = np.matmul(w.reshape(r, k), xo)  # (r, T) Python ints
        out.append(_round_obj(s.tolist(), (fx - fy - en).tolist()))
    return np.concatenate(out, axis=0) if out else np.zeros((0, x2.shape[0]), np.int64)


def _limb_plan(xmin: int, xmax: int, lim: int, L: int) -> tuple[int, list[int]]:
    """(number of limbs nl >= 2, bound on |limb i| for each i): low limbs in [0, 2^L), top limb in [-lim, lim]."""
    nl = 2
    while not (-lim <= (xmin >> (L * (nl - 1))) and (xmax >> (L * (nl - 1))) <= lim):
        nl += 1
    top = max(-(xmin >> (L * (nl - 1))), xmax >> (L * (nl - 1)))
    return nl, [(1 << L) - 1] * (nl - 1) + [top]


def _sums(f: _Fast, xc: np.ndarray) -> np.ndarray:
    """(N, C) int64 holding sum_k w[n,k] * 2^-E_n * xc[c, k] exactly, for int64 xc (C, K) with |xc| <= lim."""
    return kernels.partial_sums(f.bits, f.qp, f.dsh, f.msh, f.has_min, xc.astype(np.int32))[:, : f.n].T


def _round_fast(f: _Fast, s: np.ndarray, smax: int, d: int) -> np.ndarray:
    """round_half_up(s[n, c] * 2^-(d - E_n)) for int64 s (N, C) with |s| <= smax: the common cases, else _round_rows."""
    lo, hi = d - f.e_hi, d - f.e_lo  # range of the per-row shifts
    if lo == hi:  # one exponent for the matrix: scalar shifts
        if 1 <= hi <= 62:
            if smax + (1 << (hi - 1)) <= INT64_MAX:
                return (s + (1 << (hi - 1))) >> hi
            return (s >> hi) + ((s >> (hi - 1)) & 1)  # = floor((s + 2^(r-1)) / 2^r) without forming the sum
        if hi <= 0 and (smax << -hi) <= INT64_MAX:
            return s << -hi
        return _round_rows(s, d - f.e)
    if not (lo >= 1 and hi <= 62):
        return _round_rows(s, d - f.e)
    plan = f.rounding.get(d)
    if plan is None:
        r = (d - f.e)[:, None]
        plan = f.rounding[d] = (r, np.left_shift(np.int64(1), r - 1), r - 1)
    r, half, r1 = plan
    out: np.ndarray
    if smax + (1 << (hi - 1)) <= INT64_MAX:
        out = (s + half) >> r
    else:
        out = (s >> r) + ((s >> r1) & 1)
    return out


def _fast_rows(f: _Fast, x2: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """(N, T) int64 results on the fast path (rows in f.slow_rows are garbage: the caller replaces them)."""
    t, k = x2.shape
    xmin, xmax = int(x2.min()), int(x2.max())
    xmag, lim, d = max(-xmin, xmax), f.lim, fx - fy
    if xmag <= lim:
        return _round_fast(f, _sums(f, x2), xmag * f.gmax, d)  # |partial sums| <= xmag * G_n (module doc)
    L = f.limb_bits
    nl, bounds = _limb_plan(xmin, xmax, lim, L)
    xl = np.empty((nl * t, k), np.int64)
    mask = (1 << L) - 1
    for i in range(nl):
        limb = x2 >> (L * i)
        xl[i * t : (i + 1) * t] = limb & mask if i < nl - 1 else limb  # |limb| <= lim
    acc = _sums(f, xl)
    parts = [acc[:, i * t : (i + 1) * t] for i in range(nl)]
    smax = f.gmax * sum(bd << (L * i) for i, bd in enumerate(bounds))  # bounds every partial sum below
    if smax <= INT64_MAX:
        s = parts[0].copy()
        for i in range(1, nl):
            s += parts[i] << (L * i)
        return _round_fast(f, s, smax, d)
    wide = [[sum(int(p[r, j]) << (L * i) for i, p in enumerate(parts)) for j in range(t)] for r in range(f.n)]
    return _round_obj(wide, (d - f.e).tolist())


def qlinear(x: Any, qm: QuantMatrix | PreparedQuant, fx: int, fy: int) -> np.ndarray:
    """y[..., n] = round_half_up(2^fy * sum_k w[n,k] * x[..., k] * 2^-fx), the exact dot product rounded once.

    x: (K,) or (T, K) integer array (or lists) in int64 (float/bool raise FixedPointTypeError); qm:
    PreparedQuant (fast) or QuantMatrix (prepared on the fly: slow); fx, fy in [0, 62]. Returns int64
    (N,) or (T, N). FixedPointOverflow if a result leaves int64. Fast path and its exactness: module doc.
    """
    qmat = _qm_of(qm)
    fx, fy = check_shift(fx, "fx"), check_shift(fy, "fy")
    x2, one = _as_x(x, qmat.shape[1])
    n = qmat.shape[0]
    if x2.shape[0] == 0:
        return np.zeros((0, n), np.int64)
    f = (qm if isinstance(qm, PreparedQuant) else prepare(qm)).fast
    if f is None:
        y = _exact_rows(qmat, np.arange(n), x2, fx, fy)
    else:
        y = _fast_rows(f, x2, fx, fy)
        if f.slow_rows.size:
            y[f.slow_rows] = _exact_rows(qmat, f.slow_rows, x2, fx, fy)
    return y.reshape(n) if one else np.ascontiguousarray(y.T)  # (N, 1) -> (N,) is a view


def qlinear_row(x: Any, qm: QuantMatrix | PreparedQuant, n: int, fx: int, fy: int) -> np.int64:
    """y[n] = round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx) exactly (one output of ``qlinear``).

    x: K ints; qm: QuantMatrix or PreparedQuant; n in [0, N); fx, fy in [0, 62]. Returns np.int64.
    Computed on the exact Python-int path (independent of the fast kernel).
    """
    qmat = _qm_of(qm)
    fx, fy = check_shift(fx, "fx"), check_shift(fy, "fy")
    x2, one = _as_x(x, qmat.shape[1])
    if not one:
        raise FixedPointValueError("qlinear_row takes one input vector x of shape (K,)")
    n = _row_index(qmat, n)
    return np.int64(_exact_rows(qmat, np.array([n]), x2, fx, fy)[0, 0])
