"""Programs: a model is a per-token template of instructions; running T tokens unrolls it T times.

Step i of a run is (token i // S, instruction i % S) where S = len(template). An instruction names an
op (a registry key), its operands and static parameters. Operands are references, never data:

* ``W(name)``      a model weight (or a derived constant such as the RoPE table), agreed via the model root;
* ``TOKEN``        this position's input token id, shape (1,): the prompt token, or the previous token's
                   sampled id once the prompt is consumed;
* ``L(name)``      the output of an earlier instruction of the same token;
* ``S(name)``      state carried from the previous token: the output of instruction ``name`` at token
                   t-1 (at t = 0 the op's declared empty state);
* ``RUN``          the run's generation settings, shape (4,) = [temperature Q16, top_k, seed, max_new_tokens],
                   committed with the input.

Static parameters are ints or strings, fixed by the program and never by data; the position t is known
to every op from the step index.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Union
from collections.abc import Iterable

Param = Union[int, str]


KINDS = ("weight", "token", "local", "state", "run")


@dataclass(frozen=True)
class Ref:
    """An operand reference: kind in {"weight", "token", "local", "state"} plus a name."""

    kind: str
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown operand kind {self.kind!r}")

    def __str__(self) -> str:
        return {"weight": "W", "token": "TOKEN", "local": "L", "state": "S", "run": "RUN"}[self.kind] + (
            f"({self.name})" if self.name else ""
        )


def W(name: str) -> Ref:
    return Ref("weight", name)


def L(name: str) -> Ref:
    return Ref("local", name)


def S(name: str) -> Ref:
    return Ref("state", name)


TOKEN = Ref("token")
RUN = Ref("run")


@dataclass(frozen=True)
class Instr:
    """One template instruction: output name (unique in the template), op key, operands, static params."""

    name: str
    op: str
    inputs: tuple[Ref, ...]
    params: tuple[tuple[str, Param], ...] = ()
    layer: int = -1  # for messages only ("layer 3, attn_q"); -1 = not in a block

    def p(self, key: str) -> Param:
        try:
            return self._param_dict[key]
        except KeyError:
            raise KeyError(f"instruction {self.name} ({self.op}) has no parameter {key!r}") from None

    @cached_property
    def _param_dict(self) -> dict[str, Param]:  # not a field: equality, hashing and the template ignore it
        return dict(self.params)

    def to_obj(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "inputs": [[r.kind, r.name] for r in self.inputs],
            "params": [[k, v] for k, v in self.params],
            "layer": self.layer,
        }


def instr(name: str, op: str, inputs: Iterable[Ref], layer: int = -1, **params: Param) -> Instr:
    """Build an Instr with params sorted by key (canonical order, so the template hash is stable)."""
    return Instr(name, op, tuple(inputs), tuple(sorted(params.items())), layer)


@dataclass(frozen=True)
class Program:
    """A per-token template plus the facts every op needs (context capacity)."""

    name: str
    instrs: tuple[Instr, ...]
    context: int  # max positions; KV caches have this many rows
    output: str  # instruction whose output holds the next token id at [0, 1]
    index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        idx: dict[str, int] = {}
        for i, ins in enumerate(self.instrs):
            if ins.name in idx:
                raise ValueError(f"duplicate instruction name {ins.name!r}")
            for r in ins.inputs:
                if r.kind == "local" and r.name not in idx:
                    raise ValueError(f"{ins.name}: local operand {r.name!r} is not an earlier instruction")
            idx[ins.name] = i
        for ins in self.instrs:
            for r in ins.inputs:
                if r.kind == "state" and r.name not in idx:
                    raise ValueError(f"{ins.name}: state operand {r.name!r} names no instruction")
        if self.output not in idx:
            raise ValueError(f"output {self.output!r} names no instruction")
        object.__setattr__(self, "index", idx)

    @property
    def steps_per_token(self) -> int:
        return len(self.instrs)

    def locate(self, step: int) -> tuple[int, Instr]:
        """(token, instruction) of global step index ``step``."""
        t, i = divmod(step, len(self.instrs))
        return t, self.instrs[i]

    def to_json(self) -> str:
        """Canonical JSON of the template (sorted keys, no spaces): what the model root commits to."""
        obj = {
            "name": self.name,
            "context": self.context,
            "output": self.output,
            "instrs": [i.to_obj() for i in self.instrs],
        }
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()
