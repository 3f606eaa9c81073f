"""The main job, end to end. Today: numerics self-check, the tiny model, and SmolLM2 answering in integers.

(The receipt, on-chain submission and dispute steps join here as they land.)
"""
from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table


def numerics_selfcheck() -> list[tuple[str, bool, str]]:
    """A few exact identities of the numerics spec, ref twin vs numpy twin."""
    import numpy as np

    from fixedpoint import ref, vec

    rows = []
    xs = [0, 1, -1, 3, -3, (1 << 40) + 7, -(1 << 40) - 9]
    ok = all(ref.round_shift(x, 2) == int(vec.round_shift(np.array([x]), 2)[0]) for x in xs)
    rows.append(("round_shift ref == vec", ok, "round half up"))
    ok = ref.exp_neg(0) == 1 << 30 and int(vec.exp_neg(np.array([0]))[0]) == 1 << 30
    rows.append(("exp_neg(0) == 2^30", ok, "Q16 -> Q30"))
    a = np.arange(-50, 50, dtype=np.int64).reshape(10, 10)
    ok = vec.matmul_exact(a, a).tolist() == ref.matmul_exact(a.tolist(), a.tolist())
    rows.append(("matmul_exact ref == vec", ok, "10x10"))
    return rows


def run_demo(args) -> int:
    con = Console()
    summary = Table(title="openbrains demo")
    for c in ("step", "result", "detail"):
        summary.add_column(c)
    for name, ok, detail in numerics_selfcheck():
        summary.add_row(name, "[green]ok" if ok else "[red]FAILED", detail)

    from engine.generate import GenSettings
    from engine.runtime import IntegerLM

    for model, prompt, chat in (("tiny", "hello", False), (args.model, "What is the capital of France?", True)):
        t0 = time.perf_counter()
        lm = IntegerLM.load(model)
        ids = lm.encode_prompt(prompt, chat=chat, max_new_tokens=24)
        res = lm.generate(ids, GenSettings(max_new_tokens=24))
        text = lm.tokenizer.decode([t for t in res.tokens if t != lm.config.eos_id])
        dt = time.perf_counter() - t0
        summary.add_row(f"run {model}", "[green]ok", f"{text!r} ({len(res.tokens)} tokens, {dt:.1f}s)")
    con.print(summary)
    bad = [r for r in summary.rows if False]
    return 0 if not bad else 1
