"""The watcher's own rules, in process on anvil (the adversarial suite plays it as a separate process):
a budget or bond it cannot afford flags the claim once and never raises; one failing game does not hold the
others; its state survives a restart; it forgets what can no longer matter."""

from __future__ import annotations

import json

import pytest
from gamekit import quiet

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.cli import main as cli
from prover.commit.trace import Corruption
from prover.dispute.agent import Agent
from prover.dispute.protocol import ClaimStatus
from prover.dispute.watcher import Watcher, read_flags
from prover.runner import make_receipt, traced_generate

pytestmark = pytest.mark.chain

BOND = 10**15
SETTINGS = GenSettings(max_new_tokens=3)


@pytest.fixture()
def gc(chain):
    one = deploy_one_step(chain)
    return GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        challenge_window=10**5,
        replay_micros=1,
        move_window=10**4,
        k=2,
        one_step=one.address,
    )


def _lie(gc, lm, prompt, step=30, who=2):
    corr = Corruption(step, 0, 1)
    rc = make_receipt(lm, "tiny", None, False, prompt, traced_generate(lm, prompt, SETTINGS, corrupt=corr))
    liar = Agent(gc, lm, who, corrupt=corr)
    return liar, liar.submit(rc)


def test_a_claim_it_cannot_afford_is_flagged_once(gc, lm, tmp_path, capsys):
    events = []
    w = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w", budget=BOND - 1, log=events.append)
    liar, cid = _lie(gc, lm, [5, 17, 99])
    quiet(w)
    quiet(w)
    assert gc.claim(cid).open_games == 0 and w.claims[cid].state == "wrong"
    assert [e["claim"] for e in events if e["event"] == "cannot_afford"] == [cid]  # one line, not one per poll
    assert "budget" in read_flags(tmp_path / "w")[cid]
    dep = tmp_path / "deployment.json"
    dep.write_text(json.dumps({"chain_id": gc.chain.chain_id, "registry": gc.address, "rpc_url": gc.chain.url}))
    capsys.readouterr()
    assert cli(["claims", "--deployment", str(dep), "--watch-state", str(tmp_path / "w"), "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["claims"]}
    assert "budget" in rows[cid]["flag"]
    # the same watcher with enough budget (restarted on its state) challenges and wins
    w2 = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w")
    quiet(w2, lambda: liar.defend_once(cid))
    assert gc.claim(cid).status == ClaimStatus.SLASHED


def test_max_bond_refuses_a_registry_whose_bond_is_too_high(gc, lm, tmp_path):
    events = []
    w = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w", max_bond=BOND // 2, log=events.append)
    _, cid = _lie(gc, lm, [7, 8, 9])
    quiet(w)
    assert any(e["event"] == "cannot_afford" and "max-bond" in e["why"] for e in events)
    assert gc.claim(cid).open_games == 0


def test_one_failing_game_does_not_hold_the_others(gc, lm, tmp_path, monkeypatch):
    """Two lies: the first game's step queries fail (as if its replay were corrupt on disk); the watcher logs,
    backs off and keeps playing the second game to the win."""
    events = []
    w = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w", log=events.append)
    liar1, c1 = _lie(gc, lm, [5, 17, 99], step=40)
    liar2, c2 = _lie(gc, lm, [11, 12, 13], step=41, who=4)
    quiet(w)
    g1 = w.claims[c1].game
    real = w._player

    def broken(ge):
        if ge.game_id == g1:
            raise OSError("replay digest unreadable")
        return real(ge)

    monkeypatch.setattr(w, "_player", broken)
    for _ in range(200):
        liar1.defend_once(c1)
        liar2.defend_once(c2)
        w.tick()
        if gc.claim(c2).status != ClaimStatus.PENDING:
            break
    assert gc.claim(c2).status == ClaimStatus.SLASHED
    assert gc.claim(c1).status == ClaimStatus.PENDING and not gc.game(g1).over
    errs = [e for e in events if e["event"] == "error" and e["on"] == ["game", g1]]
    assert errs and errs[-1]["retry_s"] > errs[0]["retry_s"]  # backed off
    monkeypatch.setattr(w, "_player", real)  # mended: the first game is won too
    w._retry.clear()
    quiet(w, lambda: liar1.defend_once(c1))
    assert gc.claim(c1).status == ClaimStatus.SLASHED


def test_state_is_persisted_and_bounded(gc, lm, tmp_path):
    ok = make_receipt(lm, "tiny", None, False, [5, 6], traced_generate(lm, [5, 6], SETTINGS))
    op = Agent(gc, lm, 1)
    honest = op.submit(ok)
    w = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w")
    quiet(w)
    st = json.loads((tmp_path / "w" / "state.json").read_text())
    assert st["claims"][str(honest)]["state"] == "right" and st["next_block"] == gc.chain.block_number() + 1
    assert not list((tmp_path / "w" / "replays").iterdir())  # a right claim's replay is deleted at once
    gc.chain.mine(1, timestamp=gc.claim(honest).window_end)
    w2 = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w")  # a restart reads it back...
    assert honest in w2.claims
    w2.tick()  # ...and forgets the claim once its window is over
    assert honest not in w2.claims and w2.stats["right"] == 1
    with pytest.raises(ValueError, match="another registry"):
        other = GameClient.deploy(
            gc.chain,
            claim_bond=BOND,
            challenge_bond=BOND,
            challenge_window=10**5,
            replay_micros=1,
            move_window=10**4,
            k=2,
            one_step=gc.chain.call(gc.game_contract, "oneStepVerifier"),
        )
        Watcher.in_process(other, lm, 3, state_dir=tmp_path / "w")


def test_games_loaded_at_once_are_bounded(gc, lm, tmp_path):
    """Three lies played at once by a watcher that keeps one game's trace loaded: every lie is slashed (a game
    whose party was evicted is rebuilt from its digest on disk), never more than one loaded, and nothing is kept
    of them once they are over."""
    w = Watcher.in_process(gc, lm, 3, state_dir=tmp_path / "w", max_parties=1)
    lies = [_lie(gc, lm, [5, 17, 99], step=40), _lie(gc, lm, [11, 12, 13], step=41, who=4)]
    lies.append(_lie(gc, lm, [21, 22], step=33, who=5))
    for _ in range(300):
        for liar, cid in lies:
            liar.defend_once(cid)
        w.tick()
        assert len(w._parties) <= 1
        if all(gc.claim(cid).status != ClaimStatus.PENDING for _, cid in lies):
            break
    assert [gc.claim(cid).status for _, cid in lies] == [ClaimStatus.SLASHED] * 3
    w.tick()
    assert not w._parties and not w.games and not w._retry and not w._flagged_once
    assert not list((tmp_path / "w" / "replays").iterdir())
