"""The executor: runs a program's per-token template, step by step, and reports every step's output.

A step observer (the tracer of prover/) receives ``on_step(step, token, index, instr, args, out)`` for every
instruction in order; ``args`` are the resolved operands (for commitments of inputs it uses the roots it
already holds). An observer may also rewrite outputs before they are used downstream: ``transform(step, token,
out) -> out`` (a dishonest operator's corruption, demos and tests only); an observer without one passes
``transform = None``. Nothing here stores a trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from . import ops
from .ops import Ctx
from .program import Instr, Program


class StepObserver(Protocol):
    transform: Callable[[int, int, Any], Any] | None

    def on_step(self, step: int, token: int, index: int, ins: Instr, args: list[Any], out: Any) -> None: ...


class Executor:
    """Runs tokens in order (0, 1, 2, ...); carries the state outputs from one token to the next."""

    def __init__(
        self,
        program: Program,
        weights: dict[str, Any],
        observer: StepObserver | None = None,
        plans: dict | None = None,
    ):
        self.program = program
        self.weights = weights
        self.observer = observer
        self.ops = [ops.get(i.op) for i in program.instrs]
        for ins, op in zip(program.instrs, self.ops):
            op.check(ins)  # the template fits the op table: params, ranges, operand kinds
        missing = sorted(
            {r.name for i in program.instrs for r in i.inputs if r.kind == "weight" and r.name not in weights}
        )
        if missing:
            raise KeyError(f"program {program.name} needs weights that were not loaded: {missing[:5]}")
        self._transform = observer.transform if observer is not None else None
        # execution plans are built once per loaded model (IntegerLM.plans) and shared by its executors
        self.plans = ops.build_plans(program, weights) if plans is None else plans
        self.state_names = sorted({r.name for i in program.instrs for r in i.inputs if r.kind == "state"})
        self.reset()

    def reset(self) -> None:
        self.state: dict[str, Any] = {}
        self.next_token = 0

    def _resolve(self, ref, outs, token_id: int, run: np.ndarray, ctx: Ctx):
        k = ref.kind
        if k == "local":
            return outs[ref.name]
        if k == "weight":
            return self.weights[ref.name]
        if k == "token":
            return np.array([token_id], dtype=np.int64)
        if k == "run":
            return run
        if ref.name in self.state:  # state
            return self.state[ref.name]
        i = self.program.index[ref.name]
        return self.ops[i].empty_state(self.program.instrs[i], ctx)

    def step_token(self, token_id: int, run: np.ndarray) -> dict[str, Any]:
        """Run the whole template for the next position with input ``token_id``; returns outputs by name."""
        t = self.next_token
        if t >= self.program.context:
            raise ValueError(f"position {t} is beyond the program's context {self.program.context}")
        ctx = Ctx(self.program, t, plans=self.plans)
        outs: dict[str, Any] = {}
        S = self.program.steps_per_token
        for i, (ins, op) in enumerate(zip(self.program.instrs, self.ops)):
            args = [self._resolve(r, outs, token_id, run, ctx) for r in ins.inputs]
            y = op.run(ins, args, ctx)
            if self._transform is not None:
                y = self._transform(t * S + i, t, y)
            outs[ins.name] = y
            if self.observer is not None:
                self.observer.on_step(t * S + i, t, i, ins, args, y)
        self.state = {n: outs[n] for n in self.state_names}
        self.next_token = t + 1
        return outs
