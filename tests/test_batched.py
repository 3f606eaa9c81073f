"""Blocks of positions (Executor.run_block: batched prefill, teacher-forced replay) commit exactly the steps of
token-by-token decoding: the same output roots, step records and trace roots, for any split into blocks, with or
without a dishonest operator's edit inside a block."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.generate import GenSettings
from prover.commit.model import model_commitment
from prover.commit.trace import Corruption, Tracer
from prover.runner import Replayer, replay_claim, traced_generate

PROMPT = [5, 17, 99, 120, 3, 44, 7, 250, 31]
SETTINGS = GenSettings(max_new_tokens=4)


def _token_by_token(lm, tokens, corrupt=None, settings=SETTINGS):
    """The reference schedule: one step_token per position, every step committed."""
    run = settings.run_tensor()
    tr = Tracer(lm.program, model_commitment(lm), run, corrupt=corrupt)
    ex = lm.executor(tr)
    samples = [int(ex.step_token(t, run)[lm.program.output][0]) for t in tokens]
    return tr, samples


def _blocks(lm, tokens, cuts, corrupt=None):
    run = SETTINGS.run_tensor()
    tr = Tracer(lm.program, model_commitment(lm), run, corrupt=corrupt)
    ex = lm.executor(tr)
    samples, a = [], 0
    for b in [*sorted(set(cuts)), len(tokens)]:
        if a < b:
            samples += [
                int(np.asarray(v)[0]) for v in ex.run_block(tokens[a:b], run, every=lm.program.output)["sample"]
            ]
            a = b
    return tr, samples


@pytest.fixture(scope="module")
def reference(lm):
    return _token_by_token(lm, PROMPT)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, len(PROMPT) - 1), max_size=4))
def test_any_blocks_commit_the_token_by_token_steps(lm, reference, cuts):
    ref_tr, ref_samples = reference
    tr, samples = _blocks(lm, PROMPT, cuts)
    assert tr.out_roots == ref_tr.out_roots
    assert tr.records == ref_tr.records
    assert tr.root() == ref_tr.root() and samples == ref_samples


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_an_edit_inside_a_block_propagates_as_token_by_token(lm, data):
    S = lm.program.steps_per_token
    step = data.draw(st.integers(0, S * len(PROMPT) - 1))
    ins = lm.program.instrs[step % S]
    # every output has at least 2 new elements but the sampler's (a cache step's appended row has more)
    offset = data.draw(st.integers(0, 0 if ins.op == "sample" else 1))
    c = Corruption.at(lm.program, step, data.draw(st.sampled_from([1, -3, 1000])), offset)
    want, _ = _token_by_token(lm, PROMPT, c)
    got, _ = _blocks(lm, PROMPT, [2, 5], c)
    assert got.records == want.records and got.root() == want.root()


def test_prefill_is_batched_and_generation_unchanged(lm, reference):
    """traced_generate prefills in blocks; its trace is the token-by-token one (prompt, then decoding)."""
    run = traced_generate(lm, PROMPT, SETTINGS)
    tokens = PROMPT + run.result.tokens[:-1]
    tr, samples = _token_by_token(lm, tokens)
    assert run.tracer.records == tr.records and run.tracer.root() == tr.root()
    assert samples[len(PROMPT) - 1 :] == run.result.tokens


def test_replay_claim_is_the_honest_trace_and_samples(lm):
    honest = traced_generate(lm, PROMPT, SETTINGS)
    out = honest.result.tokens
    rp = replay_claim(lm, PROMPT, SETTINGS.run_tensor(), out, block=3)
    assert rp.trace_root == honest.tracer.root() and rp.records == honest.tracer.records
    assert rp.out_roots == honest.tracer.out_roots and rp.samples == out
    assert len(rp.records) == (len(PROMPT) + len(out) - 1) * lm.program.steps_per_token
    # the replay's snapshots regenerate any step, as a traced run's do
    S = lm.program.steps_per_token
    i = (len(PROMPT) + 1) * S + 3
    a, b = Replayer(lm, rp.run).output_packed(i), Replayer(lm, honest).output_packed(i)
    assert a == b


def test_replay_claim_of_a_wrong_output_agrees_up_to_the_wrong_sample(lm):
    honest = traced_generate(lm, PROMPT, SETTINGS)
    out = list(honest.result.tokens)
    j = 1
    wrong = out[:j] + [(out[j] + 1) % lm.config.vocab_size] + out[j + 1 :]
    rp = replay_claim(lm, PROMPT, SETTINGS.run_tensor(), wrong)
    assert rp.samples[: j + 1] == out[: j + 1] and rp.samples[j] != wrong[j]
    upto = (len(PROMPT) + j) * lm.program.steps_per_token  # through the sample step of position n - 1 + j
    assert rp.records[:upto] == honest.tracer.records[:upto]
    assert rp.records[upto:] != honest.tracer.records[upto:]


def test_replay_claim_refuses_what_no_claim_is(lm):
    run = SETTINGS.run_tensor()
    with pytest.raises(ValueError):
        replay_claim(lm, [], run, [1])
    with pytest.raises(ValueError):
        replay_claim(lm, PROMPT, run, [])
    with pytest.raises(ValueError):
        replay_claim(lm, PROMPT, run, [1] * (lm.program.context + 1))


@pytest.mark.slow
def test_smollm2_blocks_commit_the_token_by_token_steps():
    from engine.runtime import IntegerLM

    lm = IntegerLM.load("smollm2")
    ids = lm.encode_prompt("What is the capital of France?", chat=True)
    gs = GenSettings(max_new_tokens=3)
    run = traced_generate(lm, ids, gs)
    tr, _ = _token_by_token(lm, ids + run.result.tokens[:-1], settings=gs)
    assert run.tracer.records == tr.records and run.tracer.root() == tr.root()
    rp = replay_claim(lm, ids, gs.run_tensor(), run.result.tokens, block=7)
    assert rp.trace_root == tr.root() and rp.samples == run.result.tokens


def test_replay_claims_in_a_pool_equal_in_process(lm):
    from prover.runner import replay_claims

    honest = traced_generate(lm, PROMPT, SETTINGS)
    other = traced_generate(lm, PROMPT[:4], SETTINGS)
    claims = [
        (PROMPT, SETTINGS.run_tensor(), honest.result.tokens),
        (PROMPT[:4], SETTINGS.run_tensor(), other.result.tokens),
    ]
    got = replay_claims("tiny", claims, processes=2)
    assert [g.trace_root for g in got] == [honest.tracer.root(), other.tracer.root()]
    assert got[0].records == honest.tracer.records and got[1].samples == other.result.tokens
    assert got[0].run is None


class _StepOnly:
    """The tracer seen only through on_step (an observer without on_position): the per-step reporting path."""

    def __init__(self, tracer):
        self.tracer, self.transform = tracer, tracer.transform

    def on_step(self, step, token, index, ins, args, out):
        self.tracer.on_step(step, token, index, ins, args, out)


@pytest.mark.parametrize("cuts", [[], [3], [1, 2, 6]])
def test_position_and_step_reporting_commit_the_same(lm, cuts):
    """Tracer.on_position (once a position) and Tracer.on_step (once a step) commit the same trace, decoding and
    in blocks, with an edit inside the run."""
    run = SETTINGS.run_tensor()
    corrupt = Corruption.at(lm.program, 4 * lm.program.steps_per_token + 7, delta=3)
    roots = []
    for wrap in (False, True):
        tr = Tracer(lm.program, model_commitment(lm), run, corrupt=corrupt)
        ex = lm.executor(_StepOnly(tr) if wrap else tr)
        a = 0
        for b in [*cuts, len(PROMPT)]:
            ex.run_block(PROMPT[a:b], run)
            a = b
        roots.append((tr.out_roots, tr.records, tr.root()))
    assert roots[0] == roots[1]
    assert len(roots[0][0]) == len(PROMPT) * lm.program.steps_per_token
