"""Model weights as the engine uses them: the file's own numbers, decoded exactly.

* ``QWeight``: a block-quantized (or F16/F32) matrix: its ``QuantMatrix`` (exact q and dyadic scales,
  plus the raw bytes that get committed) and the prepared fast form for ``fixedpoint.vec.qlinear``;
* ``VWeight``: an F32 / F16 / BF16 vector (norm gains) as exact (mantissa, exponent) int64 pairs, plus raw bytes;
* ``TWeight``: an integer table derived from the model by integer algorithms (the RoPE cos/sin table),
  committed like any weight.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np

from fixedpoint import vec

from .loaders import GGML_TYPES

GGML_TYPE_IDS = {name: v[0] for name, v in GGML_TYPES.items()}


@dataclass
class QWeight:
    name: str
    qm: object  # fixedpoint QuantMatrix
    prep: object  # fixedpoint.vec PreparedQuant
    raw: np.ndarray  # uint8, the file's bytes

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.qm.shape)

    @property
    def row_bytes(self) -> int:
        return self.raw.size // self.shape[0]

    @property
    def type_id(self) -> int:
        """The GGML type id (F32 0, F16 1, Q4_0 2, ..., BF16 30): what a verifier decodes the raw bytes as."""
        return GGML_TYPE_IDS[self.qm.ggml_type]

    def check_type(self, ins, key: str = "wtype") -> None:
        """Raise unless the instruction's param ``key`` (default ``wtype``) names this weight's GGML type."""
        if int(ins.p(key)) != self.type_id:
            raise ValueError(
                f"{ins.name}: the template says weight type {ins.p(key)} but {self.name} is "
                f"{self.qm.ggml_type} ({self.type_id})"
            )


@dataclass
class VWeight:
    name: str
    mant: np.ndarray  # int64 (n,)
    exp: np.ndarray  # int64 (n,)
    raw: np.ndarray  # uint8 (4n or 2n,), little-endian float32 / float16 / bfloat16 bits as in the file
    ggml_type: str = "F32"

    @property
    def shape(self) -> tuple[int]:
        return (self.mant.size,)

    @property
    def type_id(self) -> int:
        return GGML_TYPE_IDS[self.ggml_type]

    @property
    def elem_bytes(self) -> int:
        return 4 if self.ggml_type == "F32" else 2


@dataclass
class TWeight:
    name: str
    data: np.ndarray  # int64, committed as i32

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape


def qweight(name: str, raw: np.ndarray, ggml_type: str, rows: int, cols: int) -> QWeight:
    qm = vec.decode_matrix(raw, ggml_type, rows, cols)
    return QWeight(name, qm, vec.prepare(qm), raw)


_VECTOR_DECODERS = {"F32": ("<u4", vec.fp32_decode), "F16": ("<u2", vec.fp16_decode), "BF16": ("<u2", vec.bf16_decode)}


def vweight(name: str, raw: np.ndarray, ggml_type: str = "F32") -> VWeight:
    """The vector of ``raw`` (the file's bytes) read as ``ggml_type`` (F32, F16 or BF16), decoded exactly."""
    dt, decode = _VECTOR_DECODERS[ggml_type]
    bits = np.frombuffer(np.ascontiguousarray(raw).tobytes(), dtype=dt)
    mant, exp = decode(bits)
    return VWeight(name, np.asarray(mant, np.int64), np.asarray(exp, np.int64), raw, ggml_type)


def release_file_pages(weights: dict) -> int:
    """Drop the resident pages of the model files the weights' raw bytes map (madvise DONTNEED on each read-only
    file map): once the fast forms are prepared (and the weights hashed), the engine reads raw bytes only for a
    row here and there (the embedding, a witness), which fault back in from the page cache. Clean file pages,
    so nothing is lost; ~100 MB less resident for SmolLM2. Returns the number of maps released."""
    maps: dict[int, mmap.mmap] = {}
    for w in weights.values():
        r = getattr(w, "raw", None)
        while isinstance(r, np.ndarray):
            r = r.base
        if isinstance(r, mmap.mmap):
            maps[id(r)] = r
    done = 0
    for m in maps.values():
        try:
            m.madvise(mmap.MADV_DONTNEED)
            done += 1
        except (AttributeError, OSError, ValueError):  # no madvise on this platform, or a closed map: keep it
            pass
    return done
