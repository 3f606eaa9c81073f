"""Native model format: a directory with ``manifest.json`` and ``tensors.bin``.

``tensors.bin`` holds each tensor's bytes exactly as in the source file (same ggml block layout), each
starting at a multiple of 64 bytes, zero padding between. ``manifest.json``::

    {"format": "openbrains-native", "version": 1,
     "config": <the architecture's config>.to_dict(), "tokenizer": TokenizerMeta.to_dict(),
     "tensors": [{"name", "type", "shape" (row-major), "offset", "nbytes", "sha256"}, ...]}

Loading memory-maps ``tensors.bin`` (no copy) and checks every tensor's SHA-256, so a native model is
bit-for-bit the model it was converted from or it does not load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelLoadError

from . import GGML_TYPES, LoadedModel, ModelSource, RawTensor, TokenizerMeta, check_tensors, tensor_nbytes

FORMAT = "openbrains-native"
VERSION = 1
ALIGN = 64
MANIFEST = "manifest.json"
DATA = "tensors.bin"
_TENSOR_KEYS = {"name", "type", "shape", "offset", "nbytes", "sha256"}


def save_native(model: LoadedModel, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``directory`` (created if needed; an existing native model there is
    replaced). Files are written under temporary names and renamed, manifest last, so a reader never
    sees a manifest that does not match the data. Returns the directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    tmp_data = d / (DATA + ".tmp")
    with open(tmp_data, "wb") as f:
        pos = 0
        for name, t in model.tensors.items():
            pad = -pos % ALIGN
            f.write(b"\0" * pad)
            pos += pad
            buf = memoryview(np.ascontiguousarray(t.data))
            f.write(buf)
            entries.append(
                {
                    "name": name,
                    "type": t.ggml_type,
                    "shape": list(t.shape),
                    "offset": pos,
                    "nbytes": t.nbytes,
                    "sha256": hashlib.sha256(buf).hexdigest(),
                }
            )
            pos += t.nbytes
        f.flush()
        os.fsync(f.fileno())
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "tokenizer": model.tokenizer_meta.to_dict(),
        "tensors": entries,
    }
    tmp_manifest = d / (MANIFEST + ".tmp")
    with open(tmp_manifest, "w", encoding="utf-8") as f:
        json.dump(manifest, f, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_data, d / DATA)
    os.replace(tmp_manifest, d / MANIFEST)
    return d


def load_native(directory: str | os.PathLike[str], *, verify: bool = True) -> LoadedModel:
    """Load a native-format directory. Checks the manifest's structure, every tensor's bounds, type,
    shape and byte size, and (``verify``, the default) its SHA-256; ModelLoadError on any mismatch."""
    d = Path(directory)
    where = str(d)
    if not d.is_dir():
        raise ModelLoadError(f"{where}: not a directory")
    try:
        raw = (d / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{where}: not a native model directory (no {MANIFEST})") from None
    except OSError as e:
        raise ModelLoadError(f"{where}/{MANIFEST}: cannot read: {e.strerror or e}") from None
    try:
        m = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{where}/{MANIFEST}: not valid JSON: {e}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ModelLoadError(f"{where}/{MANIFEST}: not an {FORMAT} manifest")
    if m.get("version") != VERSION:
        raise ModelLoadError(
            f"{where}/{MANIFEST}: format version {m.get('version')!r} is not supported "
            f"(this build reads version {VERSION})"
        )
    try:
        from engine.models import get_architecture

        c = m.get("config")
        arch = c.get("architecture", "llama") if isinstance(c, dict) else "llama"  # manifests before plugins: llama
        cfg = get_architecture(arch).config_from_dict(c)
        tok = TokenizerMeta.from_dict(m.get("tokenizer"))
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{where}/{MANIFEST}: {e}") from None
    if (cfg.vocab_size, cfg.eos_id, cfg.bos_id, cfg.special_ids) != (
        len(tok.tokens),
        tok.eos_id,
        tok.bos_id,
        tok.special_ids,
    ):
        raise ModelLoadError(f"{where}/{MANIFEST}: config and tokenizer disagree on the vocabulary")
    cfg = _with_stop_ids(cfg, tok, "stop_ids" in m.get("config", {}), f"{where}/{MANIFEST}")

    data_path = d / DATA
    try:
        size = data_path.stat().st_size
        mm = np.memmap(data_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    except FileNotFoundError:
        raise ModelLoadError(f"{where}: {DATA} is missing") from None
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{data_path}: cannot map: {e}") from None
    data = np.asarray(mm)
    data.flags.writeable = False

    entries = m.get("tensors")
    if not isinstance(entries, list):
        raise ModelLoadError(f"{where}/{MANIFEST}: 'tensors' must be a list")
    tensors: dict[str, RawTensor] = {}
    end = 0
    for i, e in enumerate(entries):
        t = _tensor(e, i, data, size, end, f"{where}/{MANIFEST}")
        if t.name in tensors:
            raise ModelLoadError(f"{where}/{MANIFEST}: duplicate tensor {t.name}")
        if verify and hashlib.sha256(memoryview(t.data)).hexdigest() != e["sha256"]:
            raise ModelLoadError(
                f"{data_path}: tensor {t.name} does not match its SHA-256 in the manifest (file corrupt or modified)"
            )
        tensors[t.name] = t
        end = e["offset"] + e["nbytes"]
    check_tensors(cfg, tensors, where)
    return LoadedModel(cfg, tensors, tok, ModelSource("native", d), _keepalive=mm)


def _with_stop_ids(cfg: Any, tok: TokenizerMeta, stored: bool, where: str) -> Any:
    """``cfg`` with the tokenizer's stop set: derived for manifests written before stop sets, else checked."""
    from engine.tokenizer import stop_ids

    want = stop_ids(tok, cfg.architecture)
    if not stored:
        return dataclasses.replace(cfg, stop_ids=want)
    if cfg.stop_ids != want:
        raise ModelLoadError(f"{where}: the config's stop_ids are not the tokenizer's stop set")
    return cfg


def _tensor(e: Any, i: int, data: np.ndarray, size: int, prev_end: int, where: str) -> RawTensor:
    if not isinstance(e, dict) or set(e) != _TENSOR_KEYS:
        raise ModelLoadError(f"{where}: tensor entry #{i} must have exactly the keys {sorted(_TENSOR_KEYS)}")
    name, typ, shape, off, nb, sha = (e[k] for k in ("name", "type", "shape", "offset", "nbytes", "sha256"))
    if not isinstance(name, str) or typ not in GGML_TYPES:
        raise ModelLoadError(f"{where}: tensor entry #{i} has a bad name or unsupported type {typ!r}")
    if not isinstance(shape, list) or not shape or not all(_pos_int(s) for s in shape):
        raise ModelLoadError(f"{where}: tensor {name} has a bad shape {shape!r}")
    if not (_int(off) and _int(nb)) or off < prev_end or off % ALIGN:
        raise ModelLoadError(
            f"{where}: tensor {name} has a bad offset {off!r} (must be {ALIGN}-aligned, increasing and not overlapping)"
        )
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelLoadError(f"{where}: tensor {name} has a malformed sha256")
    shape = tuple(shape)
    try:
        want = tensor_nbytes(typ, shape)
    except ValueError as err:
        raise ModelLoadError(f"{where}: tensor {name}: {err}") from None
    if nb != want:
        raise ModelLoadError(f"{where}: tensor {name} has nbytes {nb}, but {typ} {shape} takes {want}")
    if off + nb > size:
        raise ModelLoadError(
            f"{where}: {DATA} is truncated: tensor {name} needs bytes [{off}, {off + nb}) but the file has {size}"
        )
    return RawTensor(name, typ, shape, data[off : off + nb])


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pos_int(v: Any) -> bool:
    return _int(v) and v > 0
