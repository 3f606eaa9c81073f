"""Commitments of models, inputs, outputs and steps, byte for byte as docs/encoding.md.

Everything here is a pure function of integers and bytes (keccak via prover.commit.merkle); contracts mirror it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from eth_abi import encode as abi_encode

from engine import ops
from engine.ops.attention import Rows
from engine.program import Program
from fixedpoint import NUMERICS_VERSION
from fixedpoint.errors import FixedPointOverflow

from . import keccak as _kk
from . import merkle

KIND_CODE = {"weight": 0, "token": 1, "local": 2, "state": 3, "run": 4}
ACT_DTYPE = "i32"  # every activation is saturated to <= 32 bits
RUN_DTYPE = "i64"


def hex32(b: bytes) -> str:
    return "0x" + b.hex()


def weight_names(program: Program) -> list[str]:
    """The program's weight names in sorted order: a weight operand's index is its position here."""
    return sorted({r.name for i in program.instrs for r in i.inputs if r.kind == "weight"})


def instr_bytes(program: Program, index: int, widx: dict[str, int]) -> bytes:
    """abi.encode(uint256 opcode, uint256[] operands, int256[] params) of instruction ``index``."""
    ins = program.instrs[index]
    operands = []
    for r in ins.inputs:
        idx = widx[r.name] if r.kind == "weight" else program.index[r.name] if r.kind in ("local", "state") else 0
        operands.append((KIND_CODE[r.kind] << 32) | idx)
    params = []
    for k, v in sorted(ins.params):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{ins.name}: parameter {k}={v!r} is not an int (only int params are committed)")
        params.append(v)
    return abi_encode(["uint256", "uint256[]", "int256[]"], [ops.get(ins.op).opcode, operands, params])


def commit_value(value: Any, dtype: str = ACT_DTYPE) -> bytes:
    """tensor_root of an engine value: an int array, or a KV cache (its full logical tensor)."""
    if isinstance(value, Rows):
        return KVTree.of(value).root()
    a = np.asarray(value)
    if dtype == "i32" and a.dtype == np.int64 and a.ndim <= 8:  # every engine activation: the short path
        return merkle.tensor_root_i32(a)
    return merkle.tensor_root(a, dtype, a.shape)


def raw_shape(w) -> tuple[int, ...]:
    """Shape under which a raw weight is committed: (rows, bytes per row) for matrices, (bytes,) for vectors."""
    if len(w.shape) == 2:
        return (w.shape[0], w.raw.size // w.shape[0])
    return (w.raw.size,)


def weight_root(w) -> bytes:
    """tensor_root of a weight: raw file bytes for imported weights (the file's own numbers), i32 for derived tables."""
    if hasattr(w, "raw"):
        return merkle.tensor_root(np.ascontiguousarray(w.raw).tobytes(), "raw", raw_shape(w))
    return merkle.tensor_root(w.data, ACT_DTYPE, w.data.shape)


@dataclass
class ModelCommitment:
    """Everything the model root commits to, computed once per loaded model."""

    instr_hashes: list[bytes]
    template_root: bytes
    weight_names: list[str]
    weight_roots: dict[str, bytes]
    weights_root: bytes
    model_root: bytes
    steps_per_token: int
    context: int
    empty_state_roots: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def build(cls, program: Program, weights: dict[str, Any]) -> ModelCommitment:
        names = weight_names(program)
        widx = {n: i for i, n in enumerate(names)}
        ih = [merkle.keccak(b"instr" + instr_bytes(program, i, widx)) for i in range(len(program.instrs))]
        troot = merkle.hash_tree_root(ih)
        wroots = {n: weight_root(weights[n]) for n in names}
        wroot = merkle.hash_tree_root([wroots[n] for n in names])
        S, C = program.steps_per_token, program.context
        mroot = merkle.keccak(
            b"model" + NUMERICS_VERSION.to_bytes(4, "big") + S.to_bytes(4, "big") + C.to_bytes(4, "big") + troot + wroot
        )
        return cls(ih, troot, names, wroots, wroot, mroot, S, C)


_COMMITMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_commitment(lm) -> ModelCommitment:
    """The commitment of a loaded model (an engine.runtime.IntegerLM), computed once per model object: it hashes
    every weight's file bytes. Cached beside the model, not on it (the engine knows nothing of commitments)."""
    mc = _COMMITMENTS.get(lm)
    if mc is None:
        mc = _COMMITMENTS[lm] = ModelCommitment.build(lm.program, lm.weights)
    return mc


def input_hash(prompt: Sequence[int], run: np.ndarray) -> bytes:
    p = np.asarray(list(prompt), dtype=np.int64)
    return merkle.keccak(b"input" + merkle.tensor_root(p, ACT_DTYPE, p.shape) + run_root(run))


def run_root(run: np.ndarray) -> bytes:
    r = np.asarray(run, dtype=np.int64)
    return merkle.tensor_root(r, RUN_DTYPE, r.shape)


def output_hash(tokens: Sequence[int]) -> bytes:
    t = np.asarray(list(tokens), dtype=np.int64)
    return merkle.keccak(b"output" + merkle.tensor_root(t, ACT_DTYPE, t.shape))


def token_root(tok: int) -> bytes:
    return merkle.tensor_root(np.array([tok], dtype=np.int64), ACT_DTYPE, (1,))


def step_record(i: int, instr_hash: bytes, operand_roots: Sequence[bytes], out_root: bytes) -> bytes:
    """keccak256("step" || u64 i || instr_hash || u8 n || operand roots || output root)."""
    return merkle.keccak(
        b"step" + i.to_bytes(8, "big") + instr_hash + bytes([len(operand_roots)]) + b"".join(operand_roots) + out_root
    )


class KVTree:
    """The commitment of a KV cache (capacity, width) i32, updated row by row: an append hashes only the leaves
    holding the new rows and the paths above them, once each (compiled, prover.commit.keccak.dense_set_leaves).

    The tree is dense (every node stored, 32 bytes each: 2 x 32 x leaves, ~256 KB for a 1024 x 192 cache) and
    equals merkle.FixedCapacityTree / merkle_root over the same packing (tested)."""

    ELEM = 4

    def __init__(self, capacity: int, width: int):
        self.capacity, self.width = capacity, width
        total = capacity * width * self.ELEM
        n_leaves = max(1, -(-total // merkle.LEAF_BYTES))
        self.depth = (n_leaves - 1).bit_length()
        sizes = [1 << (self.depth - lvl) for lvl in range(self.depth + 1)]
        self.offs = np.cumsum([0] + sizes[:-1]).astype(np.int64)  # level l's nodes are rows offs[l] + index
        self.nodes = np.empty((sum(sizes), 8), np.uint32)
        for lvl, n in enumerate(sizes):
            self.nodes[self.offs[lvl] : self.offs[lvl] + n] = merkle.ZERO_WORDS[lvl]  # all empty
        self.rows = 0
        self._head = merkle.tensor_header(ACT_DTYPE, (capacity, width))

    @classmethod
    def of(cls, rows: Rows) -> KVTree:
        t = cls(rows.capacity, rows.buf.shape[1])
        t.sync(rows)
        return t

    def sync(self, rows: Rows) -> None:
        """Bring the tree up to ``rows.n`` rows (rows are append-only: earlier rows never change)."""
        if rows.n < self.rows:
            raise ValueError("a KV cache never shrinks")
        if rows.n == self.rows:
            return
        rb = self.width * self.ELEM
        lo = (self.rows * rb) // merkle.LEAF_BYTES
        hi = -(-(rows.n * rb) // merkle.LEAF_BYTES)  # leaves [lo, hi) hold bytes of the new rows
        flat = np.ascontiguousarray(rows.buf[: rows.n], dtype=np.int64).reshape(-1)
        if not _kk.dense_set_leaves(self.nodes, self.offs, self.depth, flat, flat.size, lo, hi):
            mn, mx = int(flat.min()), int(flat.max())
            raise FixedPointOverflow(f"pack(i32): values [{mn}, {mx}] outside [{-(1 << 31)}, {(1 << 31) - 1}]")
        self.rows = rows.n

    def node(self, level: int, index: int) -> bytes:
        """Node ``index`` at height ``level`` (0 = leaves) of the cache's full tree."""
        return self.nodes[self.offs[level] + index].tobytes()

    def root(self) -> bytes:
        return merkle.keccak(self._head + self.node(self.depth, 0))
