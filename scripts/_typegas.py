"""One-step gas of a linear row of every GGUF block type (scripts/bench_gas.py's per-type rows).

A one-instruction template ``linear`` (x (K,) i32 activations at F12, W a matrix of 4 rows of that type with random
valid blocks: realistic fp16 scales, random sub-scales and q; realistic F16/BF16/F32 values), its witness for
element 0 (x's leaves and row 0's bytes, with their Merkle proofs) checked against Python and measured with
eth_estimateGas of OneStep.element (21000 + calldata + execution), for K = 576 and 1536 (K-quants: 768, the first
whole number of super-blocks past 576, and 1536).
"""

from __future__ import annotations

import numpy as np

TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "F32")


def random_raw(rng: np.random.Generator, gtype: str, n: int, k: int) -> np.ndarray:
    """n rows of k weights of gtype as the file's bytes: random bodies, fp16 scales of realistic size."""
    from fixedpoint.ref.blocks import GGML_TYPES, scale_fields

    lay = GGML_TYPES[gtype]
    if lay.block == 1:
        w = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
        if gtype == "F16":
            return w.astype(np.float16).view(np.uint8).reshape(n, -1)
        if gtype == "BF16":
            return (w.view(np.uint32) >> 16).astype("<u2").view(np.uint8).reshape(n, -1)
        return w.view(np.uint8).reshape(n, -1)
    raw = rng.integers(0, 256, (n, k // lay.block, lay.nbytes), dtype=np.uint8)
    for o, _, _ in scale_fields(gtype):
        d = (rng.uniform(2e-4, 2e-3, raw.shape[:2]) * rng.choice([-1, 1], raw.shape[:2])).astype(np.float16)
        raw[..., o : o + 2] = d.view(np.uint8).reshape(*raw.shape[:2], 2)
    return raw.reshape(n, -1)


def width_of(gtype: str, k: int) -> int:
    from fixedpoint.ref.blocks import GGML_TYPES

    b = GGML_TYPES[gtype].block
    return -(-k // b) * b


def type_rows(chain, onestep, seed: int = 0) -> list[dict]:
    """One row per (type, width): the one-step gas of a linear element, each checked against Python."""
    from engine.program import TOKEN, Program, W, instr
    from engine.weights import GGML_TYPE_IDS, qweight
    from prover.commit.witness import to_call_args, witness_for

    rng = np.random.default_rng(seed)
    rows = []
    for gtype in TYPES:
        for k0 in (576, 1536):
            k = width_of(gtype, k0)
            w = qweight("w", random_raw(rng, gtype, 4, k).reshape(-1), gtype, 4, k)
            p = Program(
                name=f"linear/{gtype}",
                instrs=(instr("y", "linear", [TOKEN, W("w")], fx=12, fy=16, width=32, wtype=GGML_TYPE_IDS[gtype]),),
                context=1,
                output="y",
            )
            x = np.clip(np.rint(rng.laplace(0, 0.8, k) * 4096), -(1 << 31), (1 << 31) - 1).astype(np.int64)
            wit = witness_for(p, ["w"], 0, 0, [x, w], 0)
            args = to_call_args(wit)
            got = chain.call(onestep, "element", *args)
            if got != wit.expected:
                raise SystemExit(f"OneStep disagrees with Python on a {gtype} row of {k}: {got} != {wit.expected}")
            rows.append(
                {
                    "type": gtype,
                    "width": k,
                    "gas": chain.estimate_gas(onestep, "element", *args),
                    "calldata": len(chain.calldata(onestep, "element", *args)),
                    "row_bytes": w.row_bytes,
                }
            )
    return rows
