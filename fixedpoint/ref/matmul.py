"""Exact integer matrix product, pure-Python reference (the spec). ``fixedpoint.vec.matmul`` is its numpy twin.

Operands are 1-D or 2-D: nested lists/tuples of ints (shape inferred like ``np.asarray``: a list of
ints is 1-D, a list of equal-length lists is 2-D, ``[]`` is 1-D of length 0) or integer numpy arrays
(shape and dtype taken from the array, so ``np.zeros((0, 3), np.int64)`` works). Shapes follow
numpy's ``matmul`` for 1-D/2-D: (M,K)@(K,N) -> (M,N), (K,)@(K,N) -> (N,), (M,K)@(K,) -> (M,),
(K,)@(K,) -> scalar. Every entry must be an int (not bool) in int64; every result entry must fit
int64, else FixedPointOverflow names the first offending entry in row-major order.
"""

from __future__ import annotations

from typing import Any

from ..errors import FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN
from .core import as_int

__all__ = ["matmul_exact", "bmm_exact", "matmul_bound_ok"]

Exact = list[list[int]] | list[int] | int  # matmul_exact's result: numpy's shape rule on 1-D sides
Shapes = tuple[tuple[int, ...], tuple[int, ...]]

FLOAT64_EXACT = 1 << 53  # every integer of magnitude <= 2^53 is a float64; 2^53 + 1 is not


def _nonneg(x: Any, name: str) -> int:
    if isinstance(x, bool) or not hasattr(x, "__index__"):
        raise FixedPointTypeError(f"{name} must be an integer, got {type(x).__name__} {x!r}")
    v = int(x.__index__())
    if v < 0:
        raise FixedPointValueError(f"{name}={v} must be >= 0")
    return v


def matmul_bound_ok(k: int, amax: int, bmax: int) -> bool:
    """k * amax * bmax < 2^53: then a float64 GEMM of (., k) by (k, .) with |a| <= amax, |b| <= bmax is exact.

    Exact Python-int arithmetic; k, amax, bmax are non-negative ints of any size (amax may be 2^63 =
    |INT64_MIN|), else FixedPointTypeError / FixedPointValueError naming the argument.
    """
    return _nonneg(k, "k") * _nonneg(amax, "amax") * _nonneg(bmax, "bmax") < FLOAT64_EXACT


def _is_seq(x: object) -> bool:
    return isinstance(x, (list, tuple))


def _parse(x: Any, name: str) -> tuple[tuple[int, ...], list[int]]:
    """(shape, row-major flat list of Python ints) of a 1-D/2-D operand; errors name the operand and value.

    Shared with the vec twin for list inputs, so both accept and refuse exactly the same nested lists.
    """
    if hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "tolist"):
        # numpy array: the dtype decides (bool, float and object arrays are refused even when empty)
        if x.dtype.kind not in "iu":
            raise FixedPointTypeError(f"{name} must be an integer array, got dtype {x.dtype}")
        shape = tuple(int(d) for d in x.shape)
        if len(shape) not in (1, 2):
            raise FixedPointValueError(f"matmul_exact needs 1-D or 2-D operands, {name} has shape {shape}")
        flat = x.reshape(-1).tolist()
        for i, v in enumerate(flat):
            if not INT64_MIN <= v <= INT64_MAX:
                raise FixedPointOverflow(f"{name} flat[{i}]={v} is outside int64")
        return shape, flat
    if not _is_seq(x):
        if isinstance(x, bool) or not hasattr(x, "__index__"):
            raise FixedPointTypeError(f"{name} must be a 1-D or 2-D integer array, got {type(x).__name__} {x!r}")
        raise FixedPointValueError(f"matmul_exact needs 1-D or 2-D operands, {name} is a scalar {x!r}")
    if len(x) and _is_seq(x[0]):
        k = len(x[0])
        flat = []
        for i, row in enumerate(x):
            if not _is_seq(row) or len(row) != k:
                raise FixedPointValueError(f"{name} is ragged: row {i} is {row!r}, expected {k} entries")
            for j, v in enumerate(row):
                if _is_seq(v):
                    raise FixedPointValueError(f"matmul_exact needs 1-D or 2-D operands, {name}[{i}][{j}] is {v!r}")
                flat.append(as_int(v, f"{name}[{i}][{j}]"))
        return (len(x), k), flat
    flat = []
    for i, v in enumerate(x):
        if _is_seq(v):
            raise FixedPointValueError(f"{name} is ragged: entry {i} is {v!r}, entry 0 is a scalar")
        flat.append(as_int(v, f"{name}[{i}]"))
    return (len(x),), flat


def _check_shapes(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    if sa[-1] != sb[0]:
        raise FixedPointValueError(f"matmul_exact: inner dimensions differ, a has shape {sa} and b has shape {sb}")


def _out_index(a_ndim: int, b_ndim: int, i: int, j: int) -> str:
    """Name entry (i, j) of the 2-D product by its index in numpy's result shape (1-D sides are squeezed)."""
    idx = ([i] if a_ndim == 2 else []) + ([j] if b_ndim == 2 else [])
    return "[" + ", ".join(map(str, idx)) + "]"


def _overflow_error(a_ndim: int, b_ndim: int, i: int, j: int, v: int) -> FixedPointOverflow:
    """The error both twins raise for the first (row-major) result entry v outside int64."""
    return FixedPointOverflow(f"matmul_exact: result entry {_out_index(a_ndim, b_ndim, i, j)} = {v} overflows int64")


def matmul_exact(a: Any, b: Any) -> Exact:
    """a @ b exactly: r[i][j] = sum_k a[i][k] * b[k][j] over Python ints; each r[i][j] must fit int64.

    Shapes as numpy matmul for 1-D/2-D operands (a 1-D a is a row, a 1-D b a column, squeezed from the
    result); returns a list of lists, a list, or an int. Inner dimensions must agree
    (FixedPointValueError). K = 0 gives zeros. The first result entry outside int64 in row-major order
    raises FixedPointOverflow naming its index and exact value; intermediate sums may be any size.
    """
    sa, fa = _parse(a, "a")
    sb, fb = _parse(b, "b")
    _check_shapes(sa, sb)
    m = sa[0] if len(sa) == 2 else 1
    k = sa[-1]
    n = sb[1] if len(sb) == 2 else 1
    rows = [[0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            s = 0
            for t in range(k):
                s += fa[i * k + t] * fb[t * n + j]
            if not INT64_MIN <= s <= INT64_MAX:
                raise _overflow_error(len(sa), len(sb), i, j, s)
            rows[i][j] = s
    if len(sa) == 2 and len(sb) == 2:
        return rows
    if len(sa) == 2:
        return [r[0] for r in rows]
    if len(sb) == 2:
        return rows[0]
    return rows[0][0]


def _batch(a: Any, b: Any) -> int:
    """B, the common length of two batches of operands; errors name what is wrong."""
    for x, name in ((a, "a"), (b, "b")):
        if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or (hasattr(x, "ndim") and x.ndim == 0):
            raise FixedPointTypeError(f"bmm_exact: {name} must be a batch (sequence or 3-D array) of 2-D operands")
    if len(a) != len(b):
        raise FixedPointValueError(f"bmm_exact: batches differ in length, a has {len(a)} and b has {len(b)}")
    return len(a)


def bmm_exact(a: Any, b: Any) -> list[Exact]:
    """[matmul_exact(a[i], b[i]) for i < B]: B exact 2-D products of the same shapes (a[i]: M x K, b[i]: K x N).

    a, b: sequences (or 3-D integer arrays) of equal length B of 2-D operands, every pair of the same shapes,
    else FixedPointTypeError / FixedPointValueError; each pair is checked and computed as matmul_exact does,
    in batch order, so the first failing pair's error is raised. Returns a list of B lists of lists.
    """
    out: list[Exact] = []
    first: Shapes | None = None
    for i in range(_batch(a, b)):
        shapes = _parse(a[i], f"a[{i}]")[0], _parse(b[i], f"b[{i}]")[0]
        _check_pair(i, shapes, first)
        first = first or shapes
        out.append(matmul_exact(a[i], b[i]))
    return out


def _check_pair(i: int, shapes: Shapes, first: Shapes | None) -> None:
    """Pair i of a batch: both operands 2-D, and the shapes of pair 0."""
    if len(shapes[0]) != 2 or len(shapes[1]) != 2:
        raise FixedPointValueError(f"bmm_exact needs 2-D operands, batch {i} has shapes {shapes[0]} and {shapes[1]}")
    if first is not None and shapes != first:
        raise FixedPointValueError(
            f"bmm_exact: batch {i} has shapes {shapes[0]} and {shapes[1]}, batch 0 has {first[0]} and {first[1]}"
        )
