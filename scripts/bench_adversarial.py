#!/usr/bin/env python3
"""Random adversarial scenarios on anvil against a watcher process (tests/advkit.py): lies of every kind, replay
spam, last-second and stalling defenders, a liar's second identity racing the watcher, a flaky RPC, the watcher
killed and restarted. Prints a row per scenario and a summary; --json prints one object.

    scripts/bench_adversarial.py --scenarios 50 [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from advkit import MOVE, Scenario, run_scenario  # noqa: E402

from engine.runtime import IntegerLM  # noqa: E402
from prover.chain import compile_contracts, start_anvil  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="first scenario seed")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    lm = IntegerLM.load("tiny")
    arts = compile_contracts()
    rows = []
    with start_anvil() as node:
        for i in range(a.scenarios):
            sc = Scenario.random(a.seed + i)
            with tempfile.TemporaryDirectory() as d:
                out = run_scenario(sc, node.url, arts, lm, Path(d))
            rows.append(out)
            if not a.json:
                s = out.scenario
                print(
                    f"{i:3d} lies {'+'.join(s['lies']):18s} honest {s['honest']} spam {s['spam']} "
                    f"def {s['defender']:11s} sybil {s['sybil'] or '-':5s} flaky {s['flaky']:.2f} "
                    f"kill {int(s['kill'])}  -> {'ok' if out.ok else 'FAIL ' + '; '.join(out.problems)} "
                    f"(latency {out.worst_move_latency_s}s, {out.seconds}s)",
                    flush=True,
                )
    summary = {
        "scenarios": len(rows),
        "lies": sum(o.lies for o in rows),
        "lies_finalized": sum(o.lies_finalized for o in rows),
        "honest_claims": sum(o.honest for o in rows),
        "honest_claims_slashed": sum(o.honest_slashed for o in rows),
        "watcher_stalls": sum(o.watcher_stalls for o in rows),
        "watcher_errors_retried": sum(o.watcher_errors for o in rows),
        "refused_bait": sum(o.refused_posts for o in rows),
        "worst_move_latency_s": max((o.worst_move_latency_s for o in rows), default=0),
        "move_window_s": MOVE,
        "failed": sum(not o.ok for o in rows),
    }
    if a.json:
        print(json.dumps({"summary": summary, "scenarios": [vars(o) for o in rows]}, indent=2, default=str))
    else:
        print("\nsummary")
        for k, v in summary.items():
            print(f"  {k:26s} {v}")
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
