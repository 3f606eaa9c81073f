"""Write the shared Python/EVM vectors of the nonlinear kernels: tests/vectors/nonlinear.json (the quantized
weights' tests/vectors/quant.json: scripts/gen_vectors_quant.py, which reuses this module's helpers).

    .venv/bin/python scripts/gen_vectors_nonlinear.py [--check]

nonlinear.json: isqrt, isqrt_u (math.isqrt on uint256), rsqrt_floor, exp_neg, sigmoid, silu, softmax
(one case per row, several j), sin_cos on edge values (+-2^k + {-2..2}, the exp cut-off EXP_ZERO_Z,
the ln 2 steps of the range reduction, quadrant boundaries and rounding points of sin_cos, domain ends
and just past them, int64 / int256 extremes) and seeded random ones.

Each case: `expect` is what contracts/src/Nonlinear.sol must return; `python` is "ok" (then
expect == fixedpoint.ref's result) or the exception the reference raises (then expect is the EVM's
defined value, from the EVM_* models below, which transcribe the Solidity totality rules). Integers are decimal strings, bytes 0x-hex. Deterministic
(fixed seed), so --check verifies the file is current.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixedpoint import ref  # noqa: E402
from fixedpoint.constants import EXP_ZERO_Z, HALF_PI_Q32, LN2_Q48  # noqa: E402
from fixedpoint.errors import FixedPointError  # noqa: E402

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
I256_MIN, I256_MAX = -(1 << 255), (1 << 255) - 1
U256_MAX = (1 << 256) - 1
SEED = 20260524
ONE30 = 1 << 30

REF_ERRORS = (FixedPointError, ZeroDivisionError, IndexError)


def sat64(x: int) -> int:
    """min(max(x, -2^63), 2^63 - 1)."""
    return I64_MIN if x < I64_MIN else I64_MAX if x > I64_MAX else x


def clamp(v: int, lo: int, hi: int) -> int:
    """min(max(v, lo), hi)."""
    return lo if v < lo else hi if v > hi else v


def round_half_up_pow2(v: int, e: int) -> int:
    """floor(v * 2^e + 1/2) for any ints v, e."""
    return v << e if e >= 0 else (v + (1 << (-e - 1))) >> -e


# ================================================================================ nonlinear: EVM model
# Nonlinear.sol's totality rule, transcribed: operands outside int64 saturate, operands outside the
# domain clamp to its nearest end, results outside int64 saturate. Used where fixedpoint.ref raises.


def evm_isqrt(n):
    return math.isqrt(clamp(n, 0, I64_MAX))


def evm_isqrt_u(n):
    return math.isqrt(n)


def evm_rsqrt_floor(v, fv, fr):
    v, fv, fr = clamp(v, 1, I64_MAX), min(fv, 62), min(fr, 62)
    return min(math.isqrt((1 << (2 * fr + fv)) // v), I64_MAX)


def evm_exp_neg(x):
    return ref.exp_neg(clamp(x, I64_MIN, 0))


def evm_sigmoid(x):
    return ref.sigmoid(clamp(x, -(1 << 62), 1 << 62))


def evm_silu(x):
    x = sat64(x)
    return (x * evm_sigmoid(x) + (1 << 29)) >> 30


def evm_tanh(x):
    return 2 * evm_sigmoid(2 * clamp(x, -(1 << 61), 1 << 61)) - ONE30


def evm_gelu_tanh(x):
    x = sat64(x)
    c = clamp(x, -(1 << 20), 1 << 20)
    v = (1713444047 * c + 76616651 * ((c * c * c + (1 << 31)) >> 32) + (1 << 29)) >> 30
    return (x * ref.sigmoid(v) + (1 << 29)) >> 30


def evm_mul_sqrt_round_shift(m, n, s):
    m, n, s = sat64(m), min(n, 1 << 32), min(s, 62)
    t = 4 * m * m * n
    r = math.isqrt(t >> (2 * s))
    y = (r + 1) >> 1 if m >= 0 else -((r + ((r * r) << (2 * s) != t)) >> 1)
    return sat64(y)


def evm_softmax(row, j):
    if j >= len(row):
        return 0
    xs = [sat64(v) for v in row]
    m = max(xs)
    es = [ref.exp_neg(max(v - m, -EXP_ZERO_Z)) for v in xs]
    return ((es[j] << 30) + (sum(es) >> 1)) // sum(es)


def evm_sin_cos(theta):
    return ref.sin_cos(clamp(theta, -(1 << 52), 1 << 52))


def ref_isqrt_u(n):
    """The spec of isqrtU: Python's exact integer square root (rsqrt_floor's _isqrt_big)."""
    if not 0 <= n <= U256_MAX:
        raise FixedPointError(f"isqrt_u needs a uint256, got {n}")
    return math.isqrt(n)


def ref_softmax(row, j):
    return ref.softmax(row)[j]


# python name -> (Solidity name, reference, EVM model)
NONLINEAR = {
    "isqrt": ("isqrt", ref.isqrt, evm_isqrt),
    "isqrt_u": ("isqrtU", ref_isqrt_u, evm_isqrt_u),
    "rsqrt_floor": ("rsqrtFloor", ref.rsqrt_floor, evm_rsqrt_floor),
    "mul_sqrt_round_shift": ("mulSqrtRoundShift", ref.mul_sqrt_round_shift, evm_mul_sqrt_round_shift),
    "exp_neg": ("expNeg", ref.exp_neg, evm_exp_neg),
    "sigmoid": ("sigmoid", ref.sigmoid, evm_sigmoid),
    "silu": ("silu", ref.silu, evm_silu),
    "tanh": ("tanh", ref.tanh, evm_tanh),
    "gelu_tanh": ("geluTanh", ref.gelu_tanh, evm_gelu_tanh),
    "softmax": ("softmaxElement", ref_softmax, evm_softmax),
    "sin_cos": ("sinCos", ref.sin_cos, evm_sin_cos),
}


def expected(table: dict, fn: str, args: tuple) -> tuple:
    """(what the EVM must return, "ok" or the name of the exception the reference raises)."""
    _, spec, model = table[fn]
    want = model(*args)
    try:
        got = spec(*args)
    except REF_ERRORS as e:
        return want, type(e).__name__
    if got != want:  # the model must agree with the spec wherever the spec answers
        raise AssertionError(f"EVM model {fn}{args} = {want} but the reference says {got}")
    return got, "ok"


def edges(ks=range(64), ds=(-2, -1, 0, 1, 2), lo=I64_MIN, hi=I64_MAX) -> list[int]:
    """0, +-1, +-2, +-2^k + d (k in ks, d in ds) within [lo, hi], and lo, hi."""
    vals = {0, 1, -1, 2, -2, lo, hi}
    for k in ks:
        for d in ds:
            vals.update(((1 << k) + d, -(1 << k) + d))
    return sorted(v for v in vals if lo <= v <= hi)


def randoms(rng: random.Random, n: int, bits: int = 64, signed: bool = True) -> list[int]:
    """n ints with log-uniform magnitudes below 2^(bits-1) (2^bits unsigned), random signs if signed."""
    out = []
    for _ in range(n):
        b = rng.randrange(0, bits if signed else bits + 1)
        v = rng.getrandbits(b) if b else 0
        out.append(-v if signed and rng.random() < 0.5 else v)
    return out


OUTSIDE = [I64_MAX + 1, I64_MIN - 1, 1 << 100, -(1 << 100), I256_MAX, I256_MIN]


def nonlinear_cases() -> list[dict]:
    rng = random.Random(SEED)
    cases: list[tuple[str, tuple]] = []
    e64 = edges()
    # isqrt: int64 edges, squares and their neighbours, outside
    sq = [r * r + d for r in (1, 2, 3, 1 << 16, 3037000499, 2**31, 10**9, rng.randrange(1 << 31)) for d in (-1, 0, 1)]
    cases += [("isqrt", (n,)) for n in e64 + sq + OUTSIDE + randoms(rng, 150)]
    # isqrt_u: every bit length, squares, 2^256 - 1
    for b in range(0, 257):
        cases += [
            ("isqrt_u", (n,))
            for n in {
                (1 << b) - 1,
                1 << max(b - 1, 0),
                (1 << max(b - 1, 0)) + 1,
                rng.getrandbits(b) | (1 << max(b - 1, 0)) if b else 0,
            }
            if n <= U256_MAX
        ]
    cases += [("isqrt_u", (r * r + d,)) for r in (2**64, 2**128 - 1, 3**80, rng.getrandbits(128)) for d in (-1, 0, 1)]
    # rsqrt_floor: v edges x the formats the engine uses (2fx, 30) and the extremes
    vs = [1, 2, 3, 4, 5, 1 << 31, (1 << 32) + 1, (1 << 62) - 1, 1 << 62, I64_MAX, 12345, 10**9 + 7]
    for fv, fr in ((0, 0), (32, 30), (24, 30), (2, 30), (0, 30), (62, 0), (0, 62), (62, 31), (60, 2), (62, 62)):
        cases += [("rsqrt_floor", (v, fv, fr)) for v in vs]
    cases += [("rsqrt_floor", (v, 32, 30)) for v in randoms(rng, 80) if v > 0]
    cases += [
        ("rsqrt_floor", (v, fv, fr))
        for v in (0, -1, I64_MIN, I64_MAX + 1, 1 << 200, 7)
        for fv, fr in ((32, 30), (63, 30), (32, 63), (1 << 80, 2), (U256_MAX, U256_MAX))
    ]
    # exp_neg: the cut-off, every ln 2 step of the reduction, edges, positives and outside
    steps = [-((k * LN2_Q48) >> 32) + d for k in range(0, 34) for d in (-1, 0, 1)]
    cut = [-EXP_ZERO_Z + d for d in (-2, -1, 0, 1, 2)]
    neg = [v for v in e64 if v <= 0]
    cases += [("exp_neg", (x,)) for x in neg + steps + cut + [1, 2, 1 << 40, I64_MAX] + OUTSIDE]
    cases += [("exp_neg", (x,)) for x in [-rng.randrange(EXP_ZERO_Z + 5) for _ in range(300)]]
    # sigmoid / silu: edges both signs, the domain ends, outside
    dom = [s * ((1 << 62) + d) for s in (1, -1) for d in (-1, 0, 1, 2)]
    small = list(range(-40, 41)) + [s * v for s in (1, -1) for v in range(0, 3 * EXP_ZERO_Z, 9973)]
    for fn in ("sigmoid", "silu"):
        cases += [(fn, (x,)) for x in e64 + dom + small + OUTSIDE]
        cases += [(fn, (x,)) for x in randoms(rng, 150, bits=24) + randoms(rng, 60)]
    # tanh: edges, the domain ends +-2^61 and just past them, outside; gelu_tanh: as sigmoid, plus the clamp
    tdom = [s * ((1 << 61) + d) for s in (1, -1) for d in (-1, 0, 1, 2)]
    cases += [("tanh", (x,)) for x in e64 + tdom + small + OUTSIDE + randoms(rng, 150, bits=24) + randoms(rng, 40)]
    clampe = [s * ((1 << 20) + d) for s in (1, -1) for d in (-2, -1, 0, 1, 2)]
    lobe = [-(1 << 16) * k // 4 for k in range(0, 40)]  # GELU's negative lobe, -10 .. 0
    cases += [("gelu_tanh", (x,)) for x in e64 + dom + clampe + lobe + small + OUTSIDE]
    cases += [("gelu_tanh", (x,)) for x in randoms(rng, 200, bits=24) + randoms(rng, 60)]
    # mul_sqrt_round_shift: m edges x (n, s) incl. Gemma's sqrt(640) at the embedding's shifts, squares (ties),
    # the domain ends, overflowing results, n and s past their domain, m outside int64
    ns = [(640, 0), (640, 4), (640, 9), (4, 2), (1, 1), (9, 0), (0, 0), (2, 30), (1 << 32, 62), (1 << 32, 0)]
    ms = edges(ks=range(0, 64, 3)) + randoms(rng, 30, bits=20)
    cases += [("mul_sqrt_round_shift", (m, n, s)) for n, s in ns for m in ms]
    bad_ns = [((1 << 32) + 1, 0), (1 << 200, 8), (640, 63), (640, 1 << 80), (U256_MAX, U256_MAX)]
    cases += [("mul_sqrt_round_shift", (m, n, s)) for n, s in bad_ns for m in (0, 5, -5, I64_MAX, I64_MIN)]
    cases += [("mul_sqrt_round_shift", (m, 640, 3)) for m in OUTSIDE]
    # sin_cos: quadrant centres and rounding points, edges up to the domain end, RoPE-like angles
    quad = [k * HALF_PI_Q32 + d for k in range(-9, 10) for d in (-2, -1, 0, 1, 2)]
    rnd = [k * HALF_PI_Q32 + (HALF_PI_Q32 >> 1) + d for k in range(-9, 9) for d in (-1, 0, 1)]
    big = [s * ((1 << 52) + d) for s in (1, -1) for d in (-2, -1, 0, 1, 2)]
    rope = [
        ref.round_shift(p * w, 8) for p in (0, 1, 7, 100, 2047, 8191) for w in ref.rope_inv_freq(100000, 0, 64)[::9]
    ]
    cases += [("sin_cos", (t,)) for t in edges(ks=range(54)) + quad + rnd + big + rope + OUTSIDE]
    cases += [("sin_cos", (rng.randrange(-(1 << 52), (1 << 52) + 1),)) for _ in range(150)]
    cases += [("sin_cos", (rng.randrange(-(1 << 34), 1 << 34),)) for _ in range(100)]

    out, seen = [], set()
    for fn, args in cases:
        if (fn, args) in seen:
            continue
        seen.add((fn, args))
        expect, outcome = expected(NONLINEAR, fn, args)
        exp_s = [str(v) for v in expect] if isinstance(expect, tuple) else str(expect)
        out.append({"fn": fn, "args": [str(a) for a in args], "expect": exp_s, "python": outcome})
    out += softmax_cases(rng)
    return out


def softmax_cases(rng: random.Random) -> list[dict]:
    """One case per row: {"fn": "softmax", "row", "js", "expect", "python"} (expect/python per j)."""
    rows: list[list[int]] = [
        [],
        [0],
        [5],
        [I64_MIN],
        [I64_MAX],
        [0, 0],
        [0, -EXP_ZERO_Z],
        [0, -EXP_ZERO_Z + 1],
        [1, 2, 3],
        [0] * 7,
        [I64_MAX, I64_MIN],
        [I64_MAX, I64_MIN, 0],
        [I64_MIN, I64_MIN + 1],
        [1 << 62, -(1 << 62)],
        [(1 << 63), 0, -5],
        [1 << 200, -(1 << 200), 3],
        [-7, -7, -7, -8],
        [65536 * k for k in range(-8, 9)],
    ]
    for n in (2, 3, 5, 8, 16, 31, 64, 64, 100, 256, 512):
        scale = rng.choice((1 << 10, 1 << 16, 1 << 20, 1 << 24))
        rows.append([rng.randrange(-scale * 8, scale * 8) for _ in range(n)])
    rows.append([rng.randrange(-(1 << 20), 1 << 20) - (1 << 40) for _ in range(64)])  # all far below 0
    rows.append(randoms(rng, 32))  # int64-wide: many differences leave int64
    out = []
    for row in rows:
        n = len(row)
        js = sorted({0, n - 1, n // 2, n, n + 5} | {rng.randrange(n) for _ in range(min(n, 6))} if n else {0, 1})
        js = [j for j in js if j >= 0]
        exp, outc = zip(*(expected(NONLINEAR, "softmax", (row, j)) for j in js))
        out.append(
            {
                "fn": "softmax",
                "row": [str(v) for v in row],
                "js": js,
                "expect": [str(v) for v in exp],
                "python": list(outc),
            }
        )
    return out


def nonlinear_doc() -> dict:
    cases = nonlinear_cases()
    n = sum(len(c["js"]) if c["fn"] == "softmax" else 1 for c in cases)
    raising = sum(sum(p != "ok" for p in c["python"]) if c["fn"] == "softmax" else c["python"] != "ok" for c in cases)
    return {
        "version": 1,
        "generator": "scripts/gen_vectors_nonlinear.py",
        "evm_rule": (
            "Where fixedpoint.ref raises, Nonlinear.sol returns a defined value: operands outside "
            "int64 are saturated to int64, operands outside the domain are clamped to its nearest end "
            "(exp_neg x > 0 -> 0; sigmoid/silu |x| -> 2^62; sin_cos |theta| -> 2^52; isqrt n < 0 -> 0; "
            "rsqrt_floor v < 1 -> 1, fv/fr -> 62), a result outside int64 saturates; softmax: elements "
            "outside int64 are saturated, an empty row or j >= len gives 0."
        ),
        "functions": {fn: sol for fn, (sol, _, _) in NONLINEAR.items()},
        "count": n,
        "raising": raising,
        "cases": cases,
    }


def render(doc: dict) -> str:
    """JSON with one case (row, x vector) per line: diffable and compact."""
    head = {k: v for k, v in doc.items() if k not in ("cases", "rows", "xs")}
    text = json.dumps(head, indent=1)[:-2]
    for key in ("rows", "xs"):
        if key in doc:
            text += (
                f',\n "{key}": {{\n'
                + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in doc[key].items())
                + "\n }"
            )
    text += ',\n "cases": [\n' + ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in doc["cases"])
    return text + "\n ]\n}\n"


NONLINEAR_PATH = ROOT / "tests" / "vectors" / "nonlinear.json"


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) the vector file; 1 if --check finds it stale."""
    stale = 0
    for path, make in ((NONLINEAR_PATH, nonlinear_doc),):
        doc = make()
        text = render(doc)
        if "--check" in argv:
            if doc.get("real_rows") is False and path.exists():
                cur = json.loads(path.read_text())
                syn = [c for c in cur["cases"] if not c.get("row", "").startswith("smollm2:")]
                ok = syn == json.loads(text)["cases"]
                print(
                    f"{path.relative_to(ROOT)}: SmolLM2 not installed, synthetic cases only: "
                    f"{'current' if ok else 'STALE'}"
                )
                stale += not ok
            elif not path.exists() or path.read_text() != text:
                print(f"stale: {path.relative_to(ROOT)} (run scripts/gen_vectors_nonlinear.py)")
                stale += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(
            f"wrote {path.relative_to(ROOT)}: {doc['count']} cases ({doc['raising']} where the reference "
            f"raises), {len(text)} bytes"
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
