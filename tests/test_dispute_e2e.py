"""Whole dispute games with the REAL engine, the REAL OneStep and the ClaimRegistry on anvil.

The tiny model, prompt [5, 17, 99, 120], 3 new tokens (6 positions x steps_per_token instructions):
* an honest claim, challenged by a challenger whose own trace is corrupted: the honest defender wins
  (the challenger's one-step agrees with the defender's element, or it cannot prove anything);
* dishonest claims (a Corruption at the first step, the last step, a middle step, a KV cache row, a linear
  output and the sampled token) against an honest challenger: the challenger wins through the one-step at
  exactly the corrupted step, and is credited its bond plus the defender's;
* every game within ceil(log2 steps) + ceil(log2 leaves) + 2 rounds, every transaction under 2^24 gas; after
  the withdrawals the registry holds exactly the bonds still locked (a table of rounds and gas: pytest -s).
"""

from __future__ import annotations

import pytest
from gamekit import quiet, won, GAS_CAP, Lenient, dispute

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.trace import Corruption
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Phase, Reason, Result
from prover.runner import traced_generate

pytestmark = pytest.mark.chain

PROMPT = [5, 17, 99, 120]
SETTINGS = GenSettings(max_new_tokens=3)
BOND = 10**15
WINDOW = 10**6
MOVE = 1000
OP, CH = 1, 2
TABLE: list[tuple] = []


@pytest.fixture(scope="module")
def honest(lm) -> EngineParty:
    return EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS))


@pytest.fixture(scope="module")
def gc(chain, honest) -> GameClient:
    onestep = deploy_one_step(chain)
    g = GameClient.deploy(
        chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=WINDOW, move_window=MOVE, k=4, one_step=onestep.address
    )
    assert g.deploy_gas < GAS_CAP
    assert honest.register(g).gas < GAS_CAP
    assert g.model(honest.model_root).registered
    return g


def corrupted(lm, c: Corruption) -> EngineParty:
    p = EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS, corrupt=c))
    assert p.step_count == 6 * lm.program.steps_per_token  # 6 positions
    return p


def game(gc: GameClient, defender: EngineParty, challenger, label: str):
    """Post defender's claim (as OP), challenger (acting as CH) disputes it; play to the end and check bounds."""
    p = dispute(gc, defender, challenger, op=OP, ch=CH, bond=BOND, label=label)
    g, why = p.game, p.reason
    TABLE.append((label, g.step, g.out_leaves, p.rounds, p.bound, p.max_gas, p.last, why.name))
    return g, why


def test_engine_party_matches_the_run(lm, honest):
    """Openings hash to the run's records, outputs to its roots, and witnesses evaluate to the traced values."""
    S = honest.steps_per_token
    assert honest.trace_tree().root == honest.trace_root and honest.step_count == 6 * S
    for i in (0, honest.program.index["L0.k_cache"], S - 1, 100, honest.step_count - 1):
        op = honest.opening(i)
        assert op.record(i) == honest.run.tracer.records[i]
        hs = honest.operand_headers(i)
        assert len(hs) == len(op.operand_roots)
        w = honest.witness(i, 0)
        assert w.operand_roots == list(op.operand_roots) and w.instr_bytes == honest.instr_bytes(i % S)
        leaf = honest.output_tree(i).leaf(0)
        assert int.from_bytes(leaf[:4], "big", signed=True) == w.expected
    # a corrupted run's openings differ from the honest ones exactly from the corrupted step on
    liar = corrupted(lm, Corruption(100, 3, 1))
    assert liar.opening(99) == honest.opening(99) and liar.opening(100) != honest.opening(100)
    assert liar.trace_root != honest.trace_root


@pytest.mark.parametrize(
    "where,element",
    [
        (lambda h: 3 * h.steps_per_token + h.program.index["L0.attn_norm"], 0),
        (lambda h: 2 * h.steps_per_token + h.program.index["L0.act"], 5),
        (lambda h: h.step_count - 1, 0),
    ],
    ids=["mid-rmsnorm", "linear", "last"],
)
def test_dishonest_challenger_loses(lm, gc, honest, where, element):
    step = where(honest)
    liar = corrupted(lm, Corruption(step, element, 1))
    before = gc.credit(OP)
    g, why = game(gc, honest, Lenient(HonestPlayer(gc, liar, CH)), f"liar challenger @{step}")
    assert g.result == Result.DEFENDER_WON and g.step == step
    assert why in (Reason.ELEMENT_CORRECT, Reason.TIMEOUT)
    assert gc.credit(OP) - before == BOND
    assert gc.claim(g.claim_id).status == ClaimStatus.PENDING


def _kv_corruption(honest: EngineParty, t: int) -> Corruption:
    k = honest.program.index["L0.k_cache"]
    step = t * honest.steps_per_token + k  # L0.k_cache: the row appended at position t
    ins = honest.program.instrs[k]
    assert ins.op == "kv_append"
    width = honest.opening(step).shape[1]
    return Corruption(step, t * width + 3, 1)


DISHONEST = {
    "first": lambda h: Corruption(0, 0, 1),
    "last": lambda h: Corruption(h.step_count - 1, 0, 1),  # the final sample: only the last token changes
    "middle": lambda h: Corruption(3 * h.steps_per_token + h.program.index["L0.attn_norm"], 7, 1),  # position 3
    "kv-row": lambda h: _kv_corruption(h, 2),
    "linear": lambda h: Corruption(2 * h.steps_per_token + h.program.index["L0.act"], 5, 1),  # position 2
    "sampled-token": lambda h: Corruption(4 * h.steps_per_token - 1, 0, 1),  # the first generated token
}


@pytest.mark.parametrize("name", list(DISHONEST))
def test_dishonest_claim_loses(lm, gc, honest, name):
    c = DISHONEST[name](honest)
    liar = corrupted(lm, c)
    if name in ("last", "sampled-token"):
        assert liar.output != honest.output
    before = gc.credit(CH)
    g, why = game(gc, liar, HonestPlayer(gc, honest, CH), f"liar claim {name} @{c.step}")
    assert (g.result, g.step) == (Result.CHALLENGER_WON, c.step)
    assert why in (Reason.WRONG_ELEMENT, Reason.WRONG_OPERAND), why
    assert g.phase in (Phase.LEAF_REVEALED, Phase.STEP_OPENED)
    assert gc.credit(CH) - before == won(BOND)  # its own bond back and half the defender's
    assert gc.claim(g.claim_id).status == ClaimStatus.SLASHED


def test_withdrawals_leave_exactly_the_locked_bonds(gc):
    bal, locked, credit = gc.ledger()
    assert bal == locked + credit
    for who in (OP, CH):
        if gc.credit(who):
            assert gc.withdraw(sender=who).gas < GAS_CAP
            assert gc.credit(who) == 0
    pending = [gc.claim(e.args["claimId"]) for e in gc.events("ClaimPosted") if e.address == gc.address]
    owed = sum(c.bond for c in pending if c.status == ClaimStatus.PENDING)
    assert owed == 3 * BOND  # the honest claims the liars challenged in vain
    burned = gc.credit("0x" + "00" * 20)  # half of every slashed claim bond
    assert burned == len(DISHONEST) * (BOND - BOND // 2)
    assert gc.ledger() == (owed + burned, owed, burned)


def test_table():
    assert len(TABLE) == 3 + len(DISHONEST)
    print(
        f"\n{'game':34s} {'step':>5s} {'leaves':>6s} {'rounds':>6s} {'bound':>5s} {'max gas':>10s} "
        f"{'final move (phase)':>20s} {'its gas':>9s}  reason"
    )
    for label, step, leaves, rounds, bound, gas, (fin, fgas), why in TABLE:
        print(f"{label:34s} {step:5d} {leaves:6d} {rounds:6d} {bound:5d} {gas:10,d} {fin:>20s} {fgas:9,d}  {why}")


# -- the agent (prover/agent.py): submit / defend / watch, resumable from chain state ----------------------


def test_agents_submit_defend_watch(chain, lm, tmp_path):
    from prover.dispute.agent import Agent
    from prover.dispute.watcher import Watcher
    from prover.runner import make_receipt

    onestep = deploy_one_step(chain)
    g2 = GameClient.deploy(
        chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=WINDOW, move_window=MOVE, k=2, one_step=onestep.address
    )
    OP2, CH2 = 3, 4
    bad = Corruption(2 * lm.program.steps_per_token + lm.program.index["L1.scores"], 1, 1)  # L1.scores at position 2
    honest_rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS))
    liar_rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS, corrupt=bad))
    assert honest_rc.trace.trace_root != liar_rc.trace.trace_root

    good_op, liar_op = Agent(g2, lm, OP), Agent(g2, lm, OP2, corrupt=bad)
    with pytest.raises(ValueError):  # an honest agent will not post a receipt its replay does not reproduce
        good_op.submit(liar_rc, BOND)
    ok_cid = good_op.submit(honest_rc, BOND)
    bad_cid = liar_op.submit(liar_rc, BOND)

    state = tmp_path / "watch"
    watcher = Watcher.in_process(g2, lm, CH2, state_dir=state)
    quiet(watcher)
    assert len(watcher.games_on(bad_cid)) == 1  # challenges the wrong claim only
    assert watcher.games_on(ok_cid) == []
    for turn in range(60):
        if turn == 5:  # both restart from scratch: the liar from the chain, the watcher from the chain and its state
            liar_op, watcher = Agent(g2, lm, OP2, corrupt=bad), Watcher.in_process(g2, lm, CH2, state_dir=state)
        liar_op.defend_once(bad_cid)
        watcher.tick()
        if g2.claim(bad_cid).status != ClaimStatus.PENDING:
            break
    assert turn > 5  # the restart happened mid-game
    gid = watcher.games_on(bad_cid)[0]
    g = g2.game(gid)
    assert (g.result, g.step) == (Result.CHALLENGER_WON, bad.step)
    assert g2.claim(bad_cid).status == ClaimStatus.SLASHED
    quiet(watcher)  # the last withdrawal, then nothing left to do
    assert quiet(watcher) == 0 and g2.credit(CH2) == 0
    assert sum(int(e.args["amount"]) for e in g2.events("Withdrawn", who=watcher.address)) == won(BOND)

    # the honest claim: nobody challenges; after the window its operator finalizes it
    assert good_op.defend_once(ok_cid) == 0
    chain.mine(1, timestamp=g2.claim(ok_cid).window_end)
    assert good_op.defend_once(ok_cid) == 1 and g2.claim(ok_cid).status == ClaimStatus.FINAL
    assert (good_op.withdraw(), liar_op.withdraw()) == (BOND, 0)
    burned = BOND - BOND // 2
    assert g2.ledger() == (burned, 0, burned)


def test_agent_claims_a_timeout_from_a_stalling_liar(chain, lm):
    from prover.dispute.agent import Agent
    from prover.dispute.watcher import Watcher
    from prover.runner import make_receipt

    onestep = deploy_one_step(chain)
    g2 = GameClient.deploy(
        chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=WINDOW, move_window=MOVE, k=4, one_step=onestep.address
    )
    bad = Corruption(5, 0, 1)
    rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS, corrupt=bad))
    liar, watcher = Agent(g2, lm, 5, corrupt=bad), Watcher.in_process(g2, lm, 6)
    cid = liar.submit(rc, BOND)
    assert quiet(watcher) == 1  # the challenge
    liar.defend_once(cid)  # one answer, then the liar goes quiet
    assert watcher.tick() == 1  # the watcher's pick
    assert quiet(watcher) == 0  # waiting for the liar
    chain.increase_time(MOVE)
    assert watcher.tick() == 2  # the timeout, then its winnings withdrawn
    g = g2.game(watcher.games_on(cid)[0])
    assert g.result == Result.CHALLENGER_WON and g2.claim(cid).status == ClaimStatus.SLASHED
    assert g2.credit(watcher.address) == 0 and g2.ledger() == (BOND - BOND // 2, 0, BOND - BOND // 2)
