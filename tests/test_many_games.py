"""Many games on one claim (docs/dispute.md, time rules): a defender deadline is moveWindow x min(open games,
MAX_STRETCH), so an attacker opening N games on an honest claim cannot ask its defender for more than one move a
window; a liar's extra games on its own lie only stretch its own deadlines, never the honest challenger's."""

from __future__ import annotations

import pytest
from doubles import SyntheticRun
from doubles import SynthLie as Lie

from prover.chain.registry import GameClient
from prover.dispute import timing
from prover.dispute.player import HonestPlayer
from prover.dispute.protocol import ClaimStatus, Result

pytestmark = pytest.mark.chain

BOND = 10**15
WINDOW = 100_000
MOVE = 100
OP, ATTACKER, WATCHER = 1, 2, 3
N = 5


@pytest.fixture(scope="module")
def gc(chain):
    return GameClient.deploy(
        chain,
        claim_bond=BOND,
        challenge_bond=BOND,
        replay_micros=1,
        challenge_window=WINDOW,
        move_window=MOVE,
        k=2,
        one_step=chain.deploy("MockOneStep").address,
    )


@pytest.fixture(scope="module")
def honest(gc):
    r = SyntheticRun([7, 8, 9], [0, 1, 42, 2], 2, k=2)
    r.register(gc)
    return r


@pytest.fixture(autouse=True)
def fresh(chain, gc, honest):
    snap = chain.snapshot()
    yield
    chain.revert(snap)


def open_games(gc, cid: int, n: int, sender: int) -> list[tuple[int, int]]:
    """Open n games on the claim; (game id, the timestamp it was opened at) each."""
    out = []
    for _ in range(n):
        gid = gc.challenge(cid, bond=BOND, sender=sender).game_id
        out.append((gid, gc.chain.timestamp()))
    return out


def test_n_games_on_an_honest_claim_ask_one_move_a_window(gc, honest):
    """N games opened at once: the i-th has its defender deadline i windows out (the old rule, now + moveWindow
    for all, would ask for N moves by one deadline); an honest defender making one move every MOVE - 1 seconds,
    against an attacker answering every move at once, meets every deadline and wins every game."""
    cid = honest.post(gc, bond=BOND, sender=OP).claim_id
    opened = open_games(gc, cid, N, ATTACKER)
    deadlines = [gc.game(gid).deadline for gid, _ in opened]
    assert deadlines == [t + MOVE * i for i, (_, t) in enumerate(opened, 1)]
    old = [t + MOVE for _, t in opened]  # the old rule: every game due one window after it opened
    assert sum(d <= opened[-1][1] + MOVE for d in old) == N  # N defender moves due within one window
    t0 = opened[0][1]
    assert all(d >= t0 + MOVE * j for j, d in enumerate(sorted(deadlines), 1))  # at most j moves due by j windows

    liar = honest.with_lie(Lie(9))  # the attacker disputes a step the honest trace has right
    defender, attacker = HonestPlayer(gc, honest, OP), HonestPlayer(gc, liar, ATTACKER)
    ids = [gid for gid, _ in opened]
    last, moves = t0, 0
    while not all(gc.game(g).over for g in ids):
        while any(attacker.move(g) is not None for g in ids if gc.game(g).to_move == attacker.address):
            pass  # the attacker answers at once in every game
        due = sorted((gc.game(g).deadline, g) for g in ids if gc.game(g).to_move == defender.address)
        if not due:
            continue
        deadline, gid = due[0]  # earliest deadline first, as the agent plays
        last = max(last + MOVE - 1, gc.chain.timestamp() + 1)  # one defender move per MOVE - 1 seconds
        assert last < deadline, (moves, last, deadline)
        gc.chain.set_next_timestamp(last)
        assert defender.move(gid) is not None
        assert gc.chain.timestamp() == last
        moves += 1
    assert moves > 2 * N  # several rounds in every game, each due on the stretched deadline
    assert all(gc.game(g).result == Result.DEFENDER_WON for g in ids)
    assert gc.claim(cid).status == ClaimStatus.PENDING and gc.claim(cid).open_games == 0
    assert gc.credit(OP) == N * BOND


def test_a_liars_extra_games_stretch_only_its_own_deadlines(gc, honest):
    """A liar's friend opening games on its lie stretches the liar's (defender's) deadlines, capped at MAX_STRETCH
    windows; the honest watcher's deadline stays one window, and the lie cannot finalize while a game is open."""
    cap = gc.chain.call(gc.game_contract, "MAX_STRETCH")
    assert cap == timing.MAX_STRETCH  # the Quorum's slash tail (prover/cli/attest.py) is sized by it
    liar = honest.with_lie(Lie(9))
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    ((watch, _),) = open_games(gc, cid, 1, WATCHER)
    friends = open_games(gc, cid, cap + 2, ATTACKER)
    assert [gc.game(g).deadline - t for g, t in friends] == [MOVE * min(i, cap) for i in range(2, cap + 4)]
    defender, watcher = HonestPlayer(gc, liar, OP), HonestPlayer(gc, honest, WATCHER)
    assert defender.move(watch) is not None  # the liar reveals: the watcher's turn, one window
    g = gc.game(watch)
    assert g.to_move == watcher.address and g.deadline == gc.chain.timestamp() + MOVE
    assert watcher.move(watch) is not None  # the watcher picks: the liar's turn, stretched to the cap
    assert gc.game(watch).deadline == gc.chain.timestamp() + MOVE * cap
    gc.chain.increase_time(gc.claim(cid).window_end - gc.chain.timestamp())
    assert gc.dry_run("finalize", cid, sender=OP) == "GamesOpen"
    assert gc.dry_run("challenge", cid, sender=WATCHER, value=BOND) == "WindowClosed"
