"""Exact integer matmul: vec twin == ref twin == Python-int product, on the fast path, the limb path and failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypo import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fixedpoint import FixedPointOverflow, FixedPointTypeError, FixedPointValueError, ref, vec
from fixedpoint.vec import matmul as vmm

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
REPO = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Edge values: extremes of int64, powers of two and their neighbours, small ints.
EDGES = sorted(
    {
        v
        for k in range(0, 63)
        for d in (-2, -1, 0, 1, 2)
        for v in ((1 << k) + d, -(1 << k) - d)
        if I64_MIN <= v <= I64_MAX
    }
    | {I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1, 0}
)
entries = st.one_of(st.sampled_from(EDGES), st.integers(-1000, 1000), st.integers(I64_MIN, I64_MAX))


def exact(a, b):
    """Independent reference: numpy object-dtype (Python int) matmul, as nested lists."""
    c = np.matmul(np.asarray(a, dtype=np.int64).astype(object), np.asarray(b, dtype=np.int64).astype(object))
    return c.tolist() if isinstance(c, np.ndarray) else int(c)


def outcome(f, *args):
    """('ok', value as Python ints) or ('err', exception class, message): what both twins must agree on."""
    try:
        r = f(*args)
    except Exception as e:
        return ("err", type(e), str(e))
    if isinstance(r, np.ndarray):
        assert r.dtype == np.int64
        return ("ok", r.tolist())
    if isinstance(r, np.integer):
        return ("ok", int(r))
    return ("ok", r)


def agree(a, b):
    """Both twins give the same value, or raise the same class with the same message; returns the outcome."""
    r = outcome(ref.matmul_exact, a, b)
    v = outcome(vec.matmul_exact, a, b)
    assert r == v
    va = outcome(vec.matmul_exact, np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    assert va == r
    return r


def fits(c) -> bool:
    """Every entry of a nested-list (or int) result lies in int64."""
    if isinstance(c, list):
        return all(fits(v) for v in c)
    return I64_MIN <= c <= I64_MAX


def plan_gemms(a, b) -> int:
    """Number of partial GEMMs the vec twin's limb plan uses for these operands (1 = fast path)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    k = a.shape[-1]
    amax, bmax = max(-int(a.min()), int(a.max())), max(-int(b.min()), int(b.max()))
    if vec.matmul_bound_ok(k, amax, bmax):
        return 1
    (na, _), (nb, _) = vmm._limb_plan(k, int(a.min()), int(a.max()), int(b.min()), int(b.max()))
    return na * nb


# ---------------------------------------------------------------- twins agree (property)


@st.composite
def operands(draw, elems=entries, max_dim=4):
    m, k, n = (draw(st.integers(0, max_dim)) for _ in range(3))
    a = np.array([draw(elems) for _ in range(m * k)], dtype=np.int64).reshape(m, k)
    b = np.array([draw(elems) for _ in range(k * n)], dtype=np.int64).reshape(k, n)
    return a, b


@SETTINGS
@given(operands())
def test_twins_agree_on_edge_matrices(ab):
    a, b = ab
    r = outcome(ref.matmul_exact, a, b)
    assert outcome(vec.matmul_exact, a, b) == r
    if a.size and b.size:  # nested lists cannot carry an empty dimension
        assert agree(a.tolist(), b.tolist()) == r
    want = exact(a, b)
    if fits(want):
        assert r == ("ok", want)
    else:
        assert r[0] == "err" and r[1] is FixedPointOverflow


@SETTINGS
@given(
    st.integers(1, 63),
    st.integers(1, 63),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(0, 2**32 - 1),
)
def test_vec_exact_on_random_magnitudes(abits, bbits, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = (
        rng.integers(-(1 << abits), 1 << abits, (m, k), dtype=np.int64, endpoint=False)
        if abits < 63
        else rng.integers(I64_MIN, I64_MAX, (m, k), dtype=np.int64, endpoint=True)
    )
    b = (
        rng.integers(-(1 << bbits), 1 << bbits, (k, n), dtype=np.int64)
        if bbits < 63
        else rng.integers(I64_MIN, I64_MAX, (k, n), dtype=np.int64, endpoint=True)
    )
    want = exact(a, b)
    got = outcome(vec.matmul_exact, a, b)
    if fits(want):
        assert got == ("ok", want)
    else:
        assert got[1] is FixedPointOverflow
    assert got == outcome(ref.matmul_exact, a, b)


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 5), st.sampled_from([(1, 2), (2, 1), (1, 1)]), st.data())
def test_one_dimensional_shapes_follow_numpy(m, k, dims, data):
    da, db = dims
    sa = (m, k) if da == 2 else (k,)
    sb = (k, m) if db == 2 else (k,)
    a = np.array(
        data.draw(st.lists(entries, min_size=int(np.prod(sa)), max_size=int(np.prod(sa)))), dtype=np.int64
    ).reshape(sa)
    b = np.array(
        data.draw(st.lists(entries, min_size=int(np.prod(sb)), max_size=int(np.prod(sb)))), dtype=np.int64
    ).reshape(sb)
    r = outcome(ref.matmul_exact, a, b)
    v = outcome(vec.matmul_exact, a, b)
    assert r == v
    want = exact(a, b)
    if r[0] == "ok":
        assert r[1] == want
        assert np.shape(vec.matmul_exact(a, b)) == np.shape(np.matmul(a.astype(object), b.astype(object)))
    else:
        assert r[1] is FixedPointOverflow and not fits(want)


# ---------------------------------------------------------------- known values and edges


def test_known_values():
    assert ref.matmul_exact([[1, 2], [3, 4]], [[5, 6], [7, 8]]) == [[19, 22], [43, 50]]
    assert vec.matmul_exact([[1, 2], [3, 4]], [[5, 6], [7, 8]]).tolist() == [[19, 22], [43, 50]]
    assert ref.matmul_exact([1, 2, 3], [4, 5, 6]) == 32 == vec.matmul_exact([1, 2, 3], [4, 5, 6])
    assert ref.matmul_exact([1, 2], [[1, 2, 3], [4, 5, 6]]) == [9, 12, 15]
    assert ref.matmul_exact([[1, 2, 3], [4, 5, 6]], [1, -1, 1]) == [2, 5]
    assert vec.matmul_exact([[1, 2, 3], [4, 5, 6]], [1, -1, 1]).tolist() == [2, 5]


@pytest.mark.parametrize(
    "a,b,want",
    [
        ([[1 << 62, 1 << 62]], [[-1], [-1]], [[I64_MIN]]),  # exactly -2^63 fits
        ([[I64_MIN]], [[1]], [[I64_MIN]]),
        ([[I64_MAX]], [[-1]], [[-I64_MAX]]),
        ([[1 << 62, 1 << 62, -(1 << 62)]], [[1], [1], [1]], [[1 << 62]]),  # cancellation: partials leave int64
        ([[I64_MAX, I64_MIN]], [[1], [1]], [[-1]]),
        ([[I64_MIN, I64_MIN]], [[1], [-1]], [[0]]),
        ([[(1 << 31) + 1]], [[(1 << 31) - 1]], [[(1 << 62) - 1]]),
        ([[3037000499]], [[3037000499]], [[3037000499**2]]),  # largest square below 2^63
    ],
)
def test_edge_values_that_fit(a, b, want):
    assert agree(a, b) == ("ok", want)


@pytest.mark.parametrize(
    "a,b,where,value",
    [
        ([[1 << 62, 1 << 62]], [[1], [1]], "[0, 0]", 1 << 63),
        ([[I64_MIN]], [[-1]], "[0, 0]", 1 << 63),
        ([[I64_MIN, I64_MIN]], [[1], [1]], "[0, 0]", -(1 << 64)),
        ([[1, 1], [I64_MAX, 1]], [[1, 1], [1, 1]], "[1, 0]", 1 << 63),
        ([[0, 0], [0, 3037000500]], [[0, 0], [0, 3037000500]], "[1, 1]", 3037000500**2),
        ([[I64_MAX] * 3], [[I64_MAX], [I64_MAX], [I64_MAX]], "[0, 0]", 3 * I64_MAX**2),
        ([1, I64_MAX], [[5, 0], [0, 2]], "[1]", 2 * I64_MAX),  # 1-D a: entry named by column
        ([[(1 << 31) - 1] * 3], [[(1 << 31) - 1]] * 3, "[0, 0]", 3 * ((1 << 31) - 1) ** 2),  # 31+31+bits(3) = 64
    ],
)
def test_overflow_names_first_entry(a, b, where, value):
    r = agree(a, b)
    assert r[0] == "err" and r[1] is FixedPointOverflow
    assert where in r[2] and str(value) in r[2]


def test_overflow_is_first_in_row_major_order():
    a = [[1, 0], [0, 1], [1, 1]]
    b = [[I64_MAX, 0], [1, I64_MAX]]  # row 0 fits, (1, 1) fits, (2, 0) = 2^63 is the first overflow
    r = agree(a, b)
    assert r[1] is FixedPointOverflow and "[2, 0]" in r[2]


@pytest.mark.parametrize(
    "abits,bbits,k,gemms",
    [
        (27, 27, 2, 2),  # |a|,|b| <= 2^26, K=2: K*amax*bmax = 2^53, just over: a second limb
        (40, 20, 8, 2),
        (62, 20, 4, 2),
        (64, 16, 576, 3),  # full int64 activations against 16-bit weights
        (64, 32, 4, 4),
        (64, 64, 1, 6),  # full int64 both sides
        (64, 64, 64, 9),
        (50, 50, 1000, 6),
    ],
)
def test_limb_path_counts_and_exactness(abits, bbits, k, gemms):
    rng = np.random.default_rng(abits * 1000 + bbits + k)
    a = rng.integers(-(1 << (abits - 1)), 1 << (abits - 1), (3, k), dtype=np.int64)
    b = rng.integers(-(1 << (bbits - 1)), 1 << (bbits - 1), (k, 4), dtype=np.int64)
    a[0, 0], a[1, 0] = -(1 << (abits - 1)), (1 << (abits - 1)) - 1  # pin the extremes
    b[0, 0], b[0, 1] = -(1 << (bbits - 1)), (1 << (bbits - 1)) - 1
    assert plan_gemms(a, b) == gemms
    want = exact(a, b)
    r = agree(a.tolist(), b.tolist())
    assert (r == ("ok", want)) if fits(want) else (r[1] is FixedPointOverflow)


def test_limb_plan_is_valid_for_every_bit_width():
    """Every chosen plan keeps each partial GEMM under 2^53, and the stated limb bounds really hold."""
    rng = np.random.default_rng(3)
    for k in (1, 3, 576, 1 << 20):
        for abits in range(1, 64, 5):
            for bbits in range(1, 64, 7):
                alo, ahi, blo, bhi = -(1 << abits), (1 << abits) - 1, -(1 << bbits), (1 << bbits) - 1
                (na, La), (nb, Lb) = vmm._limb_plan(k, alo, ahi, blo, bhi)
                bounds = []
                for lo, hi, n, L in ((alo, ahi, na, La), (blo, bhi, nb, Lb)):
                    bound = {o[0]: o[2] for o in vmm._limb_options(lo, hi)}[n]
                    xs = np.concatenate(
                        [
                            np.array([lo, hi, -1, 0, 1, lo + 1, hi - 1], dtype=np.int64),
                            rng.integers(lo, hi, 50, dtype=np.int64, endpoint=True),
                        ]
                    )
                    assert max(abs(int(v)) for limb in vmm._split(xs, n, L) for v in limb) <= bound
                    bounds.append(bound)
                assert k * bounds[0] * bounds[1] < 1 << 53


def _selection_case(draw_full, draw_pick, m, k, n):
    """Operands spanning int64 whose product fits: a = [A | -A | A], b = [W ; W ; S], so c = A @ S.

    A and W are arbitrary (|entries| < 2^63), S is 0/1 with at most one 1 per column, so c picks
    columns of A. A @ W - A @ W cancels exactly: every limb product is large and nonzero (partials
    up to 2^126), and only the exact recombination of all of them lands back inside int64.
    """
    A = [[max(draw_full(), -I64_MAX) for _ in range(k)] for _ in range(m)]
    W = [[draw_full() for _ in range(n)] for _ in range(k)]
    picks = [draw_pick() for _ in range(n)]  # -1: the column selects nothing
    S = [[int(p == t) for p in picks] for t in range(k)]
    a = [row + [-v for v in row] + row for row in A]
    return a, W + W + S, [[row[p] if p >= 0 else 0 for p in picks] for row in A]


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6), st.data())
def test_full_range_operands_whose_product_fits(m, k, n, data):
    full = st.one_of(st.sampled_from(EDGES), st.integers(I64_MIN, I64_MAX))
    a, b, want = _selection_case(lambda: data.draw(full), lambda: data.draw(st.integers(-1, k - 1)), m, k, n)
    assert agree(a, b) == ("ok", want)


@pytest.mark.parametrize("k", [1, 2, 20, 200, 1700])  # K=3k: plans 2x4 (a 2^64 term), 3x3 (a 2^63 term), 3x4
def test_full_range_selection_across_limb_plans(k):
    rng = np.random.default_rng(k)
    edges = [I64_MIN, I64_MAX, I64_MIN + 1, -1, 1 << 62, -(1 << 62) - 1]

    def draw_full():
        return int(rng.choice(edges)) if rng.random() < 0.3 else int(rng.integers(I64_MIN, I64_MAX, endpoint=True))

    a, b, want = _selection_case(draw_full, lambda: int(rng.integers(-1, k)), 4, k, 8)
    assert plan_gemms(a, b) >= 6
    assert agree(a, b) == ("ok", want)


@SETTINGS
@given(st.integers(I64_MIN, I64_MAX), st.integers(1, 8), st.integers(1, 62))
def test_split_recombines_exactly(x, n, L):
    assume(L * (n - 1) < 63)
    limbs = vmm._split(np.array([x], dtype=np.int64), n, L)
    assert sum(int(l[0]) << (L * i) for i, l in enumerate(limbs)) == x
    assert all(0 <= int(l[0]) < (1 << L) for l in limbs[:-1])


def test_object_fallback_when_limbs_are_capped(monkeypatch):
    monkeypatch.setattr(vmm, "MAX_GEMMS", 1)
    a = [[I64_MAX, 5], [-3, I64_MIN]]
    b = [[1, 0], [0, 1]]
    assert vmm._limb_plan(2, I64_MIN, I64_MAX, 0, 1) is None
    assert agree(a, b) == ("ok", a)
    r = agree([[I64_MAX, 1]], [[1], [1]])
    assert r[1] is FixedPointOverflow and "[0, 0]" in r[2]


def test_empty_dims_give_zeros():
    for sa, sb, shape in [
        ((2, 0), (0, 3), (2, 3)),
        ((0, 4), (4, 3), (0, 3)),
        ((2, 4), (4, 0), (2, 0)),
        ((0,), (0, 3), (3,)),
        ((2, 0), (0,), (2,)),
        ((0,), (0,), ()),
    ]:
        a, b = np.zeros(sa, dtype=np.int64), np.zeros(sb, dtype=np.int64)
        got = vec.matmul_exact(a, b)
        assert np.shape(got) == shape and not np.any(got)
        assert np.asarray(ref.matmul_exact(a, b)).tolist() == np.asarray(got).tolist()
    assert ref.matmul_exact([], []) == 0 == vec.matmul_exact([], [])
    assert ref.matmul_exact([[], []], []) == [0, 0] == vec.matmul_exact([[], []], []).tolist()


def test_k_one_is_outer_product():
    a = [[I64_MIN], [1 << 40], [-3]]
    b = [[1, -1 << 22, 0]]
    r = agree(a, b)
    assert r[1] is FixedPointOverflow and "[0, 1]" in r[2]
    assert agree([[1 << 40], [-3]], [[1, -1 << 22, 0]]) == ("ok", [[1 << 40, -1 << 62, 0], [-3, 3 << 22, 0]])


def test_accepts_integer_dtypes_and_views_without_aliasing():
    rng = np.random.default_rng(7)
    a = rng.integers(-100, 100, (6, 8)).astype(np.int8)
    b = rng.integers(0, 1 << 31, (8, 10)).astype(np.uint32)
    want = exact(a.astype(np.int64), b.astype(np.int64))
    assert vec.matmul_exact(a, b).tolist() == want
    big = rng.integers(-(1 << 29), 1 << 29, (12, 16), dtype=np.int64)
    va, vb = big[::2, ::2], big[1::2, ::2].T[:, :5]  # non-contiguous views, limb path
    assert vec.matmul_exact(va, vb).tolist() == exact(va, vb)
    x = np.eye(3, dtype=np.int64)
    y = vec.matmul_exact(x, x)
    y[0, 0] = 9
    assert x[0, 0] == 1 and vec.matmul_exact(x, x)[0, 0] == 1


# ---------------------------------------------------------------- bad input: both twins raise the same class


@pytest.mark.parametrize(
    "a,b,cls",
    [
        (np.ones((2, 2)), np.ones((2, 2), dtype=np.int64), FixedPointTypeError),  # float array
        (np.ones((2, 2), dtype=bool), np.ones((2, 2), dtype=np.int64), FixedPointTypeError),
        (np.ones((2, 2), dtype=object), np.ones((2, 2), dtype=np.int64), FixedPointTypeError),
        (np.zeros((0, 2)), np.zeros((2, 2), dtype=np.int64), FixedPointTypeError),  # empty float still refused
        ([[1, 2.0]], [[1], [2]], FixedPointTypeError),
        ([[1, True]], [[1], [2]], FixedPointTypeError),
        ([True, 2], [1, 2], FixedPointTypeError),
        ([[1, "2"]], [[1], [2]], FixedPointTypeError),
        (1.5, [[1]], FixedPointTypeError),
        ([[1 << 63]], [[1]], FixedPointOverflow),
        ([[1]], [[I64_MIN - 1]], FixedPointOverflow),
        (np.array([[1 << 63]], dtype=np.uint64), np.ones((1, 1), dtype=np.int64), FixedPointOverflow),
        ([[1, 2]], [[1, 2]], FixedPointValueError),  # inner dims 2 vs 1
        ([1, 2, 3], [1, 2], FixedPointValueError),
        ([[1, 2], [3]], [[1], [2]], FixedPointValueError),  # ragged
        ([[[1]]], [[1]], FixedPointValueError),  # 3-D list
        (np.ones((1, 1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64), FixedPointValueError),
        (5, [[1]], FixedPointValueError),  # scalar operand
        (np.int64(5), [1], FixedPointValueError),
    ],
)
def test_bad_input_same_class_in_both_twins(a, b, cls):
    for f in (ref.matmul_exact, vec.matmul_exact):
        with pytest.raises(cls):
            f(a, b)
    assert outcome(ref.matmul_exact, a, b)[1] is outcome(vec.matmul_exact, a, b)[1]


# ---------------------------------------------------------------- matmul_bound_ok


@pytest.mark.parametrize(
    "k,amax,bmax,ok",
    [
        (1, (1 << 53) - 1, 1, True),
        (1, 1 << 53, 1, False),
        (0, 1 << 63, 1 << 63, True),
        (576, 1 << 20, 1 << 15, True),
        (1 << 10, 1 << 21, 1 << 22, False),
        (3, 3002399751580330, 1, True),
        (3, 3002399751580331, 1, False),
        (2, 1 << 26, 1 << 26, False),
        (2, 1 << 26, (1 << 26) - 1, True),
    ],
)
def test_bound_ok_known_values(k, amax, bmax, ok):
    assert ref.matmul_bound_ok(k, amax, bmax) is ok
    assert vec.matmul_bound_ok(np.int64(k), amax, bmax) is ok


@pytest.mark.parametrize(
    "args,cls",
    [
        ((-1, 1, 1), FixedPointValueError),
        ((1, -1, 1), FixedPointValueError),
        ((1, 1.0, 1), FixedPointTypeError),
        ((True, 1, 1), FixedPointTypeError),
    ],
)
def test_bound_ok_bad_input(args, cls):
    for f in (ref.matmul_bound_ok, vec.matmul_bound_ok):
        with pytest.raises(cls):
            f(*args)


# ---------------------------------------------------------------- fast path on realistic sizes


def _just(bound_ok: bool, seed: int):
    """200x300 @ 300x100 with K*amax*bmax just under (or just over) 2^53, extremes attained."""
    rng = np.random.default_rng(seed)
    k, bmax = 300, (1 << 22) - 3
    amax = ((1 << 53) - 1) // (k * bmax) + (0 if bound_ok else 1)
    a = rng.integers(-amax, amax, (200, k), dtype=np.int64, endpoint=True)
    b = rng.integers(-bmax, bmax, (k, 100), dtype=np.int64, endpoint=True)
    a[0, :] = amax  # one entry at k*amax*bmax: every partial sum at the edge of exactness
    b[:, 0] = bmax
    a[1, :], b[:, 1] = -amax, bmax
    assert vec.matmul_bound_ok(k, amax, bmax) is bound_ok
    return a, b


@pytest.mark.parametrize("bound_ok", [True, False])
def test_fast_path_and_just_over_equal_object_reference(bound_ok, monkeypatch):
    a, b = _just(bound_ok, seed=11 + bound_ok)
    calls = []
    real = vmm._matmul_limbs
    monkeypatch.setattr(vmm, "_matmul_limbs", lambda *x: calls.append(1) or real(*x))
    got = vec.matmul_exact(a, b)
    assert got.tolist() == exact(a, b)
    assert bool(calls) is (not bound_ok)
    # the corner entry is K*amax*bmax itself: at 2^53 - 1 or beyond, where float64 has gaps
    if not bound_ok:
        assert int(got[0, 0]) == 300 * int(a[0, 0]) * int(b[0, 0]) > 1 << 53


_THREAD_SCRIPT = r"""
import hashlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from fixedpoint import vec
rng = np.random.default_rng(5)
out = []
for abits in (20, 40, 62):
    a = rng.integers(-(1 << abits), 1 << abits, (257, 511), dtype=np.int64)
    b = rng.integers(-(1 << 15), 1 << 15, (511, 263), dtype=np.int64)
    try:
        out.append(vec.matmul_exact(a, b).tobytes())
    except Exception as e:
        out.append(repr(e).encode())
print(hashlib.sha256(b"".join(out)).hexdigest())
"""


def test_thread_count_independence():
    digests = set()
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        res = subprocess.run(
            [sys.executable, "-c", _THREAD_SCRIPT, str(REPO)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        digests.add(res.stdout.strip())
    assert len(digests) == 1
    # and the same bytes in this process (whatever its default thread count)
    res = subprocess.run(
        [sys.executable, "-c", _THREAD_SCRIPT, str(REPO)], capture_output=True, text=True, check=True, timeout=120
    )
    assert res.stdout.strip() in digests


def test_twins_export_same_names_and_specs():
    from fixedpoint.ref import matmul as rmm

    assert rmm.__all__ == vmm.__all__ == ["matmul_exact", "bmm_exact", "matmul_bound_ok"]
    for name in rmm.__all__:
        first = [getattr(m, name).__doc__.strip().splitlines()[0] for m in (rmm, vmm)]
        assert first[0] == first[1], name


# ---------------------------------------------------------------- batches


@SETTINGS
@given(st.integers(0, 4), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3), st.booleans(), st.data())
def test_bmm_twins_equal_pairwise_matmul(B, m, k, n, small, data):
    elems = st.integers(-(1 << 20), 1 << 20) if small else entries
    a = [[[data.draw(elems) for _ in range(k)] for _ in range(m)] for _ in range(B)]
    b = [[[data.draw(elems) for _ in range(n)] for _ in range(k)] for _ in range(B)]
    want = outcome(ref.bmm_exact, a, b)
    pairwise = [outcome(ref.matmul_exact, x, y) for x, y in zip(a, b)]
    if want[0] == "ok":
        assert want[1] == [p[1] for p in pairwise] == [exact(x, y) for x, y in zip(a, b)]
    else:
        assert want == next(p for p in pairwise if p[0] == "err")
    assert outcome(vec.bmm_exact, a, b) == want
    got = outcome(vec.bmm_exact, np.array(a, np.int64).reshape(B, m, k), np.array(b, np.int64).reshape(B, k, n))
    assert got == (want if B else ("ok", []))


@pytest.mark.parametrize(
    "a, b, cls",
    [
        ([[[1]]], [[[1]], [[2]]], FixedPointValueError),  # batches of different lengths
        ([[1, 2]], [[1, 2]], FixedPointValueError),  # pairs of 1-D operands
        ([[[1, 2]], [[1, 2, 3]]], [[[1], [2]], [[1], [2], [3]]], FixedPointValueError),  # pairs of other shapes
        (5, [[[1]]], FixedPointTypeError),  # not a batch
        ([[[1.5]]], [[[1]]], FixedPointTypeError),
    ],
)
def test_bmm_bad_input_same_error_in_both_twins(a, b, cls):
    r, v = outcome(ref.bmm_exact, a, b), outcome(vec.bmm_exact, a, b)
    assert r == v and r[0] == "err" and r[1] is cls


@pytest.mark.parametrize("abits, bbits, k", [(30, 19, 64), (31, 28, 7), (40, 12, 3), (62, 0, 1), (22, 22, 2000)])
def test_bmm_batched_limbs_are_exact(abits, bbits, k):
    """Past the one-GEMM bound but inside int64 (attention's probabilities x values): batched limbs."""
    rng = np.random.default_rng(abits * 100 + k)
    a = rng.integers(-(1 << abits), 1 << abits, (3, 2, k), endpoint=True)
    b = rng.integers(-(1 << bbits), 1 << bbits, (3, k, 4), endpoint=True)
    a[0, 0, :] = 1 << abits
    b[0, :, 0] = -(1 << bbits)
    want = [exact(x, y) for x, y in zip(a, b)]
    assert not vec.matmul_bound_ok(k, 1 << abits, 1 << bbits)
    assert vec.bmm_exact(a, b).tolist() == want == ref.bmm_exact(a, b)
