"""The whole flow on a chain that behaves like a public one: no unlocked accounts, a chain id that is not anvil's,
a block every 2 s, keys only from the environment and from a keystore.

anvil runs with `--accounts 0 --chain-id 11155111 --block-time 2`; the test harness (and only it) funds two fresh
keys with anvil_setBalance. Then, as a user would: `obrain deploy` (key from ETH_PRIVATE_KEY, RPC URL with an
"API key" from ETH_RPC_URL), `obrain serve --submit` (a dishonest operator, same key) answers a chat request from
the openai client and posts its claim, `obrain watch` (a keystore key) catches it, and `obrain withdraw` takes the
payout. Nothing secret lands in deployment.json, and anvil's log shows no dev method but the harness's funding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import openai
from eth_account import Account

from prover.chain import Chain, start_anvil
from prover.chain.node import rpc
from prover.chain.registry import GameClient
from prover.dispute.protocol import ClaimStatus

pytestmark = pytest.mark.chain  # starts its own anvil

ROOT = Path(__file__).resolve().parent.parent


def wait_for(cond, what: str, procs=(), limit: float = 600.0):
    t0 = time.monotonic()
    while not cond():
        for p in procs:
            assert p.poll() is None, f"{p.args[3]} exited {p.returncode} while waiting for {what}: {p.stderr.read()}"
        assert time.monotonic() - t0 < limit, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_deploy_serve_submit_watch_withdraw_on_a_public_style_chain(tmp_path, artifacts):
    with start_anvil(chain_id=11155111, block_time=2, extra_args=("--accounts", "0")) as node:
        assert rpc(node.url, "eth_accounts") == []  # nothing unlocked, as on every public RPC
        url = node.url + "/?apikey=SECRETAPIKEY"  # a provider URL carries its key; it must never be stored
        operator = Account.create()
        pw = tmp_path / "password"
        pw.write_text("watcher's password\n")
        ks = tmp_path / "watcher.json"
        env0 = {k: v for k, v in os.environ.items() if k not in ("ETH_PRIVATE_KEY", "OBRAIN_PRIVATE_KEY")}
        env0["ETH_RPC_URL"] = url

        def obrain(*args, env=env0, timeout=600):
            return subprocess.run(
                [sys.executable, "-m", "prover.cli", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )

        r = obrain("keystore", "new", "--out", str(ks), "--password-file", str(pw))
        assert r.returncode == 0, r.stderr
        watcher = r.stdout.strip()
        for who in (operator.address, watcher):  # the harness's funding: the only dev method used
            rpc(node.url, "anvil_setBalance", [who, hex(10 * 10**18)])
        op_env = {**env0, "ETH_PRIVATE_KEY": operator.key.hex()}

        dep = tmp_path / "deployment.json"
        r = obrain("deploy", "--model", "tiny", "--out", str(dep), "--json", "-q", env=op_env)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["chain_id"] == 11155111 and d["deployer"] == operator.address and d["rpc_url"] is None
        text = dep.read_text()
        assert "SECRETAPIKEY" not in text and operator.key.hex()[2:] not in text

        procs = []

        def start(*args, env):
            p = subprocess.Popen(
                [sys.executable, "-m", "prover.cli", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(p)
            return p

        try:
            server = start(
                "serve", "-m", "tiny", "--port", "0", "--runs-dir", str(tmp_path / "runs"), "--submit",
                "--deployment", str(dep), "--dishonest", "200", "1", "1", "--poll", "0.5", "-q", env=op_env,
            )  # fmt: skip
            base = server.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:"), server.stderr.read()
            watch = start(
                "watch", "--model", "tiny", "--deployment", str(dep), "--keystore", str(ks),
                "--password-file", str(pw), "--poll", "0.5", "-q", env=env0,
            )  # fmt: skip
            client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
            ans = client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=4
            )
            rid = ans.model_extra["receipt"]["id"]

            def claim_id():
                with urllib.request.urlopen(f"{base}/v1/receipts/{rid}") as f:
                    chain = json.loads(f.read()).get("chain")
                return chain and chain["claim_id"]

            wait_for(claim_id, "the server to post its claim", [server, watch])
            cid = claim_id()
            gc = GameClient(Chain(url, artifacts), d["registry"])  # reads only: no sender, no key
            assert not gc.chain.dev
            gc.first_block = d["deploy_block"]
            wait_for(lambda: gc.claim(cid).status != ClaimStatus.PENDING, "the watcher to win", [server, watch])
            assert gc.claim(cid).status == ClaimStatus.SLASHED
            (game,) = gc.events("GameOpened")
            assert game.args["challenger"] == watcher and gc.claim(cid).operator == operator.address
            wait_for(lambda: gc.game(game.args["gameId"]).over, "the game's end", [server, watch])

            watch.send_signal(signal.SIGTERM)  # the watcher may have withdrawn already (it does so by itself)
            watch.wait(timeout=60)
            r = obrain(
                "withdraw", "--deployment", str(dep), "--keystore", str(ks), "--password-file", str(pw), "--json"
            )
            assert r.returncode == 0, r.stderr
            paid = json.loads(r.stdout)
            assert paid["address"] == watcher and gc.credit(watcher) == 0
            # in all, its challenge bond back and half the liar's claim bond (the other half is burned)
            won = d["challenge_bond_wei"] + d["claim_bond_wei"] // 2
            out = [e.args["amount"] for e in gc.events("Withdrawn", who=watcher)]
            assert sum(out) == won and paid["withdrawn_wei"] in (0, won)
            burned = d["claim_bond_wei"] - d["claim_bond_wei"] // 2
            assert gc.ledger() == (burned, 0, burned)  # the registry holds only the burned half
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=30)
        assert "SLASHED" in server.stderr.read()
        # every transaction was signed by one of the two keys and sent raw; no dev method but the harness's
        log = Path(node.log_path).read_text(errors="replace")
        methods = {ln.strip() for ln in log.splitlines() if ln.strip().startswith(("anvil_", "evm_", "eth_send"))}
        assert methods == {"anvil_setBalance", "eth_sendRawTransaction"}, methods
        senders = set()
        for b in range(1, gc.chain.block_number() + 1):
            for h in gc.chain.w3.eth.get_block(b)["transactions"]:
                senders.add(gc.chain.w3.eth.get_transaction(h)["from"])
        assert senders == {operator.address, watcher}
