"""Nonlinear.sol == fixedpoint.ref.nonlinear bit for bit on anvil: shared vectors (tests/vectors/nonlinear.json),
the documented EVM results where Python raises, hypothesis properties on random inputs, the spec lines,
the constants, and a gas budget per function."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixedpoint import constants as C

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "nonlinear.json").read_text())
SOL = (ROOT / "contracts" / "src" / "Nonlinear.sol").read_text()
_spec = importlib.util.spec_from_file_location("gen_vectors_nonlinear", ROOT / "scripts" / "gen_vectors_nonlinear.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

FUNCTIONS = VECTORS["functions"]  # python name -> Solidity name
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
SCALAR = [fn for fn in FUNCTIONS if fn != "softmax"]


def cases_of(fn: str) -> list[dict]:
    return [c for c in VECTORS["cases"] if c["fn"] == fn]


def _expect(c: dict):
    e = c["expect"]
    return tuple(int(v) for v in e) if isinstance(e, list) else int(e)


@pytest.fixture(scope="module")
def harness(chain):
    return chain.deploy("NonlinearHarness")


def test_vectors_cover_every_function_and_the_raising_cases():
    assert set(FUNCTIONS) == set(gen.NONLINEAR)
    for fn in FUNCTIONS:
        if fn == "softmax":
            outcomes = {o for c in cases_of(fn) for o in c["python"]}
        else:
            outcomes = {c["python"] for c in cases_of(fn)}
        want = 1 if fn == "isqrt_u" else 2  # isqrt_u's domain is all of uint256: nothing raises
        assert "ok" in outcomes and len(outcomes) >= want, (fn, outcomes)


def test_vectors_are_current():
    """The file is exactly what the generator writes now (regenerate with scripts/gen_vectors_nonlinear.py)."""
    assert (ROOT / "tests" / "vectors" / "nonlinear.json").read_text() == gen.render(gen.nonlinear_doc())


@pytest.mark.parametrize("fn", SCALAR)
def test_vectors_agree_with_python_ref(fn):
    """ref gives `expect` where it answers, raises the recorded error elsewhere; the EVM model gives `expect`."""
    for c in cases_of(fn):
        args = tuple(int(a) for a in c["args"])
        assert gen.expected(gen.NONLINEAR, fn, args) == (_expect(c), c["python"]), c


def test_softmax_vectors_agree_with_python_ref():
    for c in cases_of("softmax"):
        row = [int(v) for v in c["row"]]
        for j, e, p in zip(c["js"], c["expect"], c["python"]):
            assert gen.expected(gen.NONLINEAR, "softmax", (row, j)) == (int(e), p), (c["row"][:4], j)


@pytest.mark.parametrize("fn", SCALAR)
def test_evm_equals_vectors(chain, harness, fn):
    """Every vector through the harness (eth_call, no revert allowed) returns exactly `expect`."""
    cases = cases_of(fn)
    got = chain.call_many([(harness, FUNCTIONS[fn], [int(a) for a in c["args"]]) for c in cases])
    bad = [(c, g) for c, g in zip(cases, got) if g != _expect(c)]
    assert not bad, f"{len(bad)} mismatches of {len(cases)}, first: {bad[:5]}"


def test_evm_softmax_equals_vectors(chain, harness):
    cases = cases_of("softmax")
    got = chain.call_many([(harness, "softmaxElements", ([int(v) for v in c["row"]], c["js"])) for c in cases])
    for c, g in zip(cases, got):
        assert list(g) == [int(e) for e in c["expect"]], (c["row"][:4], c["js"], g, c["expect"])


# -- hypothesis: EVM == ref (or the documented EVM value) on random inputs ---------------------------

i64 = st.integers(I64_MIN, I64_MAX)
wide = st.integers(-(1 << 255), (1 << 255) - 1)
near = st.integers(-3 * C.EXP_ZERO_Z, 3 * C.EXP_ZERO_Z)  # where exp/sigmoid are not flat
trig = st.integers(-(1 << 52), 1 << 52)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=i64, b=near, w=wide, t=trig, v=st.integers(-5, I64_MAX), fv=st.integers(0, 70), fr=st.integers(0, 70))
def test_evm_equals_ref_on_random_inputs(chain, harness, a, b, w, t, v, fv, fr):
    calls = [
        ("exp_neg", (-abs(a),)),
        ("exp_neg", (-abs(b),)),
        ("exp_neg", (w,)),
        ("sigmoid", (a,)),
        ("sigmoid", (b,)),
        ("sigmoid", (w,)),
        ("silu", (a,)),
        ("silu", (b,)),
        ("silu", (w,)),
        ("sin_cos", (t,)),
        ("sin_cos", (a,)),
        ("isqrt", (a,)),
        ("isqrt", (abs(a),)),
        ("isqrt_u", (abs(w),)),
        ("rsqrt_floor", (v, fv, fr)),
        ("rsqrt_floor", (v, 2 * (fv % 31), 30)),
        ("tanh", (a,)),
        ("tanh", (b,)),
        ("tanh", (w,)),
        ("gelu_tanh", (a,)),
        ("gelu_tanh", (b,)),
        ("gelu_tanh", (w,)),
        ("mul_sqrt_round_shift", (a, abs(v), fv)),
        ("mul_sqrt_round_shift", (b, 640, fr % 16)),
        ("mul_sqrt_round_shift", (w, fv, fr)),
    ]
    got = chain.call_many([(harness, FUNCTIONS[fn], args) for fn, args in calls])
    for (fn, args), g in zip(calls, got):
        assert g == gen.expected(gen.NONLINEAR, fn, args)[0], (fn, args, g)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.lists(st.integers(-(1 << 24), 1 << 24) | i64, min_size=1, max_size=40), data=st.data())
def test_evm_softmax_equals_ref_on_random_rows(chain, harness, row, data):
    js = data.draw(st.lists(st.integers(0, len(row)), min_size=1, max_size=4))
    got = chain.call(harness, "softmaxElements", row, js)
    assert list(got) == [gen.expected(gen.NONLINEAR, "softmax", (row, j))[0] for j in js]


# -- the text: spec lines and constants --------------------------------------------------------------


def _camel(text: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), text)


SPEC_OF = {
    "isqrt": "isqrt",
    "rsqrt_floor": "rsqrtFloor",
    "exp_neg": "expNeg",
    "sigmoid": "sigmoid",
    "silu": "silu",
    "softmax": "softmaxElement",
    "sin_cos": "sinCos",
    "tanh": "tanh",
    "gelu_tanh": "geluTanh",
    "mul_sqrt_round_shift": "mulSqrtRoundShift",
    "_exp_poly": "expPoly",
    "_sin_cos_q30": "sinCosQ30",
}


def _doc_lines(sol: str, name: str) -> list[str]:
    m = re.search(r"((?:[ \t]*///[^\n]*\n)+)[ \t]*function " + name + r"\(", sol)
    assert m, f"no documented function {name}"
    return [ln.strip()[3:].strip() for ln in m[1].strip().splitlines()]


def test_solidity_specs_mirror_python_docstrings():
    """Each function's first /// line is the ref docstring's first line up to ';', in camelCase, and the
    public ones say what the EVM returns where Python raises."""
    from fixedpoint.ref import nonlinear as nl

    for py, sol in SPEC_OF.items():
        lines = _doc_lines(SOL, sol)
        spec = _camel(getattr(nl, py).__doc__.strip().splitlines()[0].split(";")[0].rstrip("."))
        assert lines[0].rstrip(".") == spec, (py, lines[0], spec)
        if not py.startswith("_"):
            assert any("EVM where Python raises" in ln for ln in lines), sol


def _sol_const(name: str) -> int:
    m = re.search(rf"constant {name} = ([^;]+);", SOL)
    assert m, name
    v = m[1].strip()
    return 1 << int(v.split("<<")[1]) if "<<" in v else int(v, 0)


def test_constants_match_python():
    for name in ("LN2_Q48", "HALF_PI_Q32", "HALF_PI_LOW_Q60", "EXP_ZERO_Z"):
        assert _sol_const(name) == getattr(C, name), name
    assert _sol_const("SIGMOID_MAX") == 1 << 62 and _sol_const("TRIG_MAX") == 1 << 52
    for name in ("TANH_MAX", "GELU_K1_Q30", "GELU_K3_Q30", "GELU_CLAMP"):
        assert _sol_const(name) == getattr(C, name), name
    from fixedpoint.ref.nonlinear import MUL_SQRT_MAX_N

    assert _sol_const("MUL_SQRT_MAX_N") == MUL_SQRT_MAX_N
    # the unrolled nested-Taylor steps: acc = 2^30 - div(t * acc + i * 2^29, i * 2^30), i = 11 .. 1, and
    # the sin / cos divisors in reverse order
    steps = re.findall(r"div\(add\(mul\((\w+), acc\), (0x[0-9a-f]+)\), (0x[0-9a-f]+)\)\) // (?:i|d) = (\d+)", SOL)
    exp = [int(d) for v, _, _, d in steps if v == "t"]
    trig = [int(d) for v, _, _, d in steps if v == "r2"]
    assert exp == 2 * list(range(C.EXP_TERMS, 0, -1))  # expPoly, and its copy inlined in softmaxElement
    for name, val in (("LN2_Q48", C.LN2_Q48), ("EXP_ZERO_Z", C.EXP_ZERO_Z)):
        for lit in re.findall(r"(\d+)\)? // " + name, SOL):
            assert int(lit) == val, (name, lit)
    assert trig == list(reversed(C.SIN_DIVISORS)) + list(reversed(C.COS_DIVISORS))
    for _, half, full, d in steps:
        assert (int(half, 16), int(full, 16)) == (int(d) << 29, int(d) << 30), d


# -- gas ----------------------------------------------------------------------------------------------

BUDGET = {
    "expNeg": 1500,
    "sigmoid": 2000,
    "silu": 2000,
    "sinCos": 2000,
    "rsqrtFloor": 5000,
    "isqrt": 4000,
    "tanh": 2000,
    "geluTanh": 2500,
    "mulSqrtRoundShift": 6000,
    "softmaxElement/64": 60_000,
    "softmaxElement/512": 450_000,
}


def gas_table(chain, harness) -> dict[str, int]:
    """Worst gas inside each function over typical and edge inputs (the call alone)."""
    gas: dict[str, int] = {}
    probes = {
        "expNeg": [(0, 0, 0), (-1, 0, 0), (-100000, 0, 0), (-(C.EXP_ZERO_Z - 1), 0, 0), (-(1 << 62), 0, 0)],
        "sigmoid": [(0, 0, 0), (100000, 0, 0), (-100000, 0, 0), (1 << 62, 0, 0)],
        "silu": [(0, 0, 0), (100000, 0, 0), (-100000, 0, 0), (I64_MIN, 0, 0)],
        "sinCos": [(0, 0, 0), (12345678901, 0, 0), (-(1 << 52), 0, 0), (3 * C.HALF_PI_Q32 + 7, 0, 0)],
        "rsqrtFloor": [(12345, 32, 30), (1, 32, 30), (I64_MAX, 62, 62), (1, 62, 62), (7, 0, 0)],
        "isqrt": [(0, 0, 0), (I64_MAX, 0, 0), (10**9, 0, 0)],
        "tanh": [(0, 0, 0), (100000, 0, 0), (-100000, 0, 0), (1 << 61, 0, 0)],
        "geluTanh": [(0, 0, 0), (65536, 0, 0), (-100000, 0, 0), (1 << 20, 0, 0), (I64_MIN, 0, 0)],
        "mulSqrtRoundShift": [(65536, 640, 0), (-12345, 640, 4), (I64_MAX, 1 << 32, 62), (I64_MIN, 1 << 32, 0)],
    }
    for fn, args in probes.items():
        for a in args:
            r, g = chain.call(harness, "gasOf", fn, *a)
            gas[fn] = max(gas.get(fn, 0), g)
    import random

    rng = random.Random(7)
    for n in (64, 512):
        half = C.EXP_ZERO_Z // 2
        row = [rng.randrange(-half, half) for _ in range(n)]  # the worst case: every exp term live (d > -EXP_ZERO_Z)
        r, g = chain.call(harness, "softmaxElementGas", row, n // 2)
        assert r == gen.expected(gen.NONLINEAR, "softmax", (row, n // 2))[0]
        gas[f"softmaxElement/{n}"] = g
    return gas


def test_gas_within_budget(chain, harness):
    """Gas inside each library function stays within its budget (printed with -s)."""
    gas = gas_table(chain, harness)
    print("\nNonlinear gas (worst over probes, inside the call):")
    for k, g in gas.items():
        print(f"  {k:22s} {g:>8,d}  (budget {BUDGET[k]:,d})")
    assert all(gas[k] <= BUDGET[k] for k in BUDGET), gas
