"""The executor: runs a program's per-token template, step by step, and reports every step's output.

A step observer (the tracer of prover/) receives ``on_step(step, token, index, instr, args, out)`` for every
instruction in order; ``args`` are the resolved operands (for commitments of inputs it uses the roots it
already holds). An observer with ``on_position(position, token_id, outs)`` is called once a position instead,
with the position's S outputs in instruction order (the operands follow from the template; the tracer needs no
more, and 400-odd calls a position were the larger part of the tracing glue). An observer may also rewrite
outputs before they are used downstream: ``transform(step, token, out) -> out`` (a dishonest operator's
corruption, demos and tests only); an observer without one passes ``transform = None``. Nothing here stores a trace.

Positions run one at a time (``step_token``) or as a block of known tokens (``run_block``: prefill, teacher-forced
replay): the block runs instruction by instruction over all its positions (``Op.run_many``: one weight pass per
block), then reports the steps to the observer in the same order as ``step_token`` would (position by position,
instruction by instruction), with the same operands and outputs; ``state`` is, at each position's first step,
the state before that position. Blocks need every state operand to be the instruction's own output (a KV cache
append); other templates run blocks position by position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from . import ops
from .ops import Ctx
from .program import Instr, Program

_LOCAL, _WEIGHT, _TOKEN, _RUN, _STATE = range(5)
_CODES = {"local": _LOCAL, "weight": _WEIGHT, "token": _TOKEN, "run": _RUN, "state": _STATE}


class StepObserver(Protocol):
    transform: Callable[[int, int, Any], Any] | None

    def on_step(self, step: int, token: int, index: int, ins: Instr, args: list[Any], out: Any) -> None: ...

    # optional: on_position(position: int, token_id: int, outs: list[Any]) -> None, called instead of on_step


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
        self._on_position = getattr(observer, "on_position", None)
        # execution plans are built once per loaded model (IntegerLM.plans) and shared by its executors
        self.plans = ops.build_plans(program, weights) if plans is None else plans
        self.state_names = sorted({r.name for i in program.instrs for r in i.inputs if r.kind == "state"})
        # each operand as (code, payload): local/state -> instruction index, weight -> the weight
        idx = program.index
        self._spec = [
            [(_CODES[r.kind], weights[r.name] if r.kind == "weight" else idx.get(r.name)) for r in ins.inputs]
            for ins in program.instrs
        ]
        self._state_at = [(n, idx[n]) for n in self.state_names]
        # blocks need self-recurrent state only (instruction i reads S(i)): then instruction order is a valid
        # schedule for all positions of a block at once
        self.blockable = all(p == i for i, spec in enumerate(self._spec) for c, p in spec if c == _STATE)
        self.reset()

    def reset(self) -> None:
        self.state: dict[str, Any] = {}
        self.next_token = 0

    def _state(self, i: int, ctx: Ctx, state: dict) -> Any:
        """The value of S(instruction i) given ``state`` (the op's empty state before the first token)."""
        name = self.program.instrs[i].name
        if name in state:
            return state[name]
        return self.ops[i].empty_state(self.program.instrs[i], ctx)

    def step_token(self, token_id: int, run: np.ndarray) -> dict[str, Any]:
        """Run the whole template for the next position with input ``token_id``; returns outputs by name."""
        t = self.next_token
        if t >= self.program.context:
            raise ValueError(f"position {t} is beyond the program's context {self.program.context}")
        ctx = Ctx(self.program, t, plans=self.plans)
        S = self.program.steps_per_token
        outs: list[Any] = [None] * S
        tok = np.array([token_id], dtype=np.int64)
        tf, on_pos = self._transform, self._on_position
        obs = self.observer if on_pos is None else None
        for i, (ins, op) in enumerate(zip(self.program.instrs, self.ops)):
            args = [
                outs[p]
                if c == _LOCAL
                else p
                if c == _WEIGHT
                else tok
                if c == _TOKEN
                else run
                if c == _RUN
                else self._state(p, ctx, self.state)
                for c, p in self._spec[i]
            ]
            y = op.run(ins, args, ctx)
            if tf is not None:
                y = tf(t * S + i, t, y)
            outs[i] = y
            if obs is not None:
                obs.on_step(t * S + i, t, i, ins, args, y)
        if on_pos is not None:
            on_pos(t, token_id, outs)
        self.state = {n: outs[i] for n, i in self._state_at}
        self.next_token = t + 1
        return {ins.name: y for ins, y in zip(self.program.instrs, outs)}

    def run_block(self, tokens: Sequence[int], run: np.ndarray, every: str | None = None) -> dict[str, Any]:
        """Run the positions [next_token, next_token + len(tokens)) with these input tokens as one block; returns
        the last position's outputs by name (and, if ``every`` names an instruction, under the key ``every`` the
        list of its output at each position). Same steps, outputs and observer calls as ``step_token`` per token."""
        T = len(tokens)
        t0 = self.next_token
        if T == 0:
            raise ValueError("an empty block")
        if t0 + T > self.program.context:
            raise ValueError(f"position {t0 + T - 1} is beyond the program's context {self.program.context}")
        if T > 1 and self.blockable:
            outs = self._run_block(tokens, run)
            last = {ins.name: ys[T - 1] for ins, ys in zip(self.program.instrs, outs)}
            return last if every is None else {**last, every: list(outs[self.program.index[every]])}
        seen = []
        for tok in tokens:
            last = self.step_token(int(tok), run)
            seen.append(last[every] if every is not None else None)
        return last if every is None else {**last, every: seen}

    def _run_block(self, tokens: Sequence[int], run: np.ndarray) -> list[list[Any]]:
        """The block's outputs, instruction by instruction, each the list over its positions (blockable, T > 1)."""
        T, t0 = len(tokens), self.next_token
        prog, S = self.program, self.program.steps_per_token
        ctx = Ctx(prog, t0, plans=self.plans, count=T)
        toks = np.asarray(tokens, dtype=np.int64).reshape(T, 1)
        state0 = dict(self.state)
        tf = self._transform
        outs: list[Any] = [None] * S
        scratch = [dict() for _ in range(T)]  # per-position scratch of ops run position by position
        for i, (ins, op) in enumerate(zip(prog.instrs, self.ops)):
            spec = self._spec[i]
            args = [
                outs[p]
                if c == _LOCAL
                else p
                if c == _WEIGHT
                else toks
                if c == _TOKEN
                else run
                if c == _RUN
                else self._state(p, Ctx(prog, t0, plans=self.plans), state0)
                for c, p in spec
            ]
            if op.run_many is not None:
                ys = op.run_many(ins, args, ctx)
                if tf is not None:  # a state op's outputs share storage: an edit at t is seen at t + 1 on
                    for t in range(T):
                        y = tf((t0 + t) * S + i, t0 + t, ys[t])
                        if y is not ys[t]:
                            ys[t] = y
            else:
                ys = self._per_position(i, args, t0, scratch)
            outs[i] = ys
        if self.observer is not None:
            self._report(t0, T, toks, run, outs, state0)
        self.state = {n: outs[i][T - 1] for n, i in self._state_at}
        self.next_token = t0 + T
        return outs

    def _per_position(self, i: int, args: list, t0: int, scratch: list[dict]) -> list:
        """Instruction i of a block run position by position (an op without run_many); a state operand is the
        previous position's output (self-recurrent state: ``blockable``)."""
        ins, op, spec, tf = self.program.instrs[i], self.ops[i], self._spec[i], self._transform
        S, ys = self.program.steps_per_token, []
        for t in range(len(scratch)):
            a = [
                x[t] if c in (_LOCAL, _TOKEN) else (ys[t - 1] if t else x) if c == _STATE else x
                for (c, _), x in zip(spec, args)
            ]
            y = op.run(ins, a, Ctx(self.program, t0 + t, scratch=scratch[t], plans=self.plans))
            ys.append(tf((t0 + t) * S + i, t0 + t, y) if tf is not None else y)
        return ys

    def _report(self, t0: int, T: int, toks: np.ndarray, run: np.ndarray, outs: list, state0: dict) -> None:
        """The block's steps to the observer, position by position, as step_token reports them."""
        prog, S, obs = self.program, self.program.steps_per_token, self.observer
        ctx0 = Ctx(prog, t0, plans=self.plans)
        on_pos = self._on_position
        for t in range(T):
            pos = t0 + t
            self.state = state0 if t == 0 else {n: outs[i][t - 1] for n, i in self._state_at}
            if on_pos is not None:
                on_pos(pos, int(toks[t, 0]), [ys[t] for ys in outs])
                continue
            for i, ins in enumerate(prog.instrs):
                args = [
                    outs[p][t]
                    if c == _LOCAL
                    else p
                    if c == _WEIGHT
                    else toks[t]
                    if c == _TOKEN
                    else run
                    if c == _RUN
                    else (outs[p][t - 1] if t else self._state(p, ctx0, state0))
                    for c, p in self._spec[i]
                ]
                obs.on_step(pos * S + i, pos, i, ins, args, outs[i][t])
