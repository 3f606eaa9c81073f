"""Shared drivers for the chain tests: players that give up, and one whole game with its bound checked."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from prover.chain.registry import GameClient, Refused
from prover.dispute.party import EngineParty
from prover.dispute.player import HonestPlayer, play
from prover.dispute.protocol import Reason, ceil_log2
from prover.runner import traced_generate

GAS_CAP = 2**24


class Lenient:
    """A player that believes its own (wrong) trace: when a proof it makes is refused as NotWrong, it gives up
    (stalls, and the other side claims the timeout)."""

    def __init__(self, player):
        self.player, self.address = player, player.address

    def move(self, game_id):
        try:
            return self.player.move(game_id)
        except Refused as e:
            assert e.error == "NotWrong", e
            return None


@dataclass
class Played:
    game: object  # prover.chain.game.Game at the end
    reason: Reason
    rounds: int  # ceil(moves / 2), a timeout not counted
    bound: int  # ceil(log2 steps) + ceil(log2 leaves) + 2
    max_gas: int
    last: tuple  # (final move or phase name, its gas)


def dispute(gc: GameClient, defender, challenger, *, op, ch, bond: int, label: str = "") -> Played:
    """Post ``defender``'s claim (a Party, as ``op``), open a game as ``ch`` with ``challenger`` (a player with
    .address and .move) and play to the end; asserts every transaction under 2^24 gas and the rounds bound."""
    cid = defender.post(gc, bond=bond, sender=op).claim_id
    gid = gc.challenge(cid, bond=bond, sender=ch).game_id
    moves, gas, last = [0], [0], [("", 0)]

    def on_move(g, r):
        assert r.gas < GAS_CAP, (label, g.phase, r.gas)
        first = r.events[0]
        if not (first.name == "GameResolved" and Reason(first.args["reason"]) == Reason.TIMEOUT):
            moves[0] += 1
        gas[0] = max(gas[0], r.gas)
        last[0] = (first.name if first.name != "GameResolved" else g.phase.name, r.gas)

    g = play(gc, gid, [HonestPlayer(gc, defender, op), challenger], on_move=on_move)
    why = Reason(gc.events("GameResolved", gameId=gid)[0].args["reason"])
    rounds = -(-moves[0] // 2)
    bound = ceil_log2(g.step_count) + ceil_log2(g.out_leaves or 1) + 2
    assert rounds <= bound, (label, rounds, g.step_count, g.out_leaves)
    return Played(g, why, rounds, bound, gas[0], last[0])


def won(bond: int) -> int:
    """A winning challenger's credit: its bond back and half the slashed claim bond (the other half is burned)."""
    return bond + bond // 2


def quiet(*actors, rounds: int = 1000) -> int:
    """Let every actor act in turn until none has anything to do three rounds running (a Watcher also until it has
    no replay pending). An actor is a callable returning the transactions it sent, or a Watcher (its tick).
    Returns the transactions sent."""
    sent, idle = 0, 0
    for _ in range(rounds):
        n = sum(a.tick() if hasattr(a, "tick") else a() for a in actors)
        sent += n
        busy = any(hasattr(a, "idle") and not a.idle() for a in actors)
        idle = 0 if n or busy else idle + 1
        if idle >= 3:
            return sent
    raise AssertionError(f"actors still busy after {rounds} rounds")


class Adversary:
    """A challenger playing its own (corrupted) trace as if it were the truth, in every game it opened: it moves
    whenever it can, gives up when a proof is refused, and claims a timeout the moment the defender is late."""

    def __init__(self, gc, lm, sender, prompt, settings, corrupt):
        run = traced_generate(lm, prompt, settings, corrupt=corrupt)
        self.gc, self.player = gc, HonestPlayer(gc, EngineParty(lm, run, k=gc.k, prompt=prompt), sender)
        self.sender, self.games = sender, []

    def open(self, claim_id: int) -> int:
        gid = self.gc.challenge(claim_id, bond=self.gc.challenge_bond, sender=self.sender).game_id
        self.games.append(gid)
        return gid

    def __call__(self) -> int:
        sent = 0
        for gid in self.games:
            g = self.gc.game(gid)
            if g.over:
                continue
            if g.to_move != self.player.address:
                if self.gc.chain.timestamp() >= g.deadline:
                    self.gc.timeout(gid, sender=self.sender)
                    sent += 1
                continue
            with contextlib.suppress(Refused):  # its lie refused (NotWrong): it waits for a timeout never owed
                sent += self.player.move(gid) is not None
        return sent
