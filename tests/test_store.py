"""Models named by content: the store (bundled models + $OBRAIN_MODELS folders, hashes cached by path, size and
mtime), `obrain models`, `obrain inspect`, and `obrain verify` finding a receipt's model from another folder
without ever opening a path the (untrusted) receipt or run directory names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from clikit import obrain

from engine import store
from engine.errors import ModelLoadError
from engine.inspect import inspect_gguf
from engine.models import tiny, tiny_gemma3
from engine.store import resolve_model
from prover.cli import main as cli


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    """The shared cache with every bundled model built and hashed (once: later sessions find them there)."""
    store.entries()
    return store.cache_dir()


@pytest.fixture()
def private_cache(tmp_path, monkeypatch, shared_cache):
    """A private cache ($OBRAIN_CACHE) seeded with a copy of the shared one: the built tiny models and the hash
    index, whose entries for SmolLM2's and Gemma's files (outside the cache, same paths) stay valid, so the
    test's store neither rebuilds a dozen tiny models nor re-hashes 400 MB (seconds per test)."""
    cache = tmp_path / "cache"
    shutil.copytree(shared_cache, cache, ignore=shutil.ignore_patterns("*.tmp"))
    monkeypatch.setenv("OBRAIN_CACHE", str(cache))
    return cache


@pytest.fixture()
def folder(tmp_path, monkeypatch, private_cache):
    """A private store folder and cache: a copy of the tiny model under a name of its own."""
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    shutil.copy(tiny.tiny_path(), models / "sub" / "mine.gguf")
    monkeypatch.setenv("OBRAIN_MODELS", str(models))
    return models


def test_find_by_sha256_and_prefix(folder):
    assert store.looks_like_sha256(tiny.TINY_SHA256) and store.looks_like_sha256("sha256:" + tiny.TINY_SHA256[:8])
    assert not store.looks_like_sha256(tiny.TINY_SHA256[:8]) and not store.looks_like_sha256("tiny")
    # the bundled tiny and the copy have the same hash: either is the model
    assert store.find(tiny.TINY_SHA256).read_bytes() == tiny.tiny_path().read_bytes()
    assert resolve_model("sha256:" + tiny.TINY_SHA256[:12]).config.name == tiny.TINY_NAME
    with pytest.raises(ModelLoadError, match="no model with sha256"):
        store.find("0" * 64)
    with pytest.raises(ModelLoadError, match="not a sha256"):
        store.find("sha256:xyz")


def test_entries_list_bundled_and_folder_models_and_cache_hashes(folder):
    ents = store.entries()
    names = {e.name for e in ents}
    assert {"tiny", "tiny-spm", "tiny-llama3", "tiny-qwen2", "smollm2", "gemma3", "mine.gguf"} <= names
    mine = next(e for e in ents if e.name == "mine.gguf")
    assert mine.sha256 == tiny.TINY_SHA256 and mine.source == str(folder)
    index = json.loads((Path(os.environ["OBRAIN_CACHE"]) / "sha256-index.json").read_text())
    assert index[str((folder / "sub" / "mine.gguf").resolve())]["sha256"] == tiny.TINY_SHA256
    # a changed file (size or mtime) is hashed again, not served from the index
    p = folder / "sub" / "mine.gguf"
    p.write_bytes(p.read_bytes() + b"\0")
    assert next(e for e in store.entries() if e.name == "mine.gguf").sha256 != tiny.TINY_SHA256


def test_several_folders(tmp_path, monkeypatch, private_cache):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(tiny.tiny_path(), b / "t.gguf")
    monkeypatch.setenv("OBRAIN_MODELS", os.pathsep.join([str(a), str(b)]))
    assert store.folders() == [a, b]
    assert any(e.path == str(b / "t.gguf") for e in store.entries(bundled=False))


def test_models_command_lists_the_store(folder, capsys):
    assert cli(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["folders"] == [str(folder)]
    assert any(m["name"] == "mine.gguf" and m["sha256"] == tiny.TINY_SHA256 for m in out["models"])


def test_verify_finds_the_model_of_a_receipt_made_elsewhere(folder, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(folder / "sub" / "mine.gguf", work / "local.gguf")
    rc = tmp_path / "run" / "receipt.json"
    r = obrain("run", "local.gguf", "hi", "--max-new-tokens", "3", "--receipt", str(rc), "-q", cwd=work)
    assert r.returncode == 0, r.stderr
    receipt = json.loads(rc.read_text())
    assert receipt["model"]["id"] == "local.gguf" and receipt["model"]["file_sha256"] == tiny.TINY_SHA256
    (work / "local.gguf").unlink()  # the file it ran with is gone: the store has the same bytes
    other = tmp_path / "elsewhere"
    other.mkdir()
    r = obrain("verify", str(rc), "-q", cwd=other)
    assert r.returncode == 0, r.stderr


def test_a_hostile_receipt_cannot_make_verify_open_a_path(folder, tmp_path):
    env = {"OBRAIN_MODELS": str(tmp_path / "empty")}
    rc = tmp_path / "run" / "receipt.json"
    assert obrain("run", "tiny", "hi", "--max-new-tokens", "2", "--receipt", str(rc), "-q", env=env).returncode == 0
    obj = json.loads(rc.read_text())
    bait = tmp_path / "bait.gguf"
    shutil.copy(tiny.tiny_path(), bait)
    obj["model"]["id"] = str(bait)  # names a real, loadable model file...
    obj["model"]["file_sha256"] = "ab" * 32  # ...that is not the model the receipt's hash names
    rc.write_text(json.dumps(obj))
    r = obrain("verify", str(rc), "-q", env=env)
    assert r.returncode == 2 and "no model with sha256" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert str(bait) in r.stderr  # the id is quoted as information only


@pytest.mark.slow  # reads the real Gemma 3 and SmolLM2 files
def test_inspect_reports_the_real_files(tmp_path):
    g = inspect_gguf(store.bundled_path("gemma3"))
    assert g["blockers"] == [] and g["runnable"]  # gemma3 is an architecture module now (engine/models/gemma3.py)
    kv, tensors = tiny_gemma3.spec()
    kv["general.architecture"] = ("gemma2", *kv["general.architecture"][1:])  # no module for it
    tiny.write_gguf(tmp_path / "g2.gguf", kv, tensors)
    g2 = inspect_gguf(tmp_path / "g2.gguf")
    whats = " | ".join(b["what"] for b in g2["blockers"])
    assert "architecture 'gemma2'" in whats and not g2["runnable"] and all(b["fix"] for b in g2["blockers"])
    assert g["tokenizer"]["model"] == "llama" and g["tokenizer"]["vocab_size"] == 262144
    assert g["tokenizer"]["chat_template"] == {
        "present": False,
        "fallback": "gemma",
        "uses": "gemma",
        "end_of_turn": ["<end_of_turn>"],
    }
    assert g["tensors"]["by_type"]["Q5_0"]["tensors"] == 81 and g["context_length"] == 32768
    s = inspect_gguf(store.bundled_path("smollm2"))
    assert s["runnable"] and s["tokenizer"]["stop_ids"] == [0, 2, 4]
    assert s["tensors"]["by_type"]["Q4_1"] == {"tensors": 210, "bytes": 66355200}


def test_inspect_reports_every_blocker_at_once(tmp_path):
    """A llama file with several problems: all of them, not only the first."""
    import copy

    from gguf import GGUFValueType

    kv, tensors = tiny.tiny_spec()
    kv = copy.deepcopy(kv)
    kv.pop("llama.block_count")
    kv["tokenizer.ggml.pre"] = ("deepseek-coder", GGUFValueType.STRING, None)
    tensors = dict(tensors)
    tensors["output_norm.weight"] = (tensors["output_norm.weight"][0].astype("float16"), "F16")
    p = tmp_path / "bad.gguf"
    tiny.write_gguf(p, kv, tensors)
    rep = inspect_gguf(p)
    whats = " | ".join(b["what"] for b in rep["blockers"])
    assert "llama.block_count" in whats and "deepseek-coder" in whats, whats
    r = obrain("inspect", str(p))
    assert r.returncode == 2 and "blocker" in r.stdout
    r = obrain("inspect", "tiny-spm", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["runnable"] is True
