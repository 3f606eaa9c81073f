"""Write the shared Python/EVM test vectors: tests/vectors/fixedpoint_core.json and tests/vectors/merkle.json.

    .venv/bin/python scripts/gen_vectors.py [--check]

fixedpoint_core.json: for each function of fixedpoint.ref.core, inputs on edge values (0, +-1, +-2,
+-2^k + {-2..2}, int64 min/max, just outside int64, int256 extremes, out-of-range shifts and widths)
and seeded random ones. `expect` is what contracts/src/FixedPoint.sol must return; `python` is "ok"
(then expect == fixedpoint.ref's result) or the exception fixedpoint.ref raises (then expect is the
EVM's defined value, from EVM_MODEL below, which transcribes FixedPoint.sol's totality rule).

merkle.json: tensors of every dtype and awkward sizes with their packed bytes, leaf hashes, merkle
and tensor roots and proofs (prover.commit.merkle), plus the Z_h table. Integers are decimal strings,
bytes are 0x-hex. Deterministic: a fixed seed, so --check can verify the files are current.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixedpoint import ref  # noqa: E402
from fixedpoint.errors import FixedPointError  # noqa: E402
from prover.commit import merkle as mk  # noqa: E402

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
I256_MIN, I256_MAX = -(1 << 255), (1 << 255) - 1
SEED = 20260523


# -- EVM model: FixedPoint.sol's totality rule, transcribed (used only where fixedpoint.ref raises) --


def sat64(x: int) -> int:
    """min(max(x, -2^63), 2^63 - 1)."""
    return I64_MIN if x < I64_MIN else I64_MAX if x > I64_MAX else x


def clamp(v: int, lo: int, hi: int) -> int:
    """min(max(v, lo), hi)."""
    return lo if v < lo else hi if v > hi else v


def evm_round_shift(x, s):
    x, t = sat64(x), clamp(s, 0, 62)
    return x if t == 0 else (x + (1 << (t - 1))) >> t


def evm_floor_shift(x, s):
    return sat64(x) >> clamp(s, 0, 62)


def evm_shift_left(x, s):
    return sat64(sat64(x) << clamp(s, 0, 62))


def evm_rescale(x, s):
    s = clamp(s, -62, 62)
    return evm_shift_left(x, -s) if s <= 0 else evm_round_shift(x, s)


def evm_saturate(x, bits):
    b = clamp(bits, 1, 64)
    return clamp(x, -(1 << (b - 1)), (1 << (b - 1)) - 1)


def evm_checked_add(a, b):
    return sat64(sat64(a) + sat64(b))


def evm_checked_mul(a, b):
    return sat64(sat64(a) * sat64(b))


def evm_floor_div(a, b):
    a, b = sat64(a), sat64(b)
    return 0 if b == 0 else sat64(a // b)


def evm_round_div(a, b):
    a, b = sat64(a), sat64(b)
    return 0 if b <= 0 else (a + (b >> 1)) // b


def evm_mul_round_shift(a, b, s):
    p, t = sat64(a) * sat64(b), clamp(s, 0, 62)
    return sat64(p if t == 0 else (p + (1 << (t - 1))) >> t)


# python name -> (Solidity name, EVM model, arity)
FUNCTIONS = {
    "round_shift": ("roundShift", evm_round_shift, 2),
    "floor_shift": ("floorShift", evm_floor_shift, 2),
    "shift_left": ("shiftLeft", evm_shift_left, 2),
    "rescale": ("rescale", evm_rescale, 2),
    "saturate": ("saturate", evm_saturate, 2),
    "checked_add": ("checkedAdd", evm_checked_add, 2),
    "checked_mul": ("checkedMul", evm_checked_mul, 2),
    "floor_div": ("floorDiv", evm_floor_div, 2),
    "round_div": ("roundDiv", evm_round_div, 2),
    "mul_round_shift": ("mulRoundShift", evm_mul_round_shift, 3),
}
EVM_MODEL = {name: model for name, (_, model, _) in FUNCTIONS.items()}


def expected(fn: str, args: tuple[int, ...]) -> tuple[int, str]:
    """(what the EVM must return, "ok" or the name of the exception fixedpoint.ref raises)."""
    model = EVM_MODEL[fn](*args)
    try:
        got = getattr(ref, fn)(*args)
    except (FixedPointError, ZeroDivisionError) as e:
        return model, type(e).__name__
    if got != model:  # the model must agree with the spec wherever the spec answers
        raise AssertionError(f"EVM model {fn}{args} = {model} but fixedpoint.ref says {got}")
    return got, "ok"


# -- input sets ----------------------------------------------------------------------------------


def edges(ks=range(64), ds=(-2, -1, 0, 1, 2)) -> list[int]:
    """0, +-1, +-2, +-2^k + d (k in ks, d in ds) within int64, int64 min/max and their neighbours."""
    vals = {0, 1, -1, 2, -2, I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1}
    for k in ks:
        for d in ds:
            for v in ((1 << k) + d, -(1 << k) + d):
                if I64_MIN <= v <= I64_MAX:
                    vals.add(v)
    return sorted(vals)


OUTSIDE = [I64_MAX + 1, I64_MIN - 1, 1 << 100, -(1 << 100), I256_MAX, I256_MIN]  # no trace holds these
ALL_EDGES = edges(ds=(-1, 0, 1))
FEW_EDGES = edges(ks=(1, 31, 32, 61, 62, 63), ds=(-1, 0, 1))
SHIFTS = list(range(63))
BAD_SHIFTS = [-1, -2, 63, 64, 255, 256, 1 << 70, I256_MIN, I256_MAX]


def randoms(rng: random.Random, n: int) -> list[int]:
    """n int64 values with log-uniform magnitudes and random signs."""
    out = []
    for _ in range(n):
        bits = rng.randrange(0, 64)
        v = rng.getrandbits(bits) if bits else 0
        out.append(max(I64_MIN, -v if rng.random() < 0.5 else v))
    return out


def fixedpoint_cases() -> list[dict]:
    """Every (fn, args) case with its expected EVM result and Python outcome."""
    rng = random.Random(SEED)
    cases: list[tuple[str, tuple[int, ...]]] = []
    few_shifts = [0, 1, 2, 3, 15, 16, 31, 32, 33, 61, 62]
    for fn in ("round_shift", "floor_shift", "shift_left"):
        cases += [(fn, (x, s)) for x in FEW_EDGES for s in SHIFTS]
        cases += [(fn, (x, s)) for x in ALL_EDGES for s in (1, 62)]
        cases += [(fn, (x, s)) for x in OUTSIDE + [0, 5, -5, I64_MAX, I64_MIN] for s in BAD_SHIFTS + few_shifts]
        cases += [(fn, (x, rng.randrange(63))) for x in randoms(rng, 200)]
    cases += [("rescale", (x, s)) for x in FEW_EDGES for s in range(-62, 63, 3)]
    cases += [
        ("rescale", (x, s))
        for x in (0, 5, -5, I64_MAX, I64_MIN) + tuple(OUTSIDE)
        for s in (-64, -63, -62, 62, 63, 64, I256_MIN, I256_MAX)
    ]
    cases += [("rescale", (x, rng.randrange(-62, 63))) for x in randoms(rng, 200)]
    cases += [("saturate", (x, b)) for x in FEW_EDGES for b in range(1, 65, 3)]
    cases += [("saturate", (x, b)) for x in ALL_EDGES for b in (1, 32, 64)]
    cases += [
        ("saturate", (x, b))
        for x in OUTSIDE + [0, 7, -7, I64_MAX, I64_MIN]
        for b in (-1, 0, 1, 8, 32, 63, 64, 65, 1 << 80, I256_MIN, I256_MAX)
    ]
    cases += [("saturate", (x, rng.randrange(1, 65))) for x in randoms(rng, 200)]
    pair_vals = edges(ks=(1, 31, 32, 62, 63), ds=(-1, 0, 1))
    for fn in ("checked_add", "checked_mul", "floor_div", "round_div"):
        cases += [(fn, (a, b)) for a in pair_vals for b in pair_vals]
        cases += [(fn, (a, b)) for a in OUTSIDE + [0, 3, -3] for b in OUTSIDE + [0, 1, -1, 2, -2, 7]]
        cases += [(fn, (a, b)) for a, b in zip(randoms(rng, 300), randoms(rng, 300))]
    cases += [("floor_div", (a, b)) for a in range(-9, 10) for b in range(-4, 5)]
    cases += [("round_div", (a, b)) for a in range(-9, 10) for b in range(-4, 5)]
    mrs_vals = edges(ks=(1, 31, 32, 63), ds=(-1, 0, 1))
    cases += [("mul_round_shift", (a, b, s)) for a in mrs_vals for b in mrs_vals for s in (0, 1, 62)]
    cases += [
        ("mul_round_shift", (a, b, s))
        for a in (0, 3, -3, I64_MIN) + tuple(OUTSIDE)
        for b in (1, -1, I64_MIN)
        for s in BAD_SHIFTS[:4] + [0, 1, 62]
    ]
    cases += [("mul_round_shift", (a, b, rng.randrange(63))) for a, b in zip(randoms(rng, 300), randoms(rng, 300))]
    cases += [("mul_round_shift", (a, b, s)) for a in range(-5, 6) for b in range(-3, 4) for s in range(0, 4)]

    out, seen = [], set()
    for fn, args in cases:
        if (fn, args) in seen:
            continue
        seen.add((fn, args))
        expect, outcome = expected(fn, args)
        out.append({"fn": fn, "args": [str(a) for a in args], "expect": str(expect), "python": outcome})
    return out


def fixedpoint_doc() -> dict:
    """The whole fixedpoint_core.json document."""
    cases = fixedpoint_cases()
    return {
        "version": 1,
        "generator": "scripts/gen_vectors.py",
        "evm_rule": (
            "Where fixedpoint.ref raises, FixedPoint.sol returns a defined value: operands outside "
            "int64 are saturated to int64, shifts clamped to [0, 62] ([-62, 62] for rescale), widths "
            "to [1, 64]; the formula is evaluated exactly; a result outside int64 is saturated; "
            "floorDiv by 0 and roundDiv by b <= 0 give 0."
        ),
        "functions": {fn: {"sol": sol, "arity": ar} for fn, (sol, _, ar) in FUNCTIONS.items()},
        "count": len(cases),
        "raising": sum(c["python"] != "ok" for c in cases),
        "cases": cases,
    }


# -- Merkle vectors ------------------------------------------------------------------------------


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def merkle_tensors() -> list[tuple[str, str, tuple[int, ...], object]]:
    """(name, dtype, shape, data) of the tensors the Merkle vectors cover."""
    rng = np.random.default_rng(SEED)
    i64_edges = np.array([0, 1, -1, I64_MIN, I64_MAX, 1 << 62, -(1 << 62), 255, -256], dtype=np.int64)
    return [
        ("i8_3x5", "i8", (3, 5), rng.integers(-128, 128, size=(3, 5))),
        ("i8_one_full_leaf", "i8", (256,), rng.integers(-128, 128, size=256)),
        ("i16_edges", "i16", (8,), np.array([0, 1, -1, 127, -128, 32767, -32768, 256])),
        ("i16_2x130", "i16", (2, 130), rng.integers(-32768, 32768, size=(2, 130))),
        ("i32_64_one_leaf", "i32", (64,), rng.integers(-(2**31), 2**31, size=64)),
        ("i32_65_two_leaves", "i32", (65,), rng.integers(-(2**31), 2**31, size=65)),
        ("i32_3_leaves", "i32", (3, 64), rng.integers(-(2**31), 2**31, size=(3, 64))),
        ("i32_5_leaves", "i32", (5, 64), rng.integers(-1000, 1000, size=(5, 64))),
        ("i32_17_leaves", "i32", (17, 8, 8), rng.integers(-(2**31), 2**31, size=(17, 8, 8))),
        ("i32_empty", "i32", (0, 4), np.zeros((0, 4), dtype=np.int64)),
        ("i64_edges", "i64", (9,), i64_edges),
        ("i64_40", "i64", (5, 8), rng.integers(I64_MIN, I64_MAX, size=(5, 8), dtype=np.int64, endpoint=True)),
        ("raw_1000", "raw", (1000,), rng.integers(0, 256, size=1000, dtype=np.uint8)),
        ("raw_512", "raw", (2, 256), rng.integers(0, 256, size=(2, 256), dtype=np.uint8)),
        ("i32_all_zero_2_leaves", "i32", (128,), np.zeros(128, dtype=np.int64)),
    ]


def merkle_doc() -> dict:
    """The whole merkle.json document."""
    tensors = []
    for name, dtype, shape, data in merkle_tensors():
        arr = np.asarray(data)
        packed = mk.pack(arr, dtype)
        hashes = mk.leaf_hashes(packed)
        levels = mk.tree_levels(hashes)
        root = levels[-1][0]
        n = len(hashes)
        idx = sorted({0, n // 2, n - 1})
        tensors.append(
            {
                "name": name,
                "dtype": dtype,
                "dtype_code": mk.DTYPE_CODES[dtype],
                "shape": list(shape),
                "values": [str(int(v)) for v in arr.ravel()],
                "packed": _hex(packed),
                "leaf_hashes": [_hex(h) for h in hashes],
                "merkle_root": _hex(root),
                "tensor_root": _hex(mk.tensor_root(arr, dtype)),
                "proofs": [{"index": i, "siblings": [_hex(s) for s in mk.proof_from_levels(levels, i)]} for i in idx],
            }
        )
        assert root == mk.merkle_root(packed)
    return {
        "version": 1,
        "generator": "scripts/gen_vectors.py",
        "leaf_bytes": mk.LEAF_BYTES,
        "dtype_codes": mk.DTYPE_CODES,
        "zero_hashes": [_hex(z) for z in mk.ZERO],
        "tensors": tensors,
    }


def render(doc: dict) -> str:
    """JSON with one case / tensor per line: diffable and compact."""
    head = {k: v for k, v in doc.items() if k not in ("cases", "tensors")}
    key = "cases" if "cases" in doc else "tensors"
    lines = json.dumps(head, indent=1)[:-2] + f',\n "{key}": [\n'
    lines += ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in doc[key])
    return lines + "\n ]\n}\n"


TARGETS = {
    ROOT / "tests" / "vectors" / "fixedpoint_core.json": fixedpoint_doc,
    ROOT / "tests" / "vectors" / "merkle.json": merkle_doc,
}


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) every vector file; 1 if --check finds a stale one."""
    stale = 0
    for path, make in TARGETS.items():
        text = render(make())
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                print(f"stale: {path.relative_to(ROOT)} (run scripts/gen_vectors.py)")
                stale += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        doc = json.loads(text)
        n = doc.get("count", len(doc.get("tensors", [])))
        print(f"wrote {path.relative_to(ROOT)}: {n} entries, {len(text)} bytes")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
