"""Exact float32 helpers for architecture configs.

Float hyper-parameters (RoPE base, RMSNorm epsilon) are stored in configs as their IEEE-754 float32 bit patterns
(ints), so a config is exact and hashes the same everywhere; the integer engine derives its own integer constants
from these bits. Each architecture's config lives in its module (engine/models/<arch>.py)
and shares ``ConfigJSON``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeGuard, TypeVar

_C = TypeVar("_C", bound="ConfigJSON")


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


class ConfigJSON:
    """Canonical JSON and the token-id checks shared by every architecture's frozen config dataclass (a mixin).

    ``to_json``: sorted keys, no whitespace, ASCII only, so equal configs give equal strings (the model root hashes
    it); ``from_dict`` / ``from_json`` invert it, ValueError on unknown or missing keys (``OPTIONAL`` may be left out)
    or bad values (the dataclass's own ``__post_init__`` checks)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("bos_id", "special_ids", "stop_ids", "architecture")
    vocab_size: int
    eos_id: int
    bos_id: int | None
    special_ids: tuple[int, ...]
    stop_ids: tuple[int, ...]

    def _check_token_ids(self) -> None:
        """eos_id (and bos_id unless None) in [0, vocab_size); special_ids as a tuple; stop_ids default (eos_id,);
        both sorted unique ids in range. Call from ``__post_init__``."""
        object.__setattr__(self, "special_ids", tuple(self.special_ids))
        for f, v in (("eos_id", self.eos_id), ("bos_id", self.bos_id)):
            if v is None and f == "bos_id":
                continue
            if not _is_int(v) or not 0 <= v < self.vocab_size:
                raise ValueError(f"config {f} must be a token id in [0, {self.vocab_size}), got {v!r}")
        object.__setattr__(self, "stop_ids", tuple(self.stop_ids) or (self.eos_id,))
        _check_ids("special_ids", self.special_ids, self.vocab_size)
        _check_ids("stop_ids", self.stop_ids, self.vocab_size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]  # every user is a dataclass
        d["special_ids"], d["stop_ids"] = list(self.special_ids), list(self.stop_ids)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_dict(cls: type[_C], d: Any) -> _C:
        if not isinstance(d, dict):
            raise ValueError(f"config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown, missing = set(d) - names, names - set(cls.OPTIONAL) - set(d)
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        if missing:
            raise ValueError(f"missing config keys {sorted(missing)}")
        d = dict(d)
        for k in ("special_ids", "stop_ids"):
            if k in d:
                if not isinstance(d[k], list):
                    raise ValueError(f"config {k} must be a list, got {d[k]!r}")
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def from_json(cls: type[_C], s: str | bytes) -> _C:
        """Parse ``to_json`` output (any JSON formatting accepted); ValueError on bad input."""
        try:
            d = json.loads(s)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(d)
