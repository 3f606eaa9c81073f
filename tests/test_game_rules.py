"""ClaimRegistry + DisputeGame rules on anvil, one rule at a time, against MockOneStep and small
hand-built traces (prover.chain.game.SyntheticRun: 5 instructions x 4 positions = 20 steps).

Every refusal is asserted by its custom error's NAME, and `refused()` also asserts that nothing moved:
the registry's balance, locked and credited totals, every party's credit and ETH balance, and the game
and claim state are the same before and after. Each test runs on a snapshot of the chain (reverted after).
"""

from __future__ import annotations

import pytest
from doubles import STOP_IDS, SyntheticRun
from doubles import SynthLie as Lie

from prover.chain import Chain, Reverted, start_anvil
from prover.chain.registry import GameClient, Refused
from prover.commit.model import input_hash as commit_input_hash
from prover.commit.model import model_root
from prover.commit.model import output_hash as commit_output_hash
from prover.dispute.player import HonestPlayer, play
from prover.dispute.protocol import (
    ClaimStatus,
    Phase,
    Reason,
    Result,
    claim_hash,
    input_hash,
    keccak,
    output_hash,
    pack_tokens,
)
from prover.dispute.trees import HashTree, StepOpening, TensorTree

pytestmark = pytest.mark.chain

BOND = 10**15
WIN, BURN = BOND + BOND // 2, BOND - BOND // 2  # a winning challenger's credit; the burned half of the claim bond
ZERO = "0x" + "00" * 20
WINDOW = 10_000
MOVE = 100
OP, CH, STRANGER, CH2, OTHER = 1, 2, 3, 4, 5
PARTIES = (OP, CH, STRANGER, CH2, OTHER)
PROMPT, RUN, NEW = [7, 8, 9], [0, 1, 42, 2], 2  # 4 positions x 5 instructions = 20 steps (trace depth 5)
N_STEPS = 20
GAS = 3_000_000  # explicit gas: send without estimation (for exact-timestamp moves)


@pytest.fixture(scope="module")
def mock(chain):
    return chain.deploy("MockOneStep")


@pytest.fixture(scope="module")
def gc(chain, mock):
    return GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=WINDOW,
        move_window=MOVE,
        k=2,
        one_step=mock.address,
    )


@pytest.fixture(scope="module")
def honest(gc):
    r = SyntheticRun(PROMPT, RUN, NEW, k=2)
    assert r.step_count == N_STEPS
    r.register(gc)
    return r


@pytest.fixture(autouse=True)
def fresh(chain, gc, honest, mock):
    """Every test starts from the same chain state (deployed, model registered)."""
    snap = chain.snapshot()
    yield
    chain.revert(snap)


# -- helpers ---------------------------------------------------------------------------------------


def state(gc: GameClient, game_id=None, claim_id=None):
    """Everything a refused move must leave unchanged."""
    return (
        gc.ledger(),
        tuple(gc.credit(a) for a in PARTIES),
        tuple(gc.chain.balance(a) for a in PARTIES),
        gc.game(game_id) if game_id else None,
        gc.claim(claim_id) if claim_id else None,
    )


def refused(gc: GameClient, error: str, call, *args, game_id=None, claim_id=None, **kw):
    """call(*args, **kw) is refused with the custom error `error`, and no funds or state moved."""
    before = state(gc, game_id, claim_id)
    with pytest.raises(Refused) as ei:
        call(*args, **kw)
    assert ei.value.error == error, f"expected {error}, got {ei.value.error!r}: {ei.value}"
    assert state(gc, game_id, claim_id) == before
    return ei.value


def solvent(gc: GameClient) -> None:
    bal, locked, credit = gc.ledger()
    assert bal == locked + credit, (bal, locked, credit)


def open_game(gc, run: SyntheticRun, *, challenger=CH, bond=BOND, output=None):
    cid = run.post(gc, bond=BOND, sender=OP, output=output).claim_id
    gid = gc.challenge(cid, bond=bond, sender=challenger).game_id
    return cid, gid


def advance(gc, gid, players, phase: Phase):
    """Let the players move until the game reaches `phase`."""
    for _ in range(200):
        g = gc.game(gid)
        if g.phase == phase and not g.over:
            return g
        assert not g.over, f"game ended ({g.result!r}) before reaching {phase!r}"
        assert any(p.move(gid) is not None for p in players), "nobody could move"
    raise AssertionError("too many moves")


def players(gc, defender_run, challenger_run):
    return HonestPlayer(gc, defender_run, OP), HonestPlayer(gc, challenger_run, CH)


def resolved(gc, gid):
    ev = gc.events("GameResolved", gameId=gid)
    assert len(ev) == 1
    return gc.game(gid).result, Reason(ev[0].args["reason"])


def flip(b: bytes, i: int = 0) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


# -- the verifier interface -------------------------------------------------------------------------


def test_one_step_interface_matches_the_verifier(artifacts):
    """The router and every op family's contract expose IOneStep (same argument and result types, so the same
    selectors) and arity(uint256); the Operand tuple is defined once (OneStepIO.sol)."""
    from eth_utils.abi import get_abi_input_types, get_abi_output_types

    from prover.chain.deploy import family_table

    def fns(name):
        return {f["name"]: f for f in artifacts[name]["abi"] if f["type"] == "function"}

    iface = fns("IOneStep")
    assert set(iface) == {"element", "outShape", "emptyStateRoot"}
    for contract in ["OneStep", *family_table()]:
        real = fns(contract)
        for name, f in {**iface, "arity": fns("IOpFamily")["arity"]}.items():
            assert name in real, f"{contract} has no {name}"
            assert get_abi_input_types(f) == get_abi_input_types(real[name]), (contract, name)
            assert get_abi_output_types(f) == get_abi_output_types(real[name]), (contract, name)
    assert str(iface["element"]["inputs"][3].get("internalType")) == "struct Operand[]"


def test_constructor_parameters(chain, mock):
    """A zero bond, window or replay rate, an arity that is not a power of two in [2, 64], a verifier with no code."""
    sel = keccak(b"BadParams()")[:4]
    # claim bond, challenge bond, window, rate, move, k, verifier, quorum (none)
    ok = (BOND, BOND, WINDOW, 1, MOVE, 2, mock.address, "0x" + "00" * 20)
    bad = [ok[:i] + (v,) + ok[i + 1 :] for i, v in ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0))]
    bad += [ok[:5] + (k,) + ok[6:] for k in (3, 1, 128, 0)] + [ok[:6] + (chain.address(OTHER),) + ok[7:]]
    for args in bad:
        with pytest.raises(Reverted) as ei:
            chain.deploy("ClaimRegistry", *args)
        assert ei.value.data[:4] == sel, args
    for k in (2, 64):
        g = GameClient.deploy(
            chain,
            claim_bond=1,
            challenge_bond=1,
            replay_micros=1,
            challenge_window=1,
            move_window=1,
            k=k,
            one_step=mock.address,
        )
        assert g.k == k


# -- models -------------------------------------------------------------------------------------------


def test_register_model_checks_its_root(gc, honest):
    tr, wr = honest.template_tree().root, honest.weights_tree().root
    refused(gc, "BadModelRoot", gc.register_model_raw, keccak(b"x"), 1, 5, 512, tr, wr, STOP_IDS)
    refused(gc, "ModelExists", honest.register, gc)
    for s, c in ((0, 512), (5, 0)):  # a correct root over S = 0 or context = 0 is still refused
        refused(
            gc, "BadModelRoot", gc.register_model_raw, model_root(1, s, c, tr, wr, STOP_IDS), 1, s, c, tr, wr, STOP_IDS
        )
    # the stop set is bound in the root: another set is another model; an empty, unsorted, repeated or too long
    # set is refused
    for bad in ([], [5, 3], [3, 3], list(range(17))):
        refused(gc, "BadStopTokens", gc.register_model_raw, keccak(b"x"), 1, 5, 512, tr, wr, bad)
    assert model_root(1, 5, 512, tr, wr, [2, 7]) != model_root(1, 5, 512, tr, wr, [2, 8])
    refused(gc, "BadModelRoot", gc.register_model_raw, honest.model_root, 1, 5, 512, tr, wr, [2**31 - 2])
    other = SyntheticRun(PROMPT, RUN, NEW, context=64)
    r = other.register(gc)
    ev = r.event("ModelRegistered").args
    assert ev["modelRoot"] == other.model_root and ev["uri"] == "synthetic://mock" and ev["context"] == 64
    m = gc.model(other.model_root)
    assert (m.registered, m.steps_per_token, m.context, m.template_root) == (True, 5, 64, tr)


# -- claims -------------------------------------------------------------------------------------------


def test_post_claim_binds_input_output_chain_and_registry(gc, honest):
    r = honest.post(gc, bond=BOND, sender=OP)
    cid = r.claim_id
    c = gc.claim(cid)
    assert c.input_hash == commit_input_hash(PROMPT, RUN) == input_hash(PROMPT, RUN)
    assert c.output_hash == commit_output_hash(honest.output) == output_hash(honest.output)
    assert c.claim_hash == claim_hash(
        gc.chain.chain_id, gc.address, cid, honest.model_root, c.input_hash, c.output_hash, N_STEPS, honest.trace_root
    )
    assert (c.status, c.operator, c.bond, c.prompt_len, c.output_len) == (
        ClaimStatus.PENDING,
        gc.chain.address(OP),
        BOND,
        3,
        2,
    )
    assert gc.claim_id_of(c.claim_hash) == cid
    ev = r.event("ClaimPosted").args  # everything a stranger needs to replay
    assert bytes(ev["promptPacked"]) == pack_tokens(PROMPT) and list(ev["run"]) == RUN
    assert bytes(ev["outputPacked"]) == pack_tokens(honest.output) and ev["modelRoot"] == honest.model_root
    assert ev["traceRoot"] == honest.trace_root and ev["stepCount"] == N_STEPS
    assert gc.ledger() == (BOND, BOND, 0)


def test_post_claim_refusals(gc, honest):
    p, o, tr = pack_tokens(PROMPT), pack_tokens(honest.output), honest.trace_root
    post = gc.post_claim_raw
    m = honest.model_root
    refused(gc, "UnknownModel", post, keccak(b"no model"), p, RUN, o, tr, N_STEPS, bond=BOND, sender=OP)
    refused(gc, "WrongBond", post, m, p, RUN, o, tr, N_STEPS, bond=BOND - 1, sender=OP)
    refused(gc, "WrongBond", post, m, p, RUN, o, tr, N_STEPS, bond=BOND + 1, sender=OP)  # no whale bonds
    refused(gc, "EmptyTokens", post, m, b"", RUN, o, tr, N_STEPS, bond=BOND, sender=OP)
    refused(gc, "EmptyTokens", post, m, p, RUN, b"", tr, N_STEPS, bond=BOND, sender=OP)
    for bad in (p[:-1], p + b"\x00", b"\x00"):  # truncated or extra bytes
        refused(gc, "BadTokenBytes", post, m, bad, RUN, o, tr, N_STEPS, bond=BOND, sender=OP)
        refused(gc, "BadTokenBytes", post, m, p, RUN, bad, tr, N_STEPS, bond=BOND, sender=OP)
    long_prompt = pack_tokens([1] * 512)  # 512 + 2 - 1 positions > context 512
    refused(gc, "TooManyTokens", post, m, long_prompt, RUN, o, tr, 513 * 5, bond=BOND, sender=OP)
    nine = pack_tokens([1] * 9)  # more output tokens than max_new_tokens = 2
    refused(gc, "TooManyTokens", post, m, p, RUN, nine, tr, 11 * 5, bond=BOND, sender=OP)
    for sc in (0, N_STEPS - 1, N_STEPS + 1, N_STEPS - 5, N_STEPS + 5, 2**64 - 1):
        refused(gc, "BadStepCount", post, m, p, RUN, o, tr, sc, bond=BOND, sender=OP)
    # the largest accepted prompt: 511 tokens + 2 outputs fill the 512-position context
    assert post(m, pack_tokens([1] * 511), RUN, o, tr, 512 * 5, bond=BOND, sender=OP).claim_id == 1
    # max_new_tokens <= 1 still allows the one token every run produces
    assert post(m, p, [0, 1, 42, 0], pack_tokens([5]), tr, 3 * 5, bond=BOND, sender=OP).claim_id == 2
    refused(gc, "TooManyTokens", post, m, p, [0, 1, 42, 1], o, tr, N_STEPS, bond=BOND, sender=OP)


def test_a_claim_must_end_as_a_generation_ends(gc, honest):
    """The judging rule's ending, enforced at posting: an output shorter than max(1, max_new_tokens) must end in a
    stop token unless the run filled the context, and no stop token may come before the last output token (the
    early-stop bait of a true prefix, and a run continued past its stop, are both unpostable)."""
    p, tr, m, post = pack_tokens(PROMPT), honest.trace_root, honest.model_root, gc.post_claim_raw
    stop = STOP_IDS[0]
    run8 = [0, 1, 42, 8]
    refused(gc, "UnfinishedOutput", post, m, p, run8, pack_tokens([5, 6]), tr, 4 * 5, bond=BOND, sender=OP)
    refused(gc, "UnfinishedOutput", post, m, p, run8, pack_tokens([-1]), tr, 3 * 5, bond=BOND, sender=OP)
    r = refused(gc, "StopInsideOutput", post, m, p, run8, pack_tokens([5, stop, 6]), tr, 5 * 5, bond=BOND, sender=OP)
    assert r.error_args == (1,)
    refused(gc, "StopInsideOutput", post, m, p, [0, 1, 42, 2], pack_tokens([stop, 6]), tr, 4 * 5, bond=BOND, sender=OP)
    assert post(m, p, run8, pack_tokens([5, stop]), tr, 4 * 5, bond=BOND, sender=OP).claim_id  # ends in a stop
    assert post(m, p, run8, pack_tokens([stop]), tr, 3 * 5, bond=BOND, sender=OP).claim_id
    # a run that filled the 512-position context ends there, stop token or not
    full = pack_tokens([1] * 509)
    assert post(m, full, run8, pack_tokens([5, 6, 7, 8]), tr, 512 * 5, bond=BOND, sender=OP).claim_id
    refused(gc, "UnfinishedOutput", post, m, full, run8, pack_tokens([5, 6, 7]), tr, 511 * 5, bond=BOND, sender=OP)


def test_windows_follow_a_verification_queue(chain, mock, honest):
    """Each claim's window closes challengeWindow after the queue, advancing replayMicros a position, reaches its
    end: claims posted together get windows one replay apart (a watcher replaying oldest first keeps up)."""
    g = GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        challenge_window=WINDOW,
        replay_micros=2_500_000,
        move_window=MOVE,
        k=2,
        one_step=mock.address,
    )
    honest.register(g)
    chain.set_automine(False)
    try:
        a = g.chain.transact(
            g.registry,
            "postClaim",
            honest.model_root,
            pack_tokens(PROMPT),
            RUN,
            pack_tokens(honest.output),
            honest.trace_root,
            N_STEPS,
            sender=OP,
            value=BOND,
            wait=False,
        )
        b = g.chain.transact(
            g.registry,
            "postClaim",
            honest.model_root,
            pack_tokens(PROMPT),
            RUN,
            pack_tokens(honest.output),
            honest.trace_root,
            N_STEPS,
            sender=CH,
            value=BOND,
            wait=False,
        )
        chain.mine()
    finally:
        chain.set_automine(True)
    t = chain.timestamp()
    assert {chain.w3.eth.get_transaction_receipt(h)["status"] for h in (a, b)} == {1}
    ca, cb = g.claim(1), g.claim(2)
    positions = len(PROMPT) + NEW - 1  # 4 positions of 2.5 s: 10 s of replay each
    assert ca.window_end == t + positions * 5 // 2 + WINDOW
    assert cb.window_end == ca.window_end + positions * 5 // 2
    assert chain.call(g.registry, "queueEnd") == cb.window_end - WINDOW


def test_claim_is_bound_to_its_chain_and_registry(gc, honest, artifacts):
    """The same claim on another registry or another chain id has another claim hash, and each registry
    rejects the other's hash. Two fresh anvils with chain ids 31337 / 31338 and the same deployments
    (hence the same addresses) isolate the chain id; a second registry on one chain isolates the address."""
    clients = {}
    with start_anvil(chain_id=31337) as n1, start_anvil(chain_id=31338) as n2:
        for node in (n1, n2):
            ch = Chain(node.url, artifacts, dev=True)  # 31338: anvil still, used as a dev chain here
            mock = ch.deploy("MockOneStep")
            g = GameClient.deploy(
                ch,
                claim_bond=BOND,
                challenge_bond=BOND,
                replay_micros=1,
                challenge_window=WINDOW,
                move_window=MOVE,
                k=2,
                one_step=mock.address,
            )
            honest.register(g)
            c = g.claim(honest.post(g, bond=BOND, sender=OP).claim_id)
            assert c.claim_hash == claim_hash(
                node.chain_id, g.address, 1, honest.model_root, c.input_hash, c.output_hash, N_STEPS, honest.trace_root
            )
            clients[node.chain_id] = (g, c.claim_hash)
        (g1, h1), (g2, h2) = clients[31337], clients[31338]
        assert g1.address == g2.address and h1 != h2  # same registry address: only the chain id differs
        assert g1.claim_id_of(h1) == 1 and g2.claim_id_of(h2) == 1
        assert g2.dry_run("claimIdOf", h1) == "UnknownClaimHash"
        assert g1.dry_run("claimIdOf", h2) == "UnknownClaimHash"
    # another registry on the same chain: different address, different hash, foreign hash rejected
    g2 = GameClient.deploy(
        gc.chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=WINDOW,
        move_window=MOVE,
        k=2,
        one_step=gc.chain.call(gc.game_contract, "oneStepVerifier"),
    )
    honest.register(g2)
    c1 = gc.claim(honest.post(gc, bond=BOND, sender=OP).claim_id)
    c2 = g2.claim(honest.post(g2, bond=BOND, sender=OP).claim_id)
    assert c1.claim_hash != c2.claim_hash
    assert gc.dry_run("claimIdOf", c2.claim_hash) == "UnknownClaimHash"
    assert g2.dry_run("claimIdOf", c1.claim_hash) == "UnknownClaimHash"


def test_finalize_and_challenge_windows(gc, honest):
    cid = honest.post(gc, bond=BOND, sender=OP).claim_id
    end = gc.claim(cid).window_end
    refused(gc, "UnknownClaim", gc.finalize, 99, claim_id=cid)
    refused(gc, "UnknownClaim", gc.challenge, 99, bond=BOND, sender=CH, claim_id=cid)
    refused(gc, "WindowOpen", gc.finalize, cid, claim_id=cid)
    assert gc.dry_run("finalize", cid, at_time=end - 1) == "WindowOpen"
    assert gc.dry_run("challenge", cid, sender=CH, value=BOND, at_time=end) == "WindowClosed"
    refused(gc, "WrongBond", gc.challenge, cid, bond=BOND - 1, sender=CH, claim_id=cid)
    refused(gc, "WrongBond", gc.challenge, cid, bond=2 * BOND, sender=CH, claim_id=cid)
    refused(gc, "OperatorCannotChallenge", gc.challenge, cid, bond=BOND, sender=OP, claim_id=cid)
    gc.chain.set_next_timestamp(end - 1)  # the last second of the window: accepted
    gid = gc.challenge(cid, bond=BOND, sender=CH, gas=GAS).game_id
    assert gc.claim(cid).open_games == 1
    gc.chain.mine(1, timestamp=end)
    refused(gc, "WindowClosed", gc.challenge, cid, bond=BOND, sender=CH2, claim_id=cid)
    refused(gc, "GamesOpen", gc.finalize, cid, claim_id=cid)  # not while a game is open
    gc.chain.increase_time(MOVE)
    gc.timeout(gid)  # the defender never moved: it loses, the claim is slashed
    refused(gc, "ClaimNotPending", gc.finalize, cid, claim_id=cid)
    assert gc.credit(CH) == WIN and gc.claim(cid).status == ClaimStatus.SLASHED  # its bond + half the liar's
    assert gc.credit(ZERO) == BURN  # the other half is burned

    cid2 = honest.post(gc, bond=BOND, sender=OP).claim_id
    gid2 = gc.challenge(cid2, bond=BOND, sender=CH2).game_id
    d, _ = players(gc, honest, honest)
    d.move(gid2)
    gc.chain.increase_time(MOVE)
    gc.timeout(gid2)  # the challenger did not pick in time: the defender wins its bond
    gc.chain.mine(1, timestamp=gc.claim(cid2).window_end)
    r = gc.finalize(cid2)
    assert r.event("ClaimFinalized").args["bond"] == BOND
    assert gc.credit(OP) == 2 * BOND and gc.claim(cid2).status == ClaimStatus.FINAL
    refused(gc, "ClaimNotPending", gc.finalize, cid2, claim_id=cid2)
    refused(gc, "ClaimNotPending", gc.challenge, cid2, bond=BOND, sender=CH, claim_id=cid2)
    solvent(gc)


def test_only_the_game_settles_and_only_the_registry_opens(gc, honest):
    cid, gid = open_game(gc, honest)
    refused(
        gc,
        "NotGame",
        gc._tx,
        gc.registry,
        "settle",
        gid,
        cid,
        gc.chain.address(STRANGER),
        BOND,
        1,
        sender=STRANGER,
        game_id=gid,
        claim_id=cid,
    )
    gclaim = (cid, gc.chain.address(STRANGER), gc.chain.address(STRANGER), BOND, honest.trace_root, N_STEPS, 5)
    refused(gc, "NotRegistry", gc._tx, gc.game_contract, "open", gclaim, sender=STRANGER, game_id=gid)
    refused(gc, "NothingToWithdraw", gc.withdraw, sender=STRANGER)
    refused(gc, "NothingToWithdraw", gc.withdraw_to, gc.chain.address(OTHER), sender=STRANGER)


def test_a_real_tiny_model_run_registers_and_posts(gc):
    """The engine's own commitment and receipt go through registerModel and postClaim unchanged: the
    on-chain input/output hashes are the receipt's, the step count fits (n + m - 1) * S, and the
    sampler is the template's last instruction (the convention the token routes rely on)."""
    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.commit.model import model_commitment
    from prover.runner import make_receipt, traced_generate

    lm = IntegerLM.load("tiny")
    prompt = [5, 17, 99, 120]
    run = traced_generate(lm, prompt, GenSettings(max_new_tokens=3))
    rc = make_receipt(lm, "tiny", None, False, prompt, run)
    mc = model_commitment(lm)
    assert lm.program.instrs[-1].name == lm.program.output
    gc.register_model(mc, uri="tiny")
    m = gc.model(mc.model_root)
    assert (m.registered, m.steps_per_token, m.context) == (True, mc.steps_per_token, mc.context)
    c = gc.claim(gc.post_receipt(rc, bond=BOND, sender=OP).claim_id)
    assert "0x" + c.input_hash.hex() == rc.input.input_hash
    assert "0x" + c.output_hash.hex() == rc.output.output_hash
    assert "0x" + c.trace_root.hex() == rc.trace.trace_root and c.step_count == rc.trace.step_count


# -- turns and deadlines --------------------------------------------------------------------------------


def test_strangers_and_moves_out_of_turn(gc, honest):
    liar = honest.with_lie(Lie(9))
    cid, gid = open_game(gc, liar)
    d, c = players(gc, liar, honest)
    g = gc.game(gid)
    kids = liar.trace_tree().children(g.height, 0, 2)
    refused(gc, "NotAParty", gc.reveal, gid, kids, sender=STRANGER, game_id=gid)
    refused(gc, "NotAParty", gc.pick, gid, 0, sender=STRANGER, game_id=gid)
    refused(gc, "NotAParty", gc.open_step, gid, liar.opening(0), sender=STRANGER, game_id=gid)
    refused(gc, "NotYourTurn", gc.reveal, gid, kids, sender=CH, game_id=gid)  # the challenger as defender
    refused(gc, "NotYourTurn", gc.pick, gid, 0, sender=CH, game_id=gid)  # before anything was revealed
    refused(gc, "NotYourTurn", gc.pick, gid, 0, sender=OP, game_id=gid)
    d.move(gid)
    refused(gc, "NotYourTurn", gc.reveal, gid, kids, sender=OP, game_id=gid)  # the same move twice
    refused(gc, "NotAParty", gc.pick, gid, 0, sender=STRANGER, game_id=gid)
    c.move(gid)
    refused(gc, "NotYourTurn", gc.pick, gid, 0, sender=CH, game_id=gid)  # the same move twice
    assert gc.turn(gid) == (gc.chain.address(OP), gc.game(gid).deadline)


def test_deadlines_are_exact(gc, honest):
    """A move at deadline - 1 is accepted and at the deadline refused; timeout is the reverse."""
    liar = honest.with_lie(Lie(9))
    cid, gid = open_game(gc, liar)
    g = gc.game(gid)
    kids = liar.trace_tree().children(g.height, 0, 2)
    assert gc.dry_run("reveal", gid, kids, sender=OP, at_time=g.deadline) == "DeadlinePassed"
    assert gc.dry_run("reveal", gid, kids, sender=OP, at_time=g.deadline + 10**6) == "DeadlinePassed"
    assert gc.dry_run("timeout", gid, sender=STRANGER, at_time=g.deadline - 1) == "DeadlineNotPassed"
    gc.chain.set_next_timestamp(g.deadline - 1)
    gc.reveal(gid, kids, sender=OP, gas=GAS)
    g2 = gc.game(gid)
    assert g2.phase == Phase.TRACE_PICK and g2.deadline == g.deadline - 1 + MOVE
    assert gc.dry_run("pick", gid, 1, sender=CH, at_time=g2.deadline) == "DeadlinePassed"
    assert gc.dry_run("timeout", gid, sender=STRANGER, at_time=g2.deadline - 1) == "DeadlineNotPassed"
    assert gc.dry_run("pick", gid, 1, sender=CH, at_time=g2.deadline - 1) is None
    refused(gc, "DeadlineNotPassed", gc.timeout, gid, sender=STRANGER, game_id=gid)
    # mined exactly at the deadline (sent without estimation): reverted, named by replay, nothing booked
    before = (gc.ledger(), gc.game(gid))
    gc.chain.set_next_timestamp(g2.deadline)
    with pytest.raises(Refused) as ei:
        gc.pick(gid, 1, sender=CH, gas=GAS)
    assert ei.value.error == "DeadlinePassed" and (gc.ledger(), gc.game(gid)) == before
    assert gc.chain.timestamp() == g2.deadline
    r = gc.timeout(gid, sender=STRANGER, gas=GAS)  # anyone may call it: the challenger failed to pick
    assert r.event("GameResolved").args["defenderWon"] is True
    assert gc.credit(OP) == BOND and gc.credit(STRANGER) == 0 and gc.claim(cid).open_games == 0
    solvent(gc)


@pytest.mark.parametrize("phase", [p for p in Phase if p != Phase.NONE])
def test_timeout_in_every_phase_makes_the_mover_lose(gc, honest, phase):
    liar = honest.with_lie(Lie(13, "element", 399))  # step 13 is (4, 100): phase 2 has depth 3
    cid, gid = open_game(gc, liar)
    g = advance(gc, gid, players(gc, liar, honest), phase)
    gc.chain.increase_time(MOVE)
    gc.timeout(gid, sender=STRANGER)
    result, reason = resolved(gc, gid)
    assert reason == Reason.TIMEOUT
    if g.phase.defender_moves:
        assert result == Result.CHALLENGER_WON and gc.credit(CH) == WIN
        assert gc.claim(cid).status == ClaimStatus.SLASHED
    else:
        assert result == Result.DEFENDER_WON and gc.credit(OP) == BOND
        assert gc.claim(cid).status == ClaimStatus.PENDING
    refused(gc, "GameOver", gc.timeout, gid, game_id=gid)  # double resolution
    solvent(gc)


# -- structure of the descent ---------------------------------------------------------------------------


def test_moves_deeper_than_the_tree_and_step_actions_before_the_leaf(gc, honest):
    liar = honest.with_lie(Lie(13, "element", 399))
    cid, gid = open_game(gc, liar)
    d, c = players(gc, liar, honest)
    op, ib = liar.opening(13), honest.instr_bytes(3)
    ops = honest.one_step_operands(13, 0)
    tmpl = honest.template_tree()
    # phase 1, defender's turn: no step opening, no leaf
    refused(gc, "WrongPhase", gc.open_step, gid, op, sender=OP, game_id=gid)
    refused(gc, "WrongPhase", gc.reveal_leaf, gid, bytes(256), sender=OP, game_id=gid)
    g = advance(gc, gid, (d, c), Phase.TRACE_PICK)
    for call, args in (
        (gc.dispute_output, ()),
        (gc.one_step, (ib, ops, 0)),
        (gc.prove_wrong_instruction, (tmpl.node(0, 3), tmpl.proof(3))),
        (gc.prove_operand_run, (ib, 2)),
        (gc.prove_wrong_operand_count, (ib,)),
    ):
        refused(gc, "WrongPhase", call, gid, *args, sender=CH, game_id=gid)
    g = advance(gc, gid, (d, c), Phase.STEP_OPEN)
    assert g.height == 0 and g.index == 13
    refused(gc, "WrongPhase", gc.reveal, gid, [g.node, g.node], sender=OP, game_id=gid)  # below a leaf
    refused(gc, "NotYourTurn", gc.pick, gid, 0, sender=CH, game_id=gid)
    g = advance(gc, gid, (d, c), Phase.STEP_OPENED)
    refused(gc, "WrongPhase", gc.pick, gid, 0, sender=CH, game_id=gid)
    refused(gc, "WrongPhase", gc.one_step, gid, ib, ops, 0, sender=CH, game_id=gid)
    g = advance(gc, gid, (d, c), Phase.LEAF_REVEAL)
    refused(gc, "WrongPhase", gc.reveal, gid, [g.node, g.node], sender=OP, game_id=gid)
    refused(gc, "WrongPhase", gc.open_step, gid, op, sender=OP, game_id=gid)
    g = advance(gc, gid, (d, c), Phase.LEAF_REVEALED)
    refused(gc, "WrongPhase", gc.pick, gid, 0, sender=CH, game_id=gid)
    refused(gc, "WrongPhase", gc.dispute_output, gid, sender=CH, game_id=gid)
    refused(gc, "NotYourTurn", gc.reveal_leaf, gid, g.leaf, sender=OP, game_id=gid)  # the same move twice


def test_reveal_checks_children(gc, honest):
    liar = honest.with_lie(Lie(4))
    cid, gid = open_game(gc, liar)
    g = gc.game(gid)
    kids = liar.trace_tree().children(g.height, 0, 2)
    for bad in ([], kids[:1], kids + [kids[0]], kids[::-1], [flip(kids[0]), kids[1]], [kids[0], bytes(32)]):
        refused(gc, "BadChildren", gc.reveal, gid, bad, sender=OP, game_id=gid)
    gc.reveal(gid, kids, sender=OP)


def test_children_past_the_end_must_be_empty(gc, honest):
    """A trace tree with nonzero padding past step_count cannot be revealed: the defender loses on time."""
    recs = [honest.opening(i).record(i) for i in range(N_STEPS)]
    bad = HashTree(recs + [keccak(b"garbage")] * (32 - N_STEPS))
    cid = gc.post_claim(honest.model_root, PROMPT, RUN, honest.output, bad.root, N_STEPS, bond=BOND, sender=OP).claim_id
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    gc.reveal(gid, bad.children(5, 0, 2), sender=OP)  # (4,1) covers steps 16..31: it holds real steps
    gc.pick(gid, 1, sender=CH)
    refused(gc, "PaddingNotEmpty", gc.reveal, gid, bad.children(4, 1, 2), sender=OP, game_id=gid)
    refused(gc, "BadChildren", gc.reveal, gid, honest.trace_tree().children(4, 1, 2), sender=OP, game_id=gid)
    gc.chain.increase_time(MOVE)
    gc.timeout(gid)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.TIMEOUT)


def test_pick_rules(gc, honest):
    cid, gid = open_game(gc, honest)
    tt = honest.trace_tree()
    gc.reveal(gid, tt.children(5, 0, 2), sender=OP)
    refused(gc, "BadIndex", gc.pick, gid, 2, sender=CH, game_id=gid)
    refused(gc, "BadIndex", gc.pick, gid, 2**256 - 1, sender=CH, game_id=gid)
    gc.pick(gid, 1, sender=CH)
    gc.reveal(gid, tt.children(4, 1, 2), sender=OP)
    refused(gc, "PickPadding", gc.pick, gid, 1, sender=CH, game_id=gid)  # steps 24..31 do not exist
    gc.pick(gid, 0, sender=CH)
    # phase 2: the output of step 13 is (4, 100) i32 = 7 leaves; leaf 7 is padding
    liar = honest.with_lie(Lie(13, "element", 0))
    cid, gid = open_game(gc, liar)
    advance(gc, gid, players(gc, liar, honest), Phase.STEP_OPENED)
    gc.dispute_output(gid, sender=CH)
    ot = liar.output_tree(13)
    assert gc.game(gid).out_leaves == 7 and gc.game(gid).height == 3
    for h, i, child in ((3, 0, 1), (2, 1, 1)):
        gc.reveal(gid, ot.children(h, i, 2), sender=OP)
        gc.pick(gid, child, sender=CH)
    gc.reveal(gid, ot.children(1, 3, 2), sender=OP)
    refused(gc, "PickPadding", gc.pick, gid, 1, sender=CH, game_id=gid)
    gc.pick(gid, 0, sender=CH)
    assert gc.game(gid).phase == Phase.LEAF_REVEAL and gc.game(gid).index == 6


def test_open_step_checks_the_record(gc, honest):
    liar = honest.with_lie(Lie(7))
    cid, gid = open_game(gc, liar)
    g = advance(gc, gid, players(gc, liar, honest), Phase.STEP_OPEN)
    op = liar.opening(g.index)
    bad = [
        StepOpening(flip(op.instr_hash), op.operand_roots, op.dtype, op.shape, op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots + (bytes(32),), op.dtype, op.shape, op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots[:-1], op.dtype, op.shape, op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots, 4, op.shape, op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots, op.dtype, op.shape + (1,), op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots, op.dtype, op.shape, flip(op.merkle_root)),
        honest.opening(g.index - 1),
    ]
    for b in bad:
        refused(gc, "BadRecord", gc.open_step, gid, b, sender=OP, game_id=gid)
    for b in (
        StepOpening(op.instr_hash, op.operand_roots, 5, op.shape, op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots, op.dtype, (2**32,), op.merkle_root),
        StepOpening(op.instr_hash, op.operand_roots, op.dtype, (2**32 + 2, 40), op.merkle_root),
    ):
        refused(gc, "BadHeader", gc.open_step, gid, b, sender=OP, game_id=gid)
    r = gc.open_step(gid, op, sender=OP)
    assert r.event("StepOpened").args["step"] == 7
    assert gc.game(gid).out_leaves == 2 and gc.game(gid).out_numel == 80


def test_reveal_leaf_checks_the_leaf(gc, honest):
    liar = honest.with_lie(Lie(6, "element", 69))
    cid, gid = open_game(gc, liar)
    g = advance(gc, gid, players(gc, liar, honest), Phase.LEAF_REVEAL)
    leaf = liar.output_tree(6).leaf(g.index)
    for bad in (flip(leaf, 255), leaf[:255], leaf + b"\x00", b"", bytes(256), honest.output_tree(6).leaf(g.index)):
        refused(gc, "BadLeaf", gc.reveal_leaf, gid, bad, sender=OP, game_id=gid)
    gc.reveal_leaf(gid, leaf, sender=OP)


def test_one_step_rules(gc, honest, mock):
    liar = honest.with_lie(Lie(6, "element", 69))  # step 6: (70,) i32, 2 leaves; element 69 is leaf 1, j = 5
    cid, gid = open_game(gc, liar)
    g = advance(gc, gid, players(gc, liar, honest), Phase.LEAF_REVEALED)
    assert g.index == 1
    ib, ops = honest.instr_bytes(1), honest.one_step_operands(6, 69)
    refused(gc, "BadInstr", gc.one_step, gid, honest.instr_bytes(2), ops, 5, sender=CH, game_id=gid)
    refused(gc, "BadInstr", gc.one_step, gid, ib + b"\x00", ops, 5, sender=CH, game_id=gid)
    refused(gc, "BadIndex", gc.one_step, gid, ib, ops, 64, sender=CH, game_id=gid)
    bad_ops = [ops[0], (3, [71], ops[1][2], [], b"", [])]  # a header that does not hash to the root
    refused(gc, "BadWitness", gc.one_step, gid, ib, bad_ops, 5, sender=CH, game_id=gid)
    refused(gc, "BadWitness", gc.one_step, gid, ib, ops[:1], 5, sender=CH, game_id=gid)
    gc.chain.transact(mock, "setBroken", True)
    refused(gc, "Broken", gc.one_step, gid, ib, ops, 5, sender=CH, game_id=gid)  # a verifier revert bubbles
    gc.chain.transact(mock, "setBroken", False)
    r = gc.one_step(gid, ib, ops, 5, sender=CH)
    ev = r.event("OneStepChecked").args
    assert ev["element"] == 69 and ev["claimed"] == ev["recomputed"] + 1
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_ELEMENT)
    refused(gc, "GameOver", gc.one_step, gid, ib, ops, 5, sender=CH, game_id=gid)


def test_one_step_decides_by_the_recomputed_value(gc, honest, mock):
    """Equal -> the challenger loses; different -> the defender loses (the mock's value overridden)."""
    for override, winner in ((False, Result.DEFENDER_WON), (True, Result.CHALLENGER_WON)):
        snap = gc.chain.snapshot()
        cid, gid = open_game(gc, honest)  # an honest claim; a challenger whose trace differs at step 6
        g = advance(gc, gid, players(gc, honest, honest.with_lie(Lie(6, "element", 3))), Phase.LEAF_REVEALED)
        leaf_val = int.from_bytes(g.leaf[12:16], "big", signed=True)
        if override:
            gc.chain.transact(mock, "setOverride", True, leaf_val + 7)
        r = gc.one_step(gid, honest.instr_bytes(1), honest.one_step_operands(6, 3), 3, sender=CH)
        assert r.event("OneStepChecked").args["claimed"] == leaf_val
        assert gc.game(gid).result == winner
        gc.chain.revert(snap)


def test_one_step_past_the_last_element_is_zero_padding(gc, honest):
    """A nonzero byte after the last element of the last leaf is an error the one-step decides without the verifier."""
    liar = honest.with_lie(Lie(6, "padding"))
    cid, gid = open_game(gc, liar)
    d, c = players(gc, liar, honest)
    advance(gc, gid, (d, c), Phase.LEAF_REVEALED)
    refused(gc, "BadIndex", gc.one_step, gid, honest.instr_bytes(1), [], 64, sender=CH, game_id=gid)
    r = gc.one_step(gid, honest.instr_bytes(1), [], 63, sender=CH)  # element 127 >= 70: no witness needed
    assert r.event("OneStepChecked").args["recomputed"] == 0 and r.event("OneStepChecked").args["claimed"] == 1
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_ELEMENT)


# -- proofs against the opened step --------------------------------------------------------------------


def at_step_opened(gc, liar, honest):
    cid, gid = open_game(gc, liar)
    d, c = players(gc, liar, honest)
    g = advance(gc, gid, (d, c), Phase.STEP_OPENED)
    return cid, gid, g, c


def test_wrong_instruction_proof(gc, honest):
    liar = honest.with_lie(Lie(8, "instr"))
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    tt = honest.template_tree()
    leaf, proof = tt.node(0, 3), tt.proof(3)
    for bad_leaf, bad_proof in (
        (leaf, [flip(proof[0])] + proof[1:]),
        (leaf, proof[:-1]),
        (leaf, proof + [bytes(32)]),
        (tt.node(0, 2), tt.proof(2)),
        (flip(leaf), proof),
        (leaf, []),
    ):
        refused(gc, "BadProof", gc.prove_wrong_instruction, gid, bad_leaf, bad_proof, sender=CH, game_id=gid)
    gc.prove_wrong_instruction(gid, leaf, proof, sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_INSTRUCTION)
    # against an honest opening the same (true) proof shows nothing
    cid, gid, g, c = at_step_opened(gc, honest, honest.with_lie(Lie(8, "element")))
    refused(gc, "NotWrong", gc.prove_wrong_instruction, gid, leaf, proof, sender=CH, game_id=gid)


def test_operand_count_proof(gc, honest):
    liar = honest.with_lie(Lie(12, "operand_count"))
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    refused(gc, "BadInstr", gc.prove_wrong_operand_count, gid, honest.instr_bytes(1), sender=CH, game_id=gid)
    gc.prove_wrong_operand_count(gid, honest.instr_bytes(2), sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND_COUNT)
    cid, gid, g, c = at_step_opened(gc, honest, honest.with_lie(Lie(12)))
    refused(gc, "NotWrong", gc.prove_wrong_operand_count, gid, honest.instr_bytes(2), sender=CH, game_id=gid)


def test_operand_from_step_proof(gc, honest):
    """Step 16 (t=3, instruction 1): operand 1 is S(3), whose source is step 13; the liar's root is wrong."""
    liar = honest.with_lie(Lie(16, "operand", 1))
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib, src = honest.instr_bytes(1), honest.opening(13)
    proof = c.defender_proof(gid, g, 13)
    assert proof != honest.trace_tree().proof(13)  # the path runs through the defender's (different) step 16
    call = gc.prove_operand_from_step
    bad_src = StepOpening(src.instr_hash, src.operand_roots[::-1], src.dtype, src.shape, src.merkle_root)
    for bp, bs in (
        ([flip(proof[0])] + proof[1:], src),
        (proof[:-1], src),
        (proof + [bytes(32)], src),
        (proof, bad_src),
        (c.defender_proof(gid, g, 12), src),
        (honest.trace_tree().proof(13), src),
    ):
        refused(gc, "BadProof", call, gid, ib, 1, bs, bp, sender=CH, game_id=gid)
    refused(gc, "BadInstr", call, gid, honest.instr_bytes(2), 1, src, proof, sender=CH, game_id=gid)
    refused(gc, "BadOperand", call, gid, ib, 2, src, proof, sender=CH, game_id=gid)  # no operand 2
    for route, args in (
        (gc.prove_operand_run, (ib, 1)),
        (gc.prove_operand_weight, (ib, 1, honest.weight_header(0), [])),
        (gc.prove_operand_empty_state, (ib, 1, honest.instr_bytes(3), honest.template_tree().proof(3))),
        (gc.prove_operand_prompt_token, (ib, 1, bytes(256), [])),
    ):
        refused(gc, "BadOperand", route, gid, *args, sender=CH, game_id=gid)  # not this operand's kind
    # operand 0 (L(0), step 15) is right: its true source proves nothing
    refused(gc, "NotWrong", call, gid, ib, 0, honest.opening(15), c.defender_proof(gid, g, 15), sender=CH, game_id=gid)
    call(gid, ib, 1, src, proof, sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)


@pytest.mark.parametrize("step,m,source", [(17, 0, 16), (15, 0, 14)], ids=["local", "generated-token"])
def test_operand_from_step_other_sources(gc, honest, step, m, source):
    liar = honest.with_lie(Lie(step, "operand", m))
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib = honest.instr_bytes(step % 5)
    refused(
        gc,
        "BadProof",
        gc.prove_operand_from_step,
        gid,
        ib,
        m,
        honest.opening(source - 1),
        c.defender_proof(gid, g, source - 1),
        sender=CH,
        game_id=gid,
    )
    gc.prove_operand_from_step(gid, ib, m, honest.opening(source), c.defender_proof(gid, g, source), sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)


def test_empty_state_proof(gc, honest):
    liar = honest.with_lie(Lie(1, "operand", 1))  # step 1 (t=0): S(3) is the empty state of instruction 3
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib, tt = honest.instr_bytes(1), honest.template_tree()
    call = gc.prove_operand_empty_state
    for sib, proof in (
        (honest.instr_bytes(2), tt.proof(3)),
        (honest.instr_bytes(3), tt.proof(2)),
        (honest.instr_bytes(3), tt.proof(3)[:-1]),
        (honest.instr_bytes(3), tt.proof(3) + [bytes(32)]),
    ):
        refused(gc, "BadProof", call, gid, ib, 1, sib, proof, sender=CH, game_id=gid)
    refused(gc, "BadOperand", gc.prove_operand_from_step, gid, ib, 1, honest.opening(0), [], sender=CH, game_id=gid)
    call(gid, ib, 1, honest.instr_bytes(3), tt.proof(3), sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)


def test_weight_proof(gc, honest):
    liar = honest.with_lie(Lie(10, "operand", 1))  # step 10 (t=2, instruction 0): operand 1 is weight 0
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib, wt = honest.instr_bytes(0), honest.weights_tree()
    h0, h1 = honest.weight_header(0), honest.weight_header(1)
    for hdr, proof in (
        (h1, wt.proof(1)),
        ((h0[0], (32,), h0[2]), wt.proof(0)),
        ((h0[0], h0[1], flip(h0[2])), wt.proof(0)),
        (h0, wt.proof(0)[:-1] if wt.proof(0) else [bytes(32)]),
        (h0, [flip(x) for x in wt.proof(0)]),
    ):
        refused(gc, "BadProof", gc.prove_operand_weight, gid, ib, 1, hdr, proof, sender=CH, game_id=gid)
    refused(
        gc,
        "BadHeader",
        gc.prove_operand_weight,
        gid,
        ib,
        1,
        (h0[0], (2**32, 8), h0[2]),
        wt.proof(0),
        sender=CH,
        game_id=gid,
    )
    gc.prove_operand_weight(gid, ib, 1, h0, wt.proof(0), sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)


def test_prompt_token_proof(gc, honest):
    liar = honest.with_lie(Lie(5, "operand", 0))  # step 5 (t=1): the token is prompt[1]
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib = honest.instr_bytes(0)
    pt = TensorTree(pack_tokens(PROMPT))
    leaf = pt.leaf(0)
    for bad_leaf, proof in (
        (flip(leaf, 5), []),
        (leaf[:255], []),
        (leaf + b"\x00", []),
        (leaf, [bytes(32)]),
        (pack_tokens([7, 9, 9]) + bytes(244), []),
    ):
        refused(gc, "BadProof", gc.prove_operand_prompt_token, gid, ib, 0, bad_leaf, proof, sender=CH, game_id=gid)
    gc.prove_operand_prompt_token(gid, ib, 0, leaf, [], sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)
    # at a generated position the prompt route does not apply
    cid, gid, g, c = at_step_opened(gc, honest.with_lie(Lie(15, "operand", 0)), honest)
    refused(gc, "BadOperand", gc.prove_operand_prompt_token, gid, ib, 0, leaf, [], sender=CH, game_id=gid)


def test_run_proof(gc, honest):
    liar = honest.with_lie(Lie(9, "operand", 1))  # step 9: sampler (L(2), RUN)
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    refused(gc, "BadOperand", gc.prove_operand_run, gid, honest.instr_bytes(4), 0, sender=CH, game_id=gid)
    gc.prove_operand_run(gid, honest.instr_bytes(4), 1, sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OPERAND)
    cid, gid, g, c = at_step_opened(gc, honest, honest.with_lie(Lie(9, "instr")))
    refused(gc, "NotWrong", gc.prove_operand_run, gid, honest.instr_bytes(4), 1, sender=CH, game_id=gid)


def test_output_header_proof(gc, honest):
    liar = honest.with_lie(Lie(7, "shape"))  # step 7 (2, 40) opened as (1, 2, 40)
    cid, gid, g, c = at_step_opened(gc, liar, honest)
    ib, hdrs = honest.instr_bytes(2), honest.operand_headers(7)
    refused(gc, "BadOperand", gc.prove_wrong_output_header, gid, ib, hdrs[:-1], sender=CH, game_id=gid)
    bad = [hdrs[0], (hdrs[1][0], (6,), hdrs[1][2]), hdrs[2]]
    refused(gc, "BadHeader", gc.prove_wrong_output_header, gid, ib, bad, sender=CH, game_id=gid)
    refused(gc, "BadInstr", gc.prove_wrong_output_header, gid, honest.instr_bytes(3), hdrs, sender=CH, game_id=gid)
    gc.prove_wrong_output_header(gid, ib, hdrs, sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OUTPUT_HEADER)
    cid, gid, g, c = at_step_opened(gc, honest, honest.with_lie(Lie(7)))
    refused(gc, "NotWrong", gc.prove_wrong_output_header, gid, ib, hdrs, sender=CH, game_id=gid)


def test_output_token_proof(gc, honest):
    """An honest trace with a false output: the claimed token 1 is not what the trace's sampler produced."""
    lie_out = [honest.output[0], honest.output[1] + 1]
    cid, gid = open_game(gc, honest, output=lie_out)
    d, c = players(gc, honest, honest)
    d.move(gid)
    ct, tt = TensorTree(pack_tokens(lie_out)), honest.trace_tree()
    src, proof = honest.opening(19), tt.proof(19)  # output token 1 is sampled at position 3: step 19
    call = gc.prove_wrong_output_token
    refused(gc, "BadIndex", call, gid, 2, ct.leaf(0), [], src, proof, sender=CH, game_id=gid)
    refused(gc, "BadProof", call, gid, 1, flip(ct.leaf(0), 4), [], src, proof, sender=CH, game_id=gid)
    refused(gc, "BadProof", call, gid, 1, ct.leaf(0), [bytes(32)], src, proof, sender=CH, game_id=gid)
    refused(gc, "BadProof", call, gid, 1, ct.leaf(0), [], src, proof[:-1], sender=CH, game_id=gid)
    refused(gc, "BadProof", call, gid, 1, ct.leaf(0), [], honest.opening(14), proof, sender=CH, game_id=gid)
    refused(gc, "NotWrong", call, gid, 0, ct.leaf(0), [], honest.opening(14), tt.proof(14), sender=CH, game_id=gid)
    refused(gc, "NotYourTurn", call, gid, 1, ct.leaf(0), [], src, proof, sender=OP, game_id=gid)
    call(gid, 1, ct.leaf(0), [], src, proof, sender=CH)
    assert resolved(gc, gid) == (Result.CHALLENGER_WON, Reason.WRONG_OUTPUT_TOKEN)


# -- divergence at the ends -----------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0, N_STEPS - 1], ids=["first", "last"])
def test_first_and_last_step_divergence(gc, honest, step):
    liar = honest.with_lie(Lie(step))
    cid, gid = open_game(gc, liar)
    g = play(gc, gid, players(gc, liar, honest))
    assert (g.result, g.step) == (Result.CHALLENGER_WON, step)
    cid, gid = open_game(gc, honest)
    g = play(gc, gid, players(gc, honest, liar))  # a challenger whose trace is wrong at that step
    assert (g.result, g.step) == (Result.DEFENDER_WON, step)
    assert resolved(gc, gid) == (Result.DEFENDER_WON, Reason.ELEMENT_CORRECT)
    solvent(gc)


# -- resolution, slashing and payouts -------------------------------------------------------------------


def test_a_slash_closes_the_other_games(gc, honest):
    liar = honest.with_lie(Lie(3))
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    ga = gc.challenge(cid, bond=BOND, sender=CH).game_id
    gb = gc.challenge(cid, bond=BOND, sender=CH2).game_id
    refused(gc, "ClaimStillPending", gc.close, gb, game_id=gb, claim_id=cid)
    refused(gc, "UnknownGame", gc.close, 99)
    refused(gc, "UnknownGame", gc.timeout, 99)
    play(gc, ga, players(gc, liar, honest))
    assert gc.game(ga).result == Result.CHALLENGER_WON and gc.slashed(cid)
    assert gc.claim(cid).status == ClaimStatus.SLASHED and gc.credit(CH) == WIN
    g = gc.game(gb)
    refused(gc, "ClaimNotPending", gc.reveal, gb, liar.trace_tree().children(g.height, 0, 2), sender=OP, game_id=gb)
    gc.chain.increase_time(MOVE)
    refused(gc, "ClaimNotPending", gc.timeout, gb, game_id=gb)
    r = gc.close(gb, sender=STRANGER)
    assert r.event("GameClosed").args["refund"] == BOND and gc.credit(CH2) == BOND
    assert gc.game(gb).result == Result.CLOSED and gc.claim(cid).open_games == 0
    refused(gc, "GameOver", gc.close, gb, game_id=gb)
    refused(gc, "GameOver", gc.timeout, ga, game_id=ga)
    refused(gc, "ClaimNotPending", gc.challenge, cid, bond=BOND, sender=OTHER, claim_id=cid)
    refused(gc, "ClaimNotPending", gc.finalize, cid, claim_id=cid)
    assert gc.ledger() == (3 * BOND, 0, 3 * BOND)
    gc.withdraw(sender=CH)
    gc.withdraw(sender=CH2)
    assert gc.ledger() == (BURN, 0, BURN)  # burned: credited to address(0), which can never withdraw


def test_reverting_bond_receiver_does_not_brick_resolution(gc, honest, chain):
    rev = chain.deploy("Reverter")
    liar = honest.with_lie(Lie(2))
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    data = chain.calldata(gc.registry, "challenge", cid)
    chain.transact(rev, "exec", gc.address, data, value=BOND)
    gid = gc.events("Challenged", claimId=cid)[0].args["gameId"]
    assert gc.game(gid).challenger == rev.address
    gc.chain.increase_time(MOVE)
    gc.timeout(gid, sender=STRANGER)  # the defender stalled: the (reverting) challenger wins
    assert gc.credit(rev.address) == WIN
    refused(
        gc, "TransferFailed", gc._tx, rev, "exec", gc.address, chain.calldata(gc.registry, "withdraw"), sender=STRANGER
    )
    assert gc.credit(rev.address) == WIN
    before = chain.balance(OTHER)
    gc._tx(rev, "exec", gc.address, chain.calldata(gc.registry, "withdrawTo", chain.address(OTHER)), sender=STRANGER)
    assert chain.balance(OTHER) == before + WIN and gc.credit(rev.address) == 0
    # a reverting operator: its claim finalizes and its bond is credited all the same
    pdata = chain.calldata(
        gc.registry,
        "postClaim",
        honest.model_root,
        pack_tokens(PROMPT),
        RUN,
        pack_tokens(honest.output),
        honest.trace_root,
        N_STEPS,
    )
    chain.transact(rev, "exec", gc.address, pdata, value=BOND)
    cid2 = gc.events("ClaimPosted", operator=rev.address)[0].args["claimId"]
    gc.chain.mine(1, timestamp=gc.claim(cid2).window_end)
    gc.finalize(cid2, sender=STRANGER)
    assert gc.credit(rev.address) == BOND
    assert gc.ledger() == (BOND + BURN, 0, BOND + BURN)


def test_reentrant_bond_receiver_is_paid_once(gc, honest, chain):
    ree = chain.deploy("Reenterer")
    liar = honest.with_lie(Lie(2))
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    chain.transact(ree, "exec", gc.address, chain.calldata(gc.registry, "challenge", cid), value=BOND)
    gid = gc.events("Challenged", claimId=cid)[0].args["gameId"]
    gc.chain.increase_time(MOVE)
    gc.timeout(gid)
    # other money a re-entry must not reach: a locked bond, and another winner's credit
    honest.post(gc, bond=BOND, sender=OP)
    cid2, gid2 = open_game(gc, liar, challenger=CH)
    gc.chain.increase_time(MOVE)
    gc.timeout(gid2)
    bal0 = gc.ledger()[0]
    assert gc.ledger() == (bal0, BOND, 4 * BOND) and gc.credit(CH) == WIN  # 2 x (WIN + BURN) = 4 BOND
    for reentry in (chain.calldata(gc.registry, "withdraw"), chain.calldata(gc.registry, "withdrawTo", ree.address)):
        chain.transact(ree, "arm", gc.address, reentry)
        snap = chain.snapshot()
        chain.transact(ree, "exec", gc.address, chain.calldata(gc.registry, "withdraw"))
        assert chain.call(ree, "received") == WIN
        assert (chain.call(ree, "attempts"), chain.call(ree, "successes")) == (1, 0)  # NothingToWithdraw inside
        assert gc.ledger() == (bal0 - WIN, BOND, 4 * BOND - WIN) and gc.credit(ree.address) == 0
        assert gc.credit(CH) == WIN
        chain.revert(snap)


def test_solvency_over_many_games(gc, honest):
    """balance == locked + credit after every transaction; zero once everything is settled and withdrawn."""
    results = []
    # a liar slashed by one of two challengers (the other closed), an honest claim defended and finalized,
    # an honest claim unchallenged, a liar whose challenger stalls
    liar = honest.with_lie(Lie(11))
    c1 = liar.post(gc, bond=BOND, sender=OP).claim_id
    g1 = gc.challenge(c1, bond=BOND, sender=CH).game_id
    g2 = gc.challenge(c1, bond=BOND, sender=CH2).game_id
    solvent(gc)
    play(gc, g1, players(gc, liar, honest), on_move=lambda g, r: solvent(gc))
    gc.close(g2)
    solvent(gc)
    c2 = honest.post(gc, bond=BOND, sender=OP).claim_id
    g3 = gc.challenge(c2, bond=BOND, sender=OTHER).game_id
    play(gc, g3, [HonestPlayer(gc, honest, OP), HonestPlayer(gc, liar, OTHER)], on_move=lambda g, r: solvent(gc))
    c3 = honest.post(gc, bond=BOND, sender=OP).claim_id
    c4 = liar.post(gc, bond=BOND, sender=OP).claim_id
    g4 = gc.challenge(c4, bond=BOND, sender=STRANGER).game_id
    gc.chain.increase_time(MOVE)
    gc.timeout(g4)  # the defender stalled
    solvent(gc)
    results = [gc.game(g).result for g in (g1, g2, g3, g4)]
    assert results == [Result.CHALLENGER_WON, Result.CLOSED, Result.DEFENDER_WON, Result.CHALLENGER_WON]
    gc.chain.mine(1, timestamp=max(gc.claim(c).window_end for c in (c2, c3)))
    for c in (c2, c3):
        gc.finalize(c)
        solvent(gc)
    assert gc.ledger()[1] == 0
    expected = {OP: 3 * BOND, CH: WIN, CH2: BOND, STRANGER: WIN, OTHER: 0}
    assert {a: gc.credit(a) for a in PARTIES} == expected
    for a in PARTIES:
        if expected[a]:
            gc.withdraw(sender=a)
            solvent(gc)
    assert gc.ledger() == (2 * BURN, 0, 2 * BURN)
