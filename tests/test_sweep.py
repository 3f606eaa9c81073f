"""Exhaustive divergence sweep with the real engine, the real OneStep and the ClaimRegistry on anvil.

A small trace (tiny model, prompt [5, 17], one new token: 2 positions x S instructions) and, for EVERY step s,
one element of s's output changed by +1 (for a KV-cache append, an element of the appended row):
* a dishonest defender against an honest challenger: the challenger wins, at exactly step s;
* an honest defender against a dishonest challenger: the defender wins, at exactly step s.
Every game stays within ceil(log2 steps) + ceil(log2 leaves) + 2 rounds and every transaction under 2^24 gas;
afterwards the registry holds exactly the bonds of the claims still pending.
"""

from __future__ import annotations

import pytest
from gamekit import Lenient, dispute

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.trace import Corruption
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Reason, Result
from prover.runner import traced_generate

pytestmark = pytest.mark.chain

PROMPT = [5, 17]
SETTINGS = GenSettings(max_new_tokens=1)
BOND = 10**15
OP, CH = 1, 2


@pytest.fixture(scope="module")
def honest(lm) -> EngineParty:
    return EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS))


@pytest.fixture(scope="module")
def gc(chain, honest) -> GameClient:
    onestep = deploy_one_step(chain)
    g = GameClient.deploy(chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=10**6, move_window=1000, k=2, one_step=onestep.address)
    honest.register(g)
    return g


def corruption_at(lm, honest: EngineParty, s: int) -> Corruption:
    t, idx = divmod(s, lm.program.steps_per_token)
    if lm.program.instrs[idx].op == "kv_append":  # only the row appended at this position is new
        return Corruption(s, t * honest.opening(s).shape[1], 1)
    return Corruption(s, 0, 1)


def liars(lm, honest):
    for s in range(honest.step_count):
        c = corruption_at(lm, honest, s)
        yield s, EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS, corrupt=c))


def test_sweep_is_small_and_whole(lm, honest):
    assert honest.step_count == 2 * lm.program.steps_per_token
    ops = {ins.op for ins in lm.program.instrs}
    assert {
        "embed",
        "linear",
        "rmsnorm",
        "linear_rope",
        "kv_append",
        "attn_scores",
        "softmax",
        "attn_mix",
        "linear_add",
        "linear_swiglu",
        "topk_chunk",
        "sample",
    } <= ops  # (tiny has < 1024 logits: no top-k merge)


def test_every_step_dishonest_defender_loses(lm, gc, honest):
    bad = []
    worst = 0
    for s, liar in liars(lm, honest):
        before = gc.credit(CH)
        p = dispute(gc, liar, HonestPlayer(gc, honest, CH), op=OP, ch=CH, bond=BOND, label=f"liar defender @{s}")
        worst = max(worst, p.rounds)
        if (
            (p.game.result, p.game.step) != (Result.CHALLENGER_WON, s)
            or gc.credit(CH) - before != BOND + BOND // 2
            or gc.claim(p.game.claim_id).status != ClaimStatus.SLASHED
        ):
            bad.append((s, p.game.result, p.game.step, p.reason))
    assert not bad, bad
    print(f"\n{honest.step_count} dishonest defenders: all lost; max rounds {worst}")


def test_every_step_dishonest_challenger_loses(lm, gc, honest):
    bad = []
    for s, liar in liars(lm, honest):
        before = gc.credit(OP)
        p = dispute(
            gc, honest, Lenient(HonestPlayer(gc, liar, CH)), op=OP, ch=CH, bond=BOND, label=f"liar challenger @{s}"
        )
        if (
            (p.game.result, p.game.step) != (Result.DEFENDER_WON, s)
            or gc.credit(OP) - before != BOND
            or p.reason not in (Reason.ELEMENT_CORRECT, Reason.TIMEOUT)
        ):
            bad.append((s, p.game.result, p.game.step, p.reason))
    assert not bad, bad


def test_the_registry_holds_exactly_what_is_owed(gc):
    for who in (OP, CH):
        if gc.credit(who):
            gc.withdraw(sender=who)
    pending = [gc.claim(e.args["claimId"]) for e in gc.events("ClaimPosted") if e.address == gc.address]
    owed = sum(c.bond for c in pending if c.status == ClaimStatus.PENDING)
    assert owed == len([c for c in pending if c.status == ClaimStatus.PENDING]) * BOND > 0
    burned = gc.credit("0x" + "00" * 20)  # half of every slashed claim bond
    assert gc.ledger() == (owed + burned, owed, burned)
