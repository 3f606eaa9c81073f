"""Honest play: the move a truthful party makes in a game, from its own trace and model knowledge.

player = HonestPlayer(gc, party, sender)      # party: a Party (prover.dispute.party.EngineParty, or a test double)
player.move(game_id)                          # the move the game waits for, if it is this player's turn
play(gc, game_id, [defender, challenger])     # both sides in turn until the game ends (tests, demos)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..chain.client import ChainError
from ..chain.registry import Game, GameClient, TxResult
from ..commit.model import KIND_CODE, token_root
from .protocol import DTYPE_WIDTH, LEAF, TOKENS_PER_LEAF, Phase, ceil_log2, decode_operands, pack_tokens, unpack_tokens
from .trees import HashTree, RevealedTree, StepOpening, TensorTree, leftmost_diff, opening_diff


class Party(Protocol):
    """What a player knows: its own trace (honest or not) and the model (template, weights)."""

    k: int
    prompt: Sequence[int]
    output: Sequence[int]
    steps_per_token: int

    @property
    def step_count(self) -> int: ...
    def trace_tree(self) -> HashTree: ...
    def opening(self, i: int) -> StepOpening: ...
    def output_tree(self, i: int) -> TensorTree: ...
    def instr_bytes(self, idx: int) -> bytes: ...
    def template_tree(self) -> HashTree: ...
    def weight_header(self, widx: int) -> tuple: ...
    def weights_tree(self) -> HashTree: ...
    def operand_headers(self, i: int) -> list[tuple]: ...
    def one_step_operands(self, i: int, e: int) -> list[tuple]: ...


class HonestPlayer:
    """Plays one side of a game truthfully from a Party's own trace: `move(game_id)` makes the move the
    game waits for if it is this player's turn (and returns the TxResult), else returns None."""

    def __init__(
        self,
        gc: GameClient,
        party: Party,
        sender,
        *,
        claimed_output: Sequence[int] | None = None,
        from_block: int = 0,
    ):
        """claimed_output: the claim's output tokens if the caller has them (else read from its ClaimPosted event);
        from_block: a block at or before the game's opening (event reads start there, not at genesis)."""
        self.gc, self.party, self.sender = gc, party, sender
        self.claimed_output = None if claimed_output is None else [int(t) for t in claimed_output]
        self.from_block = from_block
        self.address = gc.chain.address(sender)
        self._tt: HashTree | None = None

    @property
    def tt(self) -> HashTree:
        if self._tt is None:
            self._tt = self.party.trace_tree()
        return self._tt

    def move(self, game_id: int) -> TxResult | None:
        g = self.gc.game(game_id)
        if g.over or g.to_move != self.address:
            return None
        return self.defend(game_id, g) if g.phase.defender_moves else self.attack(game_id, g)

    # defender ------------------------------------------------------------------------------------
    def defend(self, game_id: int, g: Game) -> TxResult:
        p, s = self.party, self.sender
        if g.phase == Phase.TRACE_REVEAL:
            return self.gc.reveal(game_id, self.tt.children(g.height, g.index, self.gc.k), sender=s)
        if g.phase == Phase.STEP_OPEN:
            return self.gc.open_step(game_id, p.opening(g.index), sender=s)
        ot = p.output_tree(g.step)
        if g.phase == Phase.OUT_REVEAL:
            return self.gc.reveal(game_id, ot.children(g.height, g.index, self.gc.k), sender=s)
        if g.phase == Phase.LEAF_REVEAL:
            return self.gc.reveal_leaf(game_id, ot.leaf(g.index), sender=s)
        raise ChainError(f"no defender move in phase {g.phase!r}")

    # challenger ----------------------------------------------------------------------------------
    def attack(self, game_id: int, g: Game) -> TxResult:
        p, s = self.party, self.sender
        if g.phase == Phase.TRACE_PICK:
            if g.trace_root == self.tt.root:  # same trace: then the claimed output must differ from it
                return self.prove_output_token(game_id, g)
            child = self._pick(g, self.tt, g.step_count)
            return self.gc.pick(game_id, child, sender=s)
        if g.phase == Phase.STEP_OPENED:
            return self.prove_step(game_id, g)
        if g.phase == Phase.OUT_PICK:
            return self.gc.pick(game_id, self._pick(g, p.output_tree(g.step), g.out_leaves), sender=s)
        if g.phase == Phase.LEAF_REVEALED:
            mine = p.output_tree(g.step).leaf(g.index)
            w = DTYPE_WIDTH[g.out_dtype]
            j = next((j for j in range(LEAF // w) if mine[j * w : (j + 1) * w] != g.leaf[j * w : (j + 1) * w]), 0)
            e = g.index * (LEAF // w) + j
            i = g.step
            return self.gc.one_step(
                game_id, p.instr_bytes(i % p.steps_per_token), p.one_step_operands(i, e), j, sender=s
            )
        raise ChainError(f"no challenger move in phase {g.phase!r}")

    def _pick(self, g: Game, tree: HashTree, count: int) -> int:
        levels = ceil_log2(len(g.children))
        ch = g.height - levels
        mine = tree.children(g.height, g.index, 1 << levels)
        p = leftmost_diff(g.children, mine, g.index << levels, ch, count)
        if p is None:
            raise ChainError("the revealed children all agree with mine: nothing to dispute here")
        return p

    def prove_output_token(self, game_id: int, g: Game) -> TxResult:
        p = self.party
        claimed = self._claimed_output(g.claim_id)  # find a claimed token that differs from my trace's
        S = p.steps_per_token
        n = len(p.prompt)
        for j, tok in enumerate(claimed):
            src = (n + j) * S - 1
            if token_root(tok) != p.opening(src).output_root:
                ct = TensorTree(pack_tokens(claimed))
                return self.gc.prove_wrong_output_token(
                    game_id,
                    j,
                    ct.leaf(j // TOKENS_PER_LEAF),
                    ct.proof(j // TOKENS_PER_LEAF),
                    p.opening(src),
                    self.tt.proof(src),
                    sender=self.sender,
                )
        raise ChainError("same trace and same output: nothing to dispute")

    def _claimed_output(self, claim_id: int) -> list[int]:
        if self.claimed_output is not None:
            return self.claimed_output
        ev = self.gc.events("ClaimPosted", claimId=claim_id)
        return unpack_tokens(bytes(ev[0].args["outputPacked"]))

    def prove_step(self, game_id: int, g: Game) -> TxResult:
        p, s, i = self.party, self.sender, g.step
        S = p.steps_per_token
        t, idx = divmod(i, S)
        mine = p.opening(i)
        d = opening_diff(mine, g.opening)
        if d is None:
            raise ChainError(f"step {i}: the opening agrees with mine")
        ib = p.instr_bytes(idx)
        if d[0] == "instruction":
            tt = p.template_tree()
            return self.gc.prove_wrong_instruction(game_id, tt.node(0, idx), tt.proof(idx), sender=s)
        if d[0] == "operand_count":
            return self.gc.prove_wrong_operand_count(game_id, ib, sender=s)
        if d[0] == "header":
            return self.gc.prove_wrong_output_header(game_id, ib, p.operand_headers(i), sender=s)
        if d[0] == "output":
            return self.gc.dispute_output(game_id, sender=s)
        m = d[1]
        kind, src = decode_operands(ib)[m]
        if kind == KIND_CODE["weight"]:
            wt = p.weights_tree()
            return self.gc.prove_operand_weight(game_id, ib, m, p.weight_header(src), wt.proof(src), sender=s)
        if kind == KIND_CODE["run"]:
            return self.gc.prove_operand_run(game_id, ib, m, sender=s)
        if kind == KIND_CODE["token"] and t < len(p.prompt):
            pt = TensorTree(pack_tokens(p.prompt))
            return self.gc.prove_operand_prompt_token(
                game_id, ib, m, pt.leaf(t // TOKENS_PER_LEAF), pt.proof(t // TOKENS_PER_LEAF), sender=s
            )
        if kind == KIND_CODE["state"] and t == 0:
            tt = p.template_tree()
            return self.gc.prove_operand_empty_state(game_id, ib, m, p.instr_bytes(src), tt.proof(src), sender=s)
        if kind == KIND_CODE["local"]:
            k_ = t * S + src
        elif kind == KIND_CODE["state"]:
            k_ = (t - 1) * S + src
        else:  # a generated token: the sampler of position t-1
            k_ = t * S - 1
        return self.gc.prove_operand_from_step(
            game_id, ib, m, p.opening(k_), self.defender_proof(game_id, g, k_), sender=s
        )

    def defender_proof(self, game_id: int, g: Game, k: int) -> list[bytes]:
        """Proof of agreed record k (< the disputed step) in the defender's trace tree (see RevealedTree)."""
        revealed: dict[tuple[int, int], bytes] = {}
        for e in self.gc.events("Revealed", from_block=self.from_block, gameId=game_id):
            if Phase(e.args["phase"]) != Phase.TRACE_PICK:
                continue
            levels = ceil_log2(len(e.args["children"]))
            h = e.args["height"] - levels
            for p_, c in enumerate(e.args["children"]):
                revealed[(h, (e.args["index"] << levels) + p_)] = bytes(c)
        revealed[(0, g.step)] = g.opening.record(g.step)
        return RevealedTree(self.tt, revealed, g.step, ceil_log2(g.step_count)).proof(k)


def play(
    gc: GameClient,
    game_id: int,
    players: Sequence[Any],
    max_moves: int = 10_000,
    on_move: Callable[[Game, TxResult], None] | None = None,
) -> Game:
    """Let the players (objects with .address and .move(game_id)) move in turn until the game ends; a
    player that returns None on its turn stalls, and then the other side claims the timeout."""
    for _ in range(max_moves):
        g = gc.game(game_id)
        if g.over:
            return g
        who = next((pl for pl in players if pl.address == g.to_move), None)
        r = who.move(game_id) if who is not None else None
        if r is None:  # stall: let the deadline pass (a defender's may be several windows out) and claim it
            gc.chain.increase_time(max(g.deadline - gc.chain.timestamp(), 0))
            r = gc.timeout(game_id)
        if on_move is not None:
            on_move(g, r)
    raise ChainError(f"game {game_id} not over after {max_moves} moves")
