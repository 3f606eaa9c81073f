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


_TILE = 512  # rows (4-bit: byte columns, i.e. 2 x 512 rows) per tile: K * 512 bytes of weights stay in L2
_CB = 4  # input columns per pass over a tile's weights (each weight loaded and unpacked once for 4 columns)


@njit(**_OPTS)
def _nib_pass4(
    row: np.ndarray, x0: np.int32, x1: np.int32, x2: np.int32, x3: np.int32, pe: np.ndarray, po: np.ndarray
) -> None:
    # pe[c, i] += lo_nibble(row[i]) * xc; po[c, i] += hi_nibble(row[i]) * xc for the 4 columns (int32)
    for i in range(row.shape[0]):
        v = row[i]
        e = np.int32(v & np.uint8(15))
        o = np.int32(v >> np.uint8(4))
        pe[0, i] += e * x0
        pe[1, i] += e * x1
        pe[2, i] += e * x2
        pe[3, i] += e * x3
        po[0, i] += o * x0
        po[1, i] += o * x1
        po[2, i] += o * x2
        po[3, i] += o * x3


@njit(**_OPTS)
def _i8_pass4(row: np.ndarray, x0: np.int32, x1: np.int32, x2: np.int32, x3: np.int32, p: np.ndarray) -> None:
    # p[c, i] += row[i] * xc for the 4 columns (int32)
    for i in range(row.shape[0]):
        v = np.int32(row[i])
        p[0, i] += v * x0
        p[1, i] += v * x1
        p[2, i] += v * x2
        p[3, i] += v * x3


@njit(**_OPTS)
def q4_rows(qp: np.ndarray, dsh: np.ndarray, msh: np.ndarray, x: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """out[c, i] and out[c, H + i] for i in [lo, hi): S of rows i and H + i for each input column x[c] (int32).

    Rows in tiles of _TILE (the tile's weights stay in cache while every column is run over them), columns in
    blocks of _CB per pass over the weights, then the rest one by one; exact for any tiling (module doc)."""
    nb, B, H = qp.shape
    C = x.shape[0]
    pe = np.empty((_CB, _TILE), np.int32)
    po = np.empty((_CB, _TILE), np.int32)
    ae = np.empty((_CB, _TILE), np.int64)
    ao = np.empty((_CB, _TILE), np.int64)
    for t in range(lo, hi, _TILE):
        te = min(t + _TILE, hi)
        w = te - t
        c = 0
        while c + _CB <= C:
            ae[:, :w] = 0
            ao[:, :w] = 0
            for b in range(nb):
                pe[:, :w] = 0
                po[:, :w] = 0
                for j in range(B):
                    k = b * B + j
                    _nib_pass4(qp[b, j, t:te], x[c, k], x[c + 1, k], x[c + 2, k], x[c + 3, k], pe, po)
                for u in range(_CB):
                    xsum = np.int64(0)
                    for j in range(B):
                        xsum += x[c + u, b * B + j]
                    _recombine(ae[u, :w], pe[u, :w], dsh[b, t:te], msh[b, t:te], xsum)
                    _recombine(ao[u, :w], po[u, :w], dsh[b, H + t : H + te], msh[b, H + t : H + te], xsum)
            for u in range(_CB):
                out[c + u, t:te] = ae[u, :w]
                out[c + u, H + t : H + te] = ao[u, :w]
            c += _CB
        while c < C:
            ae[0, :w] = 0
            ao[0, :w] = 0
            for b in range(nb):
                pe[0, :w] = 0
                po[0, :w] = 0
                xsum = np.int64(0)
                for j in range(B):
                    xj = x[c, b * B + j]
                    xsum += xj
                    _nib_pass(qp[b, j, t:te], xj, pe[0, :w], po[0, :w])
                _recombine(ae[0, :w], pe[0, :w], dsh[b, t:te], msh[b, t:te], xsum)
                _recombine(ao[0, :w], po[0, :w], dsh[b, H + t : H + te], msh[b, H + t : H + te], xsum)
            out[c, t:te] = ae[0, :w]
            out[c, H + t : H + te] = ao[0, :w]
            c += 1


@njit(**_OPTS)
def q8_rows(
    qp: np.ndarray, dsh: np.ndarray, msh: np.ndarray, has_min: bool, x: np.ndarray, out: np.ndarray, lo: int, hi: int
) -> None:
    """out[c, i] for i in [lo, hi): S of row i for each input column x[c] (int32); tiled as q4_rows."""
    nb, B, N = qp.shape
    C = x.shape[0]
    p = np.empty((_CB, _TILE), np.int32)
    acc = np.empty((_CB, _TILE), np.int64)
    for t in range(lo, hi, _TILE):
        te = min(t + _TILE, hi)
        w = te - t
        c = 0
        while c + _CB <= C:
            acc[:, :w] = 0
            for b in range(nb):
                p[:, :w] = 0
                for j in range(B):
                    k = b * B + j
                    _i8_pass4(qp[b, j, t:te], x[c, k], x[c + 1, k], x[c + 2, k], x[c + 3, k], p)
                for u in range(_CB):
                    if has_min:
                        xsum = np.int64(0)
                        for j in range(B):
                            xsum += x[c + u, b * B + j]
                        _recombine(acc[u, :w], p[u, :w], dsh[b, t:te], msh[b, t:te], xsum)
                    else:
                        _scale(acc[u, :w], p[u, :w], dsh[b, t:te])
            for u in range(_CB):
                out[c + u, t:te] = acc[u, :w]
            c += _CB
        while c < C:
            acc[0, :w] = 0
            for b in range(nb):
                p[0, :w] = 0
                xsum = np.int64(0)
                for j in range(B):
                    xj = x[c, b * B + j]
                    xsum += xj
                    _i8_pass(qp[b, j, t:te], xj, p[0, :w])
                if has_min:
                    _recombine(acc[0, :w], p[0, :w], dsh[b, t:te], msh[b, t:te], xsum)
                else:
                    _scale(acc[0, :w], p[0, :w], dsh[b, t:te])
            out[c, t:te] = acc[0, :w]
            c += 1


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
