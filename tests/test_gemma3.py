"""The gemma3 architecture module: found as a plugin, loaded from GGUF and native files, golden trace roots for
tiny-gemma3 and (slow) Gemma 3 270M answering the France question with Paris in pure integers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ModelLoadError
from engine.generate import GenSettings
from engine.loaders import load_native, save_native
from engine.models import architectures, gemma3, get_architecture, llama
from engine.runtime import IntegerLM, output_text
from engine.store import resolve_model
from prover.commit.model import hex32, model_commitment
from prover.runner import traced_generate

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "data" / "golden_roots.json").read_text())
QA = "Question: What is the capital of France?\nAnswer:"


def test_architectures_are_modules():
    found = architectures()
    assert found["llama"] is llama and found["gemma3"] is gemma3
    with pytest.raises(ModelLoadError, match="unsupported architecture 'gpt2'"):
        get_architecture("gpt2")
    for mod in found.values():  # the interface every architecture module owns
        for f in ("config_from_gguf", "config_from_dict", "expected_tensor_shapes", "build_program", "build_weights"):
            assert callable(getattr(mod, f)), (mod.__name__, f)


def test_a_plugin_architecture_from_outside_the_package(tmp_path):
    """OBRAIN_MODEL_PLUGINS brings an architecture module the package does not have (an entry point works alike):
    here "gemma3x", a file whose keys are ``gemma3x.*``, read by the plugin's own config_from_gguf into gemma3's
    config and template, which then loads and runs."""
    plug = tmp_path / "gemma3x_arch.py"
    plug.write_text(
        "from engine.models import gemma3 as g\n"
        "from engine.models.gemma3 import build_program, build_weights, expected_tensor_shapes, config_from_dict\n"
        "ARCHITECTURE = 'gemma3x'\n"
        "def config_from_gguf(meta, get, tok, tensors, where, name):\n"
        "    m = {k.replace('gemma3x.', 'gemma3.'): v for k, v in meta.items()}\n"
        "    from engine.loaders.gguf import _getter\n"
        "    import sys; print('gemma3x_arch.config_from_gguf', file=sys.stderr)\n"
        "    return g.config_from_gguf(m, _getter(m, where), tok, tensors, where, name)\n"
    )
    code = (
        "from engine.models import tiny, tiny_gemma3\n"
        "from engine.runtime import IntegerLM\n"
        "from engine.generate import GenSettings\n"
        "kv, t = tiny_gemma3.spec()\n"
        "kv = {k.replace('gemma3.', 'gemma3x.'): v for k, v in kv.items()}\n"
        "kv['general.architecture'] = ('gemma3x',) + kv['general.architecture'][1:]\n"
        f"tiny.write_gguf({str(tmp_path / 'x.gguf')!r}, kv, t)\n"
        f"lm = IntegerLM.load({str(tmp_path / 'x.gguf')!r})\n"
        "print(lm.generate([1, 365, 359], GenSettings(max_new_tokens=2)).tokens)\n"
    )
    env = {**os.environ, "OBRAIN_MODEL_PLUGINS": "gemma3x_arch", "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lm = IntegerLM.load("tiny-gemma3")
    want = lm.generate([1, 365, 359], GenSettings(max_new_tokens=2)).tokens
    assert "gemma3x_arch.config_from_gguf" in out.stderr  # the loader asked the plugin, not a branch of its own
    assert out.stdout.strip() == str(want)


def test_tiny_gemma3_loads_as_gemma3_and_round_trips_native(tmp_path):
    m = resolve_model("tiny-gemma3")
    assert m.config.architecture == "gemma3" and m.config.sliding_window == 4 and m.config.n_layers == 6
    assert m.tokenizer_meta.add_bos and m.config.stop_ids == (2,)
    save_native(m, tmp_path / "n")
    n = load_native(tmp_path / "n")
    assert n.config == m.config
    a, b = IntegerLM(m), IntegerLM(n)
    assert a.program.digest() == b.program.digest()
    assert a.encode_prompt("hi there") == [1, *a.tokenizer.encode("hi there")]  # add_bos: BOS on plain prompts


def test_gemma3_loader_refuses_what_the_template_does_not_run(tmp_path):
    from gguf import GGUFValueType as T

    from engine.loaders import load_gguf
    from engine.models import tiny, tiny_gemma3

    for key, val, vtype, msg in (
        ("gemma3.final_logit_softcapping", 30.0, T.FLOAT32, "softcap"),
        ("gemma3.attention.value_length", 64, T.UINT32, "value length"),
    ):
        kv, t = tiny_gemma3.spec()
        kv[key] = (val, vtype, None)
        tiny.write_gguf(tmp_path / "b.gguf", kv, t)
        with pytest.raises(ModelLoadError, match=msg):
            load_gguf(tmp_path / "b.gguf")
    kv, t = tiny_gemma3.spec()
    del t["blk.3.post_ffw_norm.weight"]
    tiny.write_gguf(tmp_path / "c.gguf", kv, t)
    with pytest.raises(ModelLoadError, match="missing tensor blk.3.post_ffw_norm.weight"):
        load_gguf(tmp_path / "c.gguf")


def _golden(name: str, lm, ids):
    g = GOLDEN[name]
    assert ids == g["prompt_ids"]
    run = traced_generate(lm, ids, GenSettings(max_new_tokens=g["max_new_tokens"]))
    assert run.result.tokens == g["tokens"]
    assert hex32(run.tracer.root()) == g["trace_root"], (
        f"the {name} trace root changed: a numerics change must be deliberate (bump NUMERICS_VERSION and "
        "regenerate tests/data/golden_roots.json with scripts/golden_roots.py)"
    )
    assert run.tracer.step_count == g["step_count"]
    assert hex32(model_commitment(lm).model_root) == g["model_root"]
    return run


def test_golden_root_tiny_gemma3():
    lm = IntegerLM.load("tiny-gemma3")
    _golden("tiny-gemma3", lm, GOLDEN["tiny-gemma3"]["prompt_ids"])


@pytest.mark.slow
def test_gemma3_answers_paris_in_integers_with_its_golden_root():
    """The base Gemma 3 270M, in the plain question/answer form (its turn format repeats the question, in llama.cpp
    too): ' Paris' then the next question, the tokens llama.cpp gives (tests/vectors/gemma3_llamacpp.json)."""
    lm = IntegerLM.load("gemma3")
    ids = lm.encode_prompt(QA)
    oracle = json.loads((ROOT / "tests" / "vectors" / "gemma3_llamacpp.json").read_text())
    case = next(c for c in oracle["cases"] if c["template"] == "qa" and c["prompt"] == "What is the capital of France?")
    assert ids == case["ids"]
    run = _golden("gemma3", lm, ids)
    assert run.result.tokens == case["tokens"][: len(run.result.tokens)]
    assert output_text(lm, run.result.tokens).startswith(" Paris\n")


def test_an_openbrains_models_entry_point_registers_an_architecture(tmp_path, monkeypatch):
    """An installed package's ``openbrains.models`` entry point (faked here: importlib.metadata's lookup) names
    the module; architectures() registers it beside the package's own."""
    import importlib.metadata as md

    import engine.models as models

    (tmp_path / "toy_arch_ep.py").write_text("from engine.models.gemma3 import *  # noqa\nARCHITECTURE = 'toy-ep'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = md.EntryPoint(name="toy", value="toy_arch_ep", group="openbrains.models")
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda **kw: [ep] if kw.get("group") == "openbrains.models" else real(**kw))
    monkeypatch.setattr(models, "_FOUND", None)
    found = models.architectures()
    assert found["toy-ep"].__name__ == "toy_arch_ep" and found["gemma3"] is gemma3 and found["llama"] is llama
    monkeypatch.setattr(models, "_FOUND", None)  # the next caller finds the package's own again


def _blocks_equal_token_by_token(lm, ids, gs, cuts):
    """Batched blocks (the new ops' run_many) commit exactly the token-by-token steps (their run)."""
    import numpy as np

    from prover.commit.trace import Tracer
    from prover.runner import replay_claim

    seq = ids
    run = gs.run_tensor()
    one = Tracer(lm.program, model_commitment(lm), run)
    ex = lm.executor(one)
    for t in seq:
        ex.step_token(t, run)
    blk = Tracer(lm.program, model_commitment(lm), run)
    ex, a = lm.executor(blk), 0
    for b in [*cuts, len(seq)]:
        if a < b:
            ex.run_block(seq[a:b], run, every=lm.program.output)
            a = b
    assert blk.records == one.records and blk.root() == one.root()
    traced = traced_generate(lm, ids[:5], gs)
    rp = replay_claim(lm, ids[:5], run, traced.result.tokens, block=3)
    assert rp.trace_root == traced.tracer.root() and rp.samples == traced.result.tokens
    assert np.asarray(traced.result.tokens).size == gs.max_new_tokens


def test_tiny_gemma3_blocks_commit_the_token_by_token_steps():
    lm = IntegerLM.load("tiny-gemma3")  # 9 positions: past the window of 4, blocks across it
    _blocks_equal_token_by_token(lm, [1, 365, 359, 275, 278, 272, 264, 324, 347], GenSettings(max_new_tokens=3), [3, 7])


def test_a_plain_prompt_receipt_with_bos_verifies(tmp_path):
    """A plain prompt of a vocabulary that adds BOS (tiny-gemma3, as Gemma) runs with BOS first and its receipt's
    replay encodes the text the same way: verify passes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rc = tmp_path / "r" / "receipt.json"
    cli = [sys.executable, "-m", "prover.cli"]
    run = subprocess.run([*cli, "run", "tiny-gemma3", "hello", "-n", "3", "--receipt", str(rc), "-q"], env=env,
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(rc.read_text())["input"]["prompt_tokens"][0] == 1  # BOS
    ver = subprocess.run([*cli, "verify", str(rc), "-q"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert ver.returncode == 0, ver.stdout + ver.stderr
