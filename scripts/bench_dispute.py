#!/usr/bin/env python3
"""Dispute games on anvil with random corruption points: who wins, rounds, gas per move and per side.

    scripts/bench_dispute.py [--model tiny|smollm2] [--games N] [--seed S] [--k 2] [--json]

Each game: a dishonest operator posts a claim whose run was altered at a random (step, element); an honest
watcher replays it, challenges and plays to the end with the real OneStep. Summary keys: games,
honest_wins, max_rounds, rounds_bound (the largest ceil(log2 steps) + ceil(log2 leaves) + 2 seen),
rounds_within_bound, max_tx_gas, max_move_gas (largest game move), mean_dispute_gas (all transactions of
a game), seconds.
"""

import argparse
import random
import sys
import time

import _common  # noqa: F401
import numpy as np
from _common import emit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.chain.client import Chain
    from prover.chain.node import start_anvil
    from prover.chain.registry import GameClient
    from prover.chain.solc import compile_contracts
    from prover.cli.chain_demo import play_dispute
    from prover.commit.trace import Corruption
    from prover.runner import Replayer, traced_generate

    lm = IntegerLM.load(a.model)
    prompt = [5, 17, 99, 120] if a.model == "tiny" else lm.encode_prompt("What is the capital of France?", chat=True)
    settings = GenSettings(max_new_tokens=a.tokens)
    honest = traced_generate(lm, prompt, settings)
    rp = Replayer(lm, honest)
    steps = honest.tracer.step_count
    rng = random.Random(a.seed)
    rows, t0 = [], time.perf_counter()
    with start_anvil() as node:
        chain = Chain(node.url, compile_contracts())
        from prover.chain.deploy import deploy_one_step

        one = deploy_one_step(chain)
        gc = None
        for g in range(a.games):
            if g % 20 == 0:  # a fresh registry every 20 games keeps the agents' event scans short
                gc = GameClient.deploy(
                    chain, claim_bond=10**15, challenge_bond=10**15, replay_micros=1, challenge_window=10**6, move_window=10**6, k=a.k, one_step=one.address
                )
            step = rng.randrange(steps)
            _, _, y = rp.step(step)
            t = step // lm.program.steps_per_token
            if hasattr(y, "buf"):  # a KV cache: only the appended row is new
                w = y.buf.shape[1]
                elem = t * w + rng.randrange(w)
            else:
                elem = rng.randrange(int(np.asarray(y).size))
            r = play_dispute(
                gc,
                lm,
                prompt,
                settings,
                Corruption(step, elem, rng.choice([1, -1, 1 << 20])),
                bond=10**15,
                operator=1 + g % 3,
                challenger=5 + g % 3,
            )
            moves = [gas for n, gas in r["txs"] if n not in ("postClaim", "registerModel")]
            rows.append(
                {
                    "game": g,
                    "step": step,
                    "op": lm.program.locate(step)[1].name,
                    "element": elem,
                    "honest_won": r["honest_won"],
                    "rounds": r.get("rounds"),
                    "bound": r.get("bound"),
                    "txs": len(r["txs"]),
                    "max_move_gas": max(moves) if moves else 0,
                    "dispute_gas": sum(moves),
                }
            )
            print(
                f"game {g}: step {step} {rows[-1]['op']} honest_won={r['honest_won']} rounds={r.get('rounds')}"
                f"/{r.get('bound')} {time.perf_counter() - t0:.0f}s",
                file=sys.stderr,
                flush=True,
            )
    summary = {
        "model": a.model,
        "k": a.k,
        "steps": steps,
        "games": len(rows),
        "honest_wins": sum(r["honest_won"] for r in rows),
        "max_rounds": max((r["rounds"] or 0) for r in rows),
        "rounds_bound": max((r["bound"] or 0) for r in rows),
        "rounds_within_bound": all((r["rounds"] or 0) <= (r["bound"] or 0) for r in rows),
        "max_tx_gas": max(r["max_move_gas"] for r in rows),
        "max_move_gas": max(r["max_move_gas"] for r in rows),
        "mean_dispute_gas": int(np.mean([r["dispute_gas"] for r in rows])),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    emit(f"dispute games, {a.model}", rows, summary, a.json)
    return 0 if summary["honest_wins"] == summary["games"] else 1


if __name__ == "__main__":
    sys.exit(main())
