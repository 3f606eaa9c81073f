"""`obrain deploy --quorum-stake`, `obrain attest keygen | register | run | aggregate` on anvil with the tiny model:
three attesters replay an honest claim (worker processes, as `obrain watch`), sign its hash into files, and the
aggregate certificate finalizes it at once."""

from __future__ import annotations

import json

from prover.chain.registry import GameClient
from prover.cli.main import main
from prover.dispute.protocol import ClaimStatus
from prover.quorum.client import QuorumClient

PROMPT = [5, 17, 99, 120]


def test_attest_from_the_command_line(anvil, chain, lm, tmp_path, capsys):
    from engine.generate import GenSettings
    from prover.dispute.agent import Agent
    from prover.runner import make_receipt, traced_generate

    dep = tmp_path / "deployment.json"
    common = ["--rpc-url", anvil.url, "-q"]
    args = ["deploy", *common, "--model", "tiny", "--quorum-stake", "0.01", "--unsafe-windows"]
    assert main([*args, "--challenge-window", "3600", "--out", str(dep), "--dev-account", "0"]) == 0
    d = json.loads(dep.read_text())
    assert d["quorum"]["stake_wei"] == 10**16 and d["quorum"]["slash_tail_s"] > 0
    chain_opts = ["--deployment", str(dep), *common]
    sigs = tmp_path / "sigs"
    keys = [tmp_path / f"bls{i}.key" for i in range(3)]
    for i, k in enumerate(keys):
        assert main(["attest", "keygen", "--out", str(k)]) == 0
        assert main(["attest", "keygen", "--out", str(k)]) == 2  # never overwrites a key
        assert main(["attest", "register", "--bls-key", str(k), *chain_opts, "--dev-account", str(3 + i)]) == 0
    gc = GameClient(chain, d["registry"])
    qc = QuorumClient(gc)
    assert qc.count() == 3 and qc.address == d["quorum"]["address"]

    rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, GenSettings(max_new_tokens=3)))
    cid = Agent(gc, lm, 1).submit(rc, gc.claim_bond)
    for i, k in enumerate(keys[:2]):  # two of three first: 6666 bps, under the 6667 threshold
        run = ["attest", "run", "--bls-key", str(k), "--out", str(sigs), "--model", "tiny", "--once", "--poll", "0.2"]
        run += ["--state-dir", str(tmp_path / f"state{i}"), *chain_opts, "--dev-account", str(3 + i)]
        assert main(run) == 0
    assert sorted(p.name for p in sigs.glob(f"claim-{cid}-*.json")) == [
        f"claim-{cid}-attester-0.json",
        f"claim-{cid}-attester-1.json",
    ]
    capsys.readouterr()
    agg = ["attest", "aggregate", str(cid), "--sigs", str(sigs), *chain_opts, "--dev-account", "7", "--json"]
    assert main(agg) == 1  # 2 of 3 is under the two-thirds threshold: refused, nothing sent
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"] == "BelowQuorum"
    run = ["attest", "run", "--bls-key", str(keys[2]), "--out", str(sigs), "--model", "tiny", "--once"]
    assert (
        main([*run, "--poll", "0.2", "--state-dir", str(tmp_path / "state2"), *chain_opts, "--dev-account", "5"]) == 0
    )
    assert main(agg) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["certified"] and out["signers"] == 3 and out["non_signers"] == []
    assert gc.claim(cid).status == ClaimStatus.ATTESTED
    assert main(["attest", "register", "--bls-key", str(tmp_path / "missing.key"), *chain_opts]) == 2
