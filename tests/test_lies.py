"""The dishonest operator's other lies, end to end: a wrong answer over an honest trace, and a run made with
one model claimed under another's root. Each is caught by `obrain verify` and slashed on chain by an honest
watcher (through the proof of a wrong output token, and the proof of a wrong weight operand); a claim on an
unregistered model cannot even be posted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clikit import obrain
from gamekit import quiet
from hypothesis import given
from hypothesis import strategies as st

from engine.generate import GenSettings
from engine.models.tiny import tiny_spec, write_gguf
from engine.runtime import IntegerLM
from prover.chain.deploy import deploy_one_step
from prover.chain.registry import GameClient, Refused
from prover.commit.model import model_commitment
from prover.commit.trace import Corruption
from prover.dispute.agent import Agent
from prover.dispute.lies import Lie, apply_to_receipt
from prover.dispute.protocol import ClaimStatus, Reason
from prover.dispute.watcher import Watcher
from prover.runner import make_receipt, traced_generate, verify

PROMPT = [5, 17, 99, 120]
SETTINGS = GenSettings(max_new_tokens=3)
BOND = 10**15
WINDOW, MOVE = 10**6, 1000


@pytest.fixture(scope="module")
def variant_path(tmp_path_factory) -> Path:
    """The tiny model with one quantized nibble byte of blk.1.ffn_up changed: a 'cheaper' model a liar runs."""
    kv, tensors = tiny_spec()
    arr, typ = tensors["blk.1.ffn_up.weight"]
    assert typ == "Q4_1"
    arr = arr.copy()
    arr[0, 4] ^= 0x11  # the first block's first two 4-bit weights (bytes 0-3 are its fp16 d and m)
    tensors["blk.1.ffn_up.weight"] = (arr, typ)
    p = tmp_path_factory.mktemp("variant") / "tiny-variant.gguf"
    write_gguf(p, kv, tensors)
    return p


@pytest.fixture(scope="module")
def variant(variant_path):
    return IntegerLM.load(str(variant_path))


@given(
    st.one_of(st.none(), st.builds(Corruption, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(-5, 5))),
    st.one_of(st.none(), st.tuples(st.integers(0, 100), st.integers(0, 2**31 - 1))),
    st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
)
def test_lie_notes_round_trip(corr, out, root):
    lie = Lie(
        corruption=corr,
        output=out,
        model_root=root,
        model_id="x" if root else None,
        computed_with="/m.gguf" if root else None,
    )
    back = Lie.from_json(json.loads(json.dumps(lie.to_json())))
    assert back == lie and back.honest == (corr is None and out is None and root is None)


def test_lie_rejects_what_is_no_lie():
    with pytest.raises(ValueError):
        Lie(output=(0, -1))
    with pytest.raises(ValueError):
        Lie(model_root=b"\x01" * 31)
    lie = Lie(output=(1, 7))
    assert lie.claimed_output([3, 4, 5]) == [3, 7, 5]
    with pytest.raises(ValueError, match="no lie"):
        lie.claimed_output([3, 7])
    with pytest.raises(ValueError, match="only 1"):
        lie.claimed_output([3])
    assert Lie.from_json(None).honest and Lie.from_json({"corruption": None}).honest


def test_a_wrong_answer_receipt_is_consistent_but_fails_verify(lm):
    run = traced_generate(lm, PROMPT, SETTINGS)
    rc = make_receipt(lm, "tiny", None, False, PROMPT, run)
    tok = run.result.tokens[1]
    lie = Lie(output=(1, (tok + 1) % lm.config.vocab_size))
    bad = apply_to_receipt(rc, lie, lm)
    assert bad.trace == rc.trace and bad.output.tokens[1] != tok and bad.output.output_hash != rc.output.output_hash
    rep = verify(bad, lm)
    assert [m.field for m in rep.mismatches] == ["output.tokens"]  # hash and text agree with the lie


def test_a_model_lie_fails_verify_at_the_changed_weight(lm, variant):
    run = traced_generate(variant, PROMPT, SETTINGS)
    lie = Lie(model_root=model_commitment(lm).model_root, model_id="tiny", computed_with="variant")
    bad = apply_to_receipt(make_receipt(variant, "variant", None, False, PROMPT, run), lie, variant, lm)
    assert bad.model.model_root == "0x" + model_commitment(lm).model_root.hex()
    assert bad.model.file_sha256 == lm.loaded.source.sha256()
    fields = [m.field for m in verify(bad, lm).mismatches]
    assert "trace.trace_root" in fields and "model.model_root" not in fields


@pytest.fixture(scope="module")
def gc(chain, lm):
    onestep = deploy_one_step(chain)
    g = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=WINDOW,
        move_window=MOVE,
        k=2,
        one_step=onestep.address,
    )
    return g


def _settle(gc, watcher, liar, cid):
    quiet(watcher, lambda: liar.defend_once(cid))
    return gc.claim(cid)


@pytest.mark.chain
def test_wrong_answer_claim_is_slashed_by_the_output_token_proof(gc, lm):
    run = traced_generate(lm, PROMPT, SETTINGS)
    tok = run.result.tokens[2]
    lie = Lie(output=(2, (tok + 3) % lm.config.vocab_size))
    rc = apply_to_receipt(make_receipt(lm, "tiny", None, False, PROMPT, run), lie, lm)
    honest_op = Agent(gc, lm, 1)
    with pytest.raises(ValueError, match="does not reproduce"):  # an honest operator will not post it
        honest_op.submit(rc, BOND)
    liar, watcher = Agent(gc, lm, 2, lie=lie), Watcher.in_process(gc, lm, 3, from_block=gc.chain.block_number())
    cid = liar.submit(rc, BOND)
    c = _settle(gc, watcher, liar, cid)
    assert c.status == ClaimStatus.SLASHED
    (gid,) = watcher.games_on(cid)
    assert Reason(gc.events("GameResolved", gameId=gid)[0].args["reason"]) == Reason.WRONG_OUTPUT_TOKEN
    assert watcher.stats["won"] == 1 and gc.credit(watcher.address) == 0 and liar.withdraw() == 0


@pytest.mark.chain
def test_model_lie_is_slashed_by_the_weight_operand_proof(gc, lm, variant):
    mc = model_commitment(lm)
    if not gc.model(mc.model_root).registered:
        gc.register_model(mc, uri="engine://tiny", sender=1)
    lie = Lie(model_root=mc.model_root, model_id="tiny", computed_with="variant")
    run = traced_generate(variant, PROMPT, SETTINGS)
    rc = apply_to_receipt(make_receipt(variant, "variant", None, False, PROMPT, run), lie, variant, lm)
    liar, watcher = Agent(gc, variant, 4, lie=lie), Watcher.in_process(gc, lm, 5, from_block=gc.chain.block_number())
    with pytest.raises(ValueError, match="another model"):  # it must own up to the lie to post it
        Agent(gc, variant, 4).submit(rc, BOND)
    cid = liar.submit(rc, BOND)
    assert not gc.model(model_commitment(variant).model_root).registered  # it never registered what it ran
    c = _settle(gc, watcher, liar, cid)
    assert c.status == ClaimStatus.SLASHED
    (gid,) = watcher.games_on(cid)
    g = gc.game(gid)
    first_up = lm.program.index["L1.act"]  # the first step that reads blk.1.ffn_up: position 0's L1.act
    assert g.step == first_up
    assert Reason(gc.events("GameResolved", gameId=gid)[0].args["reason"]) == Reason.WRONG_OPERAND
    assert watcher.stats["won"] == 1 and gc.credit(watcher.address) == 0


@pytest.mark.chain
def test_a_claim_on_an_unregistered_model_cannot_be_posted(gc, lm, variant):
    root = model_commitment(variant).model_root
    assert not gc.model(root).registered
    run = traced_generate(lm, PROMPT, SETTINGS)
    lie = Lie(model_root=root, model_id="variant", computed_with="tiny")
    rc = apply_to_receipt(make_receipt(lm, "tiny", None, False, PROMPT, run), lie, lm, variant)
    with pytest.raises(ValueError, match="not registered"):
        Agent(gc, lm, 6, lie=lie).submit(rc, BOND)
    with pytest.raises(Refused) as e:  # and straight to the registry
        gc.post_receipt(rc, bond=BOND, sender=6)
    assert e.value.error == "UnknownModel"


def _cli(*args):
    return obrain(*args)  # in this process (tests/clikit.py)


def test_cli_dishonest_output_and_model(tmp_path, variant_path):
    rc = tmp_path / "out" / "receipt.json"
    r = _cli("run", "tiny", "hello", "--max-new-tokens", "3", "--receipt", str(rc), "--dishonest-output", "1", "7")
    assert r.returncode == 0, r.stderr
    assert "dishonest receipt" in r.stderr
    assert json.loads((rc.parent / "operator.json").read_text())["output"] == [1, 7]
    r = _cli("verify", str(rc))
    assert r.returncode == 1 and "output.tokens" in r.stderr, r.stderr

    rc2 = tmp_path / "model" / "receipt.json"
    r = _cli(
        "run",
        str(variant_path),
        "hello",
        "--max-new-tokens",
        "3",
        "--receipt",
        str(rc2),
        "-q",
        "--dishonest-model",
        "tiny",
    )
    assert r.returncode == 0, r.stderr
    notes = json.loads((rc2.parent / "operator.json").read_text())
    assert notes["model_id"] == "tiny" and notes["computed_with"] == str(variant_path.resolve())
    assert json.loads(rc2.read_text())["model"]["id"] == "tiny"
    r = _cli("verify", str(rc2))  # replays with the claimed model; names the step where the weight differs
    assert r.returncode == 1 and "trace.trace_root" in r.stderr and "L1.act" in r.stderr, r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--dishonest-output", "9", "7"],  # only 3 tokens generated
        ["--dishonest-model", "tiny"],  # the model that ran: no lie
        ["--dishonest-model", "no-such-model"],
    ],
)
def test_cli_impossible_lies_exit_2(tmp_path, args):
    r = _cli("run", "tiny", "hello", "--max-new-tokens", "3", "--receipt", str(tmp_path / "r.json"), "-q", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
