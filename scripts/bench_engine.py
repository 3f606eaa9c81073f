#!/usr/bin/env python3
"""Decode speed of the integer engine (traced and untraced) vs the float32 numpy reference, in one run.

    scripts/bench_engine.py [--model smollm2|tiny] [--tokens N] [--json]

The three engines (integer untraced, integer traced, float32) process the same chat prompt token by token,
then decode N more positions fed with the integer engine's own greedy tokens (eos does not stop the
measurement; the traced engine must predict the same tokens). They take turns of 8 positions each
(lockstep), so that this VM's drifting speed hits all three alike. Columns: prompt tok/s, decode tok/s. Peak RSS
is measured in a separate process running `obrain run` (traced), so the float model's memory does not count
against the integer engine. Summary keys: int_decode_tok_s (traced), int_untraced_decode_tok_s,
float_decode_tok_s, int_vs_float (traced int / float), int_untraced_vs_float, prompt_tok_s, trace_overhead,
peak_rss_mb.
"""

import argparse
import os
import subprocess
import sys
import time

import _common
from _common import emit

PROMPT = "Write a short story about a robot who learns to paint."


class IntEngine:
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


class FloatEngine:
    """The float32 reference, stepped one position at a time."""

    def __init__(self, fm):
        self.fm = fm
        fm.reset()

    def step(self, tok: int, pos: int) -> None:
        self.fm.forward(tok, pos)


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


def child_peak_rss(model: str, n: int) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report the
    # parent's (two models') footprint; VmHWM belongs to the child's own address space.
    code = (
        "from prover.cli import main; "
        f"rc = main(['run', {model!r}, {PROMPT!r}, '--chat', '--max-new-tokens', '{n}', '-q', "
        "'--runs-dir', '/tmp/obrain-bench-runs']); "
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
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
    fm = FloatLlama(resolve_model(a.model))
    ids = lm.encode_prompt(PROMPT, chat=True)
    lockstep({"u": IntEngine(lm, 1, False), "t": IntEngine(lm, 1, True), "f": FloatEngine(fm)}, ids[:2], 1)
    engines = {
        "untraced": IntEngine(lm, a.tokens, False),
        "traced": IntEngine(lm, a.tokens, True),
        "float": FloatEngine(fm),
    }
    p, d, toks = lockstep(engines, ids, a.tokens)
    p_u, p_t, p_f, d_u, d_t, d_f = p["untraced"], p["traced"], p["float"], d["untraced"], d["traced"], d["float"]
    rss = child_peak_rss(a.model, a.tokens)
    rows = [
        {"engine": "integer, traced", "prompt_tok_s": p_t, "decode_tok_s": d_t},
        {"engine": "integer, untraced", "prompt_tok_s": p_u, "decode_tok_s": d_u},
        {"engine": "float32 reference", "prompt_tok_s": p_f, "decode_tok_s": d_f},
    ]
    summary = {
        "model": a.model,
        "prompt_tokens": len(ids),
        "decode_tokens": a.tokens,
        "int_decode_tok_s": round(d_t, 2),
        "int_untraced_decode_tok_s": round(d_u, 2),
        "float_decode_tok_s": round(d_f, 2),
        "int_vs_float": round(d_t / d_f, 3),
        "int_untraced_vs_float": round(d_u / d_f, 3),
        "trace_overhead": round(d_u / d_t, 3),
        "prompt_tok_s": round(p_t, 2),
        "peak_rss_mb": round(rss, 1),
        "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }
    emit(f"decode speed, {a.model}", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
