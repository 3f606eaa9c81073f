"""Core integer rules, pure-Python reference (scalars). Each function's first docstring line is its exact spec.

Domain of every function: Python ints (not bool) in int64; results outside int64 raise
FixedPointOverflow. ``fixedpoint.vec.core`` mirrors each name over int64 numpy arrays.
"""

from __future__ import annotations

from typing import Any

from ..errors import FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from ..formats import INT64_MAX, INT64_MIN

MAX_SHIFT = 62  # shifts are in [0, 62] so that the rounding term 2^(s-1) and 2^s stay inside int64


def as_int(x: Any, name: str = "x") -> int:
    """x itself if it is a Python/numpy integer (not bool) in int64; else FixedPointTypeError/Overflow naming it."""
    if isinstance(x, bool) or not hasattr(x, "__index__"):
        raise FixedPointTypeError(f"{name} must be an integer, got {type(x).__name__} {x!r}")
    v = int(x.__index__())
    if not INT64_MIN <= v <= INT64_MAX:
        raise FixedPointOverflow(f"{name}={v} is outside int64")
    return v


def check_shift(s: object, name: str = "s") -> int:
    """s itself if it is an int in [0, 62]; else FixedPointValueError naming it."""
    s = as_int(s, name)
    if not 0 <= s <= MAX_SHIFT:
        raise FixedPointValueError(f"shift {name}={s} is outside [0, {MAX_SHIFT}]")
    return s


def check_width(bits: object, name: str = "bits") -> int:
    """bits itself if it is an int in [1, 64]; else FixedPointValueError."""
    bits = as_int(bits, name)
    if not 1 <= bits <= 64:
        raise FixedPointValueError(f"width {name}={bits} is outside [1, 64]")
    return bits


def _fit(v: int, what: str) -> int:
    if not INT64_MIN <= v <= INT64_MAX:
        raise FixedPointOverflow(f"{what} = {v} overflows int64")
    return v


def round_shift(x: int, s: int) -> int:
    """floor((x + 2^(s-1)) / 2^s) for s >= 1, x for s = 0: right shift rounding half up; x + 2^(s-1) must fit int64."""
    x = as_int(x, "x")
    s = check_shift(s)
    if s == 0:
        return x
    return _fit(x + (1 << (s - 1)), f"round_shift: x + 2^{s - 1} with x={x}") >> s


def floor_shift(x: int, s: int) -> int:
    """floor(x / 2^s): arithmetic right shift (rounds toward -inf), s in [0, 62]."""
    return as_int(x, "x") >> check_shift(s)


def shift_left(x: int, s: int) -> int:
    """x * 2^s exactly; FixedPointOverflow if it leaves int64."""
    x = as_int(x, "x")
    s = check_shift(s)
    return _fit(x << s, f"shift_left({x}, {s})")


def rescale(x: int, s: int) -> int:
    """Signed shift: shift_left(x, -s) for s <= 0, round_shift(x, s) for s > 0; s in [-62, 62]."""
    s = as_int(s, "s")
    return shift_left(x, -s) if s <= 0 else round_shift(x, s)


def saturate(x: int, bits: int) -> int:
    """min(max(x, -2^(bits-1)), 2^(bits-1) - 1): clamp to the signed bits-wide range, bits in [1, 64]."""
    x = as_int(x, "x")
    bits = check_width(bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lo if x < lo else hi if x > hi else x


def checked_add(a: int, b: int) -> int:
    """a + b exactly; FixedPointOverflow if it leaves int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    return _fit(a + b, f"{a} + {b}")


def checked_mul(a: int, b: int) -> int:
    """a * b exactly; FixedPointOverflow if it leaves int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    return _fit(a * b, f"{a} * {b}")


def floor_div(a: int, b: int) -> int:
    """floor(a / b) (toward -inf, unlike Solidity's truncating /); b != 0 else ZeroDivisionError naming a."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if b == 0:
        raise ZeroDivisionError(f"floor_div({a}, 0)")
    return _fit(a // b, f"floor_div({a}, {b})")


def round_div(a: int, b: int) -> int:
    """floor(a / b + 1/2) = floor((a + floor(b/2)) / b): division rounding half up; b >= 1 else FixedPointValueError."""
    a, b = as_int(a, "a"), as_int(b, "b")
    if b <= 0:
        raise FixedPointValueError(f"round_div divisor b={b} must be >= 1")
    return _fit(a + (b >> 1), f"round_div: a + b//2 with a={a}, b={b}") // b


def mul_round_shift(a: int, b: int, s: int) -> int:
    """round_shift(a * b, s) with the product a*b taken exactly (any size); the result must fit int64."""
    a, b = as_int(a, "a"), as_int(b, "b")
    s = check_shift(s)
    p = a * b
    if s:
        p = (p + (1 << (s - 1))) >> s
    return _fit(p, f"mul_round_shift({a}, {b}, {s})")
