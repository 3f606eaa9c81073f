"""GGUF block layouts decoded with numpy, vectorized twin of ``fixedpoint.ref.blocks`` (which tabulates every
layout, its bit positions and its (D, M)). Same results, bit for bit, as int arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import FixedPointTypeError, FixedPointValueError
from ..ref.blocks import GGML_TYPES, Layout, scale_fields
from .core import as_int

__all__ = ["GGML_TYPES", "Layout", "bf16_decode", "decode_fields", "find_inf_nan", "fp16_decode", "fp32_decode"]

_FLOAT_BITS = {"fp16": (16, 5, 10), "bf16": (16, 8, 7), "fp32": (32, 8, 23)}


def _bits_array(bits: npt.ArrayLike, width: int, name: str) -> np.ndarray:
    if isinstance(bits, (bool, float, np.bool_, np.floating)):
        raise FixedPointTypeError(f"{name} bits must be integers, got {type(bits).__name__} {bits!r}")
    a = as_int(bits, "bits")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= (1 << width)):
        bad = a[(a < 0) | (a >= (1 << width))].ravel()[0]
        raise FixedPointValueError(f"{name} bits {int(bad)} are outside [0, 2^{width})")
    return a


def canonical(mant: np.ndarray, exp: np.ndarray, max_tz: int) -> tuple[np.ndarray, np.ndarray]:
    """Strip trailing zero bits of mant (at most max_tz of them) into exp (binary search, integer ops only);
    zero -> (0, 0)."""
    mant, exp = mant.copy(), exp.copy()
    sh = 1
    while sh * 2 <= max_tz:
        sh *= 2
    while sh:
        m = ((mant & ((1 << sh) - 1)) == 0) & (mant != 0)
        mant[m] >>= sh
        exp[m] += sh
        sh //= 2
    exp[mant == 0] = 0
    return mant, exp


def _float_decode(bits: npt.ArrayLike, kind: str) -> tuple[np.ndarray, np.ndarray]:
    width, exp_bits, frac_bits = _FLOAT_BITS[kind]
    b = _bits_array(bits, width, kind)
    emax = (1 << exp_bits) - 1
    bias = (1 << (exp_bits - 1)) - 1
    e = (b >> frac_bits) & emax
    f = b & ((1 << frac_bits) - 1)
    if (e == emax).any():
        bad = int(b[e == emax].ravel()[0])
        raise FixedPointValueError(f"{kind} bits 0x{bad:0{width // 4}x} encode inf or NaN, which has no exact value")
    normal = e != 0
    mant = np.where(normal, f | (1 << frac_bits), f)
    exp = np.where(normal, e - bias - frac_bits, 1 - bias - frac_bits)
    mant = np.where(b >> (width - 1) != 0, -mant, mant)
    return canonical(mant, exp, frac_bits + 1)


def fp16_decode(bits: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(mant, exp) with value(IEEE binary16 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: integer array (e.g. uint16) or int, every entry in [0, 2^16), else FixedPointTypeError /
    FixedPointValueError (the first inf/NaN pattern is named). Returns two int64 arrays of bits' shape.
    """
    return _float_decode(bits, "fp16")


def bf16_decode(bits: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(mant, exp) with value(bfloat16 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: integer array (e.g. uint16) or int, every entry in [0, 2^16), else FixedPointTypeError /
    FixedPointValueError (the first inf/NaN pattern is named). Returns two int64 arrays of bits' shape.
    """
    return _float_decode(bits, "bf16")


def fp32_decode(bits: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(mant, exp) with value(IEEE binary32 ``bits``) == mant * 2^exp exactly; mant odd or (0, 0); inf/NaN raise.

    bits: integer array (e.g. uint32) or int, every entry in [0, 2^32), else FixedPointTypeError /
    FixedPointValueError (the first inf/NaN pattern is named). Returns two int64 arrays of bits' shape.
    """
    return _float_decode(bits, "fp32")


_DECODERS = {"fp16": fp16_decode, "bf16": bf16_decode, "fp32": fp32_decode}


def _le(blk: np.ndarray, o: int, width: int) -> np.ndarray:
    """The little-endian unsigned ints of bytes [o, o + width) of every block (uint8 (..., bytes)) as int64."""
    v = np.zeros(blk.shape[:-1], np.int64)
    for i in range(width):
        v |= blk[..., o + i].astype(np.int64) << (8 * i)
    return v


def find_inf_nan(raw_rows: np.ndarray, ggml_type: str) -> tuple[int, int, str, int, int] | None:
    """(row, block, kind, bits) of the first inf/NaN float field of an (r, row_bytes) uint8 array, or None."""
    lay = GGML_TYPES[ggml_type]
    blk = raw_rows.reshape(raw_rows.shape[0], -1, lay.nbytes)
    first: tuple[int, int, str, int, int] | None = None
    for o, width, kind in scale_fields(ggml_type):
        bits = _le(blk, o, width)
        nbits, eb, fb = _FLOAT_BITS[kind]
        mask = ((1 << eb) - 1) << fb
        bad = (bits & mask) == mask
        if bad.any():
            r, b = (int(v[0]) for v in np.nonzero(bad))
            if first is None or (r, b) < first[:2]:
                first = (r, b, kind, int(bits[r, b]), nbits)
    return first


def _scaled(dm: np.ndarray, de: np.ndarray, k: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """canonical(d * k) for dyadic arrays (dm, de) and int arrays k broadcast to them (|dm * k| < 2^19)."""
    return canonical(dm * k, np.broadcast_to(de, np.broadcast_shapes(dm.shape, np.shape(k))).copy(), 19)


def decode_fields(raw_rows: np.ndarray, ggml_type: str, k: int) -> tuple[np.ndarray, ...]:
    """(q int8 (r, K), d_mant, d_exp, m_mant, m_exp int64 (r, K // sub)) of r raw rows (uint8 (r, row_bytes)).

    Assumes no inf/NaN float field (``decode_matrix`` checks); each field as ``fixedpoint.ref.blocks`` defines it.
    """
    lay = GGML_TYPES[ggml_type]
    r = raw_rows.shape[0]
    nb = k // lay.block
    blk = np.ascontiguousarray(raw_rows).reshape(r, nb, lay.nbytes)
    u8 = np.uint8
    if lay.block == 1:
        kind = {"F16": "fp16", "BF16": "bf16", "F32": "fp32"}[ggml_type]
        dm, de = _DECODERS[kind](_le(blk, 0, lay.nbytes).reshape(r, k))
        zeros = np.zeros((r, k), np.int64)
        return np.ones((r, k), np.int8), dm, de, zeros, zeros.copy()
    if lay.block == 32:
        dm, de = fp16_decode(_le(blk, 0, 2))
        mm, me = fp16_decode(_le(blk, 2, 2)) if lay.has_min else (np.zeros_like(dm), np.zeros_like(de))
        qo = 4 if lay.has_min else 2
        if ggml_type == "Q8_0":
            q = blk[..., 2:].view(np.int8).astype(np.int16)
        else:
            qoff = qo + (4 if ggml_type in ("Q5_0", "Q5_1") else 0)
            qs = blk[..., qoff:]
            q = np.concatenate([qs & u8(15), qs >> u8(4)], axis=-1).astype(np.int16)  # j low, j + 16 high
            if ggml_type in ("Q5_0", "Q5_1"):
                qh = _le(blk, qo, 4)
                q |= (((qh[..., None] >> np.arange(32)) & 1) << 4).astype(np.int16)
            q += lay.qmin if lay.qmin < 0 else 0
        return q.reshape(r, k).astype(np.int8), dm, de, mm, me
    e = np.arange(256)
    if ggml_type in ("Q2_K", "Q3_K"):
        qs = blk[..., 32:96] if ggml_type == "Q3_K" else blk[..., 16:80]
        low = (qs[..., 32 * (e // 128) + e % 32] >> (2 * ((e // 32) % 4)).astype(u8)) & u8(3)
        q = low.astype(np.int16)
        if ggml_type == "Q2_K":
            sc = blk[..., :16].astype(np.int64)
            d, dmin = fp16_decode(_le(blk, 80, 2)), fp16_decode(_le(blk, 82, 2))
            dm, de = _scaled(d[0][..., None], d[1][..., None], sc & 15)
            mm, me = _scaled(dmin[0][..., None], dmin[1][..., None], -(sc >> 4))
        else:
            hbit = (blk[..., e % 32] >> (e // 32).astype(u8)) & u8(1)
            q += 4 * hbit.astype(np.int16) - 4
            b = blk[..., 96:108].astype(np.int64)
            s = np.arange(16)
            lo = np.where(s < 8, b[..., s % 8] & 15, b[..., s % 8] >> 4)
            sc6 = (lo | ((b[..., 8 + s % 4] >> (2 * (s // 4))) & 3) << 4) - 32
            d = fp16_decode(_le(blk, 108, 2))
            dm, de = _scaled(d[0][..., None], d[1][..., None], sc6)
            mm, me = np.zeros_like(dm), np.zeros_like(de)
    elif ggml_type in ("Q4_K", "Q5_K"):
        d, dmin = fp16_decode(_le(blk, 0, 2)), fp16_decode(_le(blk, 2, 2))
        b = blk[..., 4:16].astype(np.int64)
        s = np.arange(8)
        lo4 = s < 4
        sc = np.where(lo4, b[..., s % 4] & 63, (b[..., (s + 4) % 12] & 15) | (b[..., (s - 4) % 12] >> 6) << 4)
        mn = np.where(lo4, b[..., (s + 4) % 12] & 63, (b[..., (s + 4) % 12] >> 4) | (b[..., s] >> 6) << 4)
        dm, de = _scaled(d[0][..., None], d[1][..., None], sc)
        mm, me = _scaled(dmin[0][..., None], dmin[1][..., None], -mn)
        qs = blk[..., 48:176] if ggml_type == "Q5_K" else blk[..., 16:144]
        c, t, i = e // 64, (e // 32) % 2, e % 32
        v = qs[..., 32 * c + i]
        q = np.where(t == 1, v >> u8(4), v & u8(15)).astype(np.int16)
        if ggml_type == "Q5_K":
            q |= (((blk[..., 16 + i] >> (2 * c + t).astype(u8)) & u8(1)) << u8(4)).astype(np.int16)
    else:  # Q6_K
        h, j, i = e // 128, (e // 32) % 4, e % 32
        v = blk[..., 64 * h + 32 * (j & 1) + i]
        low = np.where(j >= 2, v >> u8(4), v & u8(15)).astype(np.int16)
        high = ((blk[..., 128 + 32 * h + i] >> (2 * j).astype(u8)) & u8(3)).astype(np.int16)
        q = (low | high << 4) - 32
        d = fp16_decode(_le(blk, 208, 2))
        dm, de = _scaled(d[0][..., None], d[1][..., None], blk[..., 192:208].view(np.int8).astype(np.int64))
        mm, me = np.zeros_like(dm), np.zeros_like(de)
    ns = k // lay.sub
    return (
        q.reshape(r, k).astype(np.int8),
        dm.reshape(r, ns),
        de.reshape(r, ns),
        mm.reshape(r, ns),
        me.reshape(r, ns),
    )
