"""Compile every numba kernel once, into numba's on-disk cache next to its module (``make setup`` runs this), so
the first ``obrain run`` on a fresh clone compiles nothing.

    python -m engine.warmup          # a few seconds of work, ~30 CPU-s of compilation the first time

It runs what a SmolLM2 run, its verification and a dispute touch, on the tiny model (same op kinds, the same
argument types): a traced generation (blocked prefill, decoding), a teacher-forced replay, and the quantized
kernels' single- and multi-column paths. Kernels are compiled for their argument types, not sizes, so the tiny
model's calls compile exactly the specializations the real models use.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    t0, c0 = time.perf_counter(), time.process_time()
    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.commit.values import commit_value
    from prover.runner import replay_claim, traced_generate

    lm = IntegerLM.load("tiny")
    prompt = [5, 17, 99, 120, 3]
    gs = GenSettings(max_new_tokens=3)
    run = traced_generate(lm, prompt, gs)
    replay_claim(lm, prompt, gs.run_tensor(), run.result.tokens)
    lm.generate(prompt[:1], GenSettings(max_new_tokens=2))  # untraced, token by token
    commit_value(run.snapshots.executor.state[next(iter(run.snapshots.executor.state))])
    print(f"numba kernels compiled and cached ({time.perf_counter() - t0:.1f} s, {time.process_time() - c0:.1f} CPU-s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
