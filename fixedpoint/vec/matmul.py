"""Exact integer matrix product, numpy twin of ``fixedpoint.ref.matmul`` (same names, same specs, same errors).

Why float64 BLAS is exact here. Let every |a| <= amax, |b| <= bmax and K * amax * bmax < 2^53. Each
product a[i,k] * b[k,j] is an integer of magnitude <= amax * bmax, and any sum of any subset of the K
products of one output entry has magnitude <= K * amax * bmax < 2^53. Every integer of magnitude
<= 2^53 is a float64, and an IEEE-754 add, multiply or fused multiply-add whose exact result is
representable returns that result exactly. A GEMM forms each output as a sum of its K products in
some order and grouping (blocking, SIMD lanes, threads splitting K, FMA): every value it ever
holds is such a subset sum, so nothing is ever rounded and the result is the exact integer, for
every BLAS, thread count and summation order. (This excludes Strassen-type algorithms, which add
operand entries before multiplying; OpenBLAS, MKL, BLIS and numpy's own loops do not use them.)

When the bound fails, the operands are split into limbs: X = sum_i X_i * 2^(L*i) with the low limbs
(X >> L*i) & (2^L - 1) in [0, 2^L) and the top limb X >> L*(n-1) signed (arithmetic shifts, exact
for all of int64 including -2^63). Limb counts (na, nb) are chosen so K * max|A_i| * max|B_j| < 2^53
with the fewest partial GEMMs; all A limbs are stacked into one (na*M, K) GEMM per B limb. The exact
result is sum_ij P_ij * 2^(La*i + Lb*j); it is accumulated modulo 2^64 in uint64 (well-defined
wraparound), which equals the result exactly whenever the result fits int64. Entries that might not
fit (row bound * column bound * K >= 2^63, in exact integer bit lengths) are recomputed exactly from
the same P_ij as Python ints, and the first one outside int64 raises FixedPointOverflow. Should more
than ``MAX_GEMMS`` partial GEMMs be needed (only for absurd K), an object-dtype (Python int) matmul
is used instead: slow, exact.
"""

from __future__ import annotations

import threading

from typing import Any

import numpy as np

from ..errors import FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN
from ..ref.matmul import FLOAT64_EXACT, Shapes, _batch, _check_pair, _check_shapes, _overflow_error, _parse
from ..ref.matmul import matmul_bound_ok as _bound_ok_ref
from .core import I64, as_int

__all__ = ["matmul_exact", "bmm_exact", "matmul_bound_ok"]

MAX_GEMMS = 64  # limb products allowed before the exact object-int fallback
SCRATCH_MAX = 1 << 20  # float64 elements kept per reused GEMM buffer (8 MB); larger operands allocate fresh

_scratch = threading.local()  # per thread: no two calls ever share a buffer


def matmul_bound_ok(k: Any, amax: Any, bmax: Any) -> bool:
    """k * amax * bmax < 2^53: then a float64 GEMM of (., k) by (k, .) with |a| <= amax, |b| <= bmax is exact.

    Exact integer arithmetic (Python ints; numpy integers accepted); k, amax, bmax are non-negative
    ints of any size, else FixedPointTypeError / FixedPointValueError naming the argument.
    """
    # A scalar predicate: the twin computes it with the very same exact Python-int rule.
    return _bound_ok_ref(k, amax, bmax)


def _operand(x: Any, name: str) -> np.ndarray:
    """x as a 1-D or 2-D int64 array; errors (class and order of checks) match the ref twin's _parse."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "iu":
            raise FixedPointTypeError(f"{name} must be an integer array, got dtype {x.dtype}")
        if x.ndim not in (1, 2):
            raise FixedPointValueError(f"matmul_exact needs 1-D or 2-D operands, {name} has shape {x.shape}")
        return as_int(x, name)  # uint64 above INT64_MAX -> FixedPointOverflow
    # Nested lists go through the reference parser so both twins accept and refuse the same inputs
    # (np.asarray would turn [] into float64 and [True, 2] into int64).
    shape, flat = _parse(x, name)
    return np.array(flat, dtype=np.int64).reshape(shape)


def _bits(lo: int, hi: int) -> int:
    """Smallest b with -2^b <= lo and hi < 2^b: the magnitude bits of [lo, hi] in two's complement."""
    return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0)


def _limb_options(lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(n, L, bound) for n = 1, 2, ... limbs of L bits covering [lo, hi]; bound >= every |limb| exactly."""
    opts = [(1, 0, max(-lo, hi))]
    bx = _bits(lo, hi)
    for n in range(2, bx + 1):
        L = -(-bx // n)
        s = L * (n - 1)
        if s >= bx:  # the top limb would be only sign bits: fewer limbs do the same job
            continue
        # low limbs lie in [0, 2^L); the top limb X >> s lies in [lo >> s, hi >> s] (>> is monotone)
        opts.append((n, L, max((1 << L) - 1, -(lo >> s), hi >> s)))
    return opts


def _limb_plan(k: int, alo: int, ahi: int, blo: int, bhi: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((na, La), (nb, Lb)) with k * bound_a * bound_b < 2^53 and the fewest GEMMs na*nb; None if > MAX_GEMMS."""
    best: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None
    opts_b = _limb_options(blo, bhi)
    for na, La, ba in _limb_options(alo, ahi):
        for nb, Lb, bb in opts_b:
            cost = (na * nb, na + nb)
            if na * nb > MAX_GEMMS or (best is not None and cost >= best[0]):
                break
            if k * ba * bb < FLOAT64_EXACT:
                best = (cost, (na, La), (nb, Lb))
                break
    return None if best is None else (best[1], best[2])


def _split(x: np.ndarray, n: int, L: int) -> list[np.ndarray]:
    """Limbs x_i (int64) with x = sum_i x_i * 2^(L*i): low limbs in [0, 2^L), top limb signed."""
    if n == 1:
        return [x]
    mask = np.int64((1 << L) - 1)
    return [(x >> (L * i)) & mask for i in range(n - 1)] + [x >> (L * (n - 1))]


def _abs_bits(x: np.ndarray, axis: int) -> list[int]:
    """bit_length of max |x| along axis, as Python ints (|-2^63| = 2^63 handled in uint64)."""
    u = x.view(np.uint64)
    mag = np.where(x < 0, ~u + np.uint64(1), u)  # two's complement negation, exact in uint64
    return [int(v).bit_length() for v in mag.max(axis=axis).tolist()]


def _f64_buffer(role: str, shape: tuple[int, int]) -> np.ndarray:
    """A float64 array of this shape, reused across calls in this thread when it has <= SCRATCH_MAX elements.

    Why: fresh multi-megabyte arrays cost page faults and kernel zeroing, measured at ~40% of the
    whole product at 576x576; reusing the operand and output buffers removes that.
    """
    size = shape[0] * shape[1]
    if size > SCRATCH_MAX:
        return np.empty(shape, dtype=np.float64)
    buf = getattr(_scratch, role, None)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1 << 16), dtype=np.float64)
        setattr(_scratch, role, buf)
    return buf[:size].reshape(shape)


def _gemm_f64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b through float64 BLAS, as a new int64 array; exact only under matmul_bound_ok (see module doc)."""
    af = _f64_buffer("a", a.shape)
    bf = _f64_buffer("b", b.shape)
    cf = _f64_buffer("c", (a.shape[0], b.shape[1]))
    np.copyto(af, a, casting="unsafe")  # exact: the bound implies |a|, |b| < 2^53
    np.copyto(bf, b, casting="unsafe")
    np.matmul(af, bf, out=cf)
    return cf.astype(np.int64)  # exact: |c| <= K * amax * bmax < 2^53


def _matmul_object(a: np.ndarray, b: np.ndarray, nda: int, ndb: int) -> np.ndarray:
    """Exact Python-int product (object dtype), range-checked in row-major order: the slow safe fallback."""
    c = np.matmul(a.astype(object), b.astype(object))
    n = c.shape[1]
    for idx, v in enumerate(c.ravel().tolist()):
        if not INT64_MIN <= v <= INT64_MAX:
            raise _overflow_error(nda, ndb, idx // n, idx % n, v)
    out: np.ndarray = c.astype(np.int64)
    return out


def _matmul_limbs(
    a: np.ndarray, b: np.ndarray, k: int, alo: int, ahi: int, blo: int, bhi: int, nda: int, ndb: int
) -> np.ndarray:
    plan = _limb_plan(k, alo, ahi, blo, bhi)
    if plan is None:
        return _matmul_object(a, b, nda, ndb)
    (na, La), (nb, Lb) = plan
    m, n = a.shape[0], b.shape[1]
    amax, bmax = max(-alo, ahi), max(-blo, bhi)
    if k * amax * bmax <= INT64_MAX:
        cand = None  # every |entry| <= k * amax * bmax fits: the mod-2^64 sum is the exact result
    else:
        # |c[i,j]| <= k * rowmax|a_i| * colmax|b_j| < 2^(bits(k) + bits(row) + bits(col)); else recheck
        rows = np.array(_abs_bits(a, 1), dtype=np.int64)
        cols = np.array(_abs_bits(b, 0), dtype=np.int64)
        cand = np.nonzero(rows[:, None] + cols[None, :] + k.bit_length() > 63)  # row-major order
        exact = np.zeros(len(cand[0]), dtype=object)
    a_stack = _f64_buffer("a", (na * m, k))  # all A limbs stacked: one GEMM per B limb
    for i, ai in enumerate(_split(a, na, La)):
        np.copyto(a_stack[i * m : (i + 1) * m], ai, casting="unsafe")  # exact: |limb| < 2^53
    bf = _f64_buffer("b", (k, n))
    cf = _f64_buffer("c", (na * m, n))
    acc = np.zeros((m, n), dtype=np.uint64)
    for j, bj in enumerate(_split(b, nb, Lb)):
        np.copyto(bf, bj, casting="unsafe")
        np.matmul(a_stack, bf, out=cf)
        p = cf.astype(np.int64).reshape(na, m, n)  # exact: every partial GEMM obeys the 2^53 bound
        for i in range(na):
            s = La * i + Lb * j
            if s < 64:  # 2^s == 0 mod 2^64 otherwise
                acc += p[i].view(np.uint64) << np.uint64(s)
            if cand is not None and len(cand[0]):
                exact += p[i][cand].astype(object) * (1 << s)
    if cand is not None:
        for t, v in enumerate(exact.tolist()):
            if not INT64_MIN <= v <= INT64_MAX:
                raise _overflow_error(nda, ndb, int(cand[0][t]), int(cand[1][t]), v)
    return acc.view(np.int64)


def matmul_exact(a: Any, b: Any) -> np.ndarray | np.int64:
    """a @ b exactly: r[i][j] = sum_k a[i][k] * b[k][j] over Python ints; each r[i][j] must fit int64.

    a, b: int64-range integer numpy arrays (any integer dtype) or nested lists of ints, 1-D or 2-D, with
    numpy matmul shapes: (M,K)@(K,N) -> (M,N), (K,)@(K,N) -> (N,), (M,K)@(K,) -> (M,), (K,)@(K,) ->
    np.int64 scalar. Returns a new int64 array. Float, bool and object inputs raise FixedPointTypeError;
    mismatched or >2-D shapes FixedPointValueError; the first result entry (row-major) outside int64
    FixedPointOverflow naming its index and exact value. Fast path: one float64 GEMM when
    matmul_bound_ok(K, max|a|, max|b|) (exact, see module doc); else limbs, else Python ints.
    """
    a = _operand(a, "a")
    b = _operand(b, "b")
    _check_shapes(a.shape, b.shape)
    nda, ndb = a.ndim, b.ndim
    a2 = a if nda == 2 else a[None, :]
    b2 = b if ndb == 2 else b[:, None]
    m, k = a2.shape
    n = b2.shape[1]
    c: I64
    if a2.size == 0 or b2.size == 0:
        c = np.zeros((m, n), dtype=np.int64)
    else:
        alo, ahi = int(a2.min()), int(a2.max())
        blo, bhi = int(b2.min()), int(b2.max())
        amax, bmax = max(-alo, ahi), max(-blo, bhi)
        if k * amax * bmax < FLOAT64_EXACT:
            c = _gemm_f64(a2, b2)
        else:
            c = _matmul_limbs(a2, b2, k, alo, ahi, blo, bhi, nda, ndb)
    if nda == 2 and ndb == 2:
        return c
    if nda == 2:
        return c[:, 0].copy()
    if ndb == 2:
        row: I64 = c[0]
        return row.copy()
    scalar: np.int64 = c[0, 0]
    return scalar


def bmm_exact(a: Any, b: Any) -> np.ndarray:
    """[matmul_exact(a[i], b[i]) for i < B]: B exact 2-D products of the same shapes (a[i]: M x K, b[i]: K x N).

    Returns one int64 array (B, M, N) (the ref twin: a list of B lists of lists).
    Same inputs, checks and errors as the ref twin (the first failing pair's, in batch order). Fast path: for
    3-D int64 arrays with K * max|a| * max|b| < 2^53 over the whole batch, one batched float64 matmul (exact,
    see module doc); below 2^63, batched limbs; otherwise pair by pair through matmul_exact.
    """
    if (
        isinstance(a, np.ndarray)
        and isinstance(b, np.ndarray)
        and a.ndim == 3
        and b.ndim == 3
        and a.dtype == np.int64
        and b.dtype == np.int64
        and a.shape[0] == b.shape[0]
        and a.shape[2] == b.shape[1]
        and a.size
        and b.size
    ):
        alo, ahi, blo, bhi = int(a.min()), int(a.max()), int(b.min()), int(b.max())
        k, bound = a.shape[2], max(-alo, ahi) * max(-blo, bhi)
        if k * bound < FLOAT64_EXACT:
            exact: I64 = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
            return exact
        plan = _limb_plan(k, alo, ahi, blo, bhi)
        if k * bound <= INT64_MAX and plan is not None:
            # limbs as in _matmul_limbs, batched: each partial GEMM obeys the 2^53 bound; the sum is taken
            # modulo 2^64 (uint64), which is the exact result since every entry fits int64
            (na, La), (nb, Lb) = plan
            acc = np.zeros((a.shape[0], a.shape[1], b.shape[2]), np.uint64)
            bs = [bj.astype(np.float64) for bj in _split(b, nb, Lb)]
            for i, ai in enumerate(_split(a, na, La)):
                af = ai.astype(np.float64)
                for j, bf in enumerate(bs):
                    sh = La * i + Lb * j
                    if sh < 64:
                        acc += np.matmul(af, bf).astype(np.int64).view(np.uint64) << np.uint64(sh)
            return acc.view(np.int64)
    outs: list[np.ndarray | np.int64] = []
    first: Shapes | None = None
    for i in range(_batch(a, b)):
        x, y = _operand(a[i], f"a[{i}]"), _operand(b[i], f"b[{i}]")
        _check_pair(i, (x.shape, y.shape), first)
        first = first or (x.shape, y.shape)
        outs.append(matmul_exact(x, y))
    if not outs:
        m = a.shape[1] if isinstance(a, np.ndarray) and a.ndim == 3 else 0
        n = b.shape[2] if isinstance(b, np.ndarray) and b.ndim == 3 else 0
        return np.zeros((0, m, n), np.int64)
    return np.stack(outs)
