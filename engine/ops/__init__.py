"""Op registry: the one declarative op table of both languages. Each op family is one module in this package
(or an ``openbrains.ops`` entry point in another package) mirrored by one Solidity file holding the family's
library and its ``OpFamily`` contract; adding a family touches nothing else (docs/adding.md).

An op declares, as class attributes (the table row, read by registration, the template checks, the Solidity
consistency test and the deployment of the one-step verifier):
* ``name``, ``opcode`` (stable id in step records), ``family``;
* ``params``    its static parameters (``Param``: name and allowed range), committed in ascending name order;
                the family's Solidity file reads param i by the constant ``<NAME>_<PARAM> = i``;
* ``operands``  its operands in order (``Operand``: role name and the operand kinds it may be);
* ``solidity``  the name of its family's contract (an ``OpFamily``) and, for ops outside this package,
                ``solidity_file``, the path of the .sol file that defines it;
and, as methods:
* ``shape(ins, in_shapes, ctx)``   the output shape (a function of static shapes and the position, never data);
* ``run(ins, args, ctx)``           the vectorized numpy computation (uses ``fixedpoint.vec``);
* ``run_many(ins, args, ctx)``      optional: ``run`` for a block of ``ctx.count`` consecutive positions from
                                    ``ctx.position`` at once (batched prefill and replay; engine/executor.py):
                                    local and token operands hold one value per position (a list, or an array
                                    whose first axis is the position), a state operand the value before the
                                    block; returns one output per position. Must equal ``run`` position by
                                    position; ops without it are run position by position;
* ``element(ins, args, ctx, j)``    the pure-int recomputation of flat output element j (uses ``fixedpoint.ref``):
                                    the one-step spec the contracts mirror;
* ``fan_in(ins, args, ctx, j)``     which input pieces element j reads: [(operand index, start, stop)], in the
                                    operand's commitment units (elements of an int tensor, bytes of a raw
                                    weight), bounded by a few thousand elements (the fan-in bound);
* ``examples(rng)``                 a few (instruction, operand values, position) cases on which the one-step
                                    coverage test compares the family contract with ``element`` (required of
                                    ops that no bundled template runs, e.g. plugins).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..program import KINDS, Instr, Program

INT256_MAX = (1 << 255) - 1
U32_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class Param:
    """A static instruction parameter: an int in [lo, hi], committed as int256 (instr bytes, ascending names)."""

    name: str
    lo: int = -INT256_MAX
    hi: int = INT256_MAX

    def check(self, ins: Instr, v: Any) -> None:
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{ins.name} ({ins.op}): parameter {self.name}={v!r} is not an int")
        if not self.lo <= v <= self.hi:
            raise ValueError(f"{ins.name} ({ins.op}): parameter {self.name}={v} is outside [{self.lo}, {self.hi}]")


def shift(name: str) -> Param:
    """A fractional-bit count or shift: [0, 62]."""
    return Param(name, 0, 62)


def width(name: str = "width") -> Param:
    """A saturation width in bits: [2, 64]."""
    return Param(name, 2, 64)


def size(name: str) -> Param:
    """A positive size (heads, dims, chunk lengths): [1, 2^32 - 1], as tensor dims."""
    return Param(name, 1, U32_MAX)


def ggml_type(name: str = "wtype") -> Param:
    """A GGML tensor type id (how a raw weight's bytes decode)."""
    return Param(name, 0, 255)


@dataclass(frozen=True)
class Operand:
    """One operand of an op: its role (for messages and docs) and the operand kinds it may be."""

    name: str
    kinds: tuple[str, ...] = ("local",)


def operand(name: str, *kinds: str) -> Operand:
    return Operand(name, tuple(kinds) or ("local",))


@dataclass(frozen=True)
class Example:
    """An op instance for the one-step coverage test: the instruction, its operand values as the executor passes
    them, the position and the program's context. The instruction's operand refs give the kinds; their names need
    not exist (``program()`` adds placeholder instructions for the local and state names)."""

    ins: Instr
    args: list
    position: int = 0
    context: int = 64

    def program(self) -> Program:
        """A program holding placeholders for the instruction's local/state operands, then the instruction."""
        names = dict.fromkeys(r.name for r in self.ins.inputs if r.kind in ("local", "state"))
        hold = tuple(Instr(n, "placeholder", ()) for n in names)
        return Program(f"example/{self.ins.op}", (*hold, self.ins), self.context, self.ins.name)


@dataclass
class Ctx:
    """What an op may know besides its operands: the program and this step's token position.

    ``scratch`` lives for one position (or one block): an op may compute several instructions' outputs at once
    (an execution detail, e.g. linear layers sharing an input) and leave them there for their own steps.
    ``plans`` holds what ``Op.plan`` built once per loaded model. ``count`` > 1: a block of positions
    [position, position + count) run by ``Op.run_many``.
    """

    program: Program
    position: int
    scratch: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)
    count: int = 1


class Op:
    """Base class: subclasses declare the table row (module docstring) and implement the methods."""

    name: ClassVar[str]
    opcode: ClassVar[int]
    family: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    operands: ClassVar[tuple[Operand, ...]] = ()
    solidity: ClassVar[str] = ""
    solidity_file: ClassVar[str | None] = None

    def check(self, ins: Instr) -> None:
        """ValueError unless ``ins`` fits this op's row: exactly the declared params, each in range, and one
        operand of an allowed kind per declared operand."""
        got = dict(ins.params)
        want = {p.name: p for p in self.params}
        if set(got) != set(want):
            missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
            raise ValueError(f"{ins.name} ({ins.op}): parameters missing {missing}, unknown {extra}")
        for k, v in got.items():
            want[k].check(ins, v)
        if len(ins.inputs) != len(self.operands):
            raise ValueError(f"{ins.name} ({ins.op}): {len(ins.inputs)} operands, the op takes {len(self.operands)}")
        for r, o in zip(ins.inputs, self.operands):
            if r.kind not in o.kinds:
                raise ValueError(f"{ins.name} ({ins.op}): operand {o.name} is {r.kind}, must be one of {o.kinds}")

    def examples(self, rng: np.random.Generator) -> list[Example]:
        """Cases for the one-step coverage test (see the module docstring); none by default."""
        return []

    def shape(self, ins: Instr, in_shapes: list[tuple[int, ...]], ctx: Ctx) -> tuple[int, ...]:
        raise NotImplementedError

    def run(self, ins: Instr, args: list[Any], ctx: Ctx) -> np.ndarray:
        raise NotImplementedError

    run_many = None  # optional batched form (module docstring); None: the executor runs ``run`` per position

    def element(self, ins: Instr, args: list[Any], ctx: Ctx, j: int) -> int:
        raise NotImplementedError

    def fan_in(self, ins: Instr, args: list[Any], ctx: Ctx, j: int) -> list[tuple[int, int, int]]:
        raise NotImplementedError

    def plan(self, program: Program, weights: dict[str, Any], plans: dict) -> None:
        """Optional, once per loaded model: precompute execution plans (never changes any result)."""

    def empty_state(self, ins: Instr, ctx: Ctx) -> np.ndarray:
        """The value of ``S(ins.name)`` before the first token (ops whose output is carried state)."""
        raise TypeError(f"op {self.name} does not define a carried state")


_REGISTRY: dict[str, Op] = {}
_OPCODES: dict[int, str] = {}
_loaded = False


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: register one op; names and opcodes must be unique and the table row well formed."""
    op = cls()
    names = [p.name for p in op.params]
    if len(set(names)) != len(names) or not op.operands or not op.solidity or not 0 < op.opcode <= U32_MAX:
        raise ValueError(f"op {op.name!r}: needs unique params, operands, a Solidity family and an opcode in [1, 2^32)")
    if any(k not in KINDS for o in op.operands for k in o.kinds):
        raise ValueError(f"op {op.name!r}: an operand kind is not one of {KINDS}")
    if op.name in _REGISTRY and type(_REGISTRY[op.name]) is not cls:
        raise ValueError(f"op name {op.name!r} registered twice")
    if op.opcode in _OPCODES and _OPCODES[op.opcode] != op.name:
        raise ValueError(f"opcode {op.opcode} of {op.name!r} already used by {_OPCODES[op.opcode]!r}")
    _REGISTRY[op.name] = op
    _OPCODES[op.opcode] = op.name
    return cls


def load_plugins() -> None:
    """Import every module of this package, every ``openbrains.ops`` entry point and the modules named in
    ``OBRAIN_OP_PLUGINS`` (comma-separated, for developing a plugin before packaging it) (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")
    for name in filter(None, (x.strip() for x in os.environ.get("OBRAIN_OP_PLUGINS", "").split(","))):
        importlib.import_module(name)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="openbrains.ops"):
            ep.load()
    except Exception as e:  # pragma: no cover - a broken third-party plugin must not be silent
        raise RuntimeError(f"failed to load op plugins: {e}") from e


def get(name: str) -> Op:
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known: {sorted(_REGISTRY)}") from None


def all_ops() -> dict[str, Op]:
    load_plugins()
    return dict(_REGISTRY)


def build_plans(program: Program, weights: dict[str, Any]) -> dict:
    """Every op's execution plans for this program and these weights (``Op.plan``, once per loaded model)."""
    plans: dict = {}
    used = {ins.op: get(ins.op) for ins in program.instrs}
    for op in used.values():
        op.plan(program, weights, plans)
    return plans


def table() -> list[dict[str, Any]]:
    """The op table as plain rows (docs, `obrain ops --json`, tests): one per op, by opcode."""
    rows = []
    for op in sorted(all_ops().values(), key=lambda o: o.opcode):
        rows.append(
            {
                "name": op.name,
                "opcode": op.opcode,
                "family": op.family,
                "solidity": op.solidity,
                "params": [[p.name, p.lo, p.hi] for p in sorted(op.params, key=lambda p: p.name)],
                "operands": [[o.name, list(o.kinds)] for o in op.operands],
            }
        )
    return rows
