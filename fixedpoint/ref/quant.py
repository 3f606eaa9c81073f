"""Exact GGUF weight import and the exact quantized linear layer, pure-Python reference (the spec).

Every weight is the file's own number: an fp16/bf16/fp32 is mant * 2^exp exactly, and a block weight is
w = D*q + M with D, M such dyadics per sub-block and q a small int. The layouts of every type (Q4_0, Q4_1,
Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32), their bit positions and their (D, M) are tabulated in
``fixedpoint.ref.blocks``, which decodes a block from its bytes with plain ints; inf/NaN scales are refused
(FixedPointValueError naming the bits).

The linear layer is ``y[n] = round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx)``: the exact dot
product of the file's weights with the exact activations, rounded once (round half up = floor(v + 1/2)).

This module parses the raw bytes itself with plain ints (``_row_blocks``, ``QuantMatrix.fields``); it never
imports the vectorized decoder of ``fixedpoint.vec`` (which has its own), so the two twins are independent
implementations of the same layouts. ``QuantMatrix`` and ``PreparedQuant`` are defined here and re-exported
by the vec twin (one class each, so ``isinstance`` works across twins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import operator

import numpy as np
import numpy.typing as npt
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN
from .blocks import GGML_TYPES, bf16_decode, decode_block, fp16_decode, fp32_decode, scale_fields
from .blocks import canonical as _canonical
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

_FLOAT_DECODERS = {"fp16": fp16_decode, "bf16": bf16_decode, "fp32": fp32_decode}


# --------------------------------------------------------------------------------------------- matrix


def _dim(v: Any, name: str) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise FixedPointTypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    d = operator.index(v)
    if d < 1:
        raise FixedPointValueError(f"{name}={d} must be >= 1")
    return d


class _Field(NDArrayOperatorsMixin):
    """A read-only (N, ...) int array of a QuantMatrix, decoded from the raw bytes when indexed.

    Nothing is cached: ``f[n]`` decodes row n only (cheap), ``np.asarray(f)`` decodes every row.
    Supports numpy indexing (the first index selects rows), ``np.asarray``, ufuncs and operators.
    """

    def __init__(self, qm: QuantMatrix, index: int, shape: tuple[int, int], dtype: npt.DTypeLike):
        self._qm, self._index = qm, index
        self.shape, self.dtype = shape, np.dtype(dtype)

    ndim = 2

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, raw_rows: np.ndarray) -> np.ndarray:
        rows: np.ndarray = self._qm.fields(raw_rows)[self._index]
        return rows

    def __getitem__(self, idx: Any) -> Any:
        first, rest = (idx[0], tuple(idx[1:])) if isinstance(idx, tuple) and idx else (idx, ())
        if isinstance(first, (int, np.integer)) and not isinstance(first, (bool, np.bool_)):
            n = operator.index(first)
            if not -self.shape[0] <= n < self.shape[0]:
                raise IndexError(f"row {n} is out of range for a matrix of {self.shape[0]} rows")
            n %= self.shape[0]
            row = self._rows(self._qm.raw[n : n + 1])[0]
            return row[rest] if rest else row
        if isinstance(first, (slice, list, np.ndarray)):
            sel = self._qm.raw[first]
            if sel.ndim == 2:  # a set of whole rows: decode only those
                out = self._rows(sel)
                return out[(slice(None),) + rest] if rest else out
        return np.asarray(self)[idx]  # Ellipsis, None, multi-dim index arrays: decode everything

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        a = self._rows(self._qm.raw)
        return a if dtype is None else a.astype(dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(np.asarray(v) if isinstance(v, _Field) else v for v in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        for n in range(self.shape[0]):
            yield self[n]

    def tolist(self) -> list[Any]:
        out: list[Any] = np.asarray(self).tolist()
        return out

    def __repr__(self) -> str:
        return f"<{self.shape[0]}x{self.shape[1]} {self.dtype} field of {self._qm!r}, decoded on access>"


class QuantMatrix:
    """The exact content of one GGUF weight matrix (N rows = outputs, K columns = inputs): its own bytes.

    Attributes: ``ggml_type`` (one of GGML_TYPES), ``layout`` (its ``blocks.Layout``), ``shape`` (N, K),
    ``block`` B (the sub-block size: elements sharing one (D, M); 32 for Q4_0..Q8_0, Q4_K, Q5_K; 16 for
    Q2_K, Q3_K, Q6_K; 1 for F16/BF16/F32), ``raw`` (read-only uint8 view (N, K // layout.block *
    layout.nbytes) of the file's bytes, not copied: the committed data).

    Decoded fields (int arrays decoded from ``raw`` on access, never stored: SmolLM2 has 134M weights):
    ``q`` (N, K) int8 (in the type's q range; F16/BF16/F32: 1), ``d_mant, d_exp, m_mant, m_exp`` (N, K // B)
    int64 with D = d_mant * 2^d_exp, M = m_mant * 2^m_exp (canonical, M = (0, 0) for types without a min),
    so that w[n, k] = D*q[n, k] + M for the sub-block b = k // B of row n. ``qm.q[n]`` decodes row n only.
    This class decodes with ``fixedpoint.ref.blocks`` (plain ints: the spec, slow on big matrices); the vec
    twin has its own vectorized decoder (``fixedpoint.vec.blocks.decode_fields``).

    Build it with ``decode_matrix`` (either twin), which checks every scale for inf/NaN.
    """

    __slots__ = ("ggml_type", "layout", "shape", "block", "raw", "has_min")

    def __init__(self, raw: np.ndarray, ggml_type: str, n_rows: int, n_cols: int):
        if not isinstance(ggml_type, str):
            raise FixedPointTypeError(f"ggml_type must be a str, got {type(ggml_type).__name__} {ggml_type!r}")
        if ggml_type not in GGML_TYPES:
            raise FixedPointValueError(f"ggml_type {ggml_type!r} is not supported (supported: {sorted(GGML_TYPES)})")
        n, k = _dim(n_rows, "n_rows"), _dim(n_cols, "n_cols")
        lay = GGML_TYPES[ggml_type]
        if k % lay.block:
            raise FixedPointValueError(f"{ggml_type}: n_cols={k} is not a multiple of the block size {lay.block}")
        if not isinstance(raw, np.ndarray):
            raise FixedPointTypeError(f"raw must be a numpy uint8 array, got {type(raw).__name__}")
        if raw.dtype != np.uint8:
            raise FixedPointTypeError(f"raw must be a uint8 array, got dtype {raw.dtype}")
        rb = k // lay.block * lay.nbytes
        if raw.size != n * rb:
            raise FixedPointValueError(
                f"{ggml_type} {n}x{k} needs {n * rb} bytes ({n} rows of {rb}), raw has "
                f"{raw.size} bytes (shape {raw.shape})"
            )
        view = raw.reshape(n, rb).view()  # a view when possible (memory-mapped file bytes stay on disk)
        view.flags.writeable = False
        self.ggml_type, self.layout, self.shape, self.raw = ggml_type, lay, (n, k), view
        self.block, self.has_min = lay.sub, lay.has_min

    @property
    def n_blocks(self) -> int:
        """Sub-blocks per row, K // B."""
        return self.shape[1] // self.block

    @property
    def row_bytes(self) -> int:
        return self.raw.shape[1]

    @property
    def q(self) -> _Field:
        return _Field(self, 0, self.shape, np.int8)

    @property
    def d_mant(self) -> _Field:
        return _Field(self, 1, (self.shape[0], self.n_blocks), np.int64)

    @property
    def d_exp(self) -> _Field:
        return _Field(self, 2, (self.shape[0], self.n_blocks), np.int64)

    @property
    def m_mant(self) -> _Field:
        return _Field(self, 3, (self.shape[0], self.n_blocks), np.int64)

    @property
    def m_exp(self) -> _Field:
        return _Field(self, 4, (self.shape[0], self.n_blocks), np.int64)

    def fields(self, raw_rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(q int8 (r, K), d_mant, d_exp, m_mant, m_exp int64 (r, K // B)) of raw rows (default: all rows),
        decoded with plain ints (``fixedpoint.ref.blocks``)."""
        rows = self.raw if raw_rows is None else raw_rows
        lay, k = self.layout, self.shape[1]
        q: list[list[int]] = []
        f: list[list[list[int]]] = [[], [], [], []]
        for r in rows:
            b = bytes(r)
            qr: list[int] = []
            fr: list[list[int]] = [[], [], [], []]
            for o in range(0, len(b), lay.nbytes):
                for qq, (dm, de), (mm, me) in decode_block(self.ggml_type, b[o : o + lay.nbytes]):
                    qr += qq
                    for lst, v in zip(fr, (dm, de, mm, me)):
                        lst.append(v)
            q.append(qr)
            for col, vals in zip(f, fr):
                col.append(vals)
        nb = k // self.block
        return (np.array(q, np.int8).reshape(-1, k),) + tuple(np.array(v, np.int64).reshape(-1, nb) for v in f)

    def __repr__(self) -> str:
        return f"QuantMatrix({self.ggml_type}, {self.shape[0]}x{self.shape[1]})"


class PreparedQuant:
    """The fast form of a QuantMatrix for ``fixedpoint.vec.qlinear``, built once by ``fixedpoint.vec.prepare``.

    ``qm`` is the matrix it was built from (the committed data); ``fast`` is private to the vec twin
    (None when the matrix has no fast form, e.g. F16/F32); ``nbytes`` is what the fast form holds.
    Both twins' ``qlinear`` accept a PreparedQuant wherever they accept a QuantMatrix.
    """

    __slots__ = ("qm", "fast", "nbytes")

    def __init__(self, qm: QuantMatrix, fast: Any = None, nbytes: int = 0):
        self.qm, self.fast, self.nbytes = qm, fast, nbytes

    @property
    def shape(self) -> tuple[int, int]:
        return self.qm.shape

    def __repr__(self) -> str:
        return f"PreparedQuant({self.qm!r}, {self.nbytes} bytes)"


def _qm_of(w: object, name: str = "qm") -> QuantMatrix:
    if isinstance(w, PreparedQuant):
        return w.qm
    if isinstance(w, QuantMatrix):
        return w
    raise FixedPointTypeError(f"{name} must be a QuantMatrix or PreparedQuant, got {type(w).__name__}")


def _row_blocks(qm: QuantMatrix, n: int) -> list[tuple[list[int], int, int, int, int]]:
    """Row n parsed from its bytes with plain ints: per sub-block (q list of B ints, d_mant, d_exp, m_mant, m_exp)."""
    nb = qm.layout.nbytes
    row = bytes(qm.raw[n])
    return [
        (q, dm, de, mm, me)
        for o in range(0, len(row), nb)
        for q, (dm, de), (mm, me) in decode_block(qm.ggml_type, row[o : o + nb])
    ]


def decode_matrix(raw: np.ndarray, ggml_type: str, n_rows: int, n_cols: int) -> QuantMatrix:
    """The QuantMatrix of ``raw`` (uint8, N * row_bytes bytes, any shape) read as an ``ggml_type`` N x K matrix.

    FixedPointTypeError for a non-uint8 raw or non-str type; FixedPointValueError for an unknown type, a
    size mismatch, K not a multiple of the block size, or any inf/NaN scale (naming its bits, row and block).
    This reference checks every scale with plain ints (slow on big matrices; the vec twin is vectorized).
    """
    qm = QuantMatrix(raw, ggml_type, n_rows, n_cols)
    nb = qm.layout.nbytes
    fields = scale_fields(ggml_type)
    for n in range(qm.shape[0]):
        row = bytes(qm.raw[n])
        for o in range(0, len(row), nb):
            for so, width, kind in fields:
                try:
                    _FLOAT_DECODERS[kind](int.from_bytes(row[o + so : o + so + width], "little"))
                except FixedPointValueError as e:
                    raise FixedPointValueError(f"{ggml_type} row {n} block {o // nb}: {e}") from None
    return qm


def _row_index(qm: QuantMatrix, n: object) -> int:
    n = as_int(n, "n")
    if not 0 <= n < qm.shape[0]:
        raise FixedPointValueError(f"row n={n} is outside [0, {qm.shape[0]})")
    return n


def dequant_exact_row(qm: QuantMatrix | PreparedQuant, n: int) -> list[tuple[int, int]]:
    """Row n of the matrix as exact dyadics: w[n][k] = mant * 2^exp for the k-th pair, canonical (mant odd or (0, 0)).

    qm: a QuantMatrix or PreparedQuant; n in [0, N) else FixedPointValueError. (The vec twin returns the same
    values as two int64 arrays (mant, exp); |mant| < 2^58 always fits.)
    """
    qm = _qm_of(qm)
    n = _row_index(qm, n)
    out = []
    for q, dm, de, mm, me in _row_blocks(qm, n):
        e = min(de, me)
        for qj in q:
            out.append(_canonical(((dm * qj) << (de - e)) + (mm << (me - e)), e))
    return out


def _round_half_up_pow2(v: int, e: int) -> int:
    """round_half_up(v * 2^e) = floor(v * 2^e + 1/2) for Python ints v, e (any sizes)."""
    if e >= 0:
        return v << e
    return (v + (1 << (-e - 1))) >> -e


def _dot_row(blocks: list[tuple[list[int], int, int, int, int]], x: list[int]) -> tuple[int, int]:
    """(S, E) with sum_k w[k] * x[k] == S * 2^E exactly (E the least exponent of a nonzero term, else 0)."""
    terms = []
    k = 0
    for q, dm, de, mm, me in blocks:
        xb = x[k : k + len(q)]
        k += len(q)
        terms.append((dm * sum(a * b for a, b in zip(q, xb)), de))
        terms.append((mm * sum(xb), me))
    live = [e for c, e in terms if c]
    e0 = min(live) if live else 0
    return sum(c << (e - e0) for c, e in terms if c), e0


def _fit(v: int, what: str) -> int:
    if not INT64_MIN <= v <= INT64_MAX:
        raise FixedPointOverflow(f"{what} = {v} overflows int64")
    return v


def _parse_x(x: Any, k: int) -> tuple[list[list[int]], bool]:
    """(rows of x as lists of Python ints, x was 1-D) for x of shape (K,) or (T, K); shared with the vec twin.

    Checks, in this order: type (integer array, not bool/float/object; or a list/tuple of ints),
    shape ((K,) or (T, K), rectangular), range (int64). FixedPointTypeError / FixedPointValueError /
    FixedPointOverflow name the problem.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_ or x.dtype.kind not in "iu":
            raise FixedPointTypeError(f"x must be an integer array, got dtype {x.dtype}")
        if x.ndim not in (1, 2) or x.shape[-1] != k:
            raise FixedPointValueError(f"x must have shape (K,) or (T, K) with K={k}, got {x.shape}")
        rows = x.reshape(-1, k).tolist()
        for r in rows:
            for v in r:
                if not INT64_MIN <= v <= INT64_MAX:
                    raise FixedPointOverflow(f"x has value {v} outside int64")
        return rows, x.ndim == 1
    if not isinstance(x, (list, tuple)):
        raise FixedPointTypeError(f"x must be an integer array or list, got {type(x).__name__} {x!r}")
    one = not (len(x) and isinstance(x[0], (list, tuple)))
    grid = [x] if one else x
    for i, r in enumerate(grid):
        if not isinstance(r, (list, tuple)) or any(isinstance(v, (list, tuple)) for v in r) or len(r) != k:
            raise FixedPointValueError(f"x must have shape (K,) or (T, K) with K={k}: row {i} is {r!r}")
    rows = [[as_int(v, f"x[{j}]" if one else f"x[{i}][{j}]") for j, v in enumerate(r)] for i, r in enumerate(grid)]
    return rows, one


def _check_args(w: object, fx: object, fy: object) -> tuple[QuantMatrix, int, int]:
    qm = _qm_of(w)
    return qm, check_shift(fx, "fx"), check_shift(fy, "fy")


def qlinear_row(x: Any, qm: QuantMatrix | PreparedQuant, n: int, fx: int, fy: int) -> int:
    """y[n] = round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx) exactly (one output of ``qlinear``).

    x: K ints (list or integer array) in int64; qm: QuantMatrix or PreparedQuant; n in [0, N); fx, fy in
    [0, 62]. The on-chain verifier mirrors this: parse row n's bytes, sum the exact block terms
    d*sum(q*x) and m*sum(x) at their common least exponent, round once. FixedPointOverflow if y leaves int64.
    """
    qm, fx, fy = _check_args(qm, fx, fy)
    rows, one = _parse_x(x, qm.shape[1])
    if not one:
        raise FixedPointValueError("qlinear_row takes one input vector x of shape (K,)")
    n = _row_index(qm, n)
    s, e = _dot_row(_row_blocks(qm, n), rows[0])
    return _fit(_round_half_up_pow2(s, e + fy - fx), f"qlinear: y[{n}]")


def qlinear(x: Any, qm: QuantMatrix | PreparedQuant, fx: int, fy: int) -> list[int] | list[list[int]]:
    """y[..., n] = round_half_up(2^fy * sum_k w[n,k] * x[..., k] * 2^-fx), the exact dot product rounded once.

    x: (K,) or (T, K) ints in int64 (list or integer array; float/bool raise FixedPointTypeError); qm:
    QuantMatrix or PreparedQuant (N, K); fx, fy in [0, 62]. Returns a list of N ints (or T lists).
    FixedPointOverflow if any y leaves int64 (the first in row-major order is named).
    """
    qm, fx, fy = _check_args(qm, fx, fy)
    rows, one = _parse_x(x, qm.shape[1])
    ys: list[list[int]] = [[] for _ in rows]
    for n in range(qm.shape[0]):
        blocks = _row_blocks(qm, n)
        for t, xr in enumerate(rows):
            s, e = _dot_row(blocks, xr)
            ys[t].append(_round_half_up_pow2(s, e + fy - fx))
    for t, yr in enumerate(ys):
        for n, v in enumerate(yr):
            _fit(v, f"qlinear: y[{t}, {n}]" if not one else f"qlinear: y[{n}]")
    return ys[0] if one else ys


def prepare(qm: QuantMatrix | PreparedQuant) -> QuantMatrix:
    """The form of ``qm`` this twin's ``qlinear`` runs fastest, built once (ref: the QuantMatrix; vec: a PreparedQuant).

    The reference computes from the raw bytes, so it has nothing to prepare: a QuantMatrix is returned
    as is and a PreparedQuant gives its QuantMatrix. Anything else raises FixedPointTypeError.
    """
    return _qm_of(qm)
