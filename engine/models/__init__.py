"""Architectures as plugins, and the bundled models (``tiny`` built in code from a fixed seed, ``smollm2`` and
``gemma3`` from their packages; load by name with ``engine.loaders.resolve_model``).

An architecture is one module (in this package, or registered by an ``openbrains.models`` entry point, or named in
``OBRAIN_MODEL_PLUGINS`` while developing) that owns everything about it and defines:

* ``ARCHITECTURE``                       its GGUF ``general.architecture`` string;
* ``config_from_gguf(meta, get, tok, tensors, where, name)``  its config from the file's metadata keys (``get`` is
                                         the loader's checked getter; ModelLoadError / ValueError on what it cannot
                                         run);
* ``config_from_dict(d)``               its config from the native format's stored ``config.to_dict()``;
* ``expected_tensor_shapes(cfg)``        its tensor set: name -> row-major shape, in canonical order;
* ``build_program(cfg, context, wtypes)`` and ``build_weights(loaded, program, progress)``: its integer template
                                         from the registered ops, and every weight it references;
* optional ``CHAT_FALLBACK`` (the chat template name for files without one) and ``inspect_blockers(...)``.

Its config object carries ``architecture``, ``name``, ``vocab_size``, ``context_length``, ``eos_id``, ``bos_id``,
``special_ids``, ``stop_ids``, ``n_layers`` and ``to_dict()``. The loader, the engine core and the prover only go
through ``get_architecture``: a new architecture is one module plus its new ops (docs/adding.md).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType

__all__ = ["architectures", "get_architecture", "tiny"]

_FOUND: dict[str, ModuleType] | None = None


def architectures() -> dict[str, ModuleType]:
    """Every registered architecture module by its ``ARCHITECTURE`` string (package modules, then
    ``OBRAIN_MODEL_PLUGINS`` modules, then ``openbrains.models`` entry points), found once."""
    global _FOUND
    if _FOUND is not None:
        return dict(_FOUND)
    found: dict[str, ModuleType] = {}
    mods = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    mods += [importlib.import_module(n) for n in filter(None, map(str.strip, _env_plugins()))]
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="openbrains.models"):
            obj = ep.load()
            mods.append(obj if isinstance(obj, ModuleType) else importlib.import_module(obj.__module__))
    except Exception as e:  # pragma: no cover - a broken third-party plugin must not be silent
        raise RuntimeError(f"failed to load model plugins: {e}") from e
    for mod in mods:
        arch = getattr(mod, "ARCHITECTURE", None)
        if not arch:
            continue
        if arch in found and found[arch] is not mod:
            raise RuntimeError(f"architecture {arch!r} registered twice ({found[arch].__name__}, {mod.__name__})")
        found[arch] = mod
    _FOUND = found
    return dict(found)


def _env_plugins() -> list[str]:
    return os.environ.get("OBRAIN_MODEL_PLUGINS", "").split(",")


def get_architecture(arch: str) -> ModuleType:
    """The module of architecture ``arch``; ModelLoadError naming the supported ones if there is none."""
    from engine.errors import ModelLoadError

    mods = architectures()
    if arch not in mods:
        raise ModelLoadError(f"unsupported architecture {arch!r} (supported: {', '.join(sorted(mods))})")
    return mods[arch]
