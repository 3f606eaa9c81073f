"""LlamaConfig: the hyper-parameters of a llama-architecture model, exact and canonically serialisable.

Float hyper-parameters (RoPE base, RMSNorm epsilon) are stored as their IEEE-754 float32 bit patterns
(ints), so a config is exact and hashes the same everywhere; the integer engine derives its own integer
constants from these bits. The float properties exist for the float reference only.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeGuard


def f32_bits(x: float) -> int:
    """The float32 bit pattern (uint32 as int) of ``x`` rounded to float32 (round-to-nearest-even)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(bits: int) -> float:
    """The float32 value with bit pattern ``bits`` (0 <= bits < 2^32), as a Python float (exact)."""
    return struct.unpack("<f", struct.pack("<I", bits))[0]


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters of a llama-architecture decoder (RMSNorm, RoPE on adjacent pairs, GQA, SiLU-gated FFN).

    Shapes (row-major, rows = outputs): attn_q (n_heads*head_dim, dim), attn_k / attn_v
    (n_kv_heads*head_dim, dim), attn_output (dim, n_heads*head_dim), ffn_gate / ffn_up (ffn_dim, dim),
    ffn_down (dim, ffn_dim), token_embd (vocab_size, dim); output head = token_embd if ``tied_output``.
    Query head h reads KV head h // (n_heads // n_kv_heads).

    ``special_ids`` are the ids of control tokens (never produced by BPE; registered as special tokens).
    ``stop_ids`` is the model's stop set, sorted: generation ends at the first of these tokens (llama.cpp's
    end-of-generation ids plus the chat template's end-of-turn token, engine.loaders.gguf.stop_ids); () means
    (eos_id,). Raises ValueError on inconsistent values.
    """

    name: str
    n_layers: int
    dim: int
    ffn_dim: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    rope_base_bits: int
    rms_eps_bits: int
    tied_output: bool
    eos_id: int
    bos_id: int | None = None
    special_ids: tuple[int, ...] = ()
    architecture: str = "llama"
    stop_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"config name must be a string, got {self.name!r}")
        if self.architecture != "llama":
            raise ValueError(f"unsupported architecture {self.architecture!r} (only 'llama')")
        for f in ("n_layers", "dim", "ffn_dim", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "context_length"):
            v = getattr(self, f)
            if not _is_int(v) or v < 1:
                raise ValueError(f"config {f} must be a positive integer, got {v!r}")
        for f in ("rope_base_bits", "rms_eps_bits"):
            v = getattr(self, f)
            if not _is_int(v) or not 0 <= v < 1 << 32:
                raise ValueError(f"config {f} must be a float32 bit pattern in [0, 2^32), got {v!r}")
        if not isinstance(self.tied_output, bool):
            raise ValueError(f"config tied_output must be a bool, got {self.tied_output!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if not self.rope_base > 1.0 or self.rope_base == float("inf"):
            raise ValueError(f"RoPE base must be a finite float > 1, got {self.rope_base!r}")
        if not 0.0 < self.rms_eps < float("inf"):
            raise ValueError(f"RMSNorm epsilon must be a finite float > 0, got {self.rms_eps!r}")
        object.__setattr__(self, "special_ids", tuple(self.special_ids))
        for f, v in (("eos_id", self.eos_id), ("bos_id", self.bos_id)):
            if v is None and f == "bos_id":
                continue
            if not _is_int(v) or not 0 <= v < self.vocab_size:
                raise ValueError(f"config {f} must be a token id in [0, {self.vocab_size}), got {v!r}")
        object.__setattr__(self, "stop_ids", tuple(self.stop_ids) or (self.eos_id,))
        _check_ids("special_ids", self.special_ids, self.vocab_size)
        _check_ids("stop_ids", self.stop_ids, self.vocab_size)

    # derived sizes
    @property
    def q_dim(self) -> int:
        """n_heads * head_dim: the width of the concatenated query heads."""
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """n_kv_heads * head_dim: the width of one position's keys (and of its values)."""
        return self.n_kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    # float views: for the float reference only, never on a committed path
    @property
    def rope_base(self) -> float:
        return f32_from_bits(self.rope_base_bits)

    @property
    def rms_eps(self) -> float:
        return f32_from_bits(self.rms_eps_bits)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["special_ids"] = list(self.special_ids)
        d["stop_ids"] = list(self.stop_ids)
        return d

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, ASCII only; equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_dict(cls, d: Any) -> LlamaConfig:
        """Inverse of ``to_dict``; ValueError on missing or unknown keys or bad values."""
        if not isinstance(d, dict):
            raise ValueError(f"config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in ("bos_id", "special_ids", "architecture", "stop_ids")}
        unknown, missing = set(d) - names, required - set(d)
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
    def from_json(cls, s: str | bytes) -> LlamaConfig:
        """Parse ``to_json`` output (any JSON formatting accepted); ValueError on bad input."""
        try:
            d = json.loads(s)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(d)


def _check_ids(name: str, ids: tuple[int, ...], n: int) -> None:
    if any(not _is_int(i) or not 0 <= i < n for i in ids) or list(ids) != sorted(set(ids)):
        raise ValueError(f"config {name} must be sorted unique token ids, got {ids!r}")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)
