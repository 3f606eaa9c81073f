"""Core rules: ref and vec twins agree bit for bit (including which exception) on edge and random values."""

from __future__ import annotations

import numpy as np
import pytest
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from fixedpoint import INT64_MAX, INT64_MIN, Format, ref, vec
from fixedpoint.errors import FixedPointError, FixedPointOverflow, FixedPointTypeError, FixedPointValueError

EDGE = sorted(
    {v for k in range(63) for d in (-2, -1, 0, 1, 2) for v in ((1 << k) + d, -(1 << k) + d)}
    | {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0}
)
EDGE = [v for v in EDGE if INT64_MIN <= v <= INT64_MAX]
ints = st.one_of(st.sampled_from(EDGE), st.integers(INT64_MIN, INT64_MAX))
shifts = st.integers(0, 62)


NVALS = {"checked_add": 2, "checked_mul": 2, "floor_div": 2, "round_div": 2, "mul_round_shift": 2}


def both(name, *args):
    """(ref result or exception class, vec result or exception class) for scalar args."""
    nv = NVALS.get(name, 1)
    try:
        r = getattr(ref, name)(*args)
    except FixedPointError as e:
        r = type(e)
    except ZeroDivisionError:
        r = ZeroDivisionError
    try:
        v = getattr(vec, name)(*[np.array([a]) if i < nv else a for i, a in enumerate(args)])
        v = int(np.asarray(v).reshape(-1)[0])
    except FixedPointError as e:
        v = type(e)
    except ZeroDivisionError:
        v = ZeroDivisionError
    return r, v


@settings(max_examples=examples(400), deadline=None)
@given(ints, shifts)
def test_shifts_agree(x, s):
    for name in ("round_shift", "floor_shift", "shift_left"):
        r, v = both(name, x, s)
        assert r == v, (name, x, s)


@settings(max_examples=examples(300), deadline=None)
@given(ints, st.integers(-62, 62))
def test_rescale_agrees(x, s):
    r, v = both("rescale", x, s)
    assert r == v


@settings(max_examples=examples(300), deadline=None)
@given(ints, st.integers(1, 64))
def test_saturate_agrees(x, bits):
    r, v = both("saturate", x, bits)
    assert r == v
    assert -(1 << (bits - 1)) <= r <= (1 << (bits - 1)) - 1


@settings(max_examples=examples(400), deadline=None)
@given(ints, ints)
def test_binary_ops_agree(a, b):
    for name in ("checked_add", "checked_mul", "floor_div", "round_div"):
        r, v = both(name, a, b)
        assert r == v, (name, a, b)


@settings(max_examples=examples(400), deadline=None)
@given(ints, ints, shifts)
def test_mul_round_shift_agrees_and_is_exact(a, b, s):
    r, v = both("mul_round_shift", a, b, s)
    assert r == v
    if isinstance(r, int):
        assert r == (a * b + ((1 << (s - 1)) if s else 0)) >> s


def test_known_values():
    assert [ref.round_shift(x, 1) for x in (5, -5, 3, -3, 1, -1)] == [3, -2, 2, -1, 1, 0]  # half up
    assert ref.floor_div(-7, 2) == -4 and ref.round_div(-7, 2) == -3 and ref.round_div(7, 2) == 4
    assert ref.saturate(1 << 40, 32) == (1 << 31) - 1 and ref.saturate(-(1 << 40), 32) == -(1 << 31)
    assert ref.rescale(3, -4) == 48 and ref.rescale(49, 4) == 3
    assert str(Format(16, 32)) == "Q16.16" and Format(16).one == 65536


def test_vec_refuses_non_integers_and_names_the_value():
    with pytest.raises(FixedPointTypeError):
        vec.round_shift(np.array([1.5]), 1)
    with pytest.raises(FixedPointTypeError):
        vec.round_shift(np.array([True]), 1)
    with pytest.raises(FixedPointTypeError):
        ref.round_shift(1.0, 1)
    with pytest.raises(FixedPointValueError, match="63"):
        vec.round_shift(np.array([1]), 63)
    with pytest.raises(FixedPointOverflow, match="overflow"):
        vec.shift_left(np.array([1 << 62]), 2)
    with pytest.raises(ZeroDivisionError):
        vec.floor_div(np.array([3]), np.array([0]))
    with pytest.raises(FixedPointValueError):
        Format(63)


def test_vec_array_shifts_match_scalar_ref():
    x = np.array(EDGE[: len(EDGE) // 2 * 2], dtype=np.int64)
    s = np.arange(x.size, dtype=np.int64) % 40
    try:
        got = vec.round_shift(x, s)
    except FixedPointOverflow:
        x = x[x < INT64_MAX - (1 << 40)]
        s = s[: x.size]
        got = vec.round_shift(x, s)
    assert got.tolist() == [ref.round_shift(int(a), int(b)) for a, b in zip(x, s)]
