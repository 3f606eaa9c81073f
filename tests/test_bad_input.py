"""Bad input never gives a traceback: one line on stderr and exit 2 (1 stays "mismatch found", 3 a chain or
internal failure), and nothing half-written. One test per input of issue 11's list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clikit import obrain

from prover.cli import main as cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("honest") / "run"
    assert cli(["run", "tiny", "hello", "--max-new-tokens", "3", "--receipt", str(d / "receipt.json"), "-q"]) == 0
    return d


def _one_line_error(capsys, code, rc):
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _edited(run_dir: Path, tmp_path: Path, edit) -> Path:
    d = tmp_path / "edited"
    shutil.copytree(run_dir, d)
    r = json.loads((d / "receipt.json").read_text())
    edit(r)
    (d / "receipt.json").write_text(json.dumps(r))
    return d / "receipt.json"


@pytest.mark.parametrize(
    "what, edit",
    [
        ("prompt token 2^70", lambda r: r["input"]["prompt_tokens"].__setitem__(0, 2**70)),
        ("top_k 10^30", lambda r: r["settings"].__setitem__("top_k", 10**30)),
        ("seed 2^64", lambda r: r["settings"].__setitem__("seed", 2**64)),
        ("no prompt tokens", lambda r: r["input"].__setitem__("prompt_tokens", [])),
        ("a bad root", lambda r: r["trace"].__setitem__("trace_root", "0x1234")),
    ],
)
def test_verify_refuses_a_receipt_no_claim_can_hold(run_dir, tmp_path, capsys, what, edit):
    rc = cli(["verify", str(_edited(run_dir, tmp_path, edit)), "-q"])
    _one_line_error(capsys, 2, rc)


def test_verify_refuses_more_positions_than_the_context(run_dir, tmp_path, capsys):
    p = _edited(run_dir, tmp_path, lambda r: r["input"].__setitem__("prompt_tokens", [5] * 300))  # tiny: 256
    err = _one_line_error(capsys, 2, cli(["verify", str(p), "-q"]))
    assert "context" in err


@pytest.mark.parametrize("notes", ["{not json", "[1, 2]", '{"corruption": {"step": "x"}}', '{"evil": 1}'])
def test_verify_refuses_garbage_operator_notes(run_dir, tmp_path, capsys, notes):
    d = tmp_path / "garbage"
    shutil.copytree(run_dir, d)
    (d / "operator.json").write_text(notes)
    err = _one_line_error(capsys, 2, cli(["verify", str(d / "receipt.json"), "-q"]))
    assert "operator.json" in err


def test_verify_never_loads_a_model_the_run_directory_names(tmp_path, capsys):
    """A dishonest run directory whose notes name a model path: verify still finds the mismatch and its first step,
    and never opens that path (it does not exist: loading it would fail with exit 2)."""
    d = tmp_path / "liar"
    args = ["run", "tiny", "hello", "--max-new-tokens", "3", "--receipt", str(d / "receipt.json"), "-q"]
    assert cli([*args, "--dishonest", "40", "1", "1"]) == 0
    notes = json.loads((d / "operator.json").read_text())
    notes["computed_with"] = str(tmp_path / "nowhere" / "evil.gguf")
    (d / "operator.json").write_text(json.dumps(notes))
    capsys.readouterr()
    assert cli(["verify", str(d / "receipt.json"), "--json", "-q"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["first_step"]["step"] == 40 and rep["first_step"]["leaf"] is None


@pytest.mark.parametrize(
    "extra",
    [
        ["--temperature", "1e999"],
        ["--dishonest", "100000", "0", "1"],  # past the run's steps: would silently write an honest receipt
        ["--dishonest", "10", "99999", "1"],  # past the step's output
        ["--dishonest", "10", "0", str(2**40)],  # a delta past i32
        ["--dishonest", "-1", "0", "1"],
        ["--dishonest-output", "0", str(2**31)],
        ["--dishonest-output", "99", "5"],  # past the generated tokens
    ],
)
def test_run_refuses_out_of_range_flags_and_writes_nothing(tmp_path, capsys, extra):
    rc = tmp_path / "r" / "receipt.json"
    code = cli(["run", "tiny", "hello", "--max-new-tokens", "3", "--receipt", str(rc), "-q", *extra])
    _one_line_error(capsys, 2, code)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_run_receipt_naming_a_directory_or_another_run(run_dir, tmp_path, capsys):
    d = tmp_path / "adir"
    d.mkdir()
    _one_line_error(capsys, 2, cli(["run", "tiny", "hi", "--max-new-tokens", "2", "--receipt", str(d), "-q"]))
    assert list(d.iterdir()) == []  # no .tmp left, nothing in its parent either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]
    before = (run_dir / "receipt.json").read_bytes()
    target = ["run", "tiny", "hi", "--max-new-tokens", "2", "--receipt", str(run_dir / "receipt.json"), "-q"]
    err = _one_line_error(capsys, 2, cli(target))
    assert "--force" in err and (run_dir / "receipt.json").read_bytes() == before
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    assert cli([*target[:-2], str(other / "receipt.json"), "-q", "--force"]) == 0


def test_node_port_out_of_range(capsys):
    _one_line_error(capsys, 2, cli(["node", "--port", "99999"]))


def test_a_crash_is_one_line_and_exit_3(tmp_path):
    """An internal failure (here: the chain answers garbage) is exit 3 and one line, not exit 1 or a traceback."""
    dep = tmp_path / "deployment.json"
    dep.write_text(json.dumps({"chain_id": 1, "registry": "0x" + "00" * 20, "rpc_url": "http://127.0.0.1:9"}))
    r = obrain("claims", "--deployment", str(dep))
    assert r.returncode in (2, 3) and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
