"""Synthetic operands for the fused linear ops (linear_swiglu, linear_add) and the unfused instructions they
equal: random GGUF matrices of every imported type, i32 activations with extremes, hypothesis strategies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from engine.program import TOKEN, Program, W, instr
from engine.weights import GGML_TYPE_IDS, TWeight, qweight

I32 = (-(1 << 31), (1 << 31) - 1)
EDGES = [I32[0], I32[0] + 1, -(1 << 30), -65536, -4097, -1, 0, 1, 4096, 65536, 1 << 30, I32[1] - 1, I32[1]]
TYPES = ["Q4_0", "Q4_1", "Q8_0", "F16", "F32"]


def _f16(rng, n, e_lo, e_hi):
    return ((rng.integers(0, 2, n) << 15) | (rng.integers(e_lo, e_hi + 1, n) << 10) | rng.integers(0, 1024, n)).astype(
        "<u2"
    )


def random_raw(rng: np.random.Generator, gtype: str, n: int, k: int, e_lo: int = 9, e_hi: int = 16) -> np.ndarray:
    """File bytes (uint8) of an n x k matrix of GGML type gtype: fp16 scales with exponent field in [e_lo, e_hi]
    (2^-6 .. 2^1 for the default) and random quants; F32 entries of the same magnitudes."""
    if gtype == "F16":
        return _f16(rng, n * k, e_lo, e_hi).view(np.uint8).copy()
    if gtype == "F32":
        e = rng.integers(e_lo + 112, e_hi + 113, n * k)
        bits = (rng.integers(0, 2, n * k) << 31) | (e << 23) | rng.integers(0, 1 << 23, n * k)
        return bits.astype("<u4").view(np.uint8).copy()
    nb = n * k // 32
    d = _f16(rng, nb, e_lo, e_hi).view(np.uint8).reshape(nb, 2)
    if gtype == "Q8_0":
        q = rng.integers(-128, 128, (nb, 32)).astype(np.int8).view(np.uint8)
        return np.concatenate([d, q], axis=1).reshape(-1).copy()
    nib = rng.integers(0, 16, (nb, 32))
    packed = (nib[:, :16] | (nib[:, 16:] << 4)).astype(np.uint8)
    parts = [d, _f16(rng, nb, e_lo, e_hi).view(np.uint8).reshape(nb, 2)] if gtype == "Q4_1" else [d]
    return np.concatenate(parts + [packed], axis=1).reshape(-1).copy()


def random_qweight(rng, name: str, gtype: str, n: int, k: int):
    return qweight(name, random_raw(rng, gtype, n, k), gtype, n, k)


def random_i32(rng: np.random.Generator, n: int, mode: str) -> np.ndarray:
    """n activations: "small" (|v| < 2^15, the bulk of real F12 inputs), "edges" (i32 extremes), "mixed"."""
    small = rng.integers(-(1 << 15), 1 << 15, n)
    if mode == "small":
        return small
    edges = rng.choice(np.array(EDGES, np.int64), n)
    if mode == "edges":
        return edges
    return np.where(rng.random(n) < 0.3, edges, small)


@dataclass
class Case:
    """A fused instruction, the unfused instructions it equals, and operand values (x, weights, h)."""

    program: Program  # instrs: 0 linear_swiglu, 1 linear_add, 2 gate, 3 up, 4 swiglu, 5 o, 6 add,
    weight_names: list[str]  #         7 linear_rope, 8 q (linear), 9 rope
    x: np.ndarray
    wg: object
    wu: object
    wo: object
    h: np.ndarray
    wq: object = None  # (n_heads * head_dim, K)
    cos: object = None  # TWeight (context, head_dim / 2)
    sin: object = None
    position: int = 0

    def weights(self) -> dict:
        return {"wg": self.wg, "wu": self.wu, "wo": self.wo, "wq": self.wq, "rope.cos": self.cos, "rope.sin": self.sin}


def rope_table(rng: np.random.Generator, context: int, half: int, mode: str) -> np.ndarray:
    """A (context, half) Q30 table: "real" angles' cos or sin magnitudes (|v| <= 2^30), or i32 "edges"."""
    if mode == "edges":
        return rng.choice(np.array(EDGES, np.int64), (context, half))
    return rng.integers(-(1 << 30), (1 << 30) + 1, (context, half))


def case(
    seed: int,
    gtypes: tuple[str, str, str],
    n: int,
    nb: int,
    fx: int,
    fh: int,
    fy: int,
    width: int,
    xmode: str,
    hmode: str,
    rope: tuple[int, int] = (2, 4),
    qtype: str = "Q4_1",
    tmode: str = "real",
    context: int = 8,
) -> Case:
    """Gate/up/o matrices n x 32*nb of the given types, x and h of those modes, the given formats; a q matrix of
    rope = (n_heads, head_dim) heads of type qtype and rope tables of tmode for linear_rope, at a random position."""
    rng = np.random.default_rng(seed)
    k = 32 * nb
    wg, wu, wo = (random_qweight(rng, nm, t, n, k) for nm, t in zip(("wg", "wu", "wo"), gtypes))
    tid = {nm: GGML_TYPE_IDS[t] for nm, t in zip(("wg", "wu", "wo"), gtypes)}
    H, hd = rope
    wq = random_qweight(rng, "wq", qtype, H * hd, k)
    cos, sin = (TWeight(nm, rope_table(rng, context, hd // 2, tmode)) for nm in ("rope.cos", "rope.sin"))
    tabs = [W("rope.cos"), W("rope.sin")]
    qt = GGML_TYPE_IDS[qtype]
    P = (
        instr(
            "act",
            "linear_swiglu",
            [TOKEN, W("wg"), W("wu")],
            fh=fh,
            fx=fx,
            fy=fy,
            width=width,
            wtype_gate=tid["wg"],
            wtype_up=tid["wu"],
        ),
        instr("h_attn", "linear_add", [TOKEN, W("wo"), TOKEN], fx=fx, fy=fh, width=width, wtype=tid["wo"]),
        instr("gate", "linear", [TOKEN, W("wg")], fx=fx, fy=fh, width=width, wtype=tid["wg"]),
        instr("up", "linear", [TOKEN, W("wu")], fx=fx, fy=fh, width=width, wtype=tid["wu"]),
        instr("sw", "swiglu", [TOKEN, TOKEN], fu=fh, fy=fy, width=width),
        instr("o", "linear", [TOKEN, W("wo")], fx=fx, fy=fh, width=width, wtype=tid["wo"]),
        instr("sum", "add", [TOKEN, TOKEN], width=width),
        instr(
            "q_rope",
            "linear_rope",
            [TOKEN, W("wq")] + tabs,
            fx=fx,
            fy=fh,
            head_dim=hd,
            n_heads=H,
            width=width,
            wtype=qt,
        ),
        instr("q", "linear", [TOKEN, W("wq")], fx=fx, fy=fh, width=width, wtype=qt),
        instr("rot", "rope", [TOKEN] + tabs, head_dim=hd, n_heads=H, width=width),
    )
    return Case(
        Program("fused", P, context=context, output="act"),
        ["rope.cos", "rope.sin", "wg", "wo", "wq", "wu"],
        random_i32(rng, k, xmode),
        wg,
        wu,
        wo,
        random_i32(rng, n, hmode),
        wq,
        cos,
        sin,
        int(rng.integers(0, context)),
    )


@st.composite
def cases(draw) -> Case:
    g = draw(st.sampled_from(TYPES))
    gtypes = (g, draw(st.sampled_from([g, g] + TYPES)), draw(st.sampled_from(TYPES)))
    fx, fh = draw(
        st.sampled_from([(12, 16), (12, 16), (0, 0), (20, 8)]) | st.tuples(st.integers(0, 30), st.integers(0, 30))
    )
    fy = draw(st.just(12) | st.integers(max(0, fh - 46), fh + 16))
    return case(
        draw(st.integers(0, 2**32 - 1)),
        gtypes,
        draw(st.integers(1, 5)),
        draw(st.integers(1, 3)),
        fx,
        fh,
        fy,
        draw(st.sampled_from([32, 32, 16, 40, 64])),
        draw(st.sampled_from(["small", "mixed", "edges"])),
        draw(st.sampled_from(["small", "mixed", "edges"])),
        (draw(st.integers(1, 3)), draw(st.sampled_from([2, 4, 8]))),
        draw(st.sampled_from(TYPES)),
        draw(st.sampled_from(["real", "real", "edges"])),
    )
