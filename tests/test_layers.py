"""The compiled layers (fixedpoint/vec/layers.py, engine/ops/_fast.py) against the ref twin, value for value:
random values and the edges (0, +-1, saturation bounds, int64 bounds, where each kernel's contract ends)."""

from __future__ import annotations

import numpy as np
import pytest
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from engine import ops
from engine.ops import Ctx
from engine.program import L, Program, W, instr
from engine.values import Rows
from fixedpoint import ref, vec
from fixedpoint.constants import EXP_ZERO_Z
from fixedpoint.errors import FixedPointOverflow
from fixedpoint.vec import layers

I64MIN, I64MAX = -(1 << 63), (1 << 63) - 1
I32MIN, I32MAX = -(1 << 31), (1 << 31) - 1
EDGE_NEG = [0, -1, -2, -EXP_ZERO_Z + 1, -EXP_ZERO_Z, -EXP_ZERO_Z - 1, -(1 << 40), I64MIN]


@given(st.one_of(st.sampled_from(EDGE_NEG), st.integers(-EXP_ZERO_Z - 5, 0), st.integers(I64MIN, 0)))
@settings(deadline=None)
def test_exp_neg(x):
    assert layers.exp_neg1(x) == ref.exp_neg(x)


def test_exp_neg_exhaustive_over_its_live_domain():
    """The compiled exp (multiply-shift divisions, one-step corrected k) equals the numpy twin at every x in
    [-EXP_ZERO_Z - 2, 0]: every input whose result is not 0, and the first few that are."""
    xs = -np.arange(EXP_ZERO_Z + 3, dtype=np.int64)
    assert (_exp_all(xs) == vec.exp_neg(xs)).all()


def _exp_all(xs):
    out = np.empty_like(xs)
    _exp_into(xs, out)
    return out


@njit(cache=True)
def _exp_into(xs, out):
    for i in range(xs.shape[0]):
        out[i] = layers.exp_neg1(xs[i])


@given(st.one_of(st.sampled_from([0, 1, -1, 1 << 62, -(1 << 62)]), st.integers(-(1 << 62), 1 << 62)))
@settings(deadline=None)
def test_sigmoid(x):
    assert layers.sigmoid1(x) == ref.sigmoid(x)


@given(
    st.one_of(st.sampled_from([0, 1, -1, I32MAX, I32MIN, (1 << 32) - 1]), st.integers(-(1 << 32) + 1, (1 << 32) - 1))
)
@settings(deadline=None)
def test_silu(x):
    assert layers.silu1(x) == ref.silu(x)


@given(
    st.one_of(st.sampled_from([1, 2, 3, I64MAX, 1 << 62]), st.integers(1, I64MAX)),
    st.sampled_from([(32, 30), (0, 0), (0, 30), (2, 62), (62, 30), (24, 30)]),
)
@settings(deadline=None)
def test_rsqrt_floor(v, fmt):
    fv, fr = fmt
    try:
        want = ref.rsqrt_floor(v, fv, fr)
    except FixedPointOverflow:
        want = -1  # the kernel's "leaves int64"
    assert layers.rsqrt_floor1(v, 2 * fr + fv) == want


def _norm_ref(x, gm, ge, fx, fy, eps, width):
    v = max(sum(a * a for a in x) // len(x) + eps, 1)
    r = ref.rsqrt_floor(v, 2 * fx, 30)
    out = []
    for j in range(len(x)):
        nrm = ref.mul_round_shift(x[j], r, fx)
        y = ref.rescale(ref.checked_mul(nrm, gm[j]), min(30 - ge[j] - fy, 62))
        out.append(ref.saturate(y, width))
    return out


ints = st.integers


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(
        st.one_of(ints(-(1 << 20), 1 << 20), st.sampled_from([0, I32MAX, I32MIN, 3037000499])), min_size=1, max_size=40
    ),
    st.integers(0, 1 << 40),
    st.sampled_from([16, 12, 0, 30]),
    st.sampled_from([8, 16, 32]),
)
def test_rmsnorm_rows(x, eps, fx, width):
    """The compiled row equals the spec, or the row is reported as outside the contract (then the op's generic
    path computes it: the op test below)."""
    n = len(x)
    rng = np.random.default_rng(n)
    gm = rng.integers(-(1 << 23), 1 << 23, n)
    ge = rng.integers(-40, -10, n)
    fy = 12
    gs = np.minimum(30 - ge - fy, 62)
    gh = np.left_shift(np.int64(1), gs - 1)
    out = np.empty((1, n), np.int64)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    bad = layers.rmsnorm_rows(np.array([x], np.int64), eps, fx, gm, gs, gh, lo, hi, out)
    try:
        want = _norm_ref(x, gm.tolist(), ge.tolist(), fx, fy, eps, width)
    except FixedPointOverflow:
        assert bad == 0
        return
    if bad < 0:
        assert out[0].tolist() == want


def _program(*ins, context=64):
    names = dict.fromkeys(r.name for i in ins for r in i.inputs if r.kind in ("local", "state"))
    from engine.program import Instr

    hold = tuple(Instr(nm, "placeholder", ()) for nm in names if nm not in {i.name for i in ins})
    return Program("t", (*hold, *ins), context, ins[-1].name)


@settings(max_examples=examples(40), deadline=None)
@given(st.data())
def test_rmsnorm_op_compiled_equals_element(data):
    """op.run (compiled rows, generic rows past the contract) == op.element (ref) on every element, at the edges."""
    from engine.weights import vweight

    n = data.draw(st.integers(1, 24))
    big = data.draw(st.sampled_from([1 << 16, 1 << 31, 1 << 40, 1 << 62]))
    x = np.array(data.draw(st.lists(st.integers(-big, big), min_size=n, max_size=n)), np.int64)
    g = vweight("g", np.random.default_rng(n).standard_normal(n).astype("<f4").view(np.uint8))
    ins = instr("y", "rmsnorm", [L("x"), W("g")], fx=16, fy=12, eps=data.draw(st.integers(0, 1 << 20)), width=32)
    prog = _program(ins)
    op, ctx = ops.get("rmsnorm"), Ctx(prog, 0)
    try:
        y = op.run(ins, [x, g], ctx)
    except FixedPointOverflow:
        with pytest.raises(FixedPointOverflow):
            op.element(ins, [x, g], ctx, 0)
        return
    assert y.tolist() == [op.element(ins, [x, g], ctx, j) for j in range(n)]
    y2 = op.run_many(ins, [np.stack([x, x]), g], Ctx(prog, 0, count=2))
    assert (y2 == y).all()


@settings(max_examples=examples(60), deadline=None)
@given(st.data())
def test_swiglu_and_rope_rows(data):
    width = data.draw(st.sampled_from([8, 16, 32]))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    n = data.draw(st.integers(1, 8)) * 2
    vals = st.one_of(st.integers(-(1 << 40), 1 << 40), st.sampled_from([lo, hi, lo - 1, hi + 1, 0, I64MIN, I64MAX]))
    gu = np.array([data.draw(st.lists(vals, min_size=2 * n, max_size=2 * n))], np.int64)
    sh = data.draw(st.integers(0, 62))
    out = np.empty((1, n), np.int64)
    layers.swiglu_rows(gu, n, sh, lo, hi, out)
    for j in range(n):
        g, u = ref.saturate(int(gu[0, j]), width), ref.saturate(int(gu[0, n + j]), width)
        assert out[0, j] == ref.saturate(ref.mul_round_shift(ref.silu(g), u, sh), width)
    # rope of the saturated values by one position's (c, s) at the Q30 table bounds
    hd = n
    cs = st.one_of(st.integers(-(1 << 30), 1 << 30), st.sampled_from([1 << 30, -(1 << 30), 0, 1 << 31, -(1 << 31)]))
    cos = np.array([data.draw(st.lists(cs, min_size=hd // 2, max_size=hd // 2))], np.int64)
    sin = np.array([data.draw(st.lists(cs, min_size=hd // 2, max_size=hd // 2))], np.int64)
    z = gu[:, :n]
    ro = np.empty((1, n), np.int64)
    layers.rope_rows(z, 0, n, cos, sin, np.zeros(1, np.int64), hd, lo, hi, ro)
    from engine.ops.rope import rotate_element

    for j in range(n):
        base, i = j - j % 2, (j % hd) // 2
        a, b = ref.saturate(int(z[0, base]), width), ref.saturate(int(z[0, base + 1]), width)
        assert ro[0, j] == rotate_element(a, b, int(cos[0, i]), int(sin[0, i]), j % 2 == 1, width)


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(-(1 << 22), 1 << 22), st.sampled_from([I64MIN, I64MAX, 0, -EXP_ZERO_Z])),
        min_size=1,
        max_size=50,
    )
)
def test_softmax_row(x):
    out = np.empty(len(x), np.int64)
    layers.softmax_row(np.array(x, np.int64), out)
    assert out.tolist() == ref.softmax(x)


@settings(max_examples=examples(60), deadline=None)
@given(st.data())
def test_add_sat_rows(data):
    width = data.draw(st.sampled_from([8, 32, 64]))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    vals = st.one_of(st.integers(I64MIN, I64MAX), st.sampled_from([I64MIN, I64MAX, lo, hi, 0]))
    n = data.draw(st.integers(1, 8))
    h = np.array([data.draw(st.lists(vals, min_size=n, max_size=n))], np.int64)
    y = np.array([data.draw(st.lists(vals, min_size=n, max_size=n))], np.int64)
    out = np.empty((1, n), np.int64)
    ok = layers.add_sat_rows(h, y, lo, hi, out)
    want = []
    for a, b in zip(h[0].tolist(), y[0].tolist()):
        s = a + ref.saturate(b, width)
        want.append(None if not I64MIN <= s <= I64MAX else ref.saturate(s, width))
    assert ok == (None not in want)
    if ok:
        assert out[0].tolist() == want


def _attn_program(H, Hkv, hd, chunk, context, width=32):
    att = dict(n_heads=H, n_kv_heads=Hkv, head_dim=hd, width=width)
    return _program(
        instr("scores", "attn_scores", [L("q"), L("K")], fq=16, fk=16, fy=16, **att),
        instr("probs", "softmax", [L("scores")]),
        instr("part", "attn_mix_partial", [L("probs"), L("V")], chunk=chunk, fp=20, fv=16, **att),
        instr("mix", "attn_mix", [L("part")], fp=20, fy=12, width=width),
        context=context,
    )


@settings(max_examples=examples(25), deadline=None)
@given(st.data())
def test_attention_kernels_equal_element(data):
    """Scores, softmax and the mix over an engine-built int32 cache (the compiled kernels) equal the ref one-step
    (element) everywhere, with values up to the i32 bounds (where the kernels' int64 contract may fail and the
    generic path takes over)."""
    H, Hkv = data.draw(st.sampled_from([(2, 1), (4, 2), (3, 3)]))
    hd, chunk = data.draw(st.sampled_from([2, 4, 8, 64])), data.draw(st.sampled_from([2, 4, 64]))
    n = data.draw(st.integers(1, 12))
    big = data.draw(st.sampled_from([1 << 10, 1 << 20, I32MAX]))
    rng = np.random.default_rng(data.draw(st.integers(0, 1 << 30)))
    prog = _attn_program(H, Hkv, hd, chunk, context=16)
    K, V = Rows.empty(16, Hkv * hd), Rows.empty(16, Hkv * hd)
    for r in range(n):
        K = K.appended(rng.integers(-big, big, Hkv * hd, endpoint=True), r)
        V = V.appended(rng.integers(-big, big, Hkv * hd, endpoint=True), r)
    q = rng.integers(-big, big, H * hd, endpoint=True).astype(np.int64)
    ctx = Ctx(prog, n - 1)
    si, pi, mi, yi = prog.instrs[-4:]
    try:
        sc = ops.get("attn_scores").run(si, [q, K], ctx)
    except FixedPointOverflow:  # a dot product past int64 (i32 extremes in both q and K): ref raises there too
        with pytest.raises(FixedPointOverflow):
            for j in range(H * n):
                ops.get("attn_scores").element(si, [q, K], ctx, j)
        return
    assert sc.reshape(-1).tolist() == [ops.get("attn_scores").element(si, [q, K], ctx, j) for j in range(sc.size)]
    p = ops.get("softmax").run(pi, [sc], ctx)
    part = ops.get("attn_mix_partial").run(mi, [p, V], ctx)
    want = [ops.get("attn_mix_partial").element(mi, [p, V], ctx, j) for j in range(part.size)]
    assert part.reshape(-1).tolist() == want
    y = ops.get("attn_mix").run(yi, [part], ctx)
    assert y.tolist() == [ops.get("attn_mix").element(yi, [part], ctx, j) for j in range(y.size)]
    # the same through hand-built int64 caches (the generic path)
    K64, V64 = Rows(K.to_array(), n, 16), Rows(V.to_array(), n, 16)
    assert (ops.get("attn_scores").run(si, [q, K64], ctx) == sc).all()
    assert (ops.get("attn_mix_partial").run(mi, [p, V64], ctx) == part).all()


def test_cache_appends_in_place_and_snapshots_stay_valid():
    c = Rows.empty(8, 3)
    a = c.appended(np.array([1, -2, 3]), 0)
    b = a.appended(np.array([I32MAX, I32MIN, 0]), 1)
    assert a.buf is b.buf and a.n == 1 and b.n == 2 and b.buf.dtype == np.int32
    assert a.to_array()[1].tolist() == [0, 0, 0] and b.amax[:2].tolist() == [3, 1 << 31]
    w = b.appended(np.array([I32MAX + 1, 0, 0]), 2)  # past int32: a wider copy, the earlier rows kept
    assert w.buf.dtype == np.int64 and w.to_array()[:3].tolist() == [
        [1, -2, 3],
        [I32MAX, I32MIN, 0],
        [I32MAX + 1, 0, 0],
    ]
    many = a.appended_rows(np.array([[4, 5, 6], [7, 8, 9]]), 1)
    assert [m.n for m in many] == [2, 3] and many[-1].to_array()[2].tolist() == [7, 8, 9]
    with pytest.raises(ValueError):
        a.appended(np.array([0, 0, 0]), 5)
