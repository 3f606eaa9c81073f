"""Core integer rules, numpy twin over int64 arrays (broadcasting). Same names and specs as ``fixedpoint.ref.core``.

Inputs may be Python ints, lists of ints or integer numpy arrays; float, bool and object arrays are
refused with FixedPointTypeError. Outputs are int64 arrays. Any result that would leave int64 raises
FixedPointOverflow (checked with reductions before the operation, never by wrapping and looking).
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt
from numpy._core import umath as _umath

from ..errors import FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN

MAX_SHIFT = 62

I64 = npt.NDArray[np.int64]  # what every function returns


def as_int(x: npt.ArrayLike, name: str = "x") -> I64:
    """x as an int64 array if it holds integers (not bool) inside int64; else FixedPointTypeError/Overflow naming it."""
    if isinstance(x, np.ndarray):
        a = x
    elif isinstance(x, (bool, float)):
        raise FixedPointTypeError(f"{name} must be integers, got {type(x).__name__} {x!r}")
    else:
        try:
            a = np.asarray(x)
        except OverflowError as e:  # pragma: no cover - numpy raises this for huge Python ints
            raise FixedPointOverflow(f"{name} has a value outside int64") from e
        if a.dtype == object:
            try:
                ints = [int(v.__index__()) for v in a.ravel()] if a.size else []
            except AttributeError:
                raise FixedPointTypeError(f"{name} must be integers, got {x!r}") from None
            if any(not INT64_MIN <= v <= INT64_MAX for v in ints):
                raise FixedPointOverflow(f"{name} has a value outside int64")
            a = np.array(ints, dtype=np.int64).reshape(a.shape)
    if a.dtype == np.bool_ or a.dtype.kind not in "iu":
        raise FixedPointTypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > INT64_MAX:
        raise FixedPointOverflow(f"{name} has value {int(a.max())} outside int64")
    return a.astype(np.int64, copy=False)


@overload
def check_shift(s: int | np.integer, name: str = "s") -> int: ...
@overload
def check_shift(s: npt.ArrayLike, name: str = "s") -> int | I64: ...
def check_shift(s: npt.ArrayLike, name: str = "s") -> int | I64:
    """s as int (scalar) or int64 array with every entry in [0, 62]; else FixedPointValueError naming it."""
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        s = int(s)
        if not 0 <= s <= MAX_SHIFT:
            raise FixedPointValueError(f"shift {name}={s} is outside [0, {MAX_SHIFT}]")
        return s
    s = as_int(s, name)
    if s.size and (int(s.min()) < 0 or int(s.max()) > MAX_SHIFT):
        bad = s[(s < 0) | (s > MAX_SHIFT)].ravel()[0]
        raise FixedPointValueError(f"shift {name}={int(bad)} is outside [0, {MAX_SHIFT}]")
    return s


def check_width(bits: object, name: str = "bits") -> int:
    """bits as int in [1, 64]; else FixedPointValueError."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise FixedPointTypeError(f"width {name} must be an int, got {bits!r}")
    bits = int(bits)
    if not 1 <= bits <= 64:
        raise FixedPointValueError(f"width {name}={bits} is outside [1, 64]")
    return bits


def _minmax(a: np.ndarray) -> tuple[int, int]:
    return (int(a.min()), int(a.max())) if a.size else (0, 0)


def _half(s: int | I64) -> int | I64:
    """2^(s-1) for s >= 1, 0 for s = 0 (scalar or array)."""
    if isinstance(s, int):
        return (1 << (s - 1)) if s else 0
    return np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)


def round_shift(x: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """floor((x + 2^(s-1)) / 2^s) for s >= 1, x for s = 0: right shift rounding half up; x + 2^(s-1) must fit int64."""
    x = as_int(x, "x")
    s = check_shift(s)
    if isinstance(s, int) and s == 0:
        return x.copy()
    h = _half(s)
    if x.size:
        lim = INT64_MAX - h
        if isinstance(s, int):
            if int(x.max()) > lim:
                raise FixedPointOverflow(f"round_shift: x + 2^{s - 1} overflows int64 (x={int(x.max())})")
        else:
            bad = np.broadcast_to(x > lim, np.broadcast(x, lim).shape)
            if bad.any():
                xb = np.broadcast_to(x, bad.shape)[bad].ravel()[0]
                raise FixedPointOverflow(f"round_shift: x + 2^(s-1) overflows int64 (x={int(xb)})")
    return (x + h) >> s


def floor_shift(x: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """floor(x / 2^s): arithmetic right shift (rounds toward -inf), s in [0, 62]."""
    return as_int(x, "x") >> check_shift(s)


def shift_left(x: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """x * 2^s exactly; FixedPointOverflow if it leaves int64."""
    x = as_int(x, "x")
    s = check_shift(s)
    if x.size:
        lo, hi = _minmax(x)
        smax = s if isinstance(s, int) else int(s.max())
        # exact test per element only when a coarse bound fails
        if (hi << smax) > INT64_MAX or (lo << smax) < INT64_MIN:
            wide = np.broadcast_arrays(x, s)
            for xv, sv in zip(wide[0].ravel().tolist(), wide[1].ravel().tolist()):
                if not INT64_MIN <= (xv << sv) <= INT64_MAX:
                    raise FixedPointOverflow(f"shift_left({xv}, {sv}) overflows int64")
    return x << s


def rescale(x: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """Signed shift: shift_left(x, -s) for s <= 0, round_shift(x, s) for s > 0; s in [-62, 62] (scalar or array)."""
    s = as_int(s, "s") if not isinstance(s, (int, np.integer)) else int(s)
    if isinstance(s, int):
        return shift_left(x, -s) if s <= 0 else round_shift(x, s)
    x = as_int(x, "x")
    up = shift_left(x, np.maximum(-s, 0))
    return np.where(s > 0, round_shift(x, np.maximum(s, 0)), up)


def saturate(x: npt.ArrayLike, bits: int) -> I64:
    """min(max(x, -2^(bits-1)), 2^(bits-1) - 1): clamp to the signed bits-wide range, bits in [1, 64]."""
    x = as_int(x, "x")
    lo, hi = (type(bits) is int and _SAT.get(bits)) or _sat_bounds(bits)  # bool/float never hit the cache
    out: I64 = _clip(x, lo, hi)
    return out


# the ufunc itself: np.clip's wrapper costs ~4 us per call in dtype checks (numpy's stubs do not list it)
_clip: np.ufunc = _umath.clip  # type: ignore[attr-defined]
_SAT: dict[int, tuple[np.int64, np.int64]] = {}


def _sat_bounds(bits: object) -> tuple[np.int64, np.int64]:
    bits = check_width(bits)
    _SAT[bits] = (np.int64(-(1 << (bits - 1))), np.int64((1 << (bits - 1)) - 1))
    return _SAT[bits]


def _check_range(lo: int, hi: int, what: str) -> None:
    if lo < INT64_MIN or hi > INT64_MAX:
        raise FixedPointOverflow(f"{what} may overflow int64 (bound [{lo}, {hi}])")


def checked_add(a: npt.ArrayLike, b: npt.ArrayLike) -> I64:
    """a + b exactly; FixedPointOverflow if it leaves int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if a.size and b.size:
        (alo, ahi), (blo, bhi) = _minmax(a), _minmax(b)
        if alo + blo < INT64_MIN or ahi + bhi > INT64_MAX:
            exact = np.array(a, dtype=object) + np.array(b, dtype=object)
            _exact_fit(exact, "checked_add")
    return a + b


def _exact_fit(obj: np.ndarray, what: str) -> None:
    for v in np.ravel(obj).tolist():
        if not INT64_MIN <= v <= INT64_MAX:
            raise FixedPointOverflow(f"{what}: result {v} overflows int64")


def checked_mul(a: npt.ArrayLike, b: npt.ArrayLike) -> I64:
    """a * b exactly; FixedPointOverflow if it leaves int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if a.size and b.size:
        am = max(abs(v) for v in _minmax(a))
        bm = max(abs(v) for v in _minmax(b))
        if am * bm > INT64_MAX:
            _exact_fit(np.array(a, dtype=object) * np.array(b, dtype=object), "checked_mul")
    return a * b


def floor_div(a: npt.ArrayLike, b: npt.ArrayLike) -> I64:
    """floor(a / b) (toward -inf, unlike Solidity's truncating /); b != 0 else ZeroDivisionError naming a."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if b.size and (b == 0).any():
        shape = np.broadcast(a, b).shape
        first = int(np.broadcast_to(a, shape)[np.broadcast_to(b == 0, shape)].ravel()[0])
        raise ZeroDivisionError(f"floor_div by zero (a={first})")
    if a.size and b.size and int(a.min()) == INT64_MIN and (b == -1).any():
        raise FixedPointOverflow("floor_div(-2^63, -1) overflows int64")
    return a // b


def round_div(a: npt.ArrayLike, b: npt.ArrayLike) -> I64:
    """floor(a / b + 1/2) = floor((a + floor(b/2)) / b): division rounding half up; b >= 1 else FixedPointValueError."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if b.size and int(b.min()) <= 0:
        raise FixedPointValueError(f"round_div divisor b={int(b.min())} must be >= 1")
    return checked_add(a, b >> 1) // b


def mul_round_shift(a: npt.ArrayLike, b: npt.ArrayLike, s: npt.ArrayLike) -> I64:
    """round_shift(a * b, s) with the product a*b taken exactly (any size); the result must fit int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    s = check_shift(s)
    if not (a.size and b.size):
        return np.broadcast_to(a * b, np.broadcast(a, b).shape).copy()
    am = max(abs(v) for v in _minmax(a))
    bm = max(abs(v) for v in _minmax(b))
    smax = s if isinstance(s, int) else int(s.max())
    if am * bm + (1 << max(smax - 1, 0)) <= INT64_MAX:
        return (a * b + _half(s)) >> s
    # Rare wide path: exact Python-int products (object arrays), then the same rounding.
    p = np.array(a, dtype=object) * np.array(b, dtype=object)
    sv = np.array(s, dtype=object)
    h = np.where(sv > 0, np.array([1], dtype=object) << np.maximum(sv - 1, 0), 0)
    r = (p + h) >> sv
    _exact_fit(r, "mul_round_shift")
    return np.array(r.tolist(), dtype=np.int64).reshape(np.shape(r))
