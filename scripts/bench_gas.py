#!/usr/bin/env python3
"""Gas of the on-chain one-step (OneStep.element) for the worst-case element of each op, on a real trace.

    scripts/bench_gas.py [--model smollm2|tiny] [--prompt TEXT] [--raw] [--tokens N] [--json]

Runs the model traced on the prompt (in the chat template unless --raw; tiny: fixed token ids) with N
generated tokens, deploys OneStep on a fresh anvil and, at the last
position (the widest attention), measures eth_estimateGas of `element` (a transaction straight to OneStep:
21000 + calldata + execution) for every distinct instruction shape (op, operand shapes, params; the last
layer's instance stands for the others) and candidate elements (first, middle, last; the last candidate of
the first list for the top-k ops). One row per op with its worst case, plus top-k on a chunk of ascending
logits (its data-dependent worst case: every entry enters the kept list).

Summary keys: max_onestep_gas (worst op), max_onestep_op, typical_onestep_gas (median over the template's
instructions of their worst-case gas: the one-step of a random step), position, steps_per_token,
attn_mix_gas_per_position (the growth of the one op whose fan-in grows with the position) and
attn_mix_max_position_under_3m (where it would cross the 3M target), tx_gas_cap (2^24).
Then one whole dispute on the same run (a claim altered in a middle layer's linear output, played by the
agents with the real OneStep): max_move_gas (largest game transaction), move_gas (largest per function),
dispute_gas (all game transactions), dispute_rounds and its bound, dispute_honest_won.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import _common  # noqa: F401  (sys.path)
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
    from prover.witness import build_witness, to_call_args

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2", choices=["smollm2", "tiny"])
    ap.add_argument("--prompt", default="What is the capital of France?")
    ap.add_argument("--raw", action="store_true", help="no chat template")
    ap.add_argument("--tokens", type=int, default=2, help="generated tokens (the last position is measured)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from engine.generate import GenSettings
    from engine.runtime import IntegerLM
    from prover.chain import Chain, compile_contracts, start_anvil
    from prover.runner import Replayer, model_commitment, traced_generate
    from prover.witness import build_witness

    t0 = time.perf_counter()
    lm = IntegerLM.load(a.model)
    mc = model_commitment(lm)
    if a.model == "tiny":
        ids = [5, 17, 99, 120]
    else:
        ids = lm.tokenizer.encode(a.prompt) if a.raw else lm.tokenizer.chat(a.prompt)
    settings = GenSettings(max_new_tokens=a.tokens)
    run = traced_generate(lm, ids, settings)
    rp = Replayer(lm, run)
    S = lm.program.steps_per_token
    T = run.tracer.step_count // S
    t = T - 1
    arts = compile_contracts()
    with start_anvil() as node:
        chain = Chain(node.url, arts)
        onestep = chain.deploy("OneStep")
        groups: dict[tuple, list[int]] = {}
        for k, ins in enumerate(lm.program.instrs):
            w = build_witness(lm, rp, mc, t * S + k, 0)
            groups.setdefault(signature(ins, w), []).append(k)
        per_instr: dict[int, int] = {}
        rows: dict[str, dict] = {}
        for sig, ks in groups.items():
            k = ks[-1]  # the last layer's instance
            ins = lm.program.instrs[k]
            _, _, y = rp.step(t * S + k)
            gas, j, cd, leaves = measure(chain, onestep, lm, rp, mc, t * S + k, candidates(ins, y, t))
            for kk in ks:
                per_instr[kk] = gas
            if ins.op not in rows or gas > rows[ins.op]["gas"]:
                from engine import ops
                rows[ins.op] = {"op": ins.op, "family": ops.get(ins.op).family, "instr": ins.name, "j": j,
                                "gas": gas, "calldata": cd, "leaves": leaves}
        # top-k cost depends on the data: a chunk in ascending order makes every entry enter the kept list
        k = next((kk for kk, ins in enumerate(lm.program.instrs) if ins.op == "topk_chunk"), None)
        if k is not None:
            from prover.witness import to_call_args, witness_for

            _, args, y = rp.step(t * S + k)
            asc = np.arange(args[0].size, dtype=np.int64) - args[0].size // 2
            w = witness_for(lm.program, mc.weight_names, k, t, [asc], 2 * y.shape[1] - 1)
            cargs = to_call_args(w)
            if chain.call(onestep, "element", *cargs) != w.expected:
                raise SystemExit("OneStep disagrees with Python on the ascending top-k chunk")
            g = chain.estimate_gas(onestep, "element", *cargs)
            rows["topk_chunk (ascending logits)"] = {
                "op": "topk_chunk", "family": "sampling", "instr": "topk, ascending logits", "j": w.j, "gas": g,
                "calldata": len(chain.calldata(onestep, "element", *cargs)),
                "leaves": sum(len(o.indices) for o in w.operands)}
        # attn_mix grows with the position (its fan-in is a whole V column): the slope from position t-1
        slope = None
        if t >= 1:
            k = max((kk for kk, ins in enumerate(lm.program.instrs) if ins.op == "attn_mix"), default=None)
            if k is not None:
                g0, *_ = measure(chain, onestep, lm, rp, mc, (t - 1) * S + k, {0})
                g1, *_ = measure(chain, onestep, lm, rp, mc, t * S + k, {0})
                slope = g1 - g0
        # a whole dispute on the same run: a claim altered in the middle of the last position's layers
        from prover.chain.game import GameClient
        from prover.chain_demo import play_dispute
        from prover.trace import Corruption

        gc = GameClient.deploy(chain, min_bond=10**15, challenge_window=10**6, move_window=10**6, k=2,
                               one_step=onestep.address)
        mid = t * S + next(kk for kk, ins in enumerate(lm.program.instrs)
                           if ins.op == "linear" and ins.layer == lm.config.n_layers // 2)
        game = play_dispute(gc, lm, ids, settings, Corruption(mid, 3, 1), bond=10**15)
        moves = {}
        for name, gas in game["txs"]:
            moves[name] = max(moves.get(name, 0), gas)
    out_rows = sorted(rows.values(), key=lambda r: -r["gas"])
    worst = out_rows[0]
    typical = int(statistics.median(per_instr.values()))
    summary = {
        "model": a.model,
        "position": t,
        "prompt_tokens": len(ids),
        "steps_per_token": S,
        "max_onestep_gas": worst["gas"],
        "max_onestep_op": worst["op"],
        "typical_onestep_gas": typical,
        "typical_basis": "median over the template's instructions of their worst-case one-step gas",
        "attn_mix_gas_per_position": slope,
        "attn_mix_max_position_under_3m": (t + (TARGET_WORST - rows["attn_mix"]["gas"]) // slope)
        if slope and slope > 0 and "attn_mix" in rows else None,
        "max_move_gas": max(g for n, g in moves.items() if n not in ("postClaim", "registerModel")),
        "move_gas": moves,
        "dispute_gas": sum(g for n, g in game["txs"] if n not in ("postClaim", "registerModel")),
        "dispute_rounds": game.get("rounds"), "dispute_rounds_bound": game.get("bound"),
        "dispute_honest_won": game["honest_won"],
        "tx_gas_cap": TX_CAP,
        "meets_targets": worst["gas"] < TARGET_WORST and typical < TARGET_TYPICAL,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    emit(f"one-step gas, {a.model}, position {t} (estimate_gas of OneStep.element)", out_rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
