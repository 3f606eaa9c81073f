"""Fast finality with the real engine (tiny model, the real one-step verifier) on anvil: honest attesters (an
Attester over an in-process Watcher) sign the honest claim and refuse the corrupted one; a dishonest quorum signs
the corrupted claim anyway, which is Attested at once; the honest watcher still replays it, challenges and wins
the game through bisection and the one-step, and every attester that signed the lie is slashed."""

from __future__ import annotations

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.commit.trace import Corruption
from prover.dispute.protocol import ClaimStatus, Result
from prover.quorum.attester import Attester, collect
from prover.quorum.client import AttesterKey, AttesterStatus, deploy_with_quorum
from prover.runner import make_receipt, traced_generate

PROMPT = [5, 17, 99, 120]
SETTINGS = GenSettings(max_new_tokens=3)
BOND, STAKE, WINDOW, MOVE = 10**15, 10**16, 10**6, 1000
OP, CH, SUBMIT, SLASHER = 1, 2, 7, 8
OWNERS = (3, 4, 5)


def test_honest_attesters_and_a_slashed_dishonest_quorum(chain, lm, tmp_path):
    from prover.dispute.agent import Agent
    from prover.dispute.watcher import Watcher

    one = deploy_one_step(chain)
    gc, qc = deploy_with_quorum(
        chain,
        registry=dict(
            claim_bond=BOND,
            challenge_bond=BOND,
            challenge_window=WINDOW,
            replay_micros=1,
            move_window=MOVE,
            k=2,
            one_step=one.address,
        ),
        stake=STAKE,
        threshold_bps=6000,  # 2 of 3 attesters
        withdrawal_delay=2 * WINDOW,
        slash_tail=100 * MOVE,
    )
    from prover.commit.model import model_commitment

    gc.register_model(model_commitment(lm))
    keys = [AttesterKey(f"e2e attester {i}".encode()) for i in range(3)]
    for k, owner in zip(keys, OWNERS):
        qc.register(k, sender=owner)
    bad = Corruption(2 * lm.program.steps_per_token + lm.program.index["L1.scores"], 1, 1)
    honest_rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS))
    liar_rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS, corrupt=bad))
    ok_cid = Agent(gc, lm, OP).submit(honest_rc, BOND)
    liar = Agent(gc, lm, 6, corrupt=bad)
    bad_cid = liar.submit(liar_rc, BOND)

    # honest attesters: each replays both claims and signs only the honest one
    sigs = tmp_path / "sigs"
    for i, k in enumerate(keys):
        w = Watcher.in_process(gc, lm, OWNERS[i], state_dir=tmp_path / f"w{i}", budget=0)
        att = Attester(w, qc, k, sigs)
        for _ in range(50):
            att.tick()
            if w.idle():
                break
        att.tick()
    assert sorted(p.name for p in sigs.glob("claim-*.json")) == [f"claim-{ok_cid}-attester-{i}.json" for i in range(3)]
    cert, dropped = collect(qc, ok_cid, [sigs])
    assert dropped == [] and cert.non_signers == ()
    qc.certify(cert, sender=SUBMIT)
    assert gc.claim(ok_cid).status == ClaimStatus.ATTESTED

    # a dishonest quorum (attesters 0 and 2) signs the corrupted claim: Attested at once
    h = gc.claim(bad_cid).claim_hash
    qc.certify(qc.certificate(h, {i: (keys[i].sign(h), keys[i].pk2) for i in (0, 2)}), sender=SUBMIT)
    assert gc.claim(bad_cid).status == ClaimStatus.ATTESTED
    # the honest watcher still judges an attested claim, challenges it and wins the game
    watcher = Watcher.in_process(gc, lm, CH, state_dir=tmp_path / "watch")
    for _ in range(80):
        liar.defend_once(bad_cid)
        watcher.tick()
        if gc.claim(bad_cid).status == ClaimStatus.SLASHED:
            break
    g = gc.game(watcher.games_on(bad_cid)[0])
    assert (g.result, g.step) == (Result.CHALLENGER_WON, bad.step)
    assert gc.claim(bad_cid).status == ClaimStatus.SLASHED
    rs = qc.slash_signers(bad_cid, sender=SLASHER, batch=1)  # one a transaction: batches add up
    assert [e.args["index"] for r in rs for e in r.events if e.name == "AttesterSlashed"] == [0, 2]
    st = [a.status for a in qc.attesters()]
    assert st == [AttesterStatus.SLASHED, AttesterStatus.ACTIVE, AttesterStatus.SLASHED]
    assert qc.credit(SLASHER) == 2 * (STAKE // 2)
    # the honest claim stays final: after its window its bond is released as before
    chain.mine(1, timestamp=gc.claim(ok_cid).window_end)
    gc.finalize(ok_cid)
    assert gc.claim(ok_cid).status == ClaimStatus.FINAL
