"""Many parties, one claim, on a real anvil with the real engine and OneStep (tiny model):

* several sybil challengers (each with its own wrong trace) against one honest claim all lose their bonds to it;
* a copier who front-runs the honest challenger's final one-step (same calldata, a higher tip, both in one block
  with automine off) gains nothing: its transaction reverts, the challenger is paid;
* a watcher scans from a start block and then only new blocks.
After each, the contracts hold exactly what is still owed.
"""

from __future__ import annotations

import pytest
from gamekit import Lenient, quiet, won

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.merkle import DTYPE_WIDTH, LEAF_BYTES
from prover.commit.trace import Corruption
from prover.dispute.agent import Agent
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Phase, Reason, Result
from prover.dispute.watcher import Watcher
from prover.runner import make_receipt, traced_generate

pytestmark = pytest.mark.chain

PROMPT = [5, 17, 99, 120]
SETTINGS = GenSettings(max_new_tokens=3)
BOND = 10**15
WINDOW, MOVE = 10**6, 1000


@pytest.fixture(scope="module")
def honest_run(lm):
    return traced_generate(lm, PROMPT, SETTINGS)


@pytest.fixture()
def gc(chain):
    onestep = deploy_one_step(chain)
    return GameClient.deploy(
        chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=WINDOW, move_window=MOVE, k=2, one_step=onestep.address
    )


def _step(lm, pos: int, name: str) -> int:
    return pos * lm.program.steps_per_token + lm.program.index[name]


def test_sybil_challengers_all_lose_to_one_honest_claim(chain, gc, lm, honest_run):
    operator = Agent(gc, lm, 1)
    cid = operator.submit(make_receipt(lm, "tiny", None, False, PROMPT, honest_run), BOND)
    last = honest_run.tracer.step_count - 1
    wrong = {2: Corruption(0, 0, 1), 3: Corruption(_step(lm, 2, "L1.q_rope"), 3, -1), 4: Corruption(last, 0, 1)}
    sybils, games = {}, {}
    for who, corr in wrong.items():
        party = EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS, corrupt=corr))
        sybils[who] = Lenient(HonestPlayer(gc, party, who))
        games[who] = gc.challenge(cid, bond=BOND, sender=who).game_id
    assert gc.claim(cid).open_games == 3
    for _ in range(300):
        n = operator.defend_once(cid, finalize=False)
        for who, pl in sybils.items():
            if pl.move(games[who]) is not None:
                n += 1
        if all(gc.game(g).over for g in games.values()):
            break
        if n == 0:  # a sybil that cannot prove its claim goes quiet: the operator claims the timeout
            chain.increase_time(MOVE)
    for who, gid in games.items():
        g = gc.game(gid)
        assert g.result == Result.DEFENDER_WON, who
        assert g.step == wrong[who].step  # each game narrowed to exactly where that sybil's trace went wrong
        why = Reason(gc.events("GameResolved", gameId=gid)[0].args["reason"])
        assert why in (Reason.ELEMENT_CORRECT, Reason.TIMEOUT), (who, why)
    assert gc.claim(cid).status == ClaimStatus.PENDING and gc.claim(cid).open_games == 0
    chain.mine(1, timestamp=gc.claim(cid).window_end)
    assert operator.defend_once(cid) == 1 and gc.claim(cid).status == ClaimStatus.FINAL
    assert [gc.credit(w) for w in wrong] == [0, 0, 0]
    assert operator.withdraw() == BOND + 3 * BOND  # its bond back and every sybil's
    assert gc.ledger() == (0, 0, 0)


def test_a_copier_front_running_the_final_step_gains_nothing(chain, gc, lm, honest_run):
    corr = Corruption(_step(lm, 1, "L0.act"), 2, 1)
    liar = EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS, corrupt=corr))
    honest = EngineParty(lm, honest_run)
    OP, CH, COPIER = 5, 6, 7
    liar.register(gc, sender=OP)
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    players = {chain.address(OP): HonestPlayer(gc, liar, OP), chain.address(CH): HonestPlayer(gc, honest, CH)}
    while True:  # play up to the challenger's last move: the one-step on the revealed leaf
        g = gc.game(gid)
        if g.phase == Phase.LEAF_REVEALED:
            break
        assert not g.over
        players[g.to_move].move(gid)
    # the challenger's one-step, built exactly as HonestPlayer builds it
    mine = honest.output_tree(g.step).leaf(g.index)
    w = DTYPE_WIDTH["i32"]
    j = next(j for j in range(LEAF_BYTES // w) if mine[j * w : (j + 1) * w] != g.leaf[j * w : (j + 1) * w])
    e = g.index * (LEAF_BYTES // w) + j
    args = (gid, honest.instr_bytes(g.step % honest.steps_per_token), honest.one_step_operands(g.step, e), j)
    data = chain.calldata(gc.game_contract, "oneStep", *args)
    w3 = chain.w3
    copier_balance = chain.balance(COPIER)
    chain.set_automine(False)
    try:
        gwei = 10**9
        honest_tx = w3.eth.send_transaction(
            {
                "from": chain.address(CH),
                "to": gc.game_contract.address,
                "data": data,
                "gas": 15_000_000,
                "maxFeePerGas": 100 * gwei,
                "maxPriorityFeePerGas": 1 * gwei,
            }
        )
        seen = w3.eth.get_transaction(honest_tx)  # the copier reads it from the pool and outbids it
        copy_tx = w3.eth.send_transaction(
            {
                "from": chain.address(COPIER),
                "to": seen["to"],
                "data": seen["input"],
                "gas": 15_000_000,
                "maxFeePerGas": 200 * gwei,
                "maxPriorityFeePerGas": 50 * gwei,
            }
        )
        chain.mine()
    finally:
        chain.set_automine(True)
    r_copy, r_honest = w3.eth.get_transaction_receipt(copy_tx), w3.eth.get_transaction_receipt(honest_tx)
    assert r_copy["blockNumber"] == r_honest["blockNumber"]
    assert r_copy["transactionIndex"] < r_honest["transactionIndex"]  # the copy ran first...
    assert r_copy["status"] == 0 and r_honest["status"] == 1  # ...and reverted (not a party)
    assert gc.decode_error(gc._replay_revert(r_copy))[0] == "NotAParty"
    g = gc.game(gid)
    assert (g.result, g.step) == (Result.CHALLENGER_WON, corr.step)
    assert gc.claim(cid).status == ClaimStatus.SLASHED
    assert gc.credit(COPIER) == 0 and chain.balance(COPIER) < copier_balance  # it only paid gas
    assert gc.credit(CH) == won(BOND)
    gc.withdraw(sender=CH)
    burned = BOND - BOND // 2
    assert gc.ledger() == (burned, 0, burned)


def test_watcher_scans_from_its_start_block_and_then_only_new_blocks(chain, gc, lm, honest_run):
    bad = Corruption(_step(lm, 3, "L1.h"), 1, 1)
    bad_rc = make_receipt(lm, "tiny", None, False, PROMPT, traced_generate(lm, PROMPT, SETTINGS, corrupt=bad))
    ok_rc = make_receipt(lm, "tiny", None, False, PROMPT, honest_run)
    liar = Agent(gc, lm, 8, corrupt=bad)
    old = liar.submit(bad_rc, BOND)
    start = chain.block_number() + 1
    late = Watcher.in_process(gc, lm, 9, from_block=start)  # started after claim `old`: does not see it
    full = Watcher.in_process(gc, lm, 3, from_block=0)
    assert late.tick() == 0 and late.next_block == chain.block_number() + 1 and not late.claims
    honest_cid = Agent(gc, lm, 1).submit(ok_rc, BOND)
    liar2 = Agent(gc, lm, 2, corrupt=bad)
    new = liar2.submit(bad_rc, BOND)  # posted after late's first scan: its next poll finds it
    quiet(late)
    assert late.games_on(new) and not late.games_on(old)
    assert late.claims[honest_cid].state == "right" and late.stats["right"] == 1  # checked once: right
    assert not (late.state_dir / "replays" / f"claim-{honest_cid}").exists()  # and its replay dropped
    quiet(full)
    assert len(full.games_on(old)) == len(full.games_on(new)) == 1  # a second honest game on `new` is its own right
    quiet(late, full, lambda: liar.defend_once(old), lambda: liar2.defend_once(new))
    assert gc.claim(old).status == gc.claim(new).status == ClaimStatus.SLASHED
    assert gc.claim(honest_cid).status == ClaimStatus.PENDING
    bal, locked, credit = gc.ledger()
    burned = 2 * (BOND - BOND // 2)  # the watchers withdrew as they won: only the burned halves stay credited
    assert credit == burned and bal == locked + burned and locked == BOND  # and the honest claim's bond
