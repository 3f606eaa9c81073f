"""Every GGUF block type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32) in both twins: random blocks
byte by byte against gguf's dequantizer (the exact weight rounded to float32 equals its float32, compared exactly),
blocks gguf's own quantizer writes, edge K-quant blocks, every float field's inf/NaN refused, the exact qlinear of
every type (fast kernel == ref == a Fraction oracle), and the dense F16/BF16/F32 fast path. Helpers (x strategies,
check_all, the oracle) are tests/test_fixedpoint_quant.py's."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fixedpoint_quant import (
    FP32_EDGES,
    SETTINGS,
    check_all,
    fp16_finite,
    fp16_real,
    gguf_values,
    shifts,
    x_rows,
)

from fixedpoint import FixedPointValueError, ref, vec
from fixedpoint.ref.blocks import GGML_TYPES, scale_fields
from fixedpoint.vec import quant as vq

BLOCK_TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")
EVERY_TYPE = BLOCK_TYPES + ("F16", "BF16", "F32")
assert set(EVERY_TYPE) == set(GGML_TYPES)


def finite_bits(kind: str):
    """Finite bit patterns of an fp16 / bf16 / fp32 field: edge values, realistic scales, anything finite."""
    if kind == "fp32":
        return st.one_of(
            st.sampled_from(FP32_EDGES), st.integers(0, 0xFFFFFFFF).filter(lambda b: (b >> 23) & 255 != 255)
        )
    if kind == "bf16":
        edges = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x3C23]
        return st.one_of(st.sampled_from(edges), st.integers(0, 0xFFFF).filter(lambda b: (b >> 7) & 255 != 255))
    return st.one_of(fp16_real, fp16_real, fp16_finite)


@st.composite
def raw_matrices(draw, types=EVERY_TYPE):
    """(type, raw uint8 (n, row bytes), n, k): random blocks byte by byte (sub-scales, q and high bits random,
    or all zeros / all ones to hit the extremes), every float field finite."""
    gtype = draw(st.sampled_from(types))
    lay = GGML_TYPES[gtype]
    n = draw(st.integers(1, 3))
    nb = draw(st.integers(1, {256: 2, 32: 3, 1: 6}[lay.block]))
    size = n * nb * lay.nbytes
    body = draw(st.sampled_from(["rand", "rand", "rand", "zeros", "ones"]))
    if body == "rand":
        data = bytearray(draw(st.binary(min_size=size, max_size=size)))
    else:
        data = bytearray([0 if body == "zeros" else 0xFF] * size)
    for blk in range(n * nb):
        for o, width, kind in scale_fields(gtype):
            at = blk * lay.nbytes + o
            data[at : at + width] = draw(finite_bits(kind)).to_bytes(width, "little")
    return gtype, np.frombuffer(bytes(data), np.uint8).reshape(n, -1).copy(), n, nb * lay.block


def f32_round(mant: int, exp: int) -> float:
    """mant * 2^exp rounded to the nearest float32, ties to even (exactly, with ints; normal range)."""
    if mant == 0:
        return 0.0
    sign, m = (-1 if mant < 0 else 1), abs(mant)
    extra = m.bit_length() - 24
    if extra > 0:
        q, r, half = m >> extra, m & ((1 << extra) - 1), 1 << (extra - 1)
        m, exp = q + (r > half or (r == half and q & 1)), exp + extra
    return float(np.float32(math.ldexp(sign * m, exp)))


def exact_rows(qm) -> list[list[Fraction]]:
    """The matrix's weights as Fractions, from the reference's exact import (checked against gguf elsewhere)."""
    return [[Fraction(m) * Fraction(2) ** e for m, e in ref.dequant_exact_row(qm, r)] for r in range(qm.shape[0])]


def test_bf16_decode_all_patterns():
    bits = np.arange(1 << 16, dtype=np.uint32)
    finite = ((bits >> 7) & 255) != 255
    mant, exp = vec.bf16_decode(bits[finite])
    want = (bits[finite] << 16).view(np.float32).astype(np.float64)
    assert np.array_equal(mant * np.exp2(exp.astype(np.float64)), want)
    for b in range(0, 1 << 16, 5):
        if not finite[b]:
            with pytest.raises(FixedPointValueError, match=f"bf16 bits 0x{b:04x}"):
                ref.bf16_decode(b)
        else:
            assert ref.bf16_decode(b) == (int(mant[finite[:b].sum()]), int(exp[finite[:b].sum()]))
    with pytest.raises(FixedPointValueError, match="bf16 bits 0x7f80"):
        vec.bf16_decode(np.array([0x3F80, 0x7F80], np.uint16))
    assert ref.bf16_decode(0x0001) == (1, -133) and ref.bf16_decode(0x3F80) == (1, 0)


@settings(SETTINGS, max_examples=examples(300))
@given(raw_matrices())
def test_every_type_decodes_like_gguf_and_both_twins_agree(mat):
    """Random blocks of every type: the exact weight, rounded to float32, is gguf's dequantized float32 (exactly);
    ref's plain-int fields == vec's vectorized fields; q in the type's range; D, M canonical."""
    gtype, raw, n, k = mat
    lay = GGML_TYPES[gtype]
    qr, qv = ref.decode_matrix(raw, gtype, n, k), vec.decode_matrix(raw, gtype, n, k)
    fr, fv = qr.fields(), vq.fields(qv)
    for a, b in zip(fr, fv):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    q, dm, de, mm, me = fr
    assert q.shape == (n, k) and dm.shape == (n, k // lay.sub) and qr.block == lay.sub
    assert lay.qmin <= q.min() and q.max() <= lay.qmax
    for m_, e_ in ((dm, de), (mm, me)):
        assert np.all((m_ % 2 == 1) | ((m_ == 0) & (e_ == 0)))
    if not lay.has_min:
        assert not mm.any()
    g = gguf_values(raw, gtype, n)
    for r in range(n):
        pairs = ref.dequant_exact_row(qr, r)
        mant, exp = vec.dequant_exact_row(qv, r)
        assert pairs == list(zip(mant.tolist(), exp.tolist()))
        assert [f32_round(m_, e_) for m_, e_ in pairs] == g[r].tolist()


QUANTIZABLE = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16", "F16")


@pytest.mark.parametrize("gtype", QUANTIZABLE)
def test_blocks_written_by_gguf_quantizer(gtype):
    """gguf's own quantizer writes the blocks (types it can write); our exact import equals its dequantizer."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    rng = np.random.default_rng(21)
    data = (rng.standard_normal((4, 256)) * rng.choice([1e-3, 0.05, 1.0, 40.0], (4, 1))).astype(np.float32)
    data[0, :32] = 0.0  # an all-zero block
    data[1, 5] = 3e4
    raw = np.ascontiguousarray(quantize(data, GGMLQuantizationType[gtype])).view(np.uint8).reshape(4, -1)
    qm = vec.decode_matrix(raw, gtype, 4, 256)
    g = gguf_values(raw, gtype, 4)
    for r in range(4):
        assert [f32_round(m_, e_) for m_, e_ in ref.dequant_exact_row(qm, r)] == g[r].tolist()
    x = rng.integers(-(1 << 15), 1 << 15, (2, 256))
    assert vec.qlinear(x, vec.prepare(qm), 12, 16).tolist() == ref.qlinear(x.tolist(), qm, 12, 16)


@settings(SETTINGS, max_examples=examples(200))
@given(raw_matrices(), st.integers(1, 2), st.data(), shifts)
def test_qlinear_every_type_twins_equal_exact_oracle(mat, t, data, fxy):
    gtype, raw, n, k = mat
    xs = data.draw(x_rows(k, t))
    check_all(raw.reshape(-1), gtype, n, k, exact_rows(ref.decode_matrix(raw, gtype, n, k)), xs, *fxy)


@pytest.mark.parametrize("gtype", EVERY_TYPE)
def test_inf_nan_in_every_float_field_raises_on_decode(gtype):
    lay = GGML_TYPES[gtype]
    for o, width, kind in scale_fields(gtype):
        raw = np.zeros((2, 2 * lay.nbytes), np.uint8)
        bad = {"fp16": 0x7E00, "bf16": 0x7FC0, "fp32": 0x7F800000}[kind]
        raw[1, lay.nbytes + o : lay.nbytes + o + width] = np.frombuffer(bad.to_bytes(width, "little"), np.uint8)
        for twin in (ref, vec):
            with pytest.raises(FixedPointValueError, match=rf"{gtype} row 1 block 1: {kind} bits 0x"):
                twin.decode_matrix(raw, gtype, 2, 2 * lay.block)


@pytest.mark.parametrize("gtype", ["Q4_K", "Q6_K", "Q2_K", "Q3_K", "Q5_K", "Q5_0"])
def test_k_quant_edge_blocks(gtype):
    """Sub-scales and q at their extremes, subnormal / zero / max d and dmin: exact, fast path == ref."""
    lay = GGML_TYPES[gtype]
    rows = []
    for d, dmin in ((0x0001, 0x0001), (0x0000, 0x8000), (0x7BFF, 0x7BFF), (0x3C00, 0xBC00), (0x1400, 0x0401)):
        for body in (0x00, 0xFF, 0x55, 0xAA):
            blk = bytearray([body] * lay.nbytes)
            for (o, _w, _), v in zip(scale_fields(gtype), (d, dmin)):
                blk[o : o + 2] = v.to_bytes(2, "little")
            rows.append(bytes(blk) * (512 // lay.block if lay.block == 256 else 8))
    raw = np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), -1).copy()
    n, k = raw.shape[0], raw.shape[1] // lay.nbytes * lay.block
    w = exact_rows(ref.decode_matrix(raw, gtype, n, k))
    g = gguf_values(raw, gtype, n)
    assert [[f32_round(*canon(v)) for v in r] for r in w] == g.tolist()
    rng = np.random.default_rng(3)
    for xs in (rng.integers(-30000, 30000, (2, k)), np.full((1, k), (1 << 31) - 1), np.full((1, k), -(1 << 40))):
        check_all(raw.reshape(-1), gtype, n, k, w, xs.tolist(), 12, 16)


def canon(v: Fraction) -> tuple[int, int]:
    """(mant, exp) of a dyadic Fraction."""
    e = -(v.denominator.bit_length() - 1)
    return v.numerator, e


@pytest.mark.parametrize("gtype", ["F16", "BF16", "F32"])
def test_dense_float_matrices_fast_path_is_exact(gtype):
    """F16 / BF16 / F32 weights of realistic magnitudes run on the dense int32 kernel (one pass and limbs); a row
    whose exponents span too far (a tiny next to a huge weight) is a slow row; every result == ref == oracle."""
    rng = np.random.default_rng(8)
    n, k = 5, 48
    w = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
    if gtype == "F32":  # 24-bit mantissas: rows fit int32 when their weights span few binades
        w = (rng.integers(-1000, 1000, (n, k)) * 2.0**-14).astype(np.float32)
    w[2, 7] = 0.0
    w[3, :] = 0.0  # an all-zero row
    w[4, 0], w[4, 1] = 3e4, 2e-7  # span beyond int32: slow
    if gtype == "F32":
        raw = w.view(np.uint8).reshape(n, -1)
    elif gtype == "F16":
        raw = w.astype(np.float16).view(np.uint8).reshape(n, -1)
    else:
        raw = (w.view(np.uint32) >> 16).astype("<u2").view(np.uint8).reshape(n, -1)
    raw = np.ascontiguousarray(raw)
    qm = vec.decode_matrix(raw, gtype, n, k)
    f = vec.prepare(qm).fast
    assert f is not None and f.bits == 32 and f.slow_rows.tolist() == [4] and f.lim >= 1 << 16
    wex = exact_rows(qm)
    base = rng.integers(-30000, 30000, (1, k))
    big = base.copy()
    big[0, 3] = (1 << 40) + 5  # past lim: limbs
    for xs, fx, fy in [(base, 12, 16), (big, 12, 16), (base, 0, 62), (np.vstack([big, base]), 30, 8)]:
        check_all(raw.reshape(-1), gtype, n, k, wex, xs.tolist(), fx, fy)
