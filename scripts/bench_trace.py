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
from bench_engine import PROMPT, IntEngine, lockstep


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
    lockstep({"u": IntEngine(lm, 1, False), "t": IntEngine(lm, 1, True)}, ids[:2], 1)  # warm-up
    _, d, _ = lockstep(
        {"untraced": IntEngine(lm, a.tokens, False), "traced": IntEngine(lm, a.tokens, True)}, ids, a.tokens
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
