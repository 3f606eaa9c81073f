"""The one-step verifier on the tiny models of every GGUF block type, on anvil: OneStep.element == the Python element
== the traced value for every instruction (linear forms, the embedding row of the type, typed norm gains), and for
each K-quant type a whole dispute narrowed to one of its linear steps, won by the honest challenger (plus an
embedding step and the typed-norm steps of tiny-f16 / tiny-bf16)."""

from __future__ import annotations

import random

import pytest

from engine.generate import GenSettings
from engine.models.tiny_types import TYPED_NAMES
from engine.runtime import IntegerLM
from gamekit import GAS_CAP, dispute, won
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient
from prover.commit.model import model_commitment
from prover.commit.trace import Corruption
from prover.commit.values import element_of as output_value
from prover.commit.witness import build_witness, to_call_args
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Reason, Result
from prover.runner import Replayer, traced_generate

pytestmark = pytest.mark.chain

PROMPT = [5, 17, 99]
SETTINGS = GenSettings(max_new_tokens=2)
BOND = 10**15
OP, CH = 1, 2
K_NAMES = ["tiny-q2_k", "tiny-q3_k", "tiny-q4_k", "tiny-q5_k", "tiny-q6_k"]
_LMS: dict[str, IntegerLM] = {}


def lm_of(name: str) -> IntegerLM:
    if name not in _LMS:
        _LMS[name] = IntegerLM.load(name)
    return _LMS[name]


@pytest.fixture(scope="module")
def onestep(chain):
    return deploy_one_step(chain)


@pytest.fixture(scope="module")
def gc(chain, onestep) -> GameClient:
    return GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=10**6,
        move_window=1000,
        k=4,
        one_step=onestep.address,
    )


@pytest.mark.parametrize("name", list(TYPED_NAMES))
def test_onestep_matches_python_on_every_instruction(chain, onestep, name):
    lm = lm_of(name)
    mc = model_commitment(lm)
    run = traced_generate(lm, PROMPT, SETTINGS)
    rp = Replayer(lm, run)
    S = lm.program.steps_per_token
    T = run.tracer.step_count // S
    rng = random.Random(3)
    ws = []
    for k in range(S):
        for t in sorted({0, T - 1}):
            _, _, y = rp.step(t * S + k)
            js = {0, y.size - 1, rng.randrange(y.size)}
            ws += [build_witness(lm, rp, mc, t * S + k, j) for j in sorted(js)]
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=16, strict=False)
    bad = []
    for w, g in zip(ws, got):
        traced = output_value(rp.step(w.step)[2], w.j)
        if not g == w.expected == traced:
            bad.append((w.meta["instr"], w.step, w.j, g, w.expected, traced))
    assert not bad, f"{len(bad)} of {len(ws)} differ: {bad[:4]}"


def _step(lm, t: int, instr: str) -> int:
    return t * lm.program.steps_per_token + lm.program.index[instr]


GAMES = [(n, "L1.v") for n in K_NAMES] + [
    ("tiny-q4_k", "L0.act"),  # linear_swiglu: two rows of the type
    ("tiny-q6_k", "embed"),  # the embedding row of a K-quant
    ("tiny-f16", "L0.attn_norm"),  # rmsnorm_typed, F16 gains
    ("tiny-bf16", "out_norm"),  # rmsnorm_typed, BF16 gains
]


@pytest.mark.parametrize("name, instr", GAMES)
def test_dispute_on_a_typed_step_is_won_by_the_honest_side(gc, name, instr):
    lm = lm_of(name)
    honest = EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS))
    if not gc.model(honest.model_root).registered:
        assert honest.register(gc).gas < GAS_CAP
    step = _step(lm, 1, instr)
    liar = EngineParty(lm, traced_generate(lm, PROMPT, SETTINGS, corrupt=Corruption(step, 3, 1)))
    assert liar.trace_root != honest.trace_root
    before = gc.credit(CH)
    p = dispute(gc, liar, HonestPlayer(gc, honest, CH), op=OP, ch=CH, bond=BOND, label=f"{name} {instr}")
    assert (p.game.result, p.game.step) == (Result.CHALLENGER_WON, step)
    assert p.reason == Reason.WRONG_ELEMENT
    assert gc.credit(CH) - before == won(BOND)  # its own bond back and its share of the defender's
    assert gc.claim(p.game.claim_id).status == ClaimStatus.SLASHED
