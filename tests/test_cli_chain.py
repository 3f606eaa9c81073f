"""`obrain node` starts a testnet that `obrain deploy` deploys to; both stop and fail cleanly."""
import json
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_node_then_deploy_registers_a_model(tmp_path):
    node = subprocess.Popen([sys.executable, "-m", "prover.cli", "node", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = node.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), node.stderr.read()
        out = tmp_path / "deployment.json"
        r = subprocess.run([sys.executable, "-m", "prover.cli", "deploy", "--rpc-url", url, "--model", "tiny",
                            "--out", str(out), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        dep = json.loads(out.read_text())
        assert dep["chain_id"] == 31337 and dep["registry"].startswith("0x") and set(dep["models"]) == {"tiny"}
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=30) == 0


def test_deploy_to_nothing_exits_2():
    r = subprocess.run([sys.executable, "-m", "prover.cli", "deploy", "--rpc-url", "http://127.0.0.1:9", "-q"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
