"""The protocol's time and money rules, sized from measured replay cost and gas (docs/dispute.md, "Time and
money"). `obrain deploy` refuses parameters these rules reject, saying why.

* Replay rate: a claim's window closes `challengeWindow` seconds after a verification queue reaches the claim;
  the queue advances `replayMicros` per position of every claim posted (ClaimRegistry.postClaim). So a watcher
  that replays at that rate, oldest claim first, has checked every claim before its window closes, however many
  are posted at once. The rate must cover the slowest model the registry serves, on the slowest machine a
  watcher is expected to run (a loaded 2-core VM): REPLAY_US below, measured with scripts/measure_replay.py.
* Move window: an honest move needs at most one position's replay, one witness and one transaction; MOVE_S below.
* Bonds: both sides' bonds cover the honest side's worst-case gas for a whole game at the worst step, at the
  highest gas price the deployment promises to cover: the challenge bond pays an honest defender's gas when it
  wins; half the claim bond (the other half is burned) pays an honest challenger's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..commit.merkle import ceil_log2

# Worst-case replay time a position, microseconds, over a max-context claim (attention grows with the position),
# on a loaded 2-core VM (this project's CI machine), with a factor of 2 or more on the measurement:
# scripts/measure_replay.py MODEL --positions CONTEXT, teacher-forced as the watcher replays (2026-12-01, load
# average 6-8: smollm2 1024 positions 51 ms CPU / 138 ms wall a position; tiny 250 positions 1 ms / 3.4 ms).
REPLAY_US: dict[str, int] = {"tiny": 10_000, "smollm2": 300_000}
DEFAULT_REPLAY_US = 400_000  # a model not measured here (each position of a bigger model costs more)

# Worst-case time for one honest move, seconds: a restarted watcher's game worker loading the model (numba
# imports, weights), one position's replay, a witness, a transaction on a congested chain; measured 5-10 s cold
# and 0.2-2 s warm for smollm2 on a loaded 2-core VM (scripts/bench_adversarial.py), with a factor of 4 or more.
MOVE_S: dict[str, int] = {"tiny": 30, "smollm2": 120}
DEFAULT_MOVE_S = 300
DEFAULT_MOVE_WINDOW_S = 600  # what `obrain deploy` proposes when the floor is lower
# DisputeGame.MAX_STRETCH: a defender deadline is moveWindow x min(open games on its claim, this), so its
# claim's games never ask it for more than one move a window; the cap bounds a game's length (the Quorum's tail)
MAX_STRETCH = 16
MIN_CHALLENGE_WINDOW_S = 60  # a replay worker's cold start (model load) and landing the challenge transaction
MAX_OUTPUT_LEAVES = 4096  # the widest committed output: a 262,144-entry logits row (Gemma 3), 4 bytes an entry

# Gas of each move kind, bounded from above (tests/test_timing.py plays whole games on anvil and checks every
# move against these; measured 2026-12-01: reveal 114k at k=2 and 162k at k=4, pick 73k, openStep 340k, output
# dispute 49k, leaf reveal 247k, the game's side of oneStep 210k, a challenge ~250k).
PICK_GAS = 90_000
OPEN_GAS = 450_000
DISPUTE_GAS = 60_000
LEAF_GAS = 300_000
CHALLENGE_GAS = 400_000
ONE_STEP_GAS = 3_300_000  # the verifier's worst op (< 3M by design, scripts/bench_gas.py) and the game's 210k


def reveal_gas(k: int) -> int:
    """A reveal of k children (each stored: ~24k gas a child)."""
    return 70_000 + 25_000 * k


def game_gas_bound(steps: int, leaves: int, k: int) -> int:
    """Gas both honest sides spend at most on one game over a trace of `steps` steps whose widest output has
    `leaves` leaves, with k-ary dissection: the challenge, every round's reveal and pick, the openings, the one-step."""
    bits = max(1, ceil_log2(k))
    rounds = math.ceil(ceil_log2(steps) / bits) + math.ceil(ceil_log2(leaves) / bits)
    return CHALLENGE_GAS + rounds * (reveal_gas(k) + PICK_GAS) + OPEN_GAS + DISPUTE_GAS + LEAF_GAS + ONE_STEP_GAS


@dataclass(frozen=True)
class Schedule:
    """A deployment's bonds (wei), windows (seconds) and replay rate (microseconds a position)."""

    claim_bond: int
    challenge_bond: int
    challenge_window: int
    move_window: int
    replay_micros: int
    k: int


def replay_micros_for(models: list[str]) -> int:
    """The replay rate a registry serving these models needs (the slowest one's)."""
    return max([REPLAY_US.get(m, DEFAULT_REPLAY_US) for m in models] or [DEFAULT_REPLAY_US])


def move_window_for(models: list[str]) -> int:
    return max([MOVE_S.get(m, DEFAULT_MOVE_S) for m in models] or [DEFAULT_MOVE_S])


def bond_floor(steps: int, leaves: int, k: int, max_gas_price_wei: int) -> int:
    """The least challenge bond that pays an honest side's whole game at `max_gas_price_wei`."""
    return game_gas_bound(steps, leaves, k) * max_gas_price_wei


def check(
    s: Schedule, models: list[str], *, max_context: int, steps_per_token: int, leaves: int, max_gas_price_wei: int
) -> list[str]:
    """Every reason these parameters cannot protect claims on these models (empty: they can)."""
    why = []
    need_us = replay_micros_for(models)
    if s.replay_micros < need_us:
        worst = max_context * need_us / 1e6
        why.append(
            f"--replay-micros {s.replay_micros} is below {need_us}: a watcher on a loaded 2-core machine replays "
            f"{', '.join(models) or 'these models'} at up to {need_us} us a position, so a {max_context}-position "
            f"claim needs {worst:.0f} s of replay but would get {max_context * s.replay_micros / 1e6:.0f} s before its "
            "window closes"
        )
    need_mv = move_window_for(models)
    if s.move_window < need_mv:
        why.append(
            f"--move-window {s.move_window} s is below {need_mv} s: an honest move may need a position's replay, a "
            "witness and a transaction on a congested chain"
        )
    if s.challenge_window < MIN_CHALLENGE_WINDOW_S:
        why.append(f"--challenge-window {s.challenge_window} s leaves no time to land a challenge after the replay")
    floor = bond_floor(max_context * steps_per_token, leaves, s.k, max_gas_price_wei)
    if s.challenge_bond < floor:
        why.append(
            f"--challenge-bond {s.challenge_bond} wei is below {floor} wei, an honest defender's worst-case game "
            f"({game_gas_bound(max_context * steps_per_token, leaves, s.k)} gas) at {max_gas_price_wei} wei a gas"
        )
    if s.claim_bond < 2 * floor:
        why.append(
            f"--claim-bond {s.claim_bond} wei is below {2 * floor} wei: half of it (the other half is burned) must pay "
            "an honest challenger's worst-case game"
        )
    return why
