"""Op registry. Each op family is one module in this package (mirrored by one Solidity file); adding an op
means adding a module here (or an ``openbrains.ops`` entry point in another package): no core file changes.

An op declares, for its instructions:
* ``shape(ins, in_shapes, ctx)``   the output shape (a function of static shapes and the position, never data);
* ``run(ins, args, ctx)``           the vectorized numpy computation (uses ``fixedpoint.vec``);
* ``element(ins, args, ctx, j)``    the pure-int recomputation of flat output element j (uses ``fixedpoint.ref``):
                                    the one-step spec the contracts mirror;
* ``fan_in(ins, args, ctx, j)``     which input pieces element j reads: [(operand index, start, stop)], in the
                                    operand's commitment units (elements of an int tensor, bytes of a raw
                                    weight), bounded by a few thousand elements (the fan-in bound).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..program import Instr, Program


@dataclass
class Ctx:
    """What an op may know besides its operands: the program and this step's token position.

    ``scratch`` lives for one position: an op may compute several instructions' outputs at once (an
    execution detail, e.g. linear layers sharing an input) and leave them there for their own steps.
    ``plans`` holds what ``Op.plan`` built once per loaded model.
    """

    program: Program
    position: int
    scratch: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)


class Op:
    """Base class: subclasses set ``name`` (registry key) and ``opcode`` (stable id in step records)."""

    name: ClassVar[str]
    opcode: ClassVar[int]
    family: ClassVar[str] = ""

    def shape(self, ins: Instr, in_shapes: list[tuple[int, ...]], ctx: Ctx) -> tuple[int, ...]:
        raise NotImplementedError

    def run(self, ins: Instr, args: list[Any], ctx: Ctx) -> np.ndarray:
        raise NotImplementedError

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
    """Class decorator: register one op; names and opcodes must be unique."""
    op = cls()
    if op.name in _REGISTRY and type(_REGISTRY[op.name]) is not cls:
        raise ValueError(f"op name {op.name!r} registered twice")
    if op.opcode in _OPCODES and _OPCODES[op.opcode] != op.name:
        raise ValueError(f"opcode {op.opcode} of {op.name!r} already used by {_OPCODES[op.opcode]!r}")
    _REGISTRY[op.name] = op
    _OPCODES[op.opcode] = op.name
    return cls


def load_plugins() -> None:
    """Import every module of this package and every ``openbrains.ops`` entry point (once)."""
    global _loaded
    if _loaded:
        return
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="openbrains.ops"):
            ep.load()
    except Exception as e:  # pragma: no cover - a broken third-party plugin must not be silent
        raise RuntimeError(f"failed to load op plugins: {e}") from e
    _loaded = True


def get(name: str) -> Op:
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known: {sorted(_REGISTRY)}") from None


def all_ops() -> dict[str, Op]:
    load_plugins()
    return dict(_REGISTRY)
