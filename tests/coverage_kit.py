"""The one-step coverage check shared by the core ops' tests and plugins: an op's examples (engine.ops Example)
recomputed by the deployed verifier on chain must equal the op's Python ``element``, element by element."""

from __future__ import annotations

import numpy as np

from engine import ops
from prover.commit.model import weight_names
from prover.commit.witness import to_call_args, witness_for


def example_witnesses(op, rng: np.random.Generator, per_example: int = 4):
    """Witnesses of j = 0, the last element and random ones for each of the op's examples."""
    ws = []
    for ex in op.examples(rng):
        prog = ex.program()
        k = len(prog.instrs) - 1
        first = witness_for(prog, weight_names(prog), k, ex.position, ex.args, 0)
        n = int(np.prod(first.out_shape))
        js = sorted({0, n - 1} | {int(x) for x in rng.integers(0, n, per_example)})
        ws += [witness_for(prog, weight_names(prog), k, ex.position, ex.args, j) for j in js]
    return ws


def check_examples(chain, one_step, op, rng: np.random.Generator) -> int:
    """Number of elements checked; AssertionError naming the first that differs (or an op with no examples)."""
    ws = example_witnesses(op, rng)
    assert ws, f"op {op.name} has no examples: the coverage test cannot check it on chain"
    got = chain.call_many([(one_step, "element", to_call_args(w)) for w in ws], chunk=16, strict=False)
    bad = [(w.j, w.expected, g) for w, g in zip(ws, got) if g != w.expected]
    assert not bad, f"{op.name}: {len(bad)} of {len(ws)} differ, first (j, python, evm): {bad[:3]}"
    return len(ws)


def all_examples_ok(chain, one_step, names, seed: int = 7) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    return {n: check_examples(chain, one_step, ops.get(n), rng) for n in names}
