"""FixedPoint.sol == fixedpoint.ref bit for bit on anvil: shared vectors, the documented EVM results where
Python raises, a hypothesis property on random int64 inputs, the spec lines, and a gas budget."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixedpoint import errors as fp_errors
from fixedpoint import ref

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "fixedpoint_core.json").read_text())
_spec = importlib.util.spec_from_file_location("gen_vectors", ROOT / "scripts" / "gen_vectors.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

FUNCTIONS = VECTORS["functions"]  # python name -> {"sol": name, "arity": n}
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
EXCEPTIONS = {
    "ZeroDivisionError": ZeroDivisionError,
    **{n: getattr(fp_errors, n) for n in ("FixedPointOverflow", "FixedPointValueError", "FixedPointTypeError")},
}


def cases_of(fn: str) -> list[dict]:
    return [c for c in VECTORS["cases"] if c["fn"] == fn]


@pytest.fixture(scope="module")
def harness(chain):
    return chain.deploy("FixedPointHarness")


def test_vectors_cover_every_function_and_the_raising_cases():
    assert set(FUNCTIONS) == set(gen.FUNCTIONS)
    for fn in FUNCTIONS:
        outcomes = {c["python"] for c in cases_of(fn)}
        assert "ok" in outcomes and len(outcomes) >= 2, (fn, outcomes)  # answers and raises both covered


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_vectors_agree_with_python_ref(fn):
    """The file is current: ref gives `expect` where it answers and raises the recorded error elsewhere."""
    f = getattr(ref, fn)
    for c in cases_of(fn):
        args = [int(a) for a in c["args"]]
        if c["python"] == "ok":
            assert f(*args) == int(c["expect"]), c
        else:
            with pytest.raises(EXCEPTIONS[c["python"]]):
                f(*args)
        assert gen.EVM_MODEL[fn](*args) == int(c["expect"]), c


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_evm_equals_vectors(chain, harness, fn):
    """Every vector through the harness (eth_call, no revert allowed) returns exactly `expect`."""
    cases = cases_of(fn)
    sol = FUNCTIONS[fn]["sol"]
    got = chain.call_many([(harness, sol, [int(a) for a in c["args"]]) for c in cases])
    bad = [(c, g) for c, g in zip(cases, got) if g != int(c["expect"])]
    assert not bad, f"{len(bad)} mismatches of {len(cases)}, first: {bad[:5]}"


def _expected(fn: str, args: tuple[int, ...]) -> int:
    try:
        return getattr(ref, fn)(*args)
    except (fp_errors.FixedPointError, ZeroDivisionError):
        return gen.EVM_MODEL[fn](*args)


i64 = st.integers(I64_MIN, I64_MAX) | st.sampled_from([0, 1, -1, I64_MIN, I64_MAX, 1 << 62, -(1 << 62)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=i64, b=i64, s=st.integers(-3, 66), bits=st.integers(0, 66))
def test_evm_equals_ref_on_random_int64(chain, harness, a, b, s, bits):
    """EVM == fixedpoint.ref wherever ref answers; == the documented EVM value where it raises."""
    calls = [
        ("round_shift", (a, s)),
        ("floor_shift", (a, s)),
        ("shift_left", (a, s)),
        ("rescale", (a, s - 31)),
        ("saturate", (a, bits)),
        ("checked_add", (a, b)),
        ("checked_mul", (a, b)),
        ("floor_div", (a, b)),
        ("round_div", (a, b)),
        ("mul_round_shift", (a, b, s)),
    ]
    got = chain.call_many([(harness, FUNCTIONS[fn]["sol"], args) for fn, args in calls])
    for (fn, args), g in zip(calls, got):
        assert g == _expected(fn, args), (fn, args, g)


def _camel(text: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), text)


def test_solidity_specs_mirror_python_docstrings():
    """Each FixedPoint.sol function's first /// line is ref's first docstring line up to ';', in camelCase."""
    sol = (ROOT / "contracts" / "src" / "FixedPoint.sol").read_text()
    for fn, meta in FUNCTIONS.items():
        m = re.search(r"((?:[ \t]*///[^\n]*\n)+)[ \t]*function " + meta["sol"] + r"\(", sol)
        assert m, f"no documented function {meta['sol']} in FixedPoint.sol"
        first = m[1].strip().splitlines()[0].strip()[3:].strip().rstrip(".")
        spec = _camel(getattr(ref, fn).__doc__.strip().splitlines()[0].split(";")[0].rstrip("."))
        assert first == spec, (fn, first, spec)


def test_gas_per_function_within_budget(chain, harness):
    """Gas inside each library function (gasleft around the call) stays under 700, on typical, edge and
    out-of-domain operands alike."""
    gas = {}
    for args in ((-123456789, 7, 3), (I64_MIN, -1, 62), (1 << 200, 0, 99)):
        for fn, meta in FUNCTIONS.items():
            r, g = chain.call(harness, "gasOf", meta["sol"], *args)
            assert r == _expected(fn, args[: meta["arity"]])
            gas[meta["sol"], args] = g
    assert min(gas.values()) > 0 and max(gas.values()) < 700, gas
