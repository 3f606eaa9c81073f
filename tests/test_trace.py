"""Traces, commitments and receipts on the tiny model: honest receipts verify, every kind of tampering is
rejected with the right exit code, and a single flipped element is localized to its step and leaf."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.generate import GenSettings
from engine.values import Rows
from engine.runtime import IntegerLM
from prover.cli import main as cli
from prover.commit.model import model_commitment
from prover.commit import merkle
from prover.commit.model import KVTree, commit_value, hex32
from prover.commit.trace import Corruption
from prover.receipt import Receipt
from prover.runner import Replayer, make_receipt, traced_generate, verify, write_run_dir

PROMPT = [5, 17, 99, 120]
SETTINGS = GenSettings(max_new_tokens=3)
GOLDEN = Path(__file__).parent / "data" / "golden_roots.json"


@pytest.fixture(scope="module")
def honest(lm):
    return traced_generate(lm, PROMPT, SETTINGS)


@pytest.fixture()
def run_dir(lm, honest, tmp_path):
    r = make_receipt(lm, "tiny", None, False, PROMPT, honest)
    write_run_dir(tmp_path, r, honest)
    return tmp_path


def test_step_count_and_determinism(lm, honest):
    S = lm.program.steps_per_token
    assert honest.tracer.step_count == S * honest.result.positions
    again = traced_generate(lm, PROMPT, SETTINGS)
    assert again.tracer.root() == honest.tracer.root()
    assert again.tracer.out_roots == honest.tracer.out_roots


def test_receipt_round_trip(lm, honest, tmp_path):
    r = make_receipt(lm, "tiny", None, False, PROMPT, honest)
    r.save(tmp_path / "r.json")
    assert Receipt.load(tmp_path / "r.json") == r


def test_verify_accepts_honest(run_dir):
    assert cli(["verify", str(run_dir / "receipt.json"), "-q"]) == 0


def _edit(run_dir: Path, fn) -> Path:
    obj = json.loads((run_dir / "receipt.json").read_text())
    fn(obj)
    p = run_dir / "edited.json"
    p.write_text(json.dumps(obj))
    return p


@pytest.mark.parametrize(
    "name,edit,field",
    [
        (
            "output token",
            lambda o: o["output"]["tokens"].__setitem__(0, (o["output"]["tokens"][0] + 1) % 300),
            "output",
        ),
        ("trace root", lambda o: o["trace"].__setitem__("trace_root", "0x" + "11" * 32), "trace.trace_root"),
        ("model root", lambda o: o["model"].__setitem__("model_root", "0x" + "22" * 32), "model.model_root"),
        (
            "step count",
            lambda o: o["trace"].__setitem__("step_count", o["trace"]["step_count"] - 1),
            "trace.step_count",
        ),
        ("settings", lambda o: o["settings"].__setitem__("seed", 7), "input.input_hash"),
        ("max tokens", lambda o: o["settings"].__setitem__("max_new_tokens", 9), "input.input_hash"),
        ("prompt", lambda o: o["input"]["prompt_tokens"].__setitem__(0, 6), "input.input_hash"),
    ],
)
def test_verify_rejects_tampering(lm, run_dir, name, edit, field, capsys):
    p = _edit(run_dir, edit)
    assert cli(["verify", str(p), "-q", "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert any(m["field"].startswith(field) for m in rep["mismatches"]), rep


@pytest.mark.parametrize(
    "content,code",
    [
        ("", 2),
        ("{not json", 2),
        ('{"format": "openbrains.receipt", "format_version": 99}', 2),
        ('{"format": "something else"}', 2),
        ("[1, 2]", 2),
    ],
)
def test_verify_bad_files_exit_2(tmp_path, content, code):
    p = tmp_path / "bad.json"
    p.write_text(content)
    assert cli(["verify", str(p), "-q"]) == code


def test_verify_truncated_and_missing(run_dir, tmp_path):
    text = (run_dir / "receipt.json").read_text()
    p = tmp_path / "trunc.json"
    p.write_text(text[: len(text) // 2])
    assert cli(["verify", str(p), "-q"]) == 2
    assert cli(["verify", str(tmp_path / "nope.json"), "-q"]) == 2


def test_verify_unknown_model_exit_2(run_dir):
    # the model is named by its file's sha256 (the id is information only): an unknown hash cannot be replayed
    p = _edit(run_dir, lambda o: o["model"].__setitem__("file_sha256", "cd" * 32))
    assert cli(["verify", str(p), "-q"]) == 2
    p = _edit(run_dir, lambda o: o["model"].__setitem__("id", "no-such-model"))
    assert cli(["verify", str(p), "-q"]) == 0


def test_kv_cache_incremental_root_equals_full_commitment():
    rows = Rows.empty(40, 24)
    t = KVTree(40, 24)
    rng = np.random.default_rng(0)
    for i in range(13):
        rows = rows.appended(rng.integers(-(1 << 31), 1 << 31, 24), i)
        t.sync(rows)
        full = merkle.tensor_root(rows.to_array(), "i32", (40, 24))
        assert t.root() == full == commit_value(rows)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_flip_changes_root_and_is_localized(lm, honest, tmp_path_factory, data):
    n = honest.tracer.step_count
    step = data.draw(st.integers(0, n - 1), label="step")
    _, _, out = Replayer(lm, honest).step(step)
    t = step // lm.program.steps_per_token
    if isinstance(out, Rows):
        w = out.buf.shape[1]
        elem = t * w + data.draw(st.integers(0, w - 1), label="col")
    else:
        elem = data.draw(st.integers(0, int(np.asarray(out).size) - 1), label="elem")
    bad = traced_generate(lm, PROMPT, SETTINGS, corrupt=Corruption(step, elem, 1))
    assert bad.tracer.root() != honest.tracer.root()
    d = tmp_path_factory.mktemp("bad")
    write_run_dir(d, make_receipt(lm, "tiny", None, False, PROMPT, bad), bad)
    rep = verify(Receipt.load(d / "receipt.json"), lm, run_dir=d)
    assert not rep.ok
    fs = rep.first_step
    assert fs["step"] == step and fs["element"] == elem and fs["leaf"] == elem * 4 // merkle.LEAF_BYTES


def test_golden_root_tiny(honest):
    golden = json.loads(GOLDEN.read_text())
    assert hex32(honest.tracer.root()) == golden["tiny"]["trace_root"], (
        "the tiny trace root changed: a numerics change must be deliberate (bump NUMERICS_VERSION and "
        "regenerate tests/data/golden_roots.json with scripts/golden_roots.py)"
    )


def test_golden_model_root_tiny(lm):
    """The model root binds the template, the weights and the stop tokens (docs/encoding.md): a change to any of
    them, or to the encoding, shows here."""
    golden = json.loads(GOLDEN.read_text())["tiny"]
    assert hex32(model_commitment(lm).model_root) == golden["model_root"]


def test_same_root_across_blas_thread_counts(honest):
    code = (
        "from engine.runtime import IntegerLM; from engine.generate import GenSettings;"
        "from prover.runner import traced_generate;"
        f"r = traced_generate(IntegerLM.load('tiny'), {PROMPT}, GenSettings(max_new_tokens=3));"
        "print(r.tracer.root().hex())"
    )
    roots = set()
    for threads in ("1", "2"):
        env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        roots.add(out.stdout.strip())
    assert roots == {honest.tracer.root().hex()}


@pytest.mark.slow
def test_golden_root_smollm2():
    """SmolLM2 answers the France prompt in integers with the checked-in trace root."""
    golden = json.loads(GOLDEN.read_text())["smollm2"]
    lm = IntegerLM.load("smollm2")
    run = traced_generate(lm, golden["prompt_ids"], GenSettings(max_new_tokens=golden["max_new_tokens"]))
    text = lm.tokenizer.decode([t for t in run.result.tokens if t != lm.config.eos_id])
    assert text == "The capital of France is Paris."
    assert hex32(run.tracer.root()) == golden["trace_root"]
    assert run.tracer.step_count == golden["step_count"]


@pytest.mark.slow
def test_smollm2_root_with_one_blas_thread():
    """The SmolLM2 golden root does not depend on the BLAS thread count (the default run uses 2)."""
    golden = json.loads(GOLDEN.read_text())["smollm2"]
    code = (
        "from engine.runtime import IntegerLM; from engine.generate import GenSettings;"
        "from prover.runner import traced_generate;"
        f"r = traced_generate(IntegerLM.load('smollm2'), {golden['prompt_ids']}, "
        f"GenSettings(max_new_tokens={golden['max_new_tokens']})); print('0x' + r.tracer.root().hex())"
    )
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == golden["trace_root"]
