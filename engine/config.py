"""Exact float32 helpers for architecture configs.

Float hyper-parameters (RoPE base, RMSNorm epsilon) are stored in configs as their IEEE-754 float32 bit patterns
(ints), so a config is exact and hashes the same everywhere; the integer engine derives its own integer constants
from these bits. Each architecture's config lives in its module (engine/models/<arch>.py); ``LlamaConfig`` is
still importable from here.
"""

from __future__ import annotations

import struct
from typing import Any, TypeGuard


def f32_bits(x: float) -> int:
    """The float32 bit pattern (uint32 as int) of ``x`` rounded to float32 (round-to-nearest-even)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(bits: int) -> float:
    """The float32 value with bit pattern ``bits`` (0 <= bits < 2^32), as a Python float (exact)."""
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _check_ids(name: str, ids: tuple[int, ...], n: int) -> None:
    if any(not _is_int(i) or not 0 <= i < n for i in ids) or list(ids) != sorted(set(ids)):
        raise ValueError(f"config {name} must be sorted unique token ids, got {ids!r}")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def __getattr__(name: str) -> Any:
    if name == "LlamaConfig":  # moved to its architecture module; kept importable from here
        from engine.models.llama import LlamaConfig

        return LlamaConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
