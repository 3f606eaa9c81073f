"""GGUF block layouts and their exact decoding with plain Python ints (the spec; ``fixedpoint.vec.blocks`` is
the vectorized twin). Every layout is read from the file's own bytes, little-endian.

A stored block of ``block`` elements (``nbytes`` bytes) splits into sub-blocks of ``sub`` elements; a weight is

    w = D * q + M        q a small int (range qmin..qmax), D and M dyadic per sub-block (mant * 2^exp)

where D and M are fp16 scales times small integer sub-scales (K-quants), or an fp16 / bf16 / fp32 itself
(q = 1). The table (d, m, dmin: fp16; sc, mn: unsigned sub-scales; element e of the block):

| type | id | block | bytes | sub | q range   | D, M of sub-block s      | layout (byte order)                         |
|------|----|-------|-------|-----|-----------|--------------------------|----------------------------------------------|
| F32  | 0  | 1     | 4     | 1   | 1         | the fp32, 0              | fp32                                        |
| F16  | 1  | 1     | 2     | 1   | 1         | the fp16, 0              | fp16                                        |
| BF16 | 30 | 1     | 2     | 1   | 1         | the bf16, 0              | bf16 (the top half of an fp32)              |
| Q4_0 | 2  | 32    | 18    | 32  | -8..7     | d, 0                     | d, qs[16]: q = nib - 8                      |
| Q4_1 | 3  | 32    | 20    | 32  | 0..15     | d, m                     | d, m, qs[16]: q = nib                       |
| Q5_0 | 6  | 32    | 22    | 32  | -16..15   | d, 0                     | d, qh u32, qs[16]: q = nib + 16 hbit - 16   |
| Q5_1 | 7  | 32    | 24    | 32  | 0..31     | d, m                     | d, m, qh u32, qs[16]: q = nib + 16 hbit     |
| Q8_0 | 8  | 32    | 34    | 32  | -128..127 | d, 0                     | d, qs[32] int8                              |
| Q2_K | 10 | 256   | 84    | 16  | 0..3      | d*(sc&15), -dmin*(sc>>4) | sc[16], qs[64], d, dmin                     |
| Q3_K | 11 | 256   | 110   | 16  | -4..3     | d*(sc6 - 32), 0          | hmask[32], qs[64], sc[12], d                |
| Q4_K | 12 | 256   | 144   | 32  | 0..15     | d*sc6, -dmin*mn6         | d, dmin, sc[12], qs[128]                    |
| Q5_K | 13 | 256   | 176   | 32  | 0..31     | d*sc6, -dmin*mn6         | d, dmin, sc[12], qh[32], qs[128]            |
| Q6_K | 14 | 256   | 210   | 16  | -32..31   | d*sc8 (int8), 0          | ql[128], qh[64], sc[16] int8, d             |

Bit positions within a block (e = element index, nib = a 4-bit field, hbit = a 1-bit field):
* Q4_0/Q4_1/Q5_0/Q5_1: byte j (0..15) of qs holds e = j (low nibble) and e = j + 16 (high nibble); Q5 hbit of e
  is bit e of the u32 qh.
* Q2_K: e = 128h + 32j + i (h 0..1, j 0..3, i 0..31): q = (qs[32h + i] >> 2j) & 3; sub-block e // 16 reads
  byte sc[e // 16].
* Q3_K: e as Q2_K: low bits (qs[32h + i] >> 2j) & 3, high bit (hmask[i] >> (e // 32)) & 1; q = low + 4*hbit - 4
  (a set bit means no offset). The 6-bit scale of sub-block s: low 4 bits sc[s] & 15 (s < 8) or sc[s - 8] >> 4,
  high 2 bits (sc[8 + s % 4] >> 2(s // 4)) & 3.
* Q4_K/Q5_K: e = 64c + 32t + i (c 0..3, t 0..1): nib = qs[32c + i] low (t = 0) or high (t = 1) nibble; Q5_K
  adds 16 * ((qh[i] >> (2c + t)) & 1). Sub-block s = e // 32 has 6-bit sc, mn: s < 4: sc = b[s] & 63,
  mn = b[s + 4] & 63; else sc = (b[s + 4] & 15) | (b[s - 4] >> 6) << 4, mn = (b[s + 4] >> 4) | (b[s] >> 6) << 4
  (b = the 12 scale bytes).
* Q6_K: e = 128h + 32j + i: low 4 bits of ql[64h + 32(j & 1) + i], low (j < 2) or high (j >= 2) nibble; high 2
  bits (qh[32h + i] >> 2j) & 3; q = low | high << 4, minus 32. Sub-block e // 16 reads the int8 sc[e // 16].

D and M are returned canonical (mant odd, or (0, 0) for zero). An inf/NaN fp16/bf16/fp32 raises
FixedPointValueError naming its bits: it has no exact value.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

from ..errors import FixedPointTypeError, FixedPointValueError

__all__ = ["GGML_TYPES", "Layout", "bf16_decode", "decode_block", "fp16_decode", "fp32_decode"]


class Layout(NamedTuple):
    """A GGML type's stored block: elements, bytes, sub-block elements, q range, whether M can be nonzero, type id."""

    block: int
    nbytes: int
    sub: int
    qmin: int
    qmax: int
    has_min: bool
    type_id: int


GGML_TYPES: dict[str, Layout] = {
    "F32": Layout(1, 4, 1, 1, 1, False, 0),
    "F16": Layout(1, 2, 1, 1, 1, False, 1),
    "Q4_0": Layout(32, 18, 32, -8, 7, False, 2),
    "Q4_1": Layout(32, 20, 32, 0, 15, True, 3),
    "Q5_0": Layout(32, 22, 32, -16, 15, False, 6),
    "Q5_1": Layout(32, 24, 32, 0, 31, True, 7),
    "Q8_0": Layout(32, 34, 32, -128, 127, False, 8),
    "Q2_K": Layout(256, 84, 16, 0, 3, True, 10),
    "Q3_K": Layout(256, 110, 16, -4, 3, False, 11),
    "Q4_K": Layout(256, 144, 32, 0, 15, True, 12),
    "Q5_K": Layout(256, 176, 32, 0, 31, True, 13),
    "Q6_K": Layout(256, 210, 16, -32, 31, False, 14),
    "BF16": Layout(1, 2, 1, 1, 1, False, 30),
}


# ---------------------------------------------------------------------------------------------- floats


def _bits(bits: object, width: int, name: str) -> int:
    if isinstance(bits, bool) or not hasattr(bits, "__index__"):
        raise FixedPointTypeError(f"{name} bits must be an integer, got {type(bits).__name__} {bits!r}")
    b = operator.index(bits)
    if not 0 <= b < (1 << width):
        raise FixedPointValueError(f"{name} bits {b} are outside [0, 2^{width})")
    return b


def canonical(mant: int, exp: int) -> tuple[int, int]:
    """(mant, exp) with the same value mant * 2^exp and mant odd, or (0, 0) for zero."""
    if mant == 0:
        return 0, 0
    while not mant & 1:
        mant >>= 1
        exp += 1
    return mant, exp


def _float_decode(b: int, width: int, exp_bits: int, frac_bits: int, name: str) -> tuple[int, int]:
    emax = (1 << exp_bits) - 1
    bias = (1 << (exp_bits - 1)) - 1
    e = (b >> frac_bits) & emax
    f = b & ((1 << frac_bits) - 1)
    if e == emax:
        raise FixedPointValueError(f"{name} bits 0x{b:0{width // 4}x} encode inf or NaN, which has no exact value")
    # normal: (2^frac_bits + f) * 2^(e - bias - frac_bits); subnormal (e = 0): f * 2^(1 - bias - frac_bits)
    mant, exp = (f, 1 - bias - frac_bits) if e == 0 else ((1 << frac_bits) | f, e - bias - frac_bits)
    if b >> (width - 1):
        mant = -mant
    return canonical(mant, exp)


def fp16_decode(bits: int) -> tuple[int, int]:
    """(mant, exp) with value(IEEE binary16 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: an int in [0, 2^16) (not bool), else FixedPointTypeError / FixedPointValueError. Subnormals are
    exact (|mant| < 2^10, exp = -24 before canonicalisation); -0 gives (0, 0). Exponents lie in [-24, 15].
    """
    return _float_decode(_bits(bits, 16, "fp16"), 16, 5, 10, "fp16")


def bf16_decode(bits: int) -> tuple[int, int]:
    """(mant, exp) with value(bfloat16 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: an int in [0, 2^16) (not bool), else FixedPointTypeError / FixedPointValueError. A bf16 is the top
    16 bits of an fp32 (8 exponent bits, 7 fraction bits): |mant| < 2^8, exp in [-133, 127].
    """
    return _float_decode(_bits(bits, 16, "bf16"), 16, 8, 7, "bf16")


def fp32_decode(bits: int) -> tuple[int, int]:
    """(mant, exp) with value(IEEE binary32 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: an int in [0, 2^32) (not bool), else FixedPointTypeError / FixedPointValueError. Subnormals are
    exact; -0 gives (0, 0); |mant| < 2^24 and exp in [-149, 127].
    """
    return _float_decode(_bits(bits, 32, "fp32"), 32, 8, 23, "fp32")


# ---------------------------------------------------------------------------------------------- blocks

SubBlock = tuple[list[int], tuple[int, int], tuple[int, int]]  # (q, D, M)


def _u16(b: bytes, o: int) -> int:
    return b[o] | b[o + 1] << 8


def _scaled(d: tuple[int, int], k: int) -> tuple[int, int]:
    """canonical(d * k) for a dyadic d and an int k."""
    return canonical(d[0] * k, d[1])


def _neg(m: tuple[int, int]) -> tuple[int, int]:
    return (-m[0], m[1])


def _nibbles(qs: bytes) -> list[int]:
    """Elements 0..31 of a Q4/Q5 block: byte j holds j (low nibble) and j + 16 (high nibble)."""
    return [v & 15 for v in qs] + [v >> 4 for v in qs]


def _k_scale_min(b: bytes, s: int) -> tuple[int, int]:
    """The 6-bit (sc, mn) of sub-block s of a Q4_K / Q5_K block's 12 scale bytes b."""
    if s < 4:
        return b[s] & 63, b[s + 4] & 63
    return (b[s + 4] & 15) | (b[s - 4] >> 6) << 4, (b[s + 4] >> 4) | (b[s] >> 6) << 4


def _q3k_scale(b: bytes, s: int) -> int:
    """The 6-bit scale of sub-block s of a Q3_K block's 12 scale bytes b, minus 32 (in [-32, 31])."""
    lo = b[s] & 15 if s < 8 else b[s - 8] >> 4
    return (lo | ((b[8 + s % 4] >> (2 * (s // 4))) & 3) << 4) - 32


def _split(q: list[int], sub: int) -> list[list[int]]:
    return [q[i : i + sub] for i in range(0, len(q), sub)]


def decode_block(ggml_type: str, blk: bytes) -> list[SubBlock]:
    """One stored block of ``ggml_type`` (its ``nbytes`` bytes) as its sub-blocks (q list, D, M), in element order.

    The weights are w[e] = D * q[e] + M (module table); D and M canonical. FixedPointValueError for an inf/NaN
    scale (fp16 d/m/dmin, or the bf16/fp16/fp32 element) or a wrong byte count.
    """
    lay = GGML_TYPES[ggml_type]
    if len(blk) != lay.nbytes:
        raise FixedPointValueError(f"{ggml_type} block has {len(blk)} bytes, expected {lay.nbytes}")
    zero = (0, 0)
    if ggml_type in ("F16", "BF16", "F32"):
        dec = {"F16": fp16_decode, "BF16": bf16_decode, "F32": fp32_decode}[ggml_type]
        return [([1], dec(int.from_bytes(blk, "little")), zero)]
    if lay.block == 32:  # Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
        return _decode_32(ggml_type, lay, blk)
    return _decode_k(ggml_type, blk)


def _decode_32(ggml_type: str, lay: Layout, blk: bytes) -> list[SubBlock]:
    """decode_block of the 32-element types (one sub-block)."""
    d = fp16_decode(_u16(blk, 0))
    m = fp16_decode(_u16(blk, 2)) if lay.has_min else (0, 0)
    qo = 4 if lay.has_min else 2
    if ggml_type == "Q8_0":
        q = [v - 256 if v >= 128 else v for v in blk[2:]]
    elif ggml_type in ("Q4_0", "Q4_1"):
        q = _nibbles(blk[qo:])
    else:
        qh = int.from_bytes(blk[qo : qo + 4], "little")
        q = [v | ((qh >> e) & 1) << 4 for e, v in enumerate(_nibbles(blk[qo + 4 :]))]
    if lay.qmin < 0 and ggml_type != "Q8_0":
        q = [v + lay.qmin for v in q]  # Q4_0: nib - 8, Q5_0: q5 - 16
    return [(q, d, m)]


def _decode_k(ggml_type: str, blk: bytes) -> list[SubBlock]:
    """decode_block of the K-quants (256-element super-blocks)."""
    zero = (0, 0)
    if ggml_type == "Q2_K":
        sc, qs = blk[:16], blk[16:80]
        d, dmin = fp16_decode(_u16(blk, 80)), fp16_decode(_u16(blk, 82))
        q = [(qs[32 * (e // 128) + e % 32] >> (2 * ((e // 32) % 4))) & 3 for e in range(256)]
        return [(qq, _scaled(d, sc[s] & 15), _neg(_scaled(dmin, sc[s] >> 4))) for s, qq in enumerate(_split(q, 16))]
    if ggml_type == "Q3_K":
        hm, qs, sc = blk[:32], blk[32:96], blk[96:108]
        d = fp16_decode(_u16(blk, 108))
        q = [
            ((qs[32 * (e // 128) + e % 32] >> (2 * ((e // 32) % 4))) & 3) + 4 * ((hm[e % 32] >> (e // 32)) & 1) - 4
            for e in range(256)
        ]
        return [(qq, _scaled(d, _q3k_scale(sc, s)), zero) for s, qq in enumerate(_split(q, 16))]
    if ggml_type in ("Q4_K", "Q5_K"):
        d, dmin, sc = fp16_decode(_u16(blk, 0)), fp16_decode(_u16(blk, 2)), blk[4:16]
        qh, qs = (blk[16:48], blk[48:176]) if ggml_type == "Q5_K" else (bytes(32), blk[16:144])
        q = []
        for e in range(256):
            c, t, i = e // 64, (e // 32) % 2, e % 32
            v = qs[32 * c + i]
            q.append((v >> 4 if t else v & 15) | ((qh[i] >> (2 * c + t)) & 1) << 4)
        out = []
        for s, qq in enumerate(_split(q, 32)):
            a, mn = _k_scale_min(sc, s)
            out.append((qq, _scaled(d, a), _neg(_scaled(dmin, mn))))
        return out
    # Q6_K
    ql, qh, sc = blk[:128], blk[128:192], blk[192:208]
    d = fp16_decode(_u16(blk, 208))
    q = []
    for e in range(256):
        h, j, i = e // 128, (e // 32) % 4, e % 32
        v = ql[64 * h + 32 * (j & 1) + i]
        q.append(((v >> 4 if j >= 2 else v & 15) | ((qh[32 * h + i] >> (2 * j)) & 3) << 4) - 32)
    return [(qq, _scaled(d, sc[s] - 256 if sc[s] >= 128 else sc[s]), zero) for s, qq in enumerate(_split(q, 16))]


def scale_fields(ggml_type: str) -> list[tuple[int, int, str]]:
    """(byte offset in the block, byte width, float kind) of every float field of a block: what can be inf/NaN."""
    return {
        "F32": [(0, 4, "fp32")],
        "F16": [(0, 2, "fp16")],
        "BF16": [(0, 2, "bf16")],
        "Q4_0": [(0, 2, "fp16")],
        "Q4_1": [(0, 2, "fp16"), (2, 2, "fp16")],
        "Q5_0": [(0, 2, "fp16")],
        "Q5_1": [(0, 2, "fp16"), (2, 2, "fp16")],
        "Q8_0": [(0, 2, "fp16")],
        "Q2_K": [(80, 2, "fp16"), (82, 2, "fp16")],
        "Q3_K": [(108, 2, "fp16")],
        "Q4_K": [(0, 2, "fp16"), (2, 2, "fp16")],
        "Q5_K": [(0, 2, "fp16"), (2, 2, "fp16")],
        "Q6_K": [(208, 2, "fp16")],
    }[ggml_type]
