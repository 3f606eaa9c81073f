"""``obrain inspect FILE``: what a GGUF file holds and every reason it cannot run here, all at once.

``inspect_gguf(path)`` reads only the header (metadata and tensor infos; no tensor data) and returns a JSON-able
report: architecture, context, tensor types with counts and bytes, the tokenizer (model, pre-tokenizer,
vocabulary size, special ids, stop set), the chat template (the file's or the architecture's fallback) and
``blockers``: each {"what", "fix"} -- an unsupported architecture, tensor type, norm type, tokenizer or
missing metadata key, with what it would take to support it. No blockers means ``obrain run FILE`` loads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.errors import FIX_TYPE, ModelLoadError


def _type_name(type_id: int) -> str:
    try:
        from gguf import GGMLQuantizationType

        return GGMLQuantizationType(type_id).name
    except (ImportError, ValueError):
        return f"#{type_id}"


def _tensor_report(infos, supported: dict) -> tuple[dict[str, dict[str, int]], list[tuple[str, list[int], str]]]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    by_type: dict[str, dict[str, int]] = {}
    shapes = []
    for name, dims, type_id, _ in infos:
        t = _type_name(type_id)
        n = 1
        for d in dims:
            n *= d
        try:
            blk, bb = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
            nbytes = n // blk * bb
        except (ValueError, KeyError):
            nbytes = 0
        e = by_type.setdefault(t, {"tensors": 0, "bytes": 0, "supported": int(t in supported)})
        e["tensors"] += 1
        e["bytes"] += nbytes
        shapes.append((name, list(reversed(dims)), t))
    return by_type, shapes


def _tokenizer_report(meta, get, arch: str, blockers: list[dict[str, str]]) -> tuple[dict, Any]:
    from engine.chat import end_of_turn_ids, fallback, template_source
    from engine.tokenizer import Tokenizer

    from .loaders.vocab import tokenizer_meta_from_gguf

    rep: dict[str, Any] = {
        "model": meta.get("tokenizer.ggml.model"),
        "pre": meta.get("tokenizer.ggml.pre"),
        "vocab_size": len(meta.get("tokenizer.ggml.tokens", []) or []),
    }
    try:
        tm = tokenizer_meta_from_gguf(meta, get)
    except (ValueError, ModelLoadError) as e:
        blockers.append({"what": f"tokenizer: {e}", "fix": "a tokenizer for this vocabulary in engine/tokenizer.py"})
        return rep, None
    tok = Tokenizer(tm)
    tok.architecture = arch
    rep.update(
        bos_id=tm.bos_id,
        eos_id=tm.eos_id,
        unk_id=tm.unk_id,
        pad_id=tm.pad_id,
        add_bos=tm.add_bos,
        add_space_prefix=tm.add_space_prefix,
        control_tokens=len(tok.special_ids),
        eog_ids=list(tok.eog_ids),
    )
    chat: dict[str, Any] = {"present": bool(tm.chat_template), "fallback": fallback(arch)}
    try:
        name, src = template_source(tok)
        chat["uses"] = name
        eot = end_of_turn_ids(tok, src)
        chat["end_of_turn"] = [tm.tokens[i] for i in eot]
        rep["stop_ids"] = sorted({*tok.eog_ids, *eot})
    except Exception as e:  # a template that does not compile is reported, not raised
        chat["error"] = str(e)
        blockers.append({"what": f"chat template: {e}", "fix": "a template that compiles (or --template NAME)"})
        rep["stop_ids"] = list(tok.eog_ids)
    rep["chat_template"] = chat
    return rep, tm


def inspect_gguf(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The report described in the module docstring. ModelLoadError if the file is not a readable GGUF file."""
    from .loaders import GGML_TYPES
    from .loaders.gguf import _getter, read_gguf_infos
    from .runtime import architectures

    p = Path(path)
    h = read_gguf_infos(p)
    meta, where = h.meta, str(p)
    get = _getter(meta, where)
    blockers: list[dict[str, str]] = []
    arch = meta.get("general.architecture")
    archs = architectures()
    if not isinstance(arch, str):
        blockers.append({"what": "no general.architecture key", "fix": "re-convert the model with llama.cpp"})
        arch = "?"
    elif arch not in archs:
        blockers.append(
            {
                "what": f"architecture {arch!r} is not supported (supported: {', '.join(sorted(archs))})",
                "fix": f"an engine/models/{arch}.py module (ARCHITECTURE, metadata keys, tensor set, program template)",
            }
        )
    by_type, shapes = _tensor_report(h.infos, GGML_TYPES)
    for t, e in sorted(by_type.items()):
        if not e["supported"]:
            blockers.append({"what": f"tensor type {t} ({e['tensors']} tensors) is not supported", "fix": FIX_TYPE})
    tok_rep, tm = _tokenizer_report(meta, get, arch, blockers)
    mod = archs.get(arch)
    if mod is not None and hasattr(mod, "inspect_blockers"):
        mod.inspect_blockers(meta, get, shapes, len(tm.tokens) if tm else None, blockers)
    if not blockers and mod is not None:
        from .loaders import load_gguf

        try:
            load_gguf(p)
        except ModelLoadError as e:
            blockers.append({"what": str(e).removeprefix(where + ": "), "fix": "see the message"})
    return {
        "file": where,
        "bytes": p.stat().st_size,
        "architecture": arch,
        "name": meta.get("general.name"),
        "context_length": meta.get(f"{arch}.context_length"),
        "blocks": meta.get(f"{arch}.block_count"),
        "embedding_length": meta.get(f"{arch}.embedding_length"),
        "tensors": {
            "count": len(h.infos),
            "bytes": sum(e["bytes"] for e in by_type.values()),
            "by_type": {t: {k: v for k, v in e.items() if k != "supported"} for t, e in sorted(by_type.items())},
        },
        "tokenizer": tok_rep,
        "blockers": blockers,
        "runnable": not blockers,
    }


def format_report(rep: dict[str, Any]) -> list[str]:
    """The report as text lines (what ``obrain inspect`` prints without --json)."""
    t, tok = rep["tensors"], rep["tokenizer"]
    lines = [
        f"{rep['file']} ({rep['bytes']:,} bytes)",
        f"  architecture  {rep['architecture']}  ({rep['name']}); {rep['blocks']} blocks, embedding "
        f"{rep['embedding_length']}, context {rep['context_length']}",
        f"  tensors       {t['count']} ({t['bytes']:,} bytes): "
        + ", ".join(f"{k} {v['tensors']} ({v['bytes']:,} B)" for k, v in t["by_type"].items()),
        f"  tokenizer     {tok.get('model')} / {tok.get('pre')}, {tok.get('vocab_size')} tokens; bos "
        f"{tok.get('bos_id')}, eos {tok.get('eos_id')}, add_bos {tok.get('add_bos')}; stop ids {tok.get('stop_ids')}",
    ]
    chat = tok.get("chat_template")
    if chat:
        own = "the file's own" if chat["present"] else f"none in the file: fallback {chat['fallback']!r}"
        lines.append(f"  chat template {own}; uses {chat.get('uses')!r}, end of turn {chat.get('end_of_turn')}")
    if rep["blockers"]:
        lines.append(f"  {len(rep['blockers'])} blocker(s):")
        lines += [f"    - {b['what']}\n      needs: {b['fix']}" for b in rep["blockers"]]
    else:
        lines.append("  runnable: no blockers")
    return lines
