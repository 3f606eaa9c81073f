"""Whole dispute games on anvil (MockOneStep), k = 2 and k = 4: the honest side wins every game.

* a 300-step synthetic run (60 positions x 5 instructions): every kind of lie by the defender, at the
  first, last and several inner steps, against an honest challenger; and dishonest challengers (a wrong
  trace, random picks and proofs, stalling, a false output dispute) against an honest defender;
* a 20-step run: a lie at every step, both ways round;
* every game within ceil(log2 steps) + ceil(log2 leaves) + 2 rounds (a round = one move per side), every
  transaction under the 2^24 gas cap; the gas of each kind of move is printed (pytest -s) and bounded.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from doubles import SyntheticRun
from doubles import SynthLie as Lie
from gamekit import Lenient

from prover.chain.registry import GameClient, Refused
from prover.dispute.player import HonestPlayer, play
from prover.dispute.protocol import Phase, Reason, Result, ceil_log2, pack_tokens
from prover.dispute.trees import TensorTree

pytestmark = pytest.mark.chain

BOND = 10**15
WINDOW = 10**6
MOVE = 1000
OP, CH = 1, 2
GAS_CAP = 2**24
GAS: dict = defaultdict(lambda: defaultdict(int))  # k -> move -> the most gas it took in these games


@pytest.fixture(scope="module")
def mock(chain):
    return chain.deploy("MockOneStep")


@pytest.fixture(scope="module", params=[2, 4], ids=["k2", "k4"])
def setup(request, chain, mock):
    k = request.param
    gc = GameClient.deploy(chain, claim_bond=BOND, challenge_bond=BOND, replay_micros=1, challenge_window=WINDOW, move_window=MOVE, k=k, one_step=mock.address)
    assert gc.deploy_gas < GAS_CAP
    big = SyntheticRun([11, 12, 13, 14], [0, 1, 7, 57], 57, k=k)
    small = SyntheticRun([7, 8, 9], [0, 1, 42, 2], 2, k=k)
    assert (big.step_count, small.step_count) == (300, 20) and big.model_root == small.model_root
    big.register(gc)
    return gc, big, small


def game(gc: GameClient, defender_run, challenger, *, output=None):
    """Post defender_run's claim (as OP), let `challenger` (a player acting as CH) dispute it, play to the end.
    Returns (final Game, resolution reason, number of rounds)."""
    cid = defender_run.post(gc, bond=BOND, sender=OP, output=output).claim_id
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    moves = [0]

    def on_move(g, r):
        assert r.gas < GAS_CAP
        first = r.events[0]
        if first.name == "GameResolved" and Reason(first.args["reason"]) == Reason.TIMEOUT:
            name = "timeout"
        else:
            moves[0] += 1
            if first.name == "GameResolved":
                name = f"prove ({Reason(first.args['reason']).name.lower()})"
            elif first.name in ("Revealed", "Picked"):
                name = f"{first.name} ({'trace' if g.in_trace else 'output'})"
            else:
                name = first.name
        GAS[gc.k][name] = max(GAS[gc.k][name], r.gas)

    g = play(gc, gid, [HonestPlayer(gc, defender_run, OP), challenger], on_move=on_move)
    ev = gc.events("GameResolved", gameId=gid)[0].args
    rounds = -(-moves[0] // 2)
    leaves = g.out_leaves if g.out_leaves else 1
    assert rounds <= ceil_log2(g.step_count) + ceil_log2(leaves) + 2, (rounds, g.step_count, leaves)
    return g, Reason(ev["reason"]), rounds


LIES_300 = [
    (Lie(0), Reason.WRONG_ELEMENT),
    (Lie(299), Reason.WRONG_ELEMENT),  # the last step: the final sample
    (Lie(3, "element", 399), Reason.WRONG_ELEMENT),  # the last element of a 7-leaf output
    (Lie(151, "element", 64), Reason.WRONG_ELEMENT),
    (Lie(256, "element", 2), Reason.WRONG_ELEMENT),  # the first step of the trace's right half
    (Lie(255, "element", 0), Reason.WRONG_ELEMENT),
    (Lie(44, "element", 0), Reason.WRONG_ELEMENT),  # a sampled token: every later token operand follows it
    (Lie(101, "padding"), Reason.WRONG_ELEMENT),  # a nonzero byte past the last element
    (Lie(123, "instr"), Reason.WRONG_INSTRUCTION),
    (Lie(212, "operand_count"), Reason.WRONG_OPERAND_COUNT),
    (Lie(202, "shape"), Reason.WRONG_OUTPUT_HEADER),
    (Lie(10, "operand", 0), Reason.WRONG_OPERAND),  # token at a prompt position
    (Lie(100, "operand", 0), Reason.WRONG_OPERAND),  # token at a generated position
    (Lie(100, "operand", 1), Reason.WRONG_OPERAND),  # weight
    (Lie(1, "operand", 1), Reason.WRONG_OPERAND),  # state at position 0 (the empty state)
    (Lie(181, "operand", 1), Reason.WRONG_OPERAND),  # state from the previous position
    (Lie(182, "operand", 0), Reason.WRONG_OPERAND),  # local
    (Lie(297, "operand", 2), Reason.WRONG_OPERAND),  # run
]


@pytest.mark.parametrize("lie,reason", LIES_300, ids=[f"{l.kind}@{l.step}" for l, _ in LIES_300])
def test_dishonest_defender_loses(setup, lie, reason):
    gc, big, _ = setup
    liar = big.with_lie(lie)
    g, why, rounds = game(gc, liar, HonestPlayer(gc, big, CH))
    assert (g.result, why, g.step) == (Result.CHALLENGER_WON, reason, lie.step)
    assert gc.claim(g.claim_id).status.name == "SLASHED"


def test_false_output_with_a_true_trace_loses(setup):
    gc, big, _ = setup
    out = list(big.output)
    out[-1] += 1
    g, why, rounds = game(gc, big, HonestPlayer(gc, big, CH), output=out)
    assert (g.result, why) == (Result.CHALLENGER_WON, Reason.WRONG_OUTPUT_TOKEN)
    assert rounds == 1


@pytest.mark.parametrize(
    "lie",
    [Lie(0), Lie(137, "element", 69), Lie(299), Lie(204, "instr"), Lie(45, "operand", 1)],
    ids=lambda l: f"{l.kind}@{l.step}",
)
def test_challenger_with_a_wrong_trace_loses(setup, lie):
    gc, big, _ = setup
    g, why, rounds = game(gc, big, Lenient(HonestPlayer(gc, big.with_lie(lie), CH)))
    assert g.result == Result.DEFENDER_WON
    # it reaches the step where its own trace differs, then cannot prove anything: its one-step agrees with
    # the defender, or (no provable inconsistency) it runs out of time
    assert g.step == lie.step and why in (Reason.ELEMENT_CORRECT, Reason.TIMEOUT)


class StubbornChallenger(HonestPlayer):
    """Disputes an honest claim anyway: its trace differs at `step`, and there it tries every proof (each
    must be refused), then disputes the output and one-steps a random element of the leaf."""

    def __init__(self, gc, honest_run, sender, step, rng):
        super().__init__(gc, honest_run.with_lie(Lie(step)), sender)
        self.truth, self.rng = honest_run, rng

    def attack(self, game_id, g):
        if g.phase == Phase.STEP_OPENED:
            t, S = self.truth, self.truth.steps_per_token
            ib = t.instr_bytes(g.step % S)
            tt = t.template_tree()
            tries = [
                lambda: self.gc.prove_wrong_instruction(
                    game_id, tt.node(0, g.step % S), tt.proof(g.step % S), sender=self.sender
                ),
                lambda: self.gc.prove_wrong_operand_count(game_id, ib, sender=self.sender),
                lambda: self.gc.prove_wrong_output_header(game_id, ib, t.operand_headers(g.step), sender=self.sender),
            ]
            tries += [
                lambda m=m: self.gc.prove_operand_run(game_id, ib, m, sender=self.sender)
                for m in range(len(g.operand_roots))
            ]
            for attempt in tries:
                with pytest.raises(Refused) as ei:
                    attempt()
                assert ei.value.error in ("NotWrong", "BadOperand")
            return self.gc.dispute_output(game_id, sender=self.sender)
        if g.phase == Phase.OUT_PICK:
            levels = ceil_log2(len(g.children))
            ok = [p for p in range(len(g.children)) if ((g.index << levels) + p) << (g.height - levels) < g.out_leaves]
            return self.gc.pick(game_id, self.rng.choice(ok), sender=self.sender)
        if g.phase == Phase.LEAF_REVEALED:
            per = 64
            j = self.rng.randrange(per)
            e = g.index * per + j
            return self.gc.one_step(
                game_id,
                self.truth.instr_bytes(g.step % 5),
                self.truth.one_step_operands(g.step, e),
                j,
                sender=self.sender,
            )
        return super().attack(game_id, g)


@pytest.mark.parametrize("step", [3, 163, 298])
def test_stubborn_challenger_loses(setup, step):
    gc, big, _ = setup
    g, why, _ = game(gc, big, StubbornChallenger(gc, big, CH, step, random.Random(step)))
    assert (g.result, why) == (Result.DEFENDER_WON, Reason.ELEMENT_CORRECT)


class Staller:
    """Never moves (returns None), so the other side claims the timeout."""

    def __init__(self, gc, sender):
        self.address = gc.chain.address(sender)

    def move(self, game_id):
        return None


def test_stalling_loses_on_both_sides(setup):
    gc, big, _ = setup
    g, why, _ = game(gc, big, Staller(gc, CH))
    assert (g.result, why) == (Result.DEFENDER_WON, Reason.TIMEOUT)
    cid = big.post(gc, bond=BOND, sender=OP).claim_id
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    g = play(gc, gid, [Staller(gc, OP), HonestPlayer(gc, big, CH)])
    assert g.result == Result.CHALLENGER_WON


def test_false_output_dispute_loses(setup):
    """A challenger claiming the (true) output disagrees with the trace cannot prove it."""
    gc, big, _ = setup
    cid = big.post(gc, bond=BOND, sender=OP).claim_id
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    HonestPlayer(gc, big, OP).move(gid)
    ct, tt = TensorTree(pack_tokens(big.output)), big.trace_tree()
    n, S = len(big.prompt), big.steps_per_token
    for j in (0, len(big.output) - 1):
        src = (n + j) * S - 1
        with pytest.raises(Refused) as ei:
            gc.prove_wrong_output_token(gid, j, ct.leaf(0), ct.proof(0), big.opening(src), tt.proof(src), sender=CH)
        assert ei.value.error == "NotWrong"
    gc.chain.increase_time(MOVE)
    gc.timeout(gid)
    assert gc.game(gid).result == Result.DEFENDER_WON


@pytest.mark.parametrize("step", range(20))
def test_every_divergence_point_small_trace(setup, step):
    """A 20-step run: a lie at each step loses as defender and as challenger; the game lands on that step."""
    gc, _, small = setup
    numel = 1
    for d in small.template[step % 5].shape:
        numel *= d
    liar = small.with_lie(Lie(step, "element", numel - 1))
    g, why, _ = game(gc, liar, HonestPlayer(gc, small, CH))
    assert (g.result, why, g.step) == (Result.CHALLENGER_WON, Reason.WRONG_ELEMENT, step)
    g, why, _ = game(gc, small, HonestPlayer(gc, liar, CH))
    assert (g.result, why, g.step) == (Result.DEFENDER_WON, Reason.ELEMENT_CORRECT, step)


def test_everyone_withdraws_to_zero(setup):
    """After all the games above (per k): settle what is pending and withdraw; the registry ends holding exactly
    the burned halves of the slashed claim bonds (credited to address(0), which never withdraws)."""
    gc, big, _ = setup
    chain = gc.chain
    bal, locked, credit = gc.ledger()
    assert bal == locked + credit
    pending = [gc.claim(e.args["claimId"]) for e in gc.events("ClaimPosted") if e.address == gc.address]
    chain.mine(1, timestamp=max(chain.timestamp() + 1, *(c.window_end for c in pending)))  # every window over
    for e in gc.events("ClaimPosted"):
        if e.address == gc.address and gc.claim(e.args["claimId"]).status.name == "PENDING":
            gc.finalize(e.args["claimId"])
    for who in (OP, CH):
        if gc.credit(who):
            gc.withdraw(sender=who)
    burned = gc.credit("0x" + "00" * 20)
    slashed = [e for e in gc.events("ClaimSlashed") if e.address == gc.address]
    assert burned == sum(int(e.args["bond"]) - int(e.args["bond"]) // 2 for e in slashed) > 0
    assert gc.ledger() == (burned, 0, burned)


def test_gas_per_move(setup):
    """Every kind of move stayed well under the cap (the table is the report: run with -s)."""
    gc = setup[0]
    table = GAS[gc.k]
    assert len(table) >= 12, sorted(table)
    print(f"\nk = {gc.k}: most gas per move over these games (deploy {gc.deploy_gas:,d})")
    for name, gas in sorted(table.items(), key=lambda kv: kv[1]):
        print(f"  {name:36s} {gas:9,d}")
    assert max(table.values()) < 1_000_000
