"""The chain client on any EVM chain: local signing, fees, stuck transactions, bounded log reads, dev-only methods."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError

from prover.chain import Chain, ChainError
from prover.chain.fees import FeePolicy, bump, gwei_to_wei

GWEI = 10**9


@pytest.fixture()
def public(chain, anvil, artifacts):
    """The session's anvil seen as a public chain (dev=False), and a fresh key funded from dev account 0."""
    key = Account.create()
    chain.send_eth(key.address, 10**18, sender=0)
    return Chain(anvil.url, artifacts, dev=False), key


def test_a_public_chain_has_no_default_sender_and_no_dev_methods(public):
    pub, key = public
    for bad in (lambda: pub.address(None), lambda: pub.address(1), lambda: pub.signer("0x" + "11" * 20)):
        with pytest.raises(ChainError, match="dev chain"):
            bad()
    for dev_only in (pub.mine, lambda: pub.increase_time(5), pub.snapshot, lambda: pub.rpc("anvil_mine", ["0x1"])):
        with pytest.raises(ChainError, match="dev chain"):
            dev_only()
    with pytest.raises(ChainError, match="dev chain"):
        _ = pub.accounts  # eth_accounts is never a sender source off dev chains


def test_a_public_chain_signs_every_transaction_itself(public):
    pub, key = public
    h = pub.deploy("FixedPointHarness", sender=key)
    assert pub.call(h, "roundShift", 5, 1) == 3  # an eth_call with no sender has no `from`
    tx = pub.w3.eth.get_transaction(h.deploy_receipt["transactionHash"])
    assert tx["from"] == key.address and tx["type"] == 2  # EIP-1559, sent raw
    rcpt = pub.send_eth("0x" + "22" * 20, 1234, sender=key)
    assert rcpt["status"] == 1 and pub.balance("0x" + "22" * 20) == 1234


def test_fee_policy_from_history_and_fixed():
    hist = {"baseFeePerGas": ["0x10", "0x20", "0x64"], "reward": [["0x5"], ["0x1"], ["0x9"]]}
    rpc = {"eth_feeHistory": hist, "eth_gasPrice": "0x7"}.__getitem__
    assert FeePolicy().fields(lambda m, p: rpc(m)) == {"maxFeePerGas": 2 * 100 + 5, "maxPriorityFeePerGas": 5}
    fixed = FeePolicy(max_fee_wei=50, priority_fee_wei=80).fields(lambda m, p: rpc(m))
    assert fixed == {"maxFeePerGas": 50, "maxPriorityFeePerGas": 50}  # the tip never exceeds the cap

    def legacy(m, p):
        if m == "eth_feeHistory":
            raise ValueError("method not found")
        return "0x7"

    assert FeePolicy().fields(legacy) == {"gasPrice": 7}
    assert FeePolicy(max_fee_wei=9).fields(legacy) == {"gasPrice": 9}
    assert bump({"maxFeePerGas": 100, "maxPriorityFeePerGas": 1}) == {"maxFeePerGas": 125, "maxPriorityFeePerGas": 2}
    assert gwei_to_wei("1.5") == 1_500_000_000 and gwei_to_wei("0") == 0
    for bad in ("-1", "1e-10", "x"):
        with pytest.raises(ValueError):
            gwei_to_wei(bad)


def test_fixed_fees_are_what_the_transaction_pays(chain, anvil, artifacts):
    c = Chain(anvil.url, artifacts, fees=FeePolicy(max_fee_wei=50 * GWEI, priority_fee_wei=3 * GWEI))
    rcpt = c.send_eth("0x" + "33" * 20, 1, sender=4)
    tx = c.w3.eth.get_transaction(rcpt["transactionHash"])
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (50 * GWEI, 3 * GWEI)


def test_a_stuck_transaction_is_replaced_with_higher_fees(chain):
    """Automine off: a sent transaction waits; its replacement (same nonce, +25%) is the one mined."""
    chain.set_automine(False)
    try:
        p = chain._send(chain.w3.eth.contract(abi=[], bytecode="0x00").constructor(), 5, 0, 100_000, wait=False)
        first = chain.w3.eth.get_transaction(p.hash)
        assert chain.replace(p) and len(p.hashes) == 2
        chain.mine()
    finally:
        chain.set_automine(True)
    rcpt = chain.receipt(p)
    assert rcpt["transactionHash"] == p.hashes[1]
    mined = chain.w3.eth.get_transaction(p.hashes[1])
    assert mined["nonce"] == first["nonce"] and mined["maxFeePerGas"] > first["maxFeePerGas"]
    assert chain.wait(p)["transactionHash"] == p.hashes[1]


def test_logs_are_read_in_bounded_chunks_and_split_when_refused(chain):
    """A provider that refuses ranges over 5 blocks: every block is asked once, in order, in ranges <= 5."""
    asked: list[tuple[int, int]] = []

    def fetch(lo, hi):
        if hi - lo + 1 > 5:
            raise Web3RPCError("query exceeds max block range 5")
        asked.append((lo, hi))
        return list(range(lo, hi + 1))

    c = chain
    old = c.log_chunk
    c.log_chunk = 16
    try:
        got = c.logs(fetch, 3, 70)
    finally:
        c.log_chunk = old
    assert got == list(range(3, 71))
    assert all(hi - lo + 1 <= 5 for lo, hi in asked) and [lo for lo, _ in asked] == sorted(lo for lo, _ in asked)

    def never(lo, hi):
        raise Web3RPCError("no logs for you")

    with pytest.raises(ChainError, match="refused block"):
        c.logs(never, 0, 3)


def test_events_in_small_chunks_equal_one_read(chain, artifacts, lm):
    """GameClient.events over 1-block chunks finds exactly what one whole-range read finds."""
    from prover.chain.deploy import deploy_one_step
    from prover.chain.registry import GameClient
    from prover.commit.model import model_commitment

    one = deploy_one_step(chain)
    gc = GameClient.deploy(
        chain,
        claim_bond=2,
        challenge_bond=1,
        challenge_window=60,
        replay_micros=1,
        move_window=60,
        k=2,
        one_step=one.address,
    )
    b0 = chain.block_number()
    gc.register_model(model_commitment(lm), uri="t", sender=1)
    chain.mine(3)
    whole = gc.events("ModelRegistered", from_block=b0)
    old = chain.log_chunk
    chain.log_chunk = 1
    try:
        pieces = gc.events("ModelRegistered", from_block=b0)
    finally:
        chain.log_chunk = old
    assert len(whole) == 1 and pieces == whole


class _FailingFirst:
    """A JSON-RPC proxy that answers HTTP 502 to the first `n` requests of `method`, then forwards everything."""

    def __init__(self, target: str, method: str, n: int):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.request import Request, urlopen

        left = [n]

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if json.loads(body).get("method") == method and left[0] > 0:
                    left[0] -= 1
                    self.send_response(502)
                    self.end_headers()
                    return
                with urlopen(Request(target, body, {"Content-Type": "application/json"}), timeout=30) as r:
                    data = r.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_flaky_node_is_still_recognised_as_a_dev_chain(anvil, artifacts):
    """Dev-chain detection retries a failed request instead of taking it for "not anvil" (a watcher behind a
    flaky provider once refused its own --dev-account and exited); a node that never answers is a ChainError."""
    flaky = _FailingFirst(anvil.url, "web3_clientVersion", 2)
    try:
        assert Chain(flaky.url, artifacts).dev
    finally:
        flaky.server.shutdown()
    dead = _FailingFirst(anvil.url, "web3_clientVersion", 10**6)
    try:
        with pytest.raises(ChainError, match="did not answer web3_clientVersion"):
            Chain(dead.url, artifacts)
    finally:
        dead.server.shutdown()
