#!/usr/bin/env python3
"""Speed of the integer engine (traced and untraced) against the float32 reference: decode at given positions,
batched prefill, bytes a token and the bandwidth bound, and verification against the run it checks.

    scripts/bench_engine.py [--model smollm2|tiny] [--positions 16,128,512,1000] [--window 8]
                            [--prefill 64] [--claim 256] [--json]

Decode: the engines walk one token sequence; at each position P in --positions each decodes --window positions
one at a time, taking turns position by position (rotating who goes first), timed in CPU seconds of this process
(the VM is shared: wall time measures the neighbours). Between windows the integer engines fast-forward with
batched blocks and the float engine token by token (untimed). Prefill: --prefill prompt positions as blocks,
each engine in turn. Bytes a token: the prepared weights every position reads; the bound is those bytes over a
measured single-thread read (a compiled sum over 512 MB). Verify: a --claim-token claim (exactly that many
generated positions, eos ignored) run traced, then replayed teacher-forced (prover.runner.replay_claim, what
`obrain verify` does), both in CPU seconds. Peak RSS: a separate `obrain run` (traced) process.
"""

import argparse
import os
import subprocess
import sys
import time

import _common
import numpy as np
from _common import emit

PROMPT = "Write a short story about a robot who learns to paint."
TEXT = (
    "The robot stood before the canvas for a long time. It had painted nothing yet, but it had watched the old "
    "painter every morning, the brush moving in slow circles, the colours meeting at their edges. "
)


class IntEngine:
    def __init__(self, lm, traced: bool):
        from engine.generate import GenSettings
        from prover.commit.model import model_commitment
        from prover.commit.trace import Tracer

        self.run = GenSettings(max_new_tokens=1).run_tensor()
        self.ex = lm.executor(Tracer(lm.program, model_commitment(lm), self.run) if traced else None)

    def step(self, tok: int) -> None:
        self.ex.step_token(tok, self.run)

    def block(self, toks) -> None:
        for a in range(0, len(toks), 32):
            self.ex.run_block(toks[a : a + 32], self.run)


class FloatEngine:
    def __init__(self, fm):
        self.fm, self.pos = fm, 0
        fm.reset()

    def step(self, tok: int) -> None:
        self.fm.forward(tok, self.pos)
        self.pos += 1

    def block(self, toks) -> None:
        for t in toks:
            self.step(t)


def _cpu(f, *a) -> float:
    c = time.process_time()
    f(*a)
    return time.process_time() - c


def decode_at(engines: dict, tokens: list[int], positions: list[int], window: int) -> dict:
    """{position: {engine: CPU seconds a position}}, engines taking turns position by position."""
    out, at = {}, 0
    names = list(engines)
    for p in positions:
        for e in engines.values():
            e.block(tokens[at:p])
        at = p
        spent = dict.fromkeys(names, 0.0)
        for k in range(window):
            order = names[k % len(names) :] + names[: k % len(names)]
            for name in order:
                spent[name] += _cpu(engines[name].step, tokens[p + k])
        at = p + window
        out[p] = {n: s / window for n, s in spent.items()}
    return out


def prefill(lm, ids: list[int], rounds: int = 2) -> dict:
    """CPU seconds a prompt position, blocks of 32, untraced and traced in turns."""
    spent = {"untraced": 0.0, "traced": 0.0}
    for r in range(rounds):
        for name in ["untraced", "traced"] if r % 2 == 0 else ["traced", "untraced"]:
            e = IntEngine(lm, name == "traced")
            spent[name] += _cpu(e.block, ids)
    return {n: s / (rounds * len(ids)) for n, s in spent.items()}


def weight_bytes(lm) -> int:
    """Bytes of prepared weights one position reads: every linear instruction's matrix (stacked forms once)."""
    seen, total = set(), 0
    for ins in lm.program.instrs:
        if not ins.op.startswith("linear"):
            continue
        p = lm.plans.get(("linear", ins.name)) or lm.plans.get((ins.op, ins.name))
        preps = [p.prep] if p is not None else [lm.weights[r.name].prep for r in ins.inputs if r.kind == "weight"]
        for pr in preps:
            if pr is not None and id(pr) not in seen:
                seen.add(id(pr))
                total += int(pr.nbytes)
    return total


def read_bandwidth() -> float:
    """Bytes a second one thread reads (a compiled sum over 512 MB of int64, best of 3)."""
    from numba import njit

    @njit(cache=False, nogil=True)
    def _sum(a):
        s = 0
        for i in range(a.shape[0]):
            s += a[i]
        return s

    a = np.ones(64 << 20, np.int64)
    _sum(a[:8])
    best = min(_cpu(_sum, a) for _ in range(3))
    return a.nbytes / best


def verify_vs_run(lm, ids: list[int], n: int) -> dict:
    from engine.generate import GenSettings
    from prover.runner import replay_claim, traced_generate

    gs = GenSettings(max_new_tokens=n)
    positions = min(lm.program.context, len(ids) + n - 1)
    c = time.process_time()
    run = traced_generate(lm, ids, gs, positions=positions)
    run_s = time.process_time() - c
    out = run.result.tokens
    c = time.process_time()
    rp = replay_claim(lm, ids, gs.run_tensor(), out)
    ver_s = time.process_time() - c
    if rp.trace_root != run.tracer.root() or rp.samples != out:
        raise AssertionError("the teacher-forced replay did not reproduce the run")
    return {"claim_tokens": len(out), "run_cpu_s": run_s, "verify_cpu_s": ver_s, "verify_speedup": run_s / ver_s}


def child_peak_rss(model: str, n: int) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec
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
    ap.add_argument("--positions", default="16,128,512,1000")
    ap.add_argument("--window", type=int, default=8, help="decode positions timed at each position")
    ap.add_argument("--prefill", type=int, default=64, help="prompt positions timed as batched prefill")
    ap.add_argument("--claim", type=int, default=256, help="generated tokens of the claim verify replays (0: skip)")
    ap.add_argument("--no-float", action="store_true", help="leave out the float32 reference")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.store import resolve_model
    from engine.reference import FloatLlama
    from engine.runtime import IntegerLM

    lm = IntegerLM.load(a.model)
    ctx = lm.program.context
    positions = [p for p in (int(x) for x in a.positions.split(",")) if p + a.window <= ctx]
    base = lm.tokenizer.encode(TEXT)
    tokens = (base * (ctx // len(base) + 1))[:ctx]
    engines = {"untraced": IntEngine(lm, False), "traced": IntEngine(lm, True)}
    if not a.no_float:
        engines["float"] = FloatEngine(FloatLlama(resolve_model(a.model)))
    warm = {k: (IntEngine(lm, k == "traced") if k != "float" else engines[k]) for k in engines}
    decode_at(warm, tokens, [1], 2)  # compile / page in
    if "float" in engines:
        engines["float"].fm.reset()
        engines["float"].pos = 0
    dec = decode_at(engines, tokens, positions, a.window)
    ids = (lm.encode_prompt(PROMPT, chat=True) + tokens)[: a.prefill]
    pre = prefill(lm, ids)
    wb = weight_bytes(lm)
    bw = read_bandwidth()
    rows = []
    for p, by in dec.items():
        for name, s in by.items():
            rows.append({"what": f"decode @{p}", "engine": name, "tok_s": 1 / s, "cpu_ms": 1000 * s})
    for name, s in pre.items():
        rows.append({"what": f"prefill x{len(ids)}", "engine": name, "tok_s": 1 / s, "cpu_ms": 1000 * s})
    summary = {
        "model": a.model,
        "window": a.window,
        "weight_bytes_per_token": wb,
        "read_gb_s": round(bw / 1e9, 2),
        "bandwidth_bound_tok_s": round(bw / wb, 1),
        "prefill_tok_s": round(1 / pre["traced"], 2),
        "prefill_untraced_tok_s": round(1 / pre["untraced"], 2),
        "prefill_trace_overhead": round(pre["traced"] / pre["untraced"], 3),
    }
    for p, by in dec.items():
        summary[f"decode{p}_traced_cpu_ms"] = round(1000 * by["traced"], 2)
        summary[f"decode{p}_untraced_cpu_ms"] = round(1000 * by["untraced"], 2)
        summary[f"decode{p}_trace_overhead"] = round(by["traced"] / by["untraced"], 3)
        if "float" in by:
            summary[f"decode{p}_float_cpu_ms"] = round(1000 * by["float"], 2)
    if a.claim:
        v = verify_vs_run(lm, lm.encode_prompt(PROMPT, chat=True), a.claim)
        summary.update({k: round(x, 3) if isinstance(x, float) else x for k, x in v.items()})
        rows.append(
            {
                "what": f"claim of {v['claim_tokens']}",
                "engine": "run (traced)",
                "tok_s": None,
                "cpu_ms": 1000 * v["run_cpu_s"],
            }
        )
        rows.append(
            {
                "what": f"claim of {v['claim_tokens']}",
                "engine": "verify",
                "tok_s": None,
                "cpu_ms": 1000 * v["verify_cpu_s"],
            }
        )
    summary["peak_rss_mb"] = round(child_peak_rss(a.model, 32), 1)
    summary["threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    emit(f"engine speed, {a.model}", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
