#!/usr/bin/env python3
"""N games on one honest claim: what an attacker opening many challenges at once costs the defender's agent.

    scripts/bench_many_games.py [--games 1,4,8] [--json]

On a fresh anvil (automine) with the tiny model: an honest claim posted by `Agent`, N adversary identities each
challenging it and playing its own corrupted trace (tests/gamekit.Adversary), all moving in the same block, so
that every one of the defender's N moves is due at once. Each round the defender's one poll (`defend_once`)
answers all N games; its wall time is what a move window must cover. One row per N: games won by the defender,
polls, defender transactions, the slowest poll, ms per defender transaction (a receipt is awaited per
transaction), and the defender's gas per game (its worst step here: the tiny model's shallow tree, far below
SmolLM2's 4.5M bound, docs/dispute.md "Known limits"). Summary: ms_per_move (the largest N's), how many
simultaneous games fit one 600 s move window at that rate, and how many games a defender sending one transaction
per 12 s block keeps up with under the stretched defender deadlines (derived from the rule, not measured: one move
a window for up to MAX_STRETCH games, then n moves per MAX_STRETCH windows).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path)
from _common import emit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def one(lm, chain, n: int) -> dict:
    from gamekit import Adversary

    from engine.generate import GenSettings
    from prover.chain.deploy import deploy_one_step
    from prover.chain.registry import GameClient
    from prover.commit.trace import Corruption
    from prover.dispute.agent import Agent
    from prover.dispute.protocol import Result
    from prover.runner import make_receipt, traced_generate

    bond, settings, prompt = 10**15, GenSettings(max_new_tokens=3), [5, 17, 99]
    gc = GameClient.deploy(
        chain,
        claim_bond=bond,
        challenge_bond=bond,
        challenge_window=10**6,
        replay_micros=1,
        move_window=10**4,
        k=2,
        one_step=deploy_one_step(chain).address,
    )
    op = Agent(gc, lm, 0)
    cid = op.submit(make_receipt(lm, "tiny", None, False, prompt, traced_generate(lm, prompt, settings)))
    first = chain.block_number()
    advs = [
        Adversary(gc, lm, 1 + i, prompt, settings, Corruption.at(lm.program, (30 + 7 * i) % 160, 1)) for i in range(n)
    ]
    games = [a.open(cid) for a in advs]
    polls, txs, slowest, spent = 0, 0, 0.0, 0.0
    for _ in range(200):
        t0 = time.perf_counter()
        sent = op.defend_once(cid, finalize=False)
        dt = time.perf_counter() - t0
        polls, txs = polls + 1, txs + sent
        if sent:
            slowest, spent = max(slowest, dt), spent + dt
        moved = sum(a() for a in advs)
        if all(gc.game(g).over for g in games):
            break
        if not sent and not moved:
            chain.increase_time(gc.move_window + 1)  # the adversaries gave up: the defender's timeouts are owed
    won = sum(Result(gc.game(g).result) == Result.DEFENDER_WON for g in games)
    gas = 0
    for b in range(first + 1, chain.block_number() + 1):
        for h in chain.w3.eth.get_block(b)["transactions"]:
            if chain.w3.eth.get_transaction(h)["from"] == op.address:
                gas += chain.w3.eth.get_transaction_receipt(h)["gasUsed"]
    return {
        "games": n,
        "defender_won": won,
        "polls": polls,
        "defender_txs": txs,
        "slowest_poll_s": round(slowest, 3),
        "ms_per_tx": round(1000 * spent / max(1, txs), 1),
        "defender_gas_per_game": gas // n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", default="1,4,8", help="comma-separated N (default 1,4,8)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ns = [int(x) for x in a.games.split(",")]
    from engine.runtime import IntegerLM
    from prover.chain import Chain, compile_contracts
    from prover.chain.node import start_anvil

    from prover.dispute.timing import MAX_STRETCH

    lm = IntegerLM.load("tiny")
    with start_anvil(extra_args=("--accounts", str(max(ns) + 2))) as node:
        chain = Chain(node.url, compile_contracts())
        rows = [one(lm, chain, n) for n in ns]
    ms = rows[-1]["ms_per_tx"]
    summary = {
        "ms_per_move": ms,
        "games_per_600s_window_automine": int(600_000 // max(ms, 1e-9)),
        "games_kept_up_12s_blocks": MAX_STRETCH * (600 // 12),
        "all_won": all(r["defender_won"] == r["games"] for r in rows),
    }
    emit("N games on one honest claim (tiny, anvil automine)", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
