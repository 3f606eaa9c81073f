"""The operator's agent under attack, on anvil: several games on one honest claim (each played to the win, none
stalled by another's failure), and its memory bounded however many claims it posts (parties evicted, re-read from
their digests on disk, never re-run)."""

from __future__ import annotations

import pytest
from gamekit import Adversary, quiet

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.trace import Corruption
from prover.dispute.agent import Agent
from prover.dispute.party import EngineParty
from prover.dispute.protocol import ClaimStatus, Result
from prover.runner import make_receipt, traced_generate

pytestmark = pytest.mark.chain

BOND = 10**15
SETTINGS = GenSettings(max_new_tokens=3)
OP, ADV1, ADV2 = 1, 2, 3


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


def _honest_claim(gc, lm, prompt, agent=None):
    op = agent or Agent(gc, lm, OP)
    rc = make_receipt(lm, "tiny", None, False, prompt, traced_generate(lm, prompt, SETTINGS))
    return op, op.submit(rc)


def test_two_games_on_one_honest_claim_are_both_won(gc, lm):
    """Two identities of one adversary challenge one honest claim at once, each with another lie; the defender
    plays both to the win, wherever each game stands, and the claim finalizes with both challenge bonds won."""
    prompt = [5, 17, 99]
    logs: list[str] = []
    op = Agent(gc, lm, OP, log=logs.append)
    op, cid = _honest_claim(gc, lm, prompt, op)
    adv1 = Adversary(gc, lm, ADV1, prompt, SETTINGS, Corruption(30, 0, 1))
    adv2 = Adversary(gc, lm, ADV2, prompt, SETTINGS, Corruption(55, 1, -3))
    g1, g2 = adv1.open(cid), adv2.open(cid)
    defend = lambda: op.defend_once(cid, finalize=False)  # noqa: E731
    for _ in range(6):  # each round: everyone acts until quiet, then the clock passes every open deadline
        quiet(defend, adv1, adv2)
        if gc.game(g1).over and gc.game(g2).over:
            break
        gc.chain.increase_time(gc.move_window + 1)
    results = {g: Result(gc.game(g).result) for g in (g1, g2)}
    assert results == {g1: Result.DEFENDER_WON, g2: Result.DEFENDER_WON}, logs
    assert gc.claim(cid).status == ClaimStatus.PENDING
    gc.chain.mine(1, timestamp=gc.claim(cid).window_end)
    op.defend_once(cid)
    assert gc.claim(cid).status == ClaimStatus.FINAL
    assert gc.credit(op.address) == BOND + 2 * BOND  # its claim bond and both challenge bonds
    assert not [m for m in logs if "Refused" in m or "Error" in m], logs


def test_memory_is_bounded_and_an_evicted_run_is_defended_from_disk(gc, lm, tmp_path):
    """Five claims posted by an agent that keeps two runs loaded: never more than two in memory, one engine run
    per claim (at submit), and a game on the first claim (long evicted) is won from its digest without a re-run;
    a settled claim's digest is deleted."""
    op = Agent(gc, lm, OP, state_dir=tmp_path / "agent", max_parties=2)
    prompts = [[5, 17, 99], [6, 7], [8, 9, 10, 11], [12], [13, 14]]
    cids = []
    for pr in prompts:
        _, cid = _honest_claim(gc, lm, pr, op)
        cids.append(cid)
        assert len(op._parties) <= 2
    assert op.runs == len(prompts) and len(list((tmp_path / "agent").iterdir())) == len(prompts)
    adv = Adversary(gc, lm, ADV1, prompts[0], SETTINGS, Corruption(30, 0, 1))
    gid = adv.open(cids[0])
    for _ in range(4):
        quiet(lambda: op.defend_once(cids[0], finalize=False), adv)
        if gc.game(gid).over:
            break
        gc.chain.increase_time(gc.move_window + 1)
    assert Result(gc.game(gid).result) == Result.DEFENDER_WON
    assert op.runs == len(prompts) and len(op._parties) <= 2  # loaded from its digest: no engine run
    gc.chain.mine(1, timestamp=max(gc.claim(c).window_end for c in cids))
    for c in cids[:3]:
        op.defend_once(c)
        assert gc.claim(c).status == ClaimStatus.FINAL
    assert len(list((tmp_path / "agent").iterdir())) == 2  # the settled claims' digests are gone


def test_a_failed_poll_does_not_stop_the_defender(gc, lm, monkeypatch):
    """An RPC failure in one poll is logged and the next poll goes on (a defender that exited would lose every
    open game by timeout)."""
    logs: list[str] = []
    op, cid = _honest_claim(gc, lm, [21, 22], Agent(gc, lm, OP, log=logs.append))
    real, calls = op.posted, [0]

    def flaky(claim_id, event=None):
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError("RPC unreachable")
        return real(claim_id, event)

    monkeypatch.setattr(op, "posted", flaky)
    gc.chain.mine(1, timestamp=gc.claim(cid).window_end)
    assert op.defend(cid, poll=0) == ClaimStatus.FINAL
    assert any("poll failed: ConnectionError" in m for m in logs)


def test_a_liars_digest_serves_what_its_run_committed(lm, tmp_path):
    """A dishonest run's digest (its corruption recorded) regenerates the edited step and the ones after it exactly
    as the run made them: openings, output trees and one-step witnesses equal the in-memory run's."""
    from prover.dispute.replay import load_run, write_digest

    prompt, corrupt = [5, 17, 99, 4], Corruption(100, 1, 1)
    tr = traced_generate(lm, prompt, SETTINGS, corrupt=corrupt)
    write_digest(tr, prompt, [0, 32, 0, 3], tr.result.tokens, tmp_path / "d", corrupt)
    mem = EngineParty(lm, tr, prompt=prompt)
    disk = EngineParty(lm, load_run(tmp_path / "d", lm.program.context), prompt=prompt)
    assert disk.trace_root == mem.trace_root
    for i in (99, 100, 101, 100 + lm.program.steps_per_token):
        assert disk.opening(i) == mem.opening(i) and disk.output_tree(i).root == mem.output_tree(i).root
    assert disk.one_step_operands(101, 0) == mem.one_step_operands(101, 0)


def test_a_failing_game_never_holds_the_other(gc, lm, monkeypatch):
    """Two games on one honest claim; every move in the first fails (as a broken RPC for it would): the second is
    played on meanwhile, each failure is one log line naming the game, and once mended both are won."""
    prompt = [5, 17, 99]
    logs: list[str] = []
    op, cid = _honest_claim(gc, lm, prompt, Agent(gc, lm, OP, log=logs.append))
    adv1 = Adversary(gc, lm, ADV1, prompt, SETTINGS, Corruption(30, 0, 1))
    adv2 = Adversary(gc, lm, ADV2, prompt, SETTINGS, Corruption(55, 1, -3))
    g1, g2 = adv1.open(cid), adv2.open(cid)
    real = op._advance

    def broken(gid, player, claim_id):
        if gid == g1:
            raise ConnectionError("RPC refused this game's call")
        return real(gid, player, claim_id)

    monkeypatch.setattr(op, "_advance", broken)
    defend = lambda: op.defend_once(cid, finalize=False)  # noqa: E731
    quiet(defend, adv1, adv2)
    reveals = {g: len(gc.events("Revealed", gameId=g)) for g in (g1, g2)}
    assert reveals[g1] == 0 and reveals[g2] >= 2  # the second game went on while the first failed
    assert any(m.startswith(f"game {g1} (claim {cid}): ConnectionError") for m in logs)
    monkeypatch.setattr(op, "_advance", real)  # mended inside the first game's move window
    for _ in range(6):
        quiet(defend, adv1, adv2)
        if gc.game(g1).over and gc.game(g2).over:
            break
        gc.chain.increase_time(gc.move_window + 1)
    assert [Result(gc.game(g).result) for g in (g1, g2)] == [Result.DEFENDER_WON] * 2


def test_a_poll_reads_only_new_blocks(gc, lm):
    """However long the chain, a poll reads the claim once and then only the blocks past its last poll (and a few
    before, for reorgs): games opened between polls, on any of its claims, are all found."""
    from prover.dispute.agent import REORG_BLOCKS

    op, c1 = _honest_claim(gc, lm, [5, 17, 99])
    _, c2 = _honest_claim(gc, lm, [6, 7], op)
    reads: list[tuple] = []
    real = gc.events

    def events(name, from_block=None, to_block="latest", **kw):
        reads.append((name, from_block, kw.get("claimId")))
        return real(name, from_block=from_block, to_block=to_block, **kw)

    gc.events = events
    op.defend_once(c1, finalize=False)
    op.defend_once(c2, finalize=False)
    gc.chain.mine(200)
    adv = Adversary(gc, lm, ADV1, [6, 7], SETTINGS, Corruption(30, 0, 1))
    op.defend_once(c1, finalize=False)
    reads.clear()
    head = gc.chain.block_number()
    gid = adv.open(c2)
    op.defend_once(c1, finalize=False)  # a poll on the other claim reads the new blocks for both
    assert reads == [("GameOpened", head + 1 - REORG_BLOCKS, None)]
    reads.clear()
    op.defend_once(c2, finalize=False)
    polled = list(reads)
    assert len(real("Revealed", gameId=gid)) == 1  # found (and answered) without a scan from the start
    assert all(name == "GameOpened" and lo > head - REORG_BLOCKS for name, lo, _ in polled), polled
