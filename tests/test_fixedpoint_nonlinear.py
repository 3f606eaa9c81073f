"""Nonlinear kernels: ref == vec bit for bit, stated error bounds against the real functions, constants
checked against the real values they encode, bad input raises."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from fixedpoint import constants as C
from fixedpoint import ref, vec
from fixedpoint.errors import FixedPointTypeError, FixedPointValueError

mp.mp.prec = 200
ONE = 1 << 30


def edges(lo: int, hi: int) -> list[int]:
    out = {lo, hi, 0, 1, -1, 2, -2}
    for k in range(0, 63):
        for d in (-2, -1, 0, 1, 2):
            for sgn in (1, -1):
                v = sgn * (1 << k) + d
                out.add(v)
    return sorted(v for v in out if lo <= v <= hi)


def test_constants_encode_their_real_values():
    assert int(mp.nint(mp.log(2) * 2**48)) == C.LN2_Q48
    assert int(mp.nint(mp.pi / 2 * 2**32)) == C.HALF_PI_Q32
    assert int(mp.nint(mp.pi / 2 * 2**60)) == C.HALF_PI_Q60
    assert C.HALF_PI_LOW_Q60 == C.HALF_PI_Q60 - (C.HALF_PI_Q32 << 28)
    assert math.isqrt(2**63 - 1) == C.ISQRT_MAX_ROOT
    assert C.EXP_ZERO_Z * 2**32 >= 32 * C.LN2_Q48 > (C.EXP_ZERO_Z - 1) * 2**32
    # truncation of the nested Taylor series stays far below 1 LSB of Q30 on the reduced ranges
    assert mp.log(2) ** (C.EXP_TERMS + 1) / mp.factorial(C.EXP_TERMS + 1) < mp.mpf(2) ** -33
    assert (mp.pi / 4 + 0.01) ** 13 / mp.factorial(13) < mp.mpf(2) ** -36
    assert (mp.pi / 4 + 0.01) ** 14 / mp.factorial(14) < mp.mpf(2) ** -36


# -- isqrt / rsqrt ---------------------------------------------------------------------------------

ISQRT_EDGES = edges(0, 2**63 - 1) + [r * r + d for r in (3037000499, 2**31, 10**9) for d in (-1, 0, 1)]


def test_isqrt_edges_exact():
    xs = [v for v in ISQRT_EDGES if 0 <= v <= 2**63 - 1]
    got = vec.isqrt(np.array(xs, dtype=np.int64)).tolist()
    assert got == [math.isqrt(v) for v in xs] == [ref.isqrt(v) for v in xs]


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 2**63 - 1))
def test_isqrt_random(n):
    assert ref.isqrt(n) == int(vec.isqrt(np.array([n]))[0]) == math.isqrt(n)


@settings(max_examples=examples(150), deadline=None)
@given(st.integers(1, 2**62), st.integers(0, 40), st.integers(0, 40))
def test_rsqrt_floor_is_exact_floor(v, fv, fr):
    try:
        r = ref.rsqrt_floor(v, fv, fr)
    except OverflowError:
        with pytest.raises(OverflowError):
            vec.rsqrt_floor(np.array([v]), fv, fr)
        return
    assert int(vec.rsqrt_floor(np.array([v]), fv, fr)[0]) == r
    # r = floor(2^fr / sqrt(v 2^-fv)) <=> r^2 * v <= 2^(2fr+fv) < (r+1)^2 * v
    assert r * r * v <= 2 ** (2 * fr + fv) < (r + 1) ** 2 * v


# -- exp / sigmoid / silu ----------------------------------------------------------------------------


def _lsb_err(got: int, real) -> float:
    return float(abs(mp.mpf(got) - real))


EXP_EDGES = [v for v in edges(-(2**62), 0)] + [-C.EXP_ZERO_Z, -C.EXP_ZERO_Z + 1, -1409024, -(2**63)]


def test_exp_neg_edges_twins_and_bound():
    xs = np.array(EXP_EDGES, dtype=np.int64)
    got = vec.exp_neg(xs).tolist()
    assert got == [ref.exp_neg(int(v)) for v in EXP_EDGES]
    for x, g in zip(EXP_EDGES, got):
        assert _lsb_err(g, mp.exp(mp.mpf(x) / 2**16) * 2**30) <= 2, x
    assert ref.exp_neg(0) == ONE


@settings(max_examples=examples(400), deadline=None)
@given(st.integers(-(1 << 22), 0))
def test_exp_neg_bound_random(x):
    g = ref.exp_neg(x)
    assert int(vec.exp_neg(np.array([x]))[0]) == g
    assert _lsb_err(g, mp.exp(mp.mpf(x) / 2**16) * 2**30) <= 2


def test_exp_neg_monotone_dense():
    x = np.arange(-(1 << 21), 1, 7, dtype=np.int64)
    e = vec.exp_neg(x)
    assert (np.diff(e) >= 0).all()


def test_exp_neg_max_error_measured():
    x = np.arange(-(1 << 21), 1, 97, dtype=np.int64)
    e = vec.exp_neg(x)
    real = np.exp(x / 65536.0) * 2**30  # float64 is 2^-22 LSB accurate here: fine for a bound of 2
    assert np.abs(e - real).max() <= 1.5


SIG_EDGES = edges(-(2**62), 2**62)


def test_sigmoid_silu_edges():
    xs = np.array(SIG_EDGES, dtype=np.int64)
    s = vec.sigmoid(xs).tolist()
    assert s == [ref.sigmoid(int(v)) for v in SIG_EDGES]
    for x, g in zip(SIG_EDGES, s):
        assert _lsb_err(g, 2**30 / (1 + mp.exp(-mp.mpf(x) / 2**16))) <= 2
    small = [v for v in SIG_EDGES if abs(v) < 2**40]
    y = vec.silu(np.array(small, dtype=np.int64)).tolist()
    assert y == [ref.silu(int(v)) for v in small]
    for x, g in zip(small, y):
        real = mp.mpf(x) / (1 + mp.exp(-mp.mpf(x) / 2**16))
        assert _lsb_err(g, real) <= 0.5 + abs(x) * 2.0**-29 + 1e-9


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(-(2**40), 2**40))
def test_sigmoid_symmetry_and_twins(x):
    assert ref.sigmoid(x) + ref.sigmoid(-x) == ONE
    assert int(vec.sigmoid(np.array([x]))[0]) == ref.sigmoid(x)
    assert int(vec.silu(np.array([x]))[0]) == ref.silu(x)


def test_known_values():
    assert ref.sigmoid(0) == 1 << 29
    assert ref.silu(0) == 0
    assert ref.sin_cos(0) == (ONE, 0)
    assert ref.isqrt(2**62) == 2**31
    assert ref.rsqrt_floor(64, 0, 30) == 2**27  # 1/sqrt(64) = 1/8 exactly


# -- softmax ---------------------------------------------------------------------------------------


@settings(max_examples=examples(120), deadline=None)
@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=40))
def test_softmax_twins_and_bounds(row):
    p = ref.softmax(row)
    assert vec.softmax(np.array([row, row], dtype=np.int64)).tolist() == [p, p]
    assert abs(sum(p) - ONE) <= len(row) / 2 + 1
    xs = [mp.mpf(v) / 2**16 for v in row]
    m = max(xs)
    den = sum(mp.exp(v - m) for v in xs)
    n = len(row)
    for v, g in zip(xs, p):
        real = mp.exp(v - m) / den  # the stated bound: 2.5 + 2 n p_j LSB (exp errors add up in the sum)
        assert _lsb_err(g, real * 2**30) <= 2.5 + 2 * n * real


# -- sin / cos -------------------------------------------------------------------------------------

TRIG_EDGES = edges(-(2**52), 2**52) + [C.HALF_PI_Q32 * k + d for k in range(-9, 10) for d in (-1, 0, 1)]


def test_sin_cos_edges_twins_and_bound():
    xs = np.array(TRIG_EDGES, dtype=np.int64)
    c, s = vec.sin_cos(xs)
    for t, cv, sv in zip(TRIG_EDGES, c.tolist(), s.tolist()):
        assert (cv, sv) == ref.sin_cos(t)
        a = mp.mpf(t) / 2**32
        assert _lsb_err(cv, mp.cos(a) * 2**30) <= 2, t
        assert _lsb_err(sv, mp.sin(a) * 2**30) <= 2, t


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(-(2**52), 2**52))
def test_sin_cos_random(t):
    c, s = ref.sin_cos(t)
    vc, vs = vec.sin_cos(np.array([t]))
    assert (int(vc[0]), int(vs[0])) == (c, s)
    a = mp.mpf(t) / 2**32
    assert _lsb_err(c, mp.cos(a) * 2**30) <= 2 and _lsb_err(s, mp.sin(a) * 2**30) <= 2


def test_rope_inv_freq_exact_and_table():
    # base 100000 = 3125 * 2^5 (the exact decode of float32 100000.0), head_dim 64
    inv = ref.rope_inv_freq(3125, 5, 64, 40)
    for i, w in enumerate(inv):
        real = mp.mpf(2) ** 40 * mp.mpf(100000) ** (-mp.mpf(2 * i) / 64)
        assert w == int(mp.floor(real)), i
    assert vec.rope_inv_freq(3125, 5, 64, 40).tolist() == inv
    cos, sin = vec.rope_table(40, np.array(inv[:8]))
    rc, rs = ref.rope_table(40, inv[:8])
    assert cos.tolist() == rc and sin.tolist() == rs
    # a non-integer base: 10000.5 is not a float32, 0.5 is: 1 * 2^-1
    half = ref.rope_inv_freq(1, -1, 4, 20)
    assert half == [2**20, int(mp.floor(mp.mpf(2) ** 20 * mp.sqrt(2)))]


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tw", [ref, vec])
def test_bad_input_raises(tw):
    arr = (lambda v: np.array([v])) if tw is vec else (lambda v: v)
    with pytest.raises(FixedPointValueError):
        tw.exp_neg(arr(1))
    with pytest.raises(FixedPointValueError):
        tw.isqrt(arr(-1))
    with pytest.raises(FixedPointValueError):
        tw.rsqrt_floor(arr(0), 32, 30)
    with pytest.raises(FixedPointValueError):
        tw.sin_cos(arr(2**53))
    with pytest.raises(FixedPointTypeError):
        tw.exp_neg(np.array([-1.5]) if tw is vec else -1.5)
    with pytest.raises(FixedPointTypeError):
        tw.sigmoid(np.array([True]) if tw is vec else True)
    with pytest.raises(FixedPointValueError):
        tw.rope_inv_freq(0, 0, 64)
    with pytest.raises(FixedPointTypeError):
        tw.rope_inv_freq(3125, 5, 64.0)
    with pytest.raises(FixedPointValueError):
        tw.rope_inv_freq(3125, 5, 64, -1)
    with pytest.raises(FixedPointValueError):
        tw.rope_table(-1, [1, 2])


def test_softmax_extreme_rows_agree():
    for row in ([-(2**63), -(2**63)], [-(2**63), 2**63 - 1], [2**63 - 1, 0, -(2**63)]):
        assert vec.softmax(np.array([row], dtype=np.int64)).tolist() == [ref.softmax(row)]


# -- tanh / gelu_tanh (Gemma's FFN) --------------------------------------------------------------------


def _gelu_real(x: int):
    """The real 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) of a Q16 raw x, in Q16 LSB."""
    v = mp.mpf(x) / 2**16
    return 0.5 * v * (1 + mp.tanh(mp.sqrt(2 / mp.pi) * (v + mp.mpf("0.044715") * v**3))) * 2**16


def test_gelu_constants_encode_their_real_values():
    k1 = 2 * mp.sqrt(2 / mp.pi)
    assert int(mp.nint(k1 * 2**30)) == C.GELU_K1_Q30
    assert int(mp.nint(k1 * mp.mpf("0.044715") * 2**30)) == C.GELU_K3_Q30
    # at the clamp 2u is far past sigmoid's flat end (EXP_ZERO_Z): clamping changes no result
    c = mp.mpf(C.GELU_CLAMP) / 2**16
    assert k1 * c + k1 * mp.mpf("0.044715") * c**3 > 10 * mp.mpf(C.EXP_ZERO_Z) / 2**16
    assert C.TANH_MAX == 1 << 61


GELU_EDGES = edges(-(2**62), 2**62) + [s * (C.GELU_CLAMP + d) for s in (1, -1) for d in (-2, -1, 0, 1, 2)]


def test_gelu_tanh_edges_twins_and_bound():
    xs = np.array(GELU_EDGES, dtype=np.int64)
    got = vec.gelu_tanh(xs).tolist()
    assert got == [ref.gelu_tanh(int(v)) for v in GELU_EDGES]
    for x, g in zip(GELU_EDGES, got):
        if abs(x) < 2**40:
            assert _lsb_err(g, _gelu_real(x)) <= 1, x
        else:  # past the clamp: exactly x or 0 (the real value is within 2^-100 of them)
            assert g == (x if x > 0 else 0), x


@settings(max_examples=examples(400), deadline=None)
@given(st.integers(-(1 << 21), 1 << 21) | st.integers(-(2**62), 2**62))
def test_gelu_tanh_random_twins_and_bound(x):
    g = ref.gelu_tanh(x)
    assert int(vec.gelu_tanh(np.array([x]))[0]) == g
    if abs(x) < 2**40:
        assert _lsb_err(g, _gelu_real(x)) <= 1


def test_gelu_tanh_dense_measured_and_shape():
    x = np.arange(-(1 << 20) - 5, (1 << 20) + 5, 13, dtype=np.int64)
    g = vec.gelu_tanh(x)
    v = x / 65536.0  # float64 is ~2^-30 LSB accurate here: fine for a measured max of ~0.6
    real = 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3))) * 65536
    assert np.abs(g - real).max() <= 0.75
    assert ref.gelu_tanh(0) == 0 and ref.gelu_tanh(1 << 20) == 1 << 20 and ref.gelu_tanh(-(1 << 20)) == 0
    assert (g[x >= 0] >= 0).all() and (np.diff(g[x >= 0]) >= 0).all()  # monotone on x >= 0
    assert g[x < 0].min() >= -11146 and g[x < 0].max() <= 0  # GELU's negative lobe: min -0.170 (Q16)


def test_tanh_edges_twins_symmetry_and_bound():
    xs = [v for v in edges(-(2**61), 2**61)]
    got = vec.tanh(np.array(xs, dtype=np.int64)).tolist()
    assert got == [ref.tanh(v) for v in xs]
    for x, g in zip(xs, got):
        assert ref.tanh(-x) == -g
        assert _lsb_err(g, mp.tanh(mp.mpf(x) / 2**16) * 2**30) <= 4, x
    assert ref.tanh(0) == 0


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(-(1 << 24), 1 << 24))
def test_tanh_random(x):
    g = ref.tanh(x)
    assert int(vec.tanh(np.array([x]))[0]) == g == -ref.tanh(-x)
    assert _lsb_err(g, mp.tanh(mp.mpf(x) / 2**16) * 2**30) <= 4


# -- mul_sqrt_round_shift (Gemma's embedding scale sqrt(dim)) ----------------------------------------


def _mul_sqrt_real_floor(m: int, n: int, s: int) -> int:
    """floor(m sqrt(n) 2^-s + 1/2) in exact integer arithmetic (an independent oracle: bisection on squares)."""
    # y = floor(a + 1/2) is the largest y with 2y - 1 <= 2a, i.e. L = (2y - 1) 2^s <= R = 2 m sqrt(n)
    lo, hi = -(2**90), 2**90
    while hi - lo > 1:
        y = (lo + hi) // 2
        L, R2 = (2 * y - 1) << s, 4 * m * m * n  # compare L with R by signs and squares (R^2 = R2)
        ok = (L <= 0 or L * L <= R2) if m >= 0 else (L < 0 and L * L >= R2)
        lo, hi = (y, hi) if ok else (lo, y)
    return lo


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(-(2**40), 2**40) | st.integers(-(1 << 20), 1 << 20), st.integers(0, 2**32), st.integers(0, 62))
def test_mul_sqrt_round_shift_is_the_exact_rounding(m, n, s):
    want = _mul_sqrt_real_floor(m, n, s)
    assert ref.mul_sqrt_round_shift(m, n, s) == want
    assert int(vec.mul_sqrt_round_shift(np.array([m]), n, s)[0]) == want


def test_mul_sqrt_round_shift_edges_and_ties():
    # ties (n a square): half up, also below zero
    assert [ref.mul_sqrt_round_shift(m, 4, 2) for m in (-3, -1, 1, 3)] == [-1, 0, 1, 2]  # -1.5, -0.5, 0.5, 1.5
    assert ref.mul_sqrt_round_shift(-1, 1, 1) == 0 and ref.mul_sqrt_round_shift(1, 1, 1) == 1
    assert ref.mul_sqrt_round_shift(7, 0, 0) == 0 and ref.mul_sqrt_round_shift(0, 640, 5) == 0
    # Gemma: the embedding of a Q16 value times sqrt(640)
    assert ref.mul_sqrt_round_shift(1 << 16, 640, 0) == int(mp.floor(mp.sqrt(640) * 2**16 + 0.5))
    ms = [m for m in edges(-(2**63), 2**63 - 1)]
    for n, s in ((640, 0), (640, 7), (1 << 32, 62), (3, 31), (2, 0)):
        want = []
        for m in ms:
            try:
                want.append(ref.mul_sqrt_round_shift(m, n, s))
            except OverflowError:
                want.append(None)
        ok = [m for m, w in zip(ms, want) if w is not None]
        assert vec.mul_sqrt_round_shift(np.array(ok, dtype=np.int64), n, s).tolist() == [
            w for w in want if w is not None
        ]
        for m, w in zip(ms, want):
            if w is None:
                with pytest.raises(OverflowError):
                    vec.mul_sqrt_round_shift(np.array([m]), n, s)
            elif abs(m) < 2**50:
                assert w == _mul_sqrt_real_floor(m, n, s), (m, n, s)


@pytest.mark.parametrize("tw", [ref, vec])
def test_gemma_functions_bad_input_raises(tw):
    arr = (lambda v: np.array([v])) if tw is vec else (lambda v: v)
    with pytest.raises(FixedPointValueError):
        tw.tanh(arr(2**61 + 1))
    with pytest.raises(FixedPointValueError):
        tw.gelu_tanh(arr(2**62 + 1))
    with pytest.raises(FixedPointValueError):
        tw.mul_sqrt_round_shift(arr(5), -1, 0)
    with pytest.raises(FixedPointValueError):
        tw.mul_sqrt_round_shift(arr(5), 2**32 + 1, 0)
    with pytest.raises(FixedPointValueError):
        tw.mul_sqrt_round_shift(arr(5), 640, 63)
    with pytest.raises(FixedPointTypeError):
        tw.gelu_tanh(np.array([0.5]) if tw is vec else 0.5)


# -- RoPE tables for Gemma's two bases (NEOX pairs (i, i + hd/2) use the same per-frequency table) ------


@pytest.mark.parametrize("base,mant,exp", [(10000, 625, 4), (1000000, 15625, 6)])
def test_rope_inv_freq_gemma_bases_head_dim_256(base, mant, exp):
    from engine.config import f32_bits

    assert ref.fp32_decode(f32_bits(float(base))) == (mant, exp)  # the float32 base decodes exactly
    inv = ref.rope_inv_freq(mant, exp, 256, 40)
    assert len(inv) == 128
    for i in range(0, 128, 7):
        assert inv[i] == int(mp.floor(mp.mpf(2) ** 40 * mp.mpf(base) ** (-mp.mpf(2 * i) / 256))), i
    assert vec.rope_inv_freq(mant, exp, 256, 40).tolist() == inv
    # positions up to 32768 (the file's context): theta = p * inv >> 8 stays inside sin_cos's domain
    assert 32768 * inv[0] >> 8 <= 2**52
    p = np.array([0, 1, 511, 512, 4095, 32767])
    cos, sin = vec.rope_table(32768, np.array(inv))
    rc, rs = ref.rope_table(1, inv)
    assert cos[:1].tolist() == rc and sin[:1].tolist() == rs
    for pi in p.tolist():
        for i in (0, 64, 127):
            assert (int(cos[pi, i]), int(sin[pi, i])) == ref.sin_cos(ref.round_shift(pi * inv[i], 8))
