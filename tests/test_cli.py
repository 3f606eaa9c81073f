"""The `obrain` command line: runs, receipts, sampling, llama.cpp flags, JSON, exit codes 2 and 3 (no traceback).

Commands run in this process (tests/clikit.py); test_llama_cpp_flags_file_and_stdin_give_the_same_run also runs
one as a true subprocess (`python -m prover.cli`, a fresh interpreter reading a real stdin pipe).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clikit import obrain
from engine.models.tiny import tiny_path
from prover.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent


def test_help_works():
    for args in (["--help"], ["run", "--help"], ["verify", "--help"]):
        r = obrain(*args)
        assert r.returncode == 0 and "usage" in r.stdout.lower()


def test_run_writes_receipt_that_verifies(tmp_path, capsys):
    p = tmp_path / "run" / "receipt.json"
    assert cli(["run", "tiny", "hello", "--max-new-tokens", "4", "--receipt", str(p), "-q"]) == 0
    assert p.exists() and (p.parent / "steps.bin").exists()
    assert cli(["verify", str(p), "-q"]) == 0


def test_sampling_is_reproducible_from_the_seed(capsys):
    outs = []
    for seed in ("3", "3", "4"):
        assert (
            cli(
                [
                    "run",
                    "tiny",
                    "hello",
                    "--max-new-tokens",
                    "12",
                    "--temperature",
                    "1000",
                    "--top-k",
                    "20",
                    "--seed",
                    seed,
                    "--no-receipt",
                    "-q",
                ]
            )
            == 0
        )
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "tiny", ""],
        ["run", "tiny", "   "],
        ["run", "no-such-model", "hi"],
        ["run", "tiny", "a long prompt " * 40, "--context", "16"],
    ],
)
def test_bad_input_exit_2(args):
    r = obrain(*args, "--no-receipt", "-q")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error" in r.stderr.lower()


def test_corrupt_and_truncated_gguf_exit_2(tmp_path):
    data = Path(tiny_path()).read_bytes()
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    for p in (trunc, garbage):
        r = obrain("run", str(p), "hi", "--no-receipt", "-q")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_bad_arguments_exit_2():
    assert obrain("run", "tiny", "hi", "--top-k", "99").returncode == 2
    assert obrain("run", "tiny", "hi", "--temperature", "-1").returncode == 2
    assert obrain("run", "tiny", "hi", "--max-new-tokens", "0").returncode == 2


def test_llama_cpp_flags_file_and_stdin_give_the_same_run(tmp_path):
    """`-m -p -n`, `-f FILE`, `-f -` and the `-` positional all run the same prompt: one trace root."""
    (tmp_path / "p.txt").write_text("hello")
    runs = [
        ["run", "tiny", "hello", "--max-new-tokens", "3", "--json", "-q"],
        ["run", "-m", "tiny", "-p", "hello", "-n", "3", "--json", "-q"],
        ["run", "-m", "tiny", "-f", str(tmp_path / "p.txt"), "-n", "3", "--json", "-q"],
        ["run", "tiny", "-f", "-", "-n", "3", "--json", "-q"],
        ["run", "tiny", "-", "-n", "3", "--json", "-q"],
        ["run", "-m", "tiny", "hello", "-n", "3", "--json", "-q"],
    ]
    roots = set()
    for i, args in enumerate(runs):
        receipt = ["--receipt", str(tmp_path / f"r{i}" / "receipt.json")]
        if i == 4:  # `-` from a real pipe, through the module entry point in a fresh interpreter
            r = subprocess.run(
                [sys.executable, "-m", "prover.cli", *args, *receipt],
                input="hello",
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
        else:
            r = obrain(*args, *receipt, input="hello")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)  # stdout is exactly one JSON object
        assert out["receipt"].endswith("receipt.json") and len(out["tokens"]) <= 3
        rc = json.loads(Path(out["receipt"]).read_text())
        assert out["trace_root"] == rc["trace"]["trace_root"] and out["text"] == rc["output"]["text"]
        roots.add(out["trace_root"])
    assert len(roots) == 1


def test_run_json_without_receipt_and_llama_sampling_flags(capsys):
    assert (
        cli(["run", "-m", "tiny", "-p", "hello", "-n", "4", "--temp", "0.8", "-s", "7", "--no-receipt", "--json", "-q"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["receipt"] is None and "trace_root" not in out and len(out["tokens"]) <= 4


@pytest.mark.parametrize("name", ["tiny-spm", "tiny-llama3", "tiny-qwen2"])
def test_tiny_vocabularies_chat_with_their_own_templates(name, tmp_path, capsys):
    p = tmp_path / name / "receipt.json"
    assert (
        cli(["run", name, "hi", "--chat", "--system", "Be brief.", "--max-new-tokens", "4", "--receipt", str(p), "-q"])
        == 0
    )
    r = json.loads(p.read_text())
    assert r["input"]["template"] == "file" and r["input"]["system"] == "Be brief."
    assert cli(["verify", str(p), "-q"]) == 0


def test_messages_file_and_template_option(tmp_path, capsys):
    msgs = tmp_path / "m.json"
    msgs.write_text(
        json.dumps(
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
        )
    )
    p = tmp_path / "run" / "receipt.json"
    assert (
        cli(
            [
                "run",
                "tiny",
                "--messages",
                str(msgs),
                "--template",
                "chatml",
                "--max-new-tokens",
                "3",
                "--receipt",
                str(p),
                "-q",
            ]
        )
        == 0
    )
    r = json.loads(p.read_text())
    assert r["input"]["prompt_text"] is None and r["input"]["template"] == "chatml" and len(r["input"]["messages"]) == 3
    assert cli(["verify", str(p), "-q"]) == 0
    r["input"]["messages"][0]["content"] = "z"  # the committed tokens no longer match the conversation
    (tmp_path / "run" / "edited.json").write_text(json.dumps(r))
    assert cli(["verify", str(tmp_path / "run" / "edited.json"), "-q"]) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["run", "tiny"],  # no prompt
        ["run", "-m", "tiny", "-p", "a", "b"],  # two prompts
        ["run", "tiny", "a", "-f", "x.txt"],
        ["run", "-p", "hello"],  # no model
        ["run", "tiny", "-f", "/no/such/file"],
        ["run", "tiny", "hi", "--temperature", "1e30"],
    ],
)
def test_bad_prompt_sources_exit_2(args):
    r = obrain(*args, "--no-receipt", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_context_help_says_what_the_code_does(tmp_path):
    """--context's help names the real cap, and a larger value is capped to it."""
    from engine.models.llama import MAX_CONTEXT
    from prover.cli import run as run_cmd

    assert run_cmd.MAX_CONTEXT == MAX_CONTEXT
    assert f"at most {MAX_CONTEXT}" in " ".join(obrain("run", "--help").stdout.split())
    p = tmp_path / "receipt.json"
    assert cli(["run", "tiny", "hi", "-n", "2", "-c", str(4 * MAX_CONTEXT), "--receipt", str(p), "-q"]) == 0
    from engine.runtime import IntegerLM

    assert json.loads(p.read_text())["model"]["context"] == IntegerLM.load("tiny").program.context <= MAX_CONTEXT


def test_exit_codes_are_documented_and_a_crash_is_one_line_exit_3(monkeypatch, capsys):
    for args in (["--help"], ["run", "--help"], ["deploy", "--help"], ["serve", "--help"]):
        text = " ".join(obrain(*args).stdout.split())
        assert "2 bad input" in text and "3 chain or internal failure" in text, args
    import prover.cli.run as run_cmd

    def boom(a):
        raise KeyError("surprise")

    monkeypatch.setattr(run_cmd, "run_inputs", boom)
    assert cli(["run", "tiny", "hi", "-q"]) == 3
    err = capsys.readouterr().err
    assert "internal failure (KeyError)" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert cli(["run", "tiny", "hi", "-q", "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "tiny"],  # no prompt
        ["run", "tiny", "hi", "--messages", "/no/such.json"],
        ["run", "tiny", "hi", "--template", "alpaca"],
        ["run", "tiny-spm", "--messages", "ROLES"],
        ["inspect", "/no/such.gguf"],
    ],
)
def test_chat_and_inspect_bad_input_exit_2(args, tmp_path):
    if "ROLES" in args:
        f = tmp_path / "roles.json"
        f.write_text(json.dumps([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]))
        args = [str(f) if a == "ROLES" else a for a in args]
    r = obrain(*args, "--no-receipt", "-q") if args[0] == "run" else obrain(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error" in r.stderr.lower()
