#!/usr/bin/env python3
"""Cost of tracing: traced vs untraced decode, replay to any step, receipt size, verification by replay.

    scripts/bench_trace.py [--model smollm2|tiny] [--tokens N] [--verify] [--json]

Summary keys: trace_overhead (traced time / untraced time, decode), traced_decode_tok_s,
untraced_decode_tok_s, replay_to_step_s (regenerate the output of a step of the last position from its
snapshot), receipt_bytes, steps_bin_bytes, run_s and, with --verify, verify_s (a full replay-verify of
the receipt; the target is about the time the run took).
"""

import argparse
import os
import sys
import tempfile
import time

import _common  # noqa: F401
from _common import emit
from bench_engine import PROMPT


class StepEngine:
    """The integer engine, traced (a Tracer observes every step) or not, stepped one position at a time."""

    def __init__(self, lm, n: int, traced: bool):
        from engine.generate import GenSettings
        from prover.commit.model import model_commitment
        from prover.commit.trace import Tracer

        self.run = GenSettings(max_new_tokens=n).run_tensor()
        obs = Tracer(lm.program, model_commitment(lm), self.run) if traced else None
        self.ex = lm.executor(obs)

    def step(self, tok: int, pos: int) -> int:
        return int(self.ex.step_token(tok, self.run)["sample"][0])


def lockstep(engines: dict, ids: list[int], n: int, block: int = 8) -> tuple[dict, dict, list[int]]:
    """Run every engine over the prompt, then n decode positions fed with the first engine's greedy tokens, in
    turns of ``block`` positions each (the first engine first, the others' order rotating), so that this VM's
    drifting speed hits all of them alike. Turns of several positions, not one: OpenBLAS's threads spin for a
    while after the float engine's GEMVs, and one-position turns charged that spinning to the next engine.
    Returns (prompt tok/s, decode tok/s) by engine name, and the decoded tokens."""
    names = list(engines)
    total = len(ids) + n
    spent = {k: [0.0, 0.0] for k in names}
    outs = {k: [] for k in names}
    feed = list(ids)
    for t, b0 in enumerate(range(0, total, block)):
        rest = names[1:]
        for name in names[:1] + rest[t % max(1, len(rest)) :] + rest[: t % max(1, len(rest))]:
            for pos in range(b0, min(b0 + block, total)):
                t0 = time.perf_counter()
                out = engines[name].step(feed[pos], pos)
                spent[name][pos >= len(ids)] += time.perf_counter() - t0
                outs[name].append(out)
                if name == names[0] and pos + 1 == len(feed) and pos + 1 < total:
                    feed.append(out)
    for name in names[1:]:
        if outs[name][0] is not None and outs[name] != outs[names[0]]:
            raise AssertionError(f"{name} predicted other tokens than {names[0]}")
    return ({k: len(ids) / v[0] for k, v in spent.items()}, {k: n / v[1] for k, v in spent.items()}, feed[len(ids) :])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--verify", action="store_true", help="also time a full `verify` of a traced run")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.receipt import Receipt
    from prover.runner import Replayer, make_receipt, traced_generate, verify, write_run_dir

    lm = IntegerLM.load(a.model)
    ids = lm.encode_prompt(PROMPT, chat=True)
    lockstep({"u": StepEngine(lm, 1, False), "t": StepEngine(lm, 1, True)}, ids[:2], 1)  # warm-up
    _, d, _ = lockstep(
        {"untraced": StepEngine(lm, a.tokens, False), "traced": StepEngine(lm, a.tokens, True)}, ids, a.tokens
    )
    d_u, d_t = d["untraced"], d["traced"]

    t0 = time.perf_counter()
    tr = traced_generate(lm, ids, GenSettings(max_new_tokens=a.tokens))
    run_s = time.perf_counter() - t0
    rep = Replayer(lm, tr)
    last = tr.tracer.step_count - 3
    t1 = time.perf_counter()
    rep.step(last)
    replay_s = time.perf_counter() - t1
    d = tempfile.mkdtemp(prefix="obrain-bench-")
    r = make_receipt(lm, a.model, PROMPT, True, ids, tr)
    write_run_dir(__import__("pathlib").Path(d), r, tr)
    rows = [
        {"what": "untraced decode", "value": f"{d_u:.2f} tok/s"},
        {"what": "traced decode", "value": f"{d_t:.2f} tok/s"},
        {"what": "replay to step", "value": f"{replay_s:.3f} s (step {last})"},
        {"what": "receipt", "value": f"{os.path.getsize(os.path.join(d, 'receipt.json'))} bytes"},
        {"what": "steps.bin", "value": f"{os.path.getsize(os.path.join(d, 'steps.bin'))} bytes"},
    ]
    summary = {
        "model": a.model,
        "tokens": a.tokens,
        "steps": tr.tracer.step_count,
        "trace_overhead": round(d_u / d_t, 3),
        "traced_decode_tok_s": round(d_t, 2),
        "untraced_decode_tok_s": round(d_u, 2),
        "replay_to_step_s": round(replay_s, 3),
        "receipt_bytes": os.path.getsize(os.path.join(d, "receipt.json")),
        "steps_bin_bytes": os.path.getsize(os.path.join(d, "steps.bin")),
        "run_s": round(run_s, 2),
    }
    if a.verify:
        t2 = time.perf_counter()
        v = verify(Receipt.load(os.path.join(d, "receipt.json")), lm)
        summary["verify_s"] = round(time.perf_counter() - t2, 2)
        summary["verify_ok"] = v.ok
        rows.append({"what": "verify by replay", "value": f"{summary['verify_s']} s (run took {run_s:.2f} s)"})
    emit(f"tracing cost, {a.model}", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
