"""The main job, end to end: numerics self-check, SmolLM2 answering in pure integers with a receipt, the
receipt verified by replay, a dishonest receipt caught and localized to its step and leaf, and a receipt that
claims another answer than its (honest) trace caught.

Then on chain: start anvil, deploy (with a Quorum of three BLS attesters), submit the three receipts; the attesters
sign the honest claim, whose certificate finalizes it at once; a watcher replays every claim, challenges the
wrong ones, wins one through bisection and the one-step and the other through a proof of the wrong output
token, and takes both liars' bonds; the honest claim finalizes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def numerics_selfcheck() -> list[tuple[str, bool, str]]:
    """A few exact identities of the numerics spec, reference twin vs numpy twin."""
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


def _output_lie(lm, tokens):
    """The demo's wrong answer: " Paris" replaced by " London" where the tokenizer has both, else the first
    generated token replaced by the next id."""
    from prover.dispute.lies import Lie

    for j, t in enumerate(tokens):
        if lm.tokenizer.decode([t]) == " Paris":
            london = lm.tokenizer.encode(" London")
            if len(london) == 1:
                return Lie(output=(j, london[0]))
    return Lie(output=(0, (int(tokens[0]) + 1) % lm.config.vocab_size))


def run_demo(args) -> int:
    from engine.generate import GenSettings
    from engine.runtime import IntegerLM, output_text
    from prover.commit.trace import Corruption
    from prover.dispute.lies import apply_to_receipt
    from prover.receipt import Receipt
    from prover.runner import make_receipt, traced_generate, verify, write_run_dir

    con = Console()
    summary = Table(title="openbrains demo")
    for c in ("step", "result", "detail"):
        summary.add_column(c)
    failed = False

    def row(name, ok, detail):
        nonlocal failed
        failed |= not ok
        summary.add_row(name, "[green]ok" if ok else "[red]FAILED", detail)

    for name, ok, detail in numerics_selfcheck():
        row(name, ok, detail)

    prompt = "What is the capital of France?"
    t0 = time.perf_counter()
    lm = IntegerLM.load(args.model)
    ids = lm.encode_prompt(prompt, chat=True, max_new_tokens=24, template="chatml")  # the golden prompt
    settings = GenSettings(max_new_tokens=24)
    con.print(f"[bold]{args.model}[/bold] (pure integers): {prompt}")
    run = traced_generate(lm, ids, settings)
    answer = output_text(lm, run.result.tokens)
    con.print(f"  -> {answer}")
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="obrain-demo-"))
    honest_dir, bad_dir = work / "honest", work / "dishonest"
    r = make_receipt(lm, args.model, prompt, True, ids, run, load_s=0.0)
    write_run_dir(honest_dir, r, run)
    row(
        "run with receipt",
        True,
        f"{answer!r}, {run.tracer.step_count} steps, {time.perf_counter() - t0:.1f}s, root {r.trace.trace_root[:14]}..",
    )

    t1 = time.perf_counter()
    rep = verify(Receipt.load(honest_dir / "receipt.json"), lm, run_dir=honest_dir)
    row("verify honest receipt", rep.ok, f"replayed and matched in {time.perf_counter() - t1:.1f}s")

    # A dishonest operator changes one element of one step deep in the run, then commits.
    S = lm.program.steps_per_token
    pos = min(len(ids) + 1, run.result.positions - 1)
    step = pos * S + lm.program.index[f"L{lm.config.n_layers // 2}.act"]
    bad = traced_generate(lm, ids, settings, corrupt=Corruption(step, 5, 1))
    write_run_dir(bad_dir, make_receipt(lm, args.model, prompt, True, ids, bad), bad)
    t2 = time.perf_counter()
    rep = verify(Receipt.load(bad_dir / "receipt.json"), lm, run_dir=bad_dir)
    fs = rep.first_step or {}
    caught = (not rep.ok) and fs.get("step") == step and fs.get("element") == 5
    row(
        "catch dishonest receipt",
        caught,
        f"first differing step {fs.get('step')} (token {fs.get('token')}, layer {fs.get('layer')}, "
        f"{fs.get('op')} {fs.get('instr')}), leaf {fs.get('leaf')}, element {fs.get('element')} "
        f"in {time.perf_counter() - t2:.1f}s",
    )
    # Another liar keeps the honest trace but claims a different answer.
    out_lie = _output_lie(lm, run.result.tokens)
    lie_rc = apply_to_receipt(r, out_lie, lm)
    rep = verify(lie_rc, lm)
    row(
        "catch a wrong answer",
        not rep.ok and [m.field for m in rep.mismatches] == ["output.tokens"],
        f"claims {lie_rc.output.text!r} with the honest trace: the replay's output differs",
    )
    con.print(summary)
    if not args.offline:
        from prover.cli.chain_demo import run_chain_demo

        con.print(
            "[bold]on chain[/bold]: deploy to anvil, submit the three receipts, a watcher disputes the wrong ones"
        )
        t, ok = run_chain_demo(
            lm,
            args.model,
            Receipt.load(honest_dir / "receipt.json"),
            Receipt.load(bad_dir / "receipt.json"),
            Corruption(step, 5, 1),
            lie_rc,
            out_lie,
        )
        failed |= not ok
        con.print(t)
    con.print(f"[dim]run directories in {work}[/dim]")
    return 1 if failed else 0


def cmd_demo(a) -> int:
    """The main job, end to end (grows as the product does)."""
    from prover.cli.demo import run_demo

    return run_demo(a)


def add_parsers(sub) -> None:
    d = sub.add_parser("demo", help="the main job end to end (see README)")
    d.add_argument("--model", default="smollm2", help="model for the demo run (default smollm2)")
    d.add_argument("--workdir", default=None, help="where to write the demo's run directories (default: a temp dir)")
    d.add_argument("--offline", action="store_true", help="skip the on-chain part")
    d.set_defaults(func=cmd_demo)
