"""Every command the README documents works as written: its marked blocks run here, in order, on the tiny model.

The run is what a user at a shell would do, with four substitutions only: the model `smollm2` -> `tiny` (seconds
instead of minutes), ports 8545 and 8080 -> free ones (this machine is shared; ETH_RPC_URL points at the node,
as the default URL would), and `<id>` -> the receipt id of the last answer printed. A line ending in `&` runs in
the background, and the next line waits until it is ready (its URL printed; for `submit --serve`, the claim
posted), as a person would. A trailing comment `# exit N: ...` states the exit code; otherwise it is 0.
Background processes must still be running (or have exited 0) at the end. Blocks not run are listed in
NOT_RUN with the reason (and where they are tested instead).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from prover.chain.node import free_port

pytestmark = pytest.mark.chain  # starts its own anvil

ROOT = Path(__file__).resolve().parent.parent
RUN_MARK = "<!-- tests/test_readme.py runs"
NOT_RUN = {
    "make setup": "the test runs inside the set-up tree",
    "scripts/bench_": "benchmarks of SmolLM2 take minutes each; they print their own figures",
    "keystore new --out watcher.json": "needs a funded key on a real chain: tests/test_public_chain.py runs this flow",
}


def blocks(text: str) -> list[tuple[bool, str, str]]:
    """(run by this test?, language, body) of every fenced block."""
    out = []
    for m in re.finditer(r"(?:(<!--[^\n]*-->)[^\n]*\n(?:[^\n]*-->\n)?)?```(\w+)\n(.*?)```", text, re.S):
        out.append((bool(m.group(1) and m.group(1).startswith(RUN_MARK)), m.group(2), m.group(3)))
    return out


def commands(body: str) -> list[tuple[str, int]]:
    """(command, expected exit code) for every line of a sh block: a comment follows two spaces and a `#`; one
    that starts `exit N:` gives the exit code (else 0)."""
    out = []
    for line in body.splitlines():
        cmd, _, comment = line.partition("  #")
        if cmd.strip():
            code = re.match(r"\s*exit (\d+):", comment)
            out.append((cmd.strip(), int(code[1]) if code else 0))
    return out


def test_every_readme_block_is_run_or_excused():
    for run, lang, body in blocks((ROOT / "README.md").read_text()):
        if run:
            continue
        assert any(key in body for key in NOT_RUN), f"a README {lang} block neither run nor excused:\n{body}"


def test_readme_commands_work_as_written(tmp_path):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    node_port, serve_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ETH_PRIVATE_KEY", "OBRAIN_PRIVATE_KEY")}
    env["ETH_RPC_URL"] = f"http://127.0.0.1:{node_port}"

    def subst(cmd: str, last_id: str | None) -> str:
        cmd = re.sub(r"\bsmollm2\b", "tiny", cmd).replace("8545", str(node_port)).replace("8080", str(serve_port))
        if "<id>" in cmd:
            assert last_id, f"{cmd}: no answer printed before"
            cmd = cmd.replace("<id>", last_id)
        return cmd

    text = (ROOT / "README.md").read_text()
    ran = [(lang, body) for run, lang, body in blocks(text) if run]
    assert [lang for lang, _ in ran] == ["sh", "python"]
    background: list[tuple[str, subprocess.Popen]] = []
    last_id = None
    try:
        for cmd, want in commands(ran[0][1]):
            if cmd == "make setup":
                continue
            cmd = subst(cmd, last_id)
            if cmd.endswith("&"):
                p = subprocess.Popen(
                    ["bash", "-c", "exec " + cmd[:-1]],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                background.append((cmd, p))
                _wait_ready(cmd, p, tmp_path)
                continue
            r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
            assert r.returncode == want, f"{cmd}\nexit {r.returncode}, README says {want}\n{r.stderr[-3000:]}"
            assert "Traceback" not in r.stderr, r.stderr
            found = re.findall(r'"receipt":\s*\{"id":\s*"([0-9a-f]{24})"', r.stdout)
            last_id = found[-1] if found else last_id
        code = subst(ran[1][1], last_id)
        r = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", code], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0 and re.search(r"0x[0-9a-f]{64}", r.stdout), r.stderr
        for cmd, p in background:
            assert p.poll() in (None, 0), f"{cmd} exited {p.returncode}: {p.stderr.read()[-3000:]}"
    finally:
        for _, p in reversed(background):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    for cmd, p in background:
        assert "Traceback" not in p.stderr.read(), cmd


def _wait_ready(cmd: str, p: subprocess.Popen, cwd: Path, limit: float = 600.0) -> None:
    """Until a background command is ready for the next line: a server's URL printed, a claim posted."""
    if " node " in cmd or " serve " in cmd:
        line = p.stdout.readline()
        assert line.startswith("http://"), f"{cmd}: {p.stderr.read()[-3000:]}"
    elif " submit " in cmd:
        receipt = cwd / cmd.split(" submit ")[1].split()[0]
        t0 = time.monotonic()
        while json.loads(receipt.read_text()).get("chain") is None:
            assert p.poll() is None, f"{cmd}: exited {p.returncode}: {p.stderr.read()[-3000:]}"
            assert time.monotonic() - t0 < limit, f"{cmd}: no claim posted"
            time.sleep(0.2)
