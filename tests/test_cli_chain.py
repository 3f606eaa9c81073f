"""`obrain node` starts a testnet that `obrain deploy` deploys to; both stop and fail cleanly."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.chain  # starts its own anvil

ROOT = Path(__file__).resolve().parent.parent


def test_node_then_deploy_registers_a_model(tmp_path):
    node = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", "node", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = node.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), node.stderr.read()
        out = tmp_path / "deployment.json"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "prover.cli",
                "deploy",
                "--rpc-url",
                url,
                "--model",
                "tiny",
                "--out",
                str(out),
                "-q",
                "--json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        dep = json.loads(out.read_text())
        assert json.loads(r.stdout) == {**dep, "deployment_file": str(out)}  # --json: the one object on stdout
        assert dep["rpc_url"] == url  # a loopback URL is kept; a provider's would not be
        assert dep["chain_id"] == 31337 and dep["registry"].startswith("0x") and set(dep["models"]) == {"tiny"}
        assert dep["deploy_block"] >= 1  # where watchers start scanning
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=30) == 0


def test_deploy_to_nothing_exits_2():
    r = subprocess.run(
        [sys.executable, "-m", "prover.cli", "deploy", "--rpc-url", "http://127.0.0.1:9", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr


def _cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_submit_claims_and_challenge_from_the_command_line(tmp_path):
    """A dishonest receipt submitted from the CLI is caught by `verify --challenge` (the silent liar times out).

    The node mines a block a second so chain time moves while the challenger waits for the liar's deadline."""
    node = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", "node", "--port", "0", "--block-time", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = node.stdout.readline().strip()
        dep = tmp_path / "deployment.json"
        r = _cli(
            "deploy",
            "--rpc-url",
            url,
            "--out",
            str(dep),
            "--model",
            "tiny",
            "--move-window",
            "3",
            "--unsafe-windows",
            "-q",
        )  # a liar that times out within seconds (a throwaway dev chain)
        assert r.returncode == 0, r.stderr
        rc = tmp_path / "bad" / "receipt.json"
        assert (
            _cli(
                "run",
                "tiny",
                "hello",
                "--max-new-tokens",
                "3",
                "--receipt",
                str(rc),
                "-q",
                "--dishonest",
                "100",
                "3",
                "1",
            ).returncode
            == 0
        )
        r = _cli("submit", str(rc), "--deployment", str(dep), "--dev-account", "1", "-q")
        assert r.returncode == 0, r.stderr
        assert json.loads(rc.read_text())["chain"]["claim_id"] == 1
        r = _cli("claims", "--deployment", str(dep))
        assert r.returncode == 0 and "PENDING" in r.stderr + r.stdout
        r = _cli("claims", "--deployment", str(dep), "--json")
        listed = json.loads(r.stdout)["claims"]
        assert [(c["id"], c["status"], c["games"]) for c in listed] == [(1, "PENDING", 0)]
        r = _cli(
            "verify",
            str(rc),
            "--challenge",
            "--deployment",
            str(dep),
            "--dev-account",
            "2",
            "--poll",
            "0.5",
            "--max-polls",
            "120",
            "--state-dir",
            str(tmp_path / "verify-watch"),
            "-q",
        )
        assert r.returncode == 1, r.stderr
        assert "SLASHED" in r.stderr, r.stderr
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)


def test_watcher_process_killed_mid_game_resumes_and_wins(tmp_path):
    """`obrain submit --serve` (a liar defending its claim) and `obrain watch` as real processes; the watcher is
    SIGKILLed in the middle of the game and started again: it resumes from the chain's state and wins."""
    import time

    from prover.chain import Chain, compile_contracts
    from prover.chain.registry import GameClient
    from prover.dispute.protocol import ClaimStatus

    node = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", "node", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs = []

    def start(*args):
        p = subprocess.Popen(
            [sys.executable, "-m", "prover.cli", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        return p

    def wait_for(cond, what, limit=240.0):
        t0 = time.monotonic()
        while not cond():
            assert time.monotonic() - t0 < limit, f"timed out waiting for {what}"
            time.sleep(0.05)

    try:
        url = node.stdout.readline().strip()
        dep = tmp_path / "deployment.json"
        assert _cli("deploy", "--rpc-url", url, "--out", str(dep), "--model", "tiny", "-q").returncode == 0
        rc = tmp_path / "bad" / "receipt.json"
        assert (
            _cli(
                "run",
                "tiny",
                "hello there",
                "--max-new-tokens",
                "4",
                "--receipt",
                str(rc),
                "-q",
                "--dishonest",
                "200",
                "1",
                "1",
            ).returncode
            == 0
        )
        liar = start(
            "submit", str(rc), "--serve", "--deployment", str(dep), "--dev-account", "1", "--poll", "0.2", "-q"
        )
        gc = GameClient(Chain(url, compile_contracts()), json.loads(dep.read_text())["registry"])
        wait_for(lambda: gc.events("ClaimPosted"), "the claim")
        state = str(tmp_path / "watch")
        watcher = start(
            "watch",
            "--model",
            "tiny",
            "--deployment",
            str(dep),
            "--dev-account",
            "2",
            "--poll",
            "0.2",
            "--state-dir",
            state,
            "-q",
        )
        wait_for(lambda: gc.events("GameOpened"), "the challenge")
        gid = gc.events("GameOpened")[0].args["gameId"]
        b0 = gc.chain.block_number()
        wait_for(lambda: gc.chain.block_number() >= b0 + 4, "four moves")
        watcher.kill()  # SIGKILL: no clean-up of any kind
        watcher.wait(timeout=30)
        assert not gc.game(gid).over
        time.sleep(1.0)
        assert not gc.game(gid).over  # the liar alone cannot end it (its deadline is far away)
        start(
            "watch",
            "--model",
            "tiny",
            "--deployment",
            str(dep),
            "--dev-account",
            "2",
            "--poll",
            "0.2",
            "--state-dir",
            state,
            "-q",
        )
        wait_for(lambda: gc.game(gid).over, "the game's end")
        assert gc.claim(1).status == ClaimStatus.SLASHED
        assert len(gc.events("GameOpened")) == 1  # the restarted watcher resumed its game, did not open another
        liar.wait(timeout=60)  # `submit --serve` returns once its claim is settled
        assert liar.returncode == 0 and "SLASHED" in liar.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)
