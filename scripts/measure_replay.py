#!/usr/bin/env python3
"""Replay cost a position: the teacher-forced replay a watcher runs (prover.runner.replay_claim), CPU and wall
time, for a claim of P positions (the prompt random ids, the output the model's own greedy tokens). Sizes
prover/dispute/timing.py REPLAY_US (the registry's replayMicros floor).

    scripts/measure_replay.py MODEL --positions P [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.generate import GenSettings  # noqa: E402
from engine.runtime import IntegerLM  # noqa: E402
from prover.runner import replay_claim, traced_generate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--positions", type=int, default=256)
    ap.add_argument("--new", type=int, default=16, help="generated tokens at the end of the claim")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    lm = IntegerLM.load(a.model)
    rng = random.Random(0)
    n = max(1, a.positions - a.new + 1)
    prompt = [rng.randrange(3, lm.config.vocab_size) for _ in range(n)]
    settings = GenSettings(max_new_tokens=a.new)
    run = traced_generate(lm, prompt, settings, positions=n + a.new - 1)
    out = run.result.tokens
    c0, w0 = time.process_time(), time.perf_counter()
    r = replay_claim(lm, prompt, settings.run_tensor(), out)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    assert r.trace_root == run.tracer.root(), "teacher-forced replay differs from the run"
    P = n + len(out) - 1
    res = {"model": a.model, "positions": P, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
           "cpu_us_per_position": int(cpu / P * 1e6), "wall_us_per_position": int(wall / P * 1e6)}
    print(json.dumps(res) if a.json else "  ".join(f"{k} {v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
