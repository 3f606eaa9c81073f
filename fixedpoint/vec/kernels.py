"""Compiled integer kernels of the vec twin's quantized linear layer (numba; no floating point anywhere).

For a block-quantized matrix held as ``prepare`` builds it (``fixedpoint.vec.quant``), with blocks of B = 32
columns, these compute for every row n of a row range and every input column x (int32, |x| <= lim):

    S[n] = sum_b ( Dsh[b, n] * P[b, n] + Msh[b, n] * X[b] )
    P[b, n] = sum_j q[b, j, n] * x[b*B + j]      (int32: |P| <= B * max|q| * lim < 2^31, checked at prepare)
    X[b]    = sum_j x[b*B + j]                   (int64)

in int64, exact when sum_b (|Dsh| sum_j |q| + B |Msh|) * lim <= 2^63 - 1 for the row (``prepare`` keeps only
such rows on this path). Every operation is an integer add or multiply whose exact result fits its type,
so the result is the same for any order, vector width or thread split: there is nothing to round.

Layouts (column-major within a block, so the innermost loop runs over rows, contiguous, and vectorizes):
  4-bit: qp (nb, B, H) uint8, H = ceil(N / 2); byte i holds row i in its low nibble and row H + i in its
         high nibble (values 0..15); the row count is padded to 2H with zero rows.
  8-bit: qp (nb, B, N) int8.
  dsh, msh: (nb, Np) int32 (when every scale fits) or int64 (Np the padded row count); msh is all zeros for
  types without a min.

F16 / BF16 / F32 matrices (``bits`` 32) are held dense: w (K, N) int32 with w[k, n] = mant << (exp - E_n), and
S[n] = sum_k w[k, n] * x[k] in int64, exact when sum_k |w[k, n]| * lim <= 2^63 - 1 (checked at prepare).
"""

from __future__ import annotations

from typing import TypedDict, cast

import numpy as np
from numba import njit


class _JitOptions(TypedDict):  # typed, so that mypy matches ``njit(**_OPTS)`` with numba's own stubs
    cache: bool
    nogil: bool
    boundscheck: bool


_OPTS: _JitOptions = {"cache": True, "nogil": True, "boundscheck": False}


@njit(**_OPTS)
def _nib_pass(
    row: np.ndarray, xj: int | np.integer, pe: np.ndarray, po: np.ndarray
) -> None:  # pe[i] += lo_nibble(row[i]) * xj; po[i] += hi_nibble(row[i]) * xj (int32)
    for i in range(pe.shape[0]):
        v = row[i]
        pe[i] += np.int32(v & np.uint8(15)) * xj
        po[i] += np.int32(v >> np.uint8(4)) * xj


@njit(**_OPTS)
def _i8_pass(row: np.ndarray, xj: int | np.integer, p: np.ndarray) -> None:  # p[i] += row[i] * xj (int32)
    for i in range(p.shape[0]):
        p[i] += np.int32(row[i]) * xj


@njit(**_OPTS)
def _recombine(acc: np.ndarray, p: np.ndarray, d: np.ndarray, m: np.ndarray, xsum: np.integer) -> None:
    # acc[i] += d[i] * p[i] + m[i] * xsum (int64)
    for i in range(acc.shape[0]):
        acc[i] += np.int64(d[i]) * np.int64(p[i]) + np.int64(m[i]) * xsum


@njit(**_OPTS)
def _scale(acc: np.ndarray, p: np.ndarray, d: np.ndarray) -> None:  # acc[i] += d[i] * p[i] (int64)
    for i in range(acc.shape[0]):
        acc[i] += np.int64(d[i]) * np.int64(p[i])


@njit(**_OPTS)
def q4_rows(qp: np.ndarray, dsh: np.ndarray, msh: np.ndarray, x: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """out[c, i] and out[c, H + i] for i in [lo, hi): S of rows i and H + i for each input column x[c] (int32)."""
    nb, B, H = qp.shape
    w = hi - lo
    pe = np.empty(w, np.int32)
    po = np.empty(w, np.int32)
    ae = np.empty(w, np.int64)
    ao = np.empty(w, np.int64)
    for c in range(x.shape[0]):
        ae[:] = 0
        ao[:] = 0
        for b in range(nb):
            pe[:] = 0
            po[:] = 0
            xsum = np.int64(0)
            for j in range(B):
                xj = x[c, b * B + j]
                xsum += xj
                _nib_pass(qp[b, j, lo:hi], xj, pe, po)
            _recombine(ae, pe, dsh[b, lo:hi], msh[b, lo:hi], xsum)
            _recombine(ao, po, dsh[b, H + lo : H + hi], msh[b, H + lo : H + hi], xsum)
        out[c, lo:hi] = ae
        out[c, H + lo : H + hi] = ao


@njit(**_OPTS)
def q8_rows(
    qp: np.ndarray, dsh: np.ndarray, msh: np.ndarray, has_min: bool, x: np.ndarray, out: np.ndarray, lo: int, hi: int
) -> None:
    """out[c, i] for i in [lo, hi): S of row i for each input column x[c] (int32)."""
    nb, B, N = qp.shape
    w = hi - lo
    p = np.empty(w, np.int32)
    acc = np.empty(w, np.int64)
    for c in range(x.shape[0]):
        acc[:] = 0
        for b in range(nb):
            p[:] = 0
            xsum = np.int64(0)
            for j in range(B):
                xj = x[c, b * B + j]
                xsum += xj
                _i8_pass(qp[b, j, lo:hi], xj, p)
            if has_min:
                _recombine(acc, p, dsh[b, lo:hi], msh[b, lo:hi], xsum)
            else:
                _scale(acc, p, dsh[b, lo:hi])
        out[c, lo:hi] = acc


@njit(**_OPTS)
def _dense_pass(row: np.ndarray, xk: int | np.integer, acc: np.ndarray) -> None:  # acc[i] += row[i] * xk (int64)
    for i in range(acc.shape[0]):
        acc[i] += np.int64(row[i]) * xk


@njit(**_OPTS)
def dense_rows(w: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out[c, i] = sum_k w[k, i] * x[c, k] for every row i (int32 w (K, N), int32 x (C, K), int64 out (C, N))."""
    K, N = w.shape
    acc = np.empty(N, np.int64)
    for c in range(x.shape[0]):
        acc[:] = 0
        for k in range(K):
            _dense_pass(w[k], np.int64(x[c, k]), acc)
        out[c, :] = acc


def partial_sums(
    bits: int, qp: np.ndarray, dsh: np.ndarray | None, msh: np.ndarray | None, has_min: bool, x: np.ndarray
) -> np.ndarray:
    """(C, Np) int64: S for every (padded) row and every column of x (int32 (C, K), |x| <= the matrix's lim).

    One thread: splitting rows over numba's pool was measured slower in the engine (waking the pool costs
    more than the small matrices take; after the output head, the pool's spinning slowed the next ops).
    """
    if bits == 32:
        out = np.empty((x.shape[0], qp.shape[1]), np.int64)
        dense_rows(qp, x, out)
    elif bits == 4:
        out = np.empty((x.shape[0], 2 * qp.shape[2]), np.int64)
        q4_rows(qp, cast(np.ndarray, dsh), cast(np.ndarray, msh), x, out, 0, qp.shape[2])  # not None: bits < 32
    else:
        out = np.empty((x.shape[0], qp.shape[2]), np.int64)
        q8_rows(qp, cast(np.ndarray, dsh), cast(np.ndarray, msh), has_min, x, out, 0, qp.shape[2])
    return out
