#!/usr/bin/env python3
"""Gas of the on-chain one-step (OneStep.element) for the worst-case element of each op, on a real trace and,
for the attention ops (the ops whose fan-in grows with the position), at the worst position of the context.

    scripts/bench_gas.py [--model smollm2|tiny|gemma3|tiny-gemma3] [--prompt TEXT] [--raw] [--tokens N]
                         [--position P] [--json]
    scripts/bench_gas.py --types [--json]      (only the per-type linear rows, below)
    scripts/bench_gas.py --quorum [--json]     (only the quorum certificate rows, scripts/_quorumgas.py)

Runs the model traced on the prompt (in the chat template unless --raw; gemma3, a base model, in the plain
"Question: ...\nAnswer:" form; the tiny models: fixed token ids) with N
generated tokens, deploys OneStep on a fresh anvil and, at the last position of the run, measures
eth_estimateGas of `element` (a transaction straight to OneStep: 21000 + calldata + execution) for every
distinct instruction shape (op, operand shapes, params; the last layer's instance stands for the others) and
candidate elements (first, middle, last; the last candidate of the first list for the top-k ops). One row per
op with its worst case, plus top-k on a chunk of ascending logits (its data-dependent worst case: every entry
enters the kept list).

Worst position: attn_scores, softmax, attn_mix_partial and attn_mix of the last layer measured at position P
(default: the program's context - 1, 1023 for SmolLM2: MAX_CONTEXT - 1) on synthetic inputs built through the
engine ops, so no P-token run is needed: q, the K and the V cache rows uniform within the largest magnitudes
the real run's last layer shows, scores = attn_scores(q, K), probabilities = softmax(scores) (Q30 rows summing
to 2^30), partials = attn_mix_partial(probabilities, V), then attn_mix. softmax's cost depends on the data (a
term far below the row's max skips the exp polynomial), so it is also measured on a row of close scores where
every term is live ("all terms live", its worst case). A template with a sliding-window mask (gemma3) also has
its last local layer's swa_mask measured at P on those scores. The same ops are also measured at a few positions
below P (chunk boundaries, P-1 where the rows are not leaf-aligned) to show where the maximum is.

Per GGUF block type (scripts/_typegas.py): the one-step gas of a `linear` element whose weight row is of that type
(Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32), 576 and 1536 wide (K-quants: 768 and 1536), x of F12
activations: rows "linear <type> <width>" (family "linear, per type": not counted in the model's max and typical)
and summary keys type_gas (type -> width -> gas), max_type_gas.

Summary keys: max_onestep_gas (worst op at any measured position), max_onestep_op, max_onestep_position,
typical_onestep_gas (median over the template's instructions of their worst-case gas at the run's position:
the one-step of a random step), position (the run's last position), steps_per_token, attention_position (P),
attention_gas (op -> worst gas at P), attention_max_gas (op -> gas and position of its worst over the measured
positions), attention_gas_by_position (position -> op -> gas), attention_ranges (the max |q|, |K|, |V| of the
run used for the synthetic inputs), tx_gas_cap (2^24).
Then one whole dispute on the same run (a claim altered in a middle layer's linear output, played by the
agents with the real OneStep): max_move_gas (largest game transaction), move_gas (largest per function),
dispute_gas (all game transactions), dispute_rounds and its bound, dispute_honest_won.

Quorum certificates (scripts/_quorumgas.py, docs/quorum.md): verify and certify gas for 10, 100 and 1,000
attesters with 0 and 10% non-signers; summary keys quorum_verify_gas_100_10pct, quorum_certify_gas_100_10pct,
quorum_target_gas (250,000), quorum_meets_target, quorum_gas ("n/non-signers" -> [verify, certify]).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import _common  # noqa: F401  (sys.path)
import numpy as np
from _common import emit

TARGET_WORST = 3_000_000
TARGET_TYPICAL = 500_000
TX_CAP = 1 << 24


def signature(ins, w) -> tuple:
    """What the one-step's cost depends on besides data: op, params and the operands' committed shapes."""
    return (ins.op, ins.params, tuple(tuple(o.shape) for o in w.operands))


def candidates(ins, y, t: int) -> set[int]:
    js = {0, y.size // 2, y.size - 1}
    if ins.op.startswith("topk"):
        js |= {2 * y.shape[1] - 1, 2 * y.shape[1] - 2}  # rank k-1 of the first list: every candidate kept
    if ins.op == "kv_append":
        js |= {t * y.shape[1], max(t - 1, 0) * y.shape[1]}  # the appended row, the previous cache's last row
    return js


def measure(chain, onestep, lm, rp, mc, step: int, js) -> tuple[int, int, int, int]:
    """(gas, j, calldata bytes, opened leaves) of the costliest j; each result checked against Python."""
    from prover.commit.witness import build_witness, to_call_args

    best = None
    for j in sorted(js):
        w = build_witness(lm, rp, mc, step, j)
        args = to_call_args(w)
        got = chain.call(onestep, "element", *args)
        if got != w.expected:
            raise SystemExit(f"OneStep disagrees with Python at step {step} j {j}: {got} != {w.expected}")
        g = chain.estimate_gas(onestep, "element", *args)
        if best is None or g > best[0]:
            best = (g, j, len(chain.calldata(onestep, "element", *args)), sum(len(o.indices) for o in w.operands))
    return best


ATTN_OPS = ("attn_scores", "softmax", "attn_mix_partial", "attn_mix")


def attention_inputs(lm, rp, t_run: int, P: int, rng: np.random.Generator) -> tuple[dict, dict]:
    """Synthetic operands of the last layer's attention ops at position P: ({op: (k, args)}, ranges).

    q, K and V are uniform within the largest |value| of the last layer at the run's last position; the
    scores, probabilities and partials are computed from them by the engine ops themselves."""
    from engine import ops
    from engine.ops import Ctx
    from engine.values import Rows

    prog = lm.program
    S = prog.steps_per_token
    last = max(i.layer for i in prog.instrs)
    k_of = {i.op: k for k, i in enumerate(prog.instrs) if i.layer == last and i.op in ATTN_OPS}
    _, (q_run, K_run), _ = rp.step(t_run * S + k_of["attn_scores"])
    _, (_, V_run), _ = rp.step(t_run * S + k_of["attn_mix_partial"])
    ranges = {"q": int(np.abs(q_run).max()), "k": int(np.abs(K_run.valid).max()), "v": int(np.abs(V_run.valid).max())}
    n, kvd = P + 1, K_run.shape[1]

    def cache(m: int) -> Rows:
        buf = rng.integers(-m, m + 1, size=(n, kvd), dtype=np.int64)
        return Rows(buf, n, prog.context)

    ctx = Ctx(prog, P)
    q = rng.integers(-ranges["q"], ranges["q"] + 1, size=np.asarray(q_run).shape, dtype=np.int64)
    K, V = cache(ranges["k"]), cache(ranges["v"])
    args: dict[str, tuple[int, list]] = {}

    def run(op: str, a: list):
        args[op] = (k_of[op], a)
        return ops.get(op).run(prog.instrs[k_of[op]], a, ctx)

    scores = run("attn_scores", [q, K])
    probs = run("softmax", [scores])
    part = run("attn_mix_partial", [probs, V])
    run("attn_mix", [part])
    # softmax's worst case: every term of the row live (scores within a few units of each other)
    close = rng.integers(-(4 << 16), (4 << 16) + 1, size=scores.shape, dtype=np.int64)
    args["softmax (all terms live)"] = (k_of["softmax"], [close])
    masks = [k for k, i in enumerate(prog.instrs) if i.op == "swa_mask"]
    if masks:  # the last local layer's sliding-window mask on the same scores
        args["swa_mask"] = (masks[-1], [scores])
    return args, ranges


def measure_args(chain, onestep, lm, mc, k: int, P: int, args: list) -> tuple[int, int, int, int]:
    """(gas, j, calldata bytes, opened leaves) of the costliest j (first, middle, last element) of instruction k
    at position P on ``args``; each result checked against Python's element and run."""
    from engine import ops
    from engine.ops import Ctx
    from prover.commit.values import element_of as output_value
    from prover.commit.witness import to_call_args, witness_for

    ins = lm.program.instrs[k]
    y = ops.get(ins.op).run(ins, args, Ctx(lm.program, P))
    best = None
    for j in sorted({0, y.size // 2, y.size - 1}):
        w = witness_for(lm.program, mc.weight_names, k, P, args, j)
        cargs = to_call_args(w)
        got = chain.call(onestep, "element", *cargs)
        if not got == w.expected == output_value(y, j):
            raise SystemExit(
                f"OneStep disagrees with Python: {ins.name} at position {P} j {j}: {got} != "
                f"{w.expected} (run: {output_value(y, j)})"
            )
        g = chain.estimate_gas(onestep, "element", *cargs)
        if best is None or g > best[0]:
            best = (g, j, len(chain.calldata(onestep, "element", *cargs)), sum(len(o.indices) for o in w.operands))
    return best


TINY_IDS = {"tiny": [5, 17, 99, 120], "tiny-gemma3": [1, 365, 359, 275, 278, 272]}


def parse_args(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2", choices=["smollm2", "tiny", "gemma3", "tiny-gemma3"])
    ap.add_argument("--prompt", default="What is the capital of France?")
    ap.add_argument("--raw", action="store_true", help="no chat template")
    ap.add_argument("--tokens", type=int, default=2, help="generated tokens (the last position is measured)")
    ap.add_argument(
        "--position",
        type=int,
        default=None,
        help="position of the attention section (default: the program's context - 1)",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--types", action="store_true", help="only the per-type linear rows (no model run)")
    ap.add_argument("--quorum", action="store_true", help="only the quorum certificate rows (no model run)")
    return ap.parse_args(argv)


@dataclass
class Bench:
    """What every section measures on: the traced run, its replayer and the deployed OneStep; the sections add
    their rows (name -> row) and summary keys here, in SECTIONS' order."""

    a: argparse.Namespace
    lm: Any
    mc: Any
    ids: list[int]
    settings: Any
    rp: Any
    S: int  # steps per token
    t: int  # the run's last position
    chain: Any = None
    onestep: Any = None
    rows: dict[str, dict] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    per_instr: dict[int, int] = field(default_factory=dict)  # instruction -> its worst gas at the run's position
    att_max: dict[str, dict] = field(default_factory=dict)  # attention op -> gas and position of its worst


def row(op: str, instr: str, position: int, j: int, gas: int, calldata: int, leaves, family: str | None = None):
    """One row of the table (family: the op's own unless given)."""
    from engine import ops

    fam = ops.get(op).family if family is None else family
    return {
        "op": op,
        "family": fam,
        "instr": instr,
        "position": position,
        "j": j,
        "gas": gas,
        "calldata": calldata,
        "leaves": leaves,
    }


def run_rows(b: Bench) -> None:
    """One row per op: the costliest candidate element of each distinct instruction shape at the run's last
    position (the last layer's instance stands for the others)."""
    from prover.commit.witness import build_witness

    lm, t, S = b.lm, b.t, b.S
    groups: dict[tuple, list[int]] = {}
    for k, ins in enumerate(lm.program.instrs):
        w = build_witness(lm, b.rp, b.mc, t * S + k, 0)
        groups.setdefault(signature(ins, w), []).append(k)
    for ks in groups.values():
        k = ks[-1]
        ins = lm.program.instrs[k]
        _, _, y = b.rp.step(t * S + k)
        gas, j, cd, leaves = measure(b.chain, b.onestep, lm, b.rp, b.mc, t * S + k, candidates(ins, y, t))
        for kk in ks:
            b.per_instr[kk] = gas
        if ins.op not in b.rows or gas > b.rows[ins.op]["gas"]:
            b.rows[ins.op] = row(ins.op, ins.name, t, j, gas, cd, leaves)


def topk_ascending_row(b: Bench) -> None:
    """top-k's cost depends on the data: a chunk in ascending order makes every entry enter the kept list."""
    from prover.commit.witness import to_call_args, witness_for

    lm, t = b.lm, b.t
    k = next((kk for kk, ins in enumerate(lm.program.instrs) if ins.op == "topk_chunk"), None)
    if k is None:
        return
    _, args, y = b.rp.step(t * b.S + k)
    asc = np.arange(args[0].size, dtype=np.int64) - args[0].size // 2
    w = witness_for(lm.program, b.mc.weight_names, k, t, [asc], 2 * y.shape[1] - 1)
    cargs = to_call_args(w)
    if b.chain.call(b.onestep, "element", *cargs) != w.expected:
        raise SystemExit("OneStep disagrees with Python on the ascending top-k chunk")
    g = b.chain.estimate_gas(b.onestep, "element", *cargs)
    cd, leaves = len(b.chain.calldata(b.onestep, "element", *cargs)), sum(len(o.indices) for o in w.operands)
    b.rows["topk_chunk (ascending logits)"] = row(
        "topk_chunk", "topk, ascending logits", t, w.j, g, cd, leaves, family="sampling"
    )


def attention_rows(b: Bench) -> None:
    """The attention ops at the worst position P (rows) and a few below it (summary), on synthetic inputs."""
    lm, a = b.lm, b.a
    P = lm.program.context - 1 if a.position is None else a.position
    if not 0 <= P < lm.program.context:
        raise SystemExit(f"--position must be in [0, {lm.program.context - 1}]")
    chunk = next(int(i.p("chunk")) for i in lm.program.instrs if i.op == "attn_mix_partial")
    positions = sorted({p for p in (chunk - 1, chunk, P // 2, P - 1, P) if 0 <= p <= P})
    by_pos: dict[int, dict[str, int]] = {}
    ranges = None
    for pos in positions:
        synth, ranges = attention_inputs(lm, b.rp, b.t, pos, np.random.default_rng(pos))
        by_pos[pos] = {}
        for label, (k, args) in synth.items():
            ins = lm.program.instrs[k]
            gas, j, cd, leaves = measure_args(b.chain, b.onestep, lm, b.mc, k, pos, args)
            by_pos[pos][label] = gas
            if pos == P:
                name = f"{ins.name}, {label}, synthetic" if label != ins.op else f"{ins.name}, synthetic"
                b.rows[f"{label} @{P}"] = row(ins.op, name, P, j, gas, cd, leaves)
    for pos, gs in by_pos.items():
        for label, g in gs.items():
            op = label.split(" ")[0]
            if g > b.att_max.get(op, {"gas": -1})["gas"]:
                b.att_max[op] = {"gas": g, "position": pos}
    b.summary.update(
        attention_position=P,
        attention_gas={op: max(g for lbl, g in by_pos[P].items() if lbl.split(" ")[0] == op) for op in ATTN_OPS},
        attention_max_gas=b.att_max,
        attention_gas_by_position=by_pos,
        attention_ranges=ranges,
    )


def dispute_summary(b: Bench) -> None:
    """A whole dispute on the same run: a claim altered in the middle of the last position's layers."""
    from prover.chain.registry import GameClient
    from prover.cli.chain_demo import play_dispute
    from prover.commit.trace import Corruption

    lm = b.lm
    gc = GameClient.deploy(
        b.chain,
        claim_bond=10**15,
        challenge_bond=10**15,
        replay_micros=1,
        challenge_window=10**6,
        move_window=10**6,
        k=2,
        one_step=b.onestep.address,
    )
    mid = b.t * b.S + next(
        kk for kk, ins in enumerate(lm.program.instrs) if ins.op == "linear" and ins.layer == lm.config.n_layers // 2
    )
    game = play_dispute(gc, lm, b.ids, b.settings, Corruption(mid, 3, 1), bond=10**15)
    moves: dict[str, int] = {}
    for name, gas in game["txs"]:
        moves[name] = max(moves.get(name, 0), gas)
    b.summary.update(
        max_move_gas=max(g for n, g in moves.items() if n not in ("postClaim", "registerModel")),
        move_gas=moves,
        dispute_gas=sum(g for n, g in game["txs"] if n not in ("postClaim", "registerModel")),
        dispute_rounds=game.get("rounds"),
        dispute_rounds_bound=game.get("bound"),
        dispute_honest_won=game["honest_won"],
    )


def typed_rows(b: Bench) -> None:
    """The per-type linear rows (scripts/_typegas.py): not part of the model's max and typical."""
    from _typegas import type_rows

    typed = type_rows(b.chain, b.onestep)
    b.rows.update(typed_table_rows(typed))
    b.summary.update(max_type_gas=max(r["gas"] for r in typed), type_gas=type_gas(typed))


def quorum_summary_section(b: Bench) -> None:
    """Quorum certificate gas (scripts/_quorumgas.py): summary keys only (its rows have other columns: --quorum)."""
    from _quorumgas import quorum_rows, quorum_summary

    b.summary.update(quorum_summary(quorum_rows(b.chain)))


# The measurements, in order: each adds rows and summary keys to the Bench; a new row or section is one entry.
SECTIONS = (run_rows, topk_ascending_row, attention_rows, dispute_summary, typed_rows, quorum_summary_section)


def prepare(a: argparse.Namespace) -> Bench:
    """Load the model and run it traced on the prompt (tiny: fixed token ids)."""
    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.commit.model import model_commitment
    from prover.runner import Replayer, traced_generate

    lm = IntegerLM.load(a.model)
    mc = model_commitment(lm)
    if a.model in TINY_IDS:
        ids = TINY_IDS[a.model]
    elif a.model == "gemma3" and not a.raw:
        ids = lm.encode_prompt(f"Question: {a.prompt}\nAnswer:")
    else:
        ids = lm.tokenizer.encode(a.prompt) if a.raw else lm.tokenizer.chat(a.prompt)
    settings = GenSettings(max_new_tokens=a.tokens)
    run = traced_generate(lm, ids, settings)
    S = lm.program.steps_per_token
    T = run.tracer.step_count // S
    return Bench(a, lm, mc, ids, settings, Replayer(lm, run), S, T - 1)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.types:
        return types_only(a.json)
    if a.quorum:
        return quorum_only(a.json)
    from prover.chain import Chain, compile_contracts, start_anvil
    from prover.chain.deploy import deploy_one_step

    t0 = time.perf_counter()
    b = prepare(a)
    arts = compile_contracts()
    with start_anvil() as node:
        b.chain = Chain(node.url, arts)
        b.onestep = deploy_one_step(b.chain)
        for section in SECTIONS:
            section(b)
    out_rows = sorted(b.rows.values(), key=lambda r: -r["gas"])
    # the worst one-step over every measured position: the run's rows and the attention ops at each position
    worst = max(
        [{"op": r["op"], "gas": r["gas"], "position": r["position"]} for r in out_rows if r["family"] != TYPED]
        + [{"op": op, **v} for op, v in b.att_max.items()],
        key=lambda r: r["gas"],
    )
    typical = int(statistics.median(b.per_instr.values()))
    summary = {
        "model": a.model,
        "position": b.t,
        "prompt_tokens": len(b.ids),
        "steps_per_token": b.S,
        "max_onestep_gas": worst["gas"],
        "max_onestep_op": worst["op"],
        "max_onestep_position": worst["position"],
        "typical_onestep_gas": typical,
        "typical_basis": "median over the template's instructions of their worst-case one-step gas",
        **b.summary,
        "tx_gas_cap": TX_CAP,
        "meets_targets": worst["gas"] < TARGET_WORST
        and typical < TARGET_TYPICAL
        and b.summary.get("quorum_meets_target", True),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    emit(f"one-step gas, {a.model}, position {b.t} (estimate_gas of OneStep.element)", out_rows, summary, a.json)
    return 0


def type_gas(typed: list[dict]) -> dict[str, dict[int, int]]:
    """type -> width -> gas of the per-type rows."""
    return {t: {r["width"]: r["gas"] for r in typed if r["type"] == t} for t in dict.fromkeys(r["type"] for r in typed)}


TYPED = "linear, per type"  # the family column of the per-type rows (not part of the model's max / typical)


def typed_table_rows(typed: list[dict]) -> dict[str, dict]:
    """The per-type linear rows (scripts/_typegas.py) as rows of the main table."""
    return {
        f"linear {r['type']} {r['width']}": {
            "op": "linear",
            "family": TYPED,
            "instr": f"{r['type']} row of {r['width']}, synthetic",
            "position": 0,
            "j": 0,
            "gas": r["gas"],
            "calldata": r["calldata"],
            "leaves": None,
        }
        for r in typed
    }


def types_only(as_json: bool) -> int:
    """The per-type linear one-step rows alone, on a fresh anvil."""
    from _typegas import type_rows

    from prover.chain import Chain, compile_contracts, start_anvil
    from prover.chain.deploy import deploy_one_step

    with start_anvil() as node:
        chain = Chain(node.url, compile_contracts())
        rows = type_rows(chain, deploy_one_step(chain))
    out = [{"op": f"linear {r['type']} {r['width']}", **r} for r in rows]
    summary = {
        "type_gas": type_gas(rows),
        "max_type_gas": max(r["gas"] for r in rows),
        "meets_targets": max(r["gas"] for r in rows) < TARGET_WORST,
    }
    emit(
        "one-step gas of a linear element per GGUF block type (estimate_gas of OneStep.element)", out, summary, as_json
    )
    return 0


def quorum_only(as_json: bool) -> int:
    """The quorum certificate rows alone (scripts/_quorumgas.py), on a fresh anvil."""
    from _quorumgas import quorum_rows, quorum_summary

    from prover.chain import Chain, compile_contracts, start_anvil

    with start_anvil() as node:
        rows = quorum_rows(Chain(node.url, compile_contracts()))
    emit(
        "quorum certificate gas (verify: estimateGas of verifyCertificate; certify: gasUsed of the transaction)",
        rows,
        quorum_summary(rows),
        as_json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
