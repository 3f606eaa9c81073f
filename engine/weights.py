"""Model weights as the engine uses them: the file's own numbers, decoded exactly.

* ``QWeight``: a block-quantized (or F16/F32) matrix: its ``QuantMatrix`` (exact q and dyadic scales,
  plus the raw bytes that get committed) and the prepared fast form for ``fixedpoint.vec.qlinear``;
* ``VWeight``: an F32 vector (norm gains) as exact (mantissa, exponent) int64 pairs, plus raw bytes;
* ``TWeight``: an integer table derived from the model by integer algorithms (the RoPE cos/sin table),
  committed like any weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fixedpoint import vec

GGML_TYPE_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8}


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
        """The GGML type id (F32 0, F16 1, Q4_0 2, Q4_1 3, Q8_0 8): what a verifier decodes the raw bytes as."""
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
    raw: np.ndarray  # uint8 (4n,), little-endian float32 bits as in the file

    @property
    def shape(self) -> tuple[int]:
        return (self.mant.size,)


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


def vweight(name: str, raw: np.ndarray) -> VWeight:
    bits = np.frombuffer(np.ascontiguousarray(raw).tobytes(), dtype="<u4")
    mant, exp = vec.fp32_decode(bits)
    return VWeight(name, np.asarray(mant, np.int64), np.asarray(exp, np.int64), raw)
