"""The time and money rules (prover.dispute.timing): the gas bound a bond is sized from holds for every move of
real games on anvil, and `obrain deploy`'s checks refuse what cannot protect a claim, saying why."""

from __future__ import annotations

import pytest

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.trace import Corruption
from prover.dispute import timing
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer, play
from prover.runner import traced_generate

PROMPT = [5, 17, 99, 120]
BOND = 10**15


def _kind(g, r) -> str:
    name = r.events[0].name if r.events else "?"
    if name == "Challenged":
        return "challenge"
    if name == "Revealed":
        return "reveal"
    if name == "Picked":
        return "pick"
    if name == "StepOpened":
        return "open"
    if name == "OutputDisputed":
        return "dispute"
    if name == "LeafRevealed":
        return "leaf"
    return "one_step"


@pytest.mark.chain
@pytest.mark.parametrize("k", [2, 4, 16])
def test_every_move_of_a_whole_game_is_within_the_bound(chain, lm, k):
    """A lie at the widest step of the last position (the logits: the most output leaves, the costliest linear
    one-step of the tiny model): every move's gas within its constant, the game within game_gas_bound."""
    one = deploy_one_step(chain)
    gc = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        challenge_window=10**6,
        replay_micros=1,
        move_window=10**6,
        k=k,
        one_step=one.address,
    )
    settings = GenSettings(max_new_tokens=3)
    honest = EngineParty(lm, traced_generate(lm, PROMPT, settings), k=k)
    S = lm.program.steps_per_token
    step = honest.step_count - S + lm.program.index["logits"]
    liar = EngineParty(lm, traced_generate(lm, PROMPT, settings, corrupt=Corruption(step, 7, 1)), k=k)
    liar.register(gc, sender=1)
    cid = liar.post(gc, bond=BOND, sender=1).claim_id
    r = gc.challenge(cid, bond=BOND, sender=2)
    gas = {"challenge": r.gas}
    total = r.gas

    def on_move(g, r):
        nonlocal total
        kind = _kind(g, r)
        gas[kind] = max(gas.get(kind, 0), r.gas)
        total += r.gas

    g = play(gc, r.game_id, [HonestPlayer(gc, liar, 1), HonestPlayer(gc, honest, 2)], on_move=on_move)
    assert g.step == step and g.result.name == "CHALLENGER_WON"
    limits = {
        "challenge": timing.CHALLENGE_GAS,
        "reveal": timing.reveal_gas(k),
        "pick": timing.PICK_GAS,
        "open": timing.OPEN_GAS,
        "dispute": timing.DISPUTE_GAS,
        "leaf": timing.LEAF_GAS,
        "one_step": timing.ONE_STEP_GAS,
    }
    assert set(gas) == set(limits), gas
    assert all(gas[m] <= limits[m] for m in gas), (gas, limits)
    assert total <= timing.game_gas_bound(g.step_count, g.out_leaves, k), total


def test_deploy_checks_say_why():
    s = timing.Schedule(
        claim_bond=2 * 10**18,
        challenge_bond=10**18,
        challenge_window=300,
        move_window=600,
        replay_micros=timing.REPLAY_US["smollm2"],
        k=2,
    )
    kw = dict(max_context=1024, steps_per_token=402, leaves=timing.MAX_OUTPUT_LEAVES, max_gas_price_wei=50 * 10**9)
    assert timing.check(s, ["smollm2"], **kw) == []
    slow = timing.check(s.__class__(**{**vars(s), "replay_micros": 1000}), ["smollm2"], **kw)
    assert len(slow) == 1 and "replay" in slow[0] and "1024-position claim" in slow[0]
    cheap = timing.check(s.__class__(**{**vars(s), "challenge_bond": 10**15, "claim_bond": 10**15}), ["smollm2"], **kw)
    assert len(cheap) == 2 and "worst-case game" in cheap[0] and "burned" in cheap[1]
    hasty = timing.check(s.__class__(**{**vars(s), "move_window": 5}), ["smollm2"], **kw)
    assert len(hasty) == 1 and "move" in hasty[0]
    # tiny replays faster: its floors are lower (the bond floor follows the context and steps given)
    assert timing.check(s.__class__(**{**vars(s), "replay_micros": 10_000, "move_window": 30}), ["tiny"], **kw) == []
