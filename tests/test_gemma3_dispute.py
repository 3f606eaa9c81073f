"""Dishonest Gemma claims disputed on anvil: the REAL engine on tiny-gemma3 (engine/models/tiny_gemma3.py, the
Gemma 3 template on a seeded small model), the REAL OneStep (every family, the four Gemma families included) and
the ClaimRegistry.

Prompt of 6 tokens, 3 new (8 positions, past the sliding window of 4, so local layers mask): a lie at each new
op (the embedding scale, the per-head q norm, NEOX RoPE, a masked and an unmasked score of the sliding-window mask,
the GELU-gated product, the global layer's scores, the sampled token) is bisected to exactly its step, descended
to one leaf and recomputed by the contract: the honest challenger wins. A liar challenging the honest claim loses.
The real Gemma 3 270M file plays one such game in tests/test_gemma3.py (slow).
"""

from __future__ import annotations

import pytest
from gamekit import GAS_CAP, Lenient, dispute, won

from engine.generate import GenSettings
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.trace import Corruption
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Phase, Reason, Result
from prover.runner import traced_generate

pytestmark = pytest.mark.chain

PROMPT = [1, 365, 359, 275, 278, 272]
SETTINGS = GenSettings(max_new_tokens=3)
POSITIONS = len(PROMPT) + SETTINGS.max_new_tokens - 1  # 8: the last new token is not run
BOND = 10**15
OP, CH = 1, 2


@pytest.fixture(scope="module")
def glm():
    from engine.runtime import IntegerLM

    return IntegerLM.load("tiny-gemma3")


@pytest.fixture(scope="module")
def honest(glm) -> EngineParty:
    return EngineParty(glm, traced_generate(glm, PROMPT, SETTINGS))


@pytest.fixture(scope="module")
def gc(chain, honest) -> GameClient:
    g = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=10**6,
        move_window=1000,
        k=4,
        one_step=deploy_one_step(chain).address,
    )
    assert honest.register(g).gas < GAS_CAP
    return g


def _step(h: EngineParty, position: int, name: str) -> int:
    return position * h.steps_per_token + h.program.index[name]


LIES = {  # name -> (position, instruction, element)
    "embed-scale": (2, "embed", 5),
    "q-head-norm": (3, "L0.q_norm", 200),  # head 1
    "k-rope-neox": (4, "L1.k_rope", 100),  # second half of the head: the a*s + b*c branch
    "masked-score": (7, "L2.masked", 1),  # key 1 at position 7: outside the window of 4 (no fan-in)
    "window-score": (7, "L2.masked", 8 + 6),  # head 1, key 6: inside the window
    "geglu": (5, "L3.act", 77),
    "global-scores": (7, "L5.scores", 2),  # the global layer attends to key 2 (a local one could not)
    "sampled-token": (len(PROMPT) - 1, "sample", 0),  # the first generated token
}


def test_template_is_gemma(honest):
    """The program is Gemma's: 5 local layers with a mask and the 10k table, layer 5 global with the 1M one."""
    ops = {i.name: i for i in honest.program.instrs}
    assert "L5.masked" not in ops and all(f"L{n}.masked" in ops for n in range(5))
    assert ops["L5.q_rope"].inputs[1].name == "rope_global.cos" and ops["L0.q_rope"].inputs[1].name == "rope.cos"
    assert {"geglu", "head_rmsnorm", "rope_neox", "swa_mask", "scale"} <= {i.op for i in honest.program.instrs}


@pytest.mark.parametrize("name", list(LIES))
def test_dishonest_gemma_claim_loses(glm, gc, honest, name):
    pos, ins, elem = LIES[name]
    c = Corruption(_step(honest, pos, ins), elem, 1)
    liar = EngineParty(glm, traced_generate(glm, PROMPT, SETTINGS, corrupt=c))
    assert liar.step_count == POSITIONS * honest.steps_per_token and liar.trace_root != honest.trace_root
    before = gc.credit(CH)
    p = dispute(gc, liar, HonestPlayer(gc, honest, CH), op=OP, ch=CH, bond=BOND, label=name)
    g = p.game
    assert (g.result, g.step) == (Result.CHALLENGER_WON, c.step), (name, g.result, g.step, c.step)
    assert p.reason in (Reason.WRONG_ELEMENT, Reason.WRONG_OPERAND), p.reason
    assert g.phase in (Phase.LEAF_REVEALED, Phase.STEP_OPENED)
    assert gc.credit(CH) - before == won(BOND)
    assert gc.claim(g.claim_id).status == ClaimStatus.SLASHED


def test_liar_challenging_the_honest_gemma_claim_loses(glm, gc, honest):
    c = Corruption(_step(honest, 6, "L4.act"), 3, 1)
    liar = EngineParty(glm, traced_generate(glm, PROMPT, SETTINGS, corrupt=c))
    before = gc.credit(OP)
    p = dispute(gc, honest, Lenient(HonestPlayer(gc, liar, CH)), op=OP, ch=CH, bond=BOND, label="liar challenger")
    assert p.game.result == Result.DEFENDER_WON and p.game.step == c.step
    assert p.reason in (Reason.ELEMENT_CORRECT, Reason.TIMEOUT)
    assert gc.credit(OP) - before == BOND


@pytest.mark.slow
def test_dishonest_claim_on_gemma3_270m_loses(chain):
    """The real file: the France qa prompt, a claim whose layer-8 GELU product is off by one at the last prompt
    position (so ' Paris' may even survive: the lie is in the trace), bisected to that step and one leaf on the
    deployed OneStep; the honest challenger wins."""
    from engine.runtime import IntegerLM

    lm = IntegerLM.load("gemma3")
    ids = lm.encode_prompt("Question: What is the capital of France?\nAnswer:")
    settings = GenSettings(max_new_tokens=2)
    honest = EngineParty(lm, traced_generate(lm, ids, settings))
    g = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=10**6,
        move_window=1000,
        k=4,
        one_step=deploy_one_step(chain).address,
    )
    assert honest.register(g).gas < GAS_CAP
    c = Corruption(_step(honest, len(ids) - 1, "L8.act"), 1000, 1)
    liar = EngineParty(lm, traced_generate(lm, ids, settings, corrupt=c))
    p = dispute(g, liar, HonestPlayer(g, honest, CH), op=OP, ch=CH, bond=BOND, label="gemma3 270M")
    assert (p.game.result, p.game.step) == (Result.CHALLENGER_WON, c.step)
    assert p.reason in (Reason.WRONG_ELEMENT, Reason.WRONG_OPERAND)
    assert g.claim(p.game.claim_id).status == ClaimStatus.SLASHED
