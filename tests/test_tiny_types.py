"""The tiny models of every GGUF block type (engine/models/tiny_types.py): pinned files of the right types, the
integer engine against the float reference (greedy tokens, teacher-forced top-1 and logits), every step's element
spec == its vectorized run, and `obrain run` + `obrain verify` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.generate import GenSettings
from engine.loaders import GGML_TYPES, load_gguf
from engine.models import tiny_types
from engine.ops import Ctx
from engine.reference import FloatLlama
from engine.runtime import IntegerLM
from prover.cli import main as cli

NAMES = list(tiny_types.TYPED_NAMES)
TOKENS = [1, 120, 118, 264, 13, 90, 107, 267, 35, 271, 261, 294, 288, 286, 291, 35, 73, 117, 277, 102]
RUN = np.array([0, 32, 0, 1], np.int64)  # greedy
_LMS: dict[str, IntegerLM] = {}


def lm_of(name: str) -> IntegerLM:
    if name not in _LMS:
        _LMS[name] = IntegerLM.load(name)
    return _LMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_typed_file_is_pinned_and_of_its_type(name, tmp_path):
    gtype = tiny_types.TYPED_NAMES[name]
    fresh = load_gguf(tiny_types.build_typed_gguf(gtype, tmp_path / "t.gguf"))
    assert tiny_types._sha256(tmp_path / "t.gguf") == tiny_types.TYPED_SHA256[gtype]
    norm = gtype if gtype in ("F16", "BF16") else "F32"
    for t in fresh.tensors.values():
        assert t.ggml_type == (gtype if len(t.shape) == 2 else norm), t.name
    lm = lm_of(name)
    ops = {i.op for i in lm.program.instrs}
    assert ("rmsnorm_typed" in ops) == (norm != "F32") and ("rmsnorm" in ops) == (norm == "F32")
    tid = GGML_TYPES[gtype][0]
    assert {i.p("wtype") for i in lm.program.instrs if i.op in ("linear", "embed", "linear_rope", "linear_add")} == {
        tid
    }


@pytest.mark.parametrize("name", NAMES)
def test_integer_engine_matches_the_float_reference(name):
    """Teacher-forced: the same top-1 at every position and integer logits within 0.2% (of the largest) of the
    float32 reference's; free-running: the same 8 greedy tokens."""
    lm = lm_of(name)
    ref = FloatLlama(lm.loaded)
    ex = lm.executor()
    for pos, tok in enumerate(TOKENS):
        got = np.asarray(ex.step_token(tok, RUN)["logits"]).astype(np.float64) / 2**16
        want = ref.forward(tok, pos).astype(np.float64)
        assert int(np.argmax(got)) == int(np.argmax(want)), (name, pos)
        assert np.abs(got - want).max() < 2e-3 * np.abs(want).max(), (name, pos)
    ids = lm.tokenizer.encode("the capital of")
    res = lm.generate(ids, GenSettings(max_new_tokens=8))
    assert res.tokens == ref.generate(ids, 8, stop_ids=[lm.config.eos_id])


class Capture:
    transform = None

    def __init__(self):
        self.steps = []

    def on_step(self, step, token, index, ins, args, out):
        self.steps.append((token, ins, list(args), out))


@pytest.mark.parametrize("name", NAMES)
def test_every_step_element_equals_its_run(name):
    """op.element (fixedpoint.ref: the one-step spec) == op.run (fixedpoint.vec) on sampled elements of every
    step of two positions: the exact import of every type agrees across the twins inside the ops too."""
    lm = lm_of(name)
    cap = Capture()
    lm.generate([5, 17], GenSettings(max_new_tokens=1), observer=cap)
    rng = np.random.default_rng(4)
    from engine import ops
    from engine.values import Rows

    for token, ins, args, out in cap.steps:
        flat = out.to_array().reshape(-1) if isinstance(out, Rows) else np.asarray(out).reshape(-1)
        js = sorted({0, flat.size - 1} | set(rng.integers(0, flat.size, 6).tolist()))
        for j in js:
            assert ops.get(ins.op).element(ins, args, Ctx(lm.program, token), j) == flat[j], (ins.name, token, j)


@pytest.mark.parametrize("name", NAMES)
def test_obrain_run_and_verify(name, tmp_path, capsys):
    receipt = tmp_path / "run" / "receipt.json"
    assert cli(["run", name, "hello", "--max-new-tokens", "8", "--receipt", str(receipt), "-q"]) == 0
    rc = json.loads(receipt.read_text())
    assert rc["model"]["id"] == name and len(rc["output"]["tokens"]) == 8
    assert cli(["verify", str(receipt), "-q"]) == 0
    rc["output"]["tokens"][3] = (rc["output"]["tokens"][3] + 1) % 300
    bad = tmp_path / "run" / "edited.json"
    bad.write_text(json.dumps(rc))
    assert cli(["verify", str(bad), "-q"]) == 1
