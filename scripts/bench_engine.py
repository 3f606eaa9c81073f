#!/usr/bin/env python3
"""Decode speed of the integer engine (traced and untraced) vs the float32 numpy reference, in one run.

    scripts/bench_engine.py [--model smollm2|tiny] [--tokens N] [--json]

Both engines process the same chat prompt token by token, then decode N more positions fed with the
integer engine's own greedy tokens (eos does not stop the measurement). Columns: prompt tok/s, decode
tok/s. Peak RSS is measured in a separate process running `obrain run` (traced), so the float model's
memory does not count against the integer engine. Summary keys: int_decode_tok_s (traced),
int_untraced_decode_tok_s, float_decode_tok_s, int_vs_float (traced int / float), prompt_tok_s,
trace_overhead, peak_rss_mb.
"""
import argparse
import os
import subprocess
import sys
import time

import _common  # noqa: F401  (sys.path)
from _common import emit

PROMPT = "Write a short story about a robot who learns to paint."


def run_int(lm, ids, n, traced: bool):
    from engine.executor import Executor
    from engine.generate import GenSettings
    from prover.runner import model_commitment
    from prover.trace import Tracer

    settings = GenSettings(max_new_tokens=n)
    obs = Tracer(lm.program, model_commitment(lm), settings.run_tensor()) if traced else None
    ex = Executor(lm.program, lm.weights, obs)
    run = settings.run_tensor()
    t0 = time.perf_counter()
    for t in ids:
        outs = ex.step_token(t, run)
    t1 = time.perf_counter()
    tok = int(outs["sample"][0])
    toks = []
    for _ in range(n):
        toks.append(tok)
        outs = ex.step_token(tok, run)
        tok = int(outs["sample"][0])
    t2 = time.perf_counter()
    return len(ids) / (t1 - t0), n / (t2 - t1), toks


def run_float(fm, ids, toks):
    fm.reset()
    t0 = time.perf_counter()
    for p, t in enumerate(ids):
        fm.forward(t, p)
    t1 = time.perf_counter()
    for k, t in enumerate(toks):
        fm.forward(t, len(ids) + k)
    t2 = time.perf_counter()
    return len(ids) / (t1 - t0), len(toks) / (t2 - t1)


def child_peak_rss(model: str, n: int) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report the
    # parent's (two models') footprint; VmHWM belongs to the child's own address space.
    code = ("from prover.cli import main; "
            f"rc = main(['run', {model!r}, {PROMPT!r}, '--chat', '--max-new-tokens', '{n}', '-q', "
            "'--runs-dir', '/tmp/obrain-bench-runs']); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=_common.ROOT, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--tokens", type=int, default=32, help="decode positions to time (default 32)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.loaders.gguf import resolve_model
    from engine.reference import FloatLlama
    from engine.runtime import IntegerLM

    lm = IntegerLM.load(a.model)
    ids = lm.encode_prompt(PROMPT, chat=True)
    run_int(lm, ids[:2], 1, traced=True)                        # warm-up (commitments, caches)
    p_u, d_u, toks = run_int(lm, ids, a.tokens, traced=False)
    p_t, d_t, toks_t = run_int(lm, ids, a.tokens, traced=True)
    assert toks == toks_t, "tracing changed the tokens"
    fm = FloatLlama(resolve_model(a.model))
    run_float(fm, ids[:2], [])
    p_f, d_f = run_float(fm, ids, toks)
    rss = child_peak_rss(a.model, a.tokens)
    rows = [
        {"engine": "integer, traced", "prompt_tok_s": p_t, "decode_tok_s": d_t},
        {"engine": "integer, untraced", "prompt_tok_s": p_u, "decode_tok_s": d_u},
        {"engine": "float32 reference", "prompt_tok_s": p_f, "decode_tok_s": d_f},
    ]
    summary = {"model": a.model, "prompt_tokens": len(ids), "decode_tokens": a.tokens,
               "int_decode_tok_s": round(d_t, 2), "int_untraced_decode_tok_s": round(d_u, 2),
               "float_decode_tok_s": round(d_f, 2), "int_vs_float": round(d_t / d_f, 3),
               "trace_overhead": round(d_u / d_t, 3), "prompt_tok_s": round(p_t, 2),
               "peak_rss_mb": round(rss, 1), "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
    emit(f"decode speed, {a.model}", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
