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
from engine.program import Program
from engine.weights import release_file_pages
from fixedpoint import NUMERICS_VERSION

from . import merkle
from .values import ACT_DTYPE, KVTree, commit_value, raw_shape  # noqa: F401  (re-exported for model users)

KIND_CODE = {"weight": 0, "token": 1, "local": 2, "state": 3, "run": 4}
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


def weight_root(w: Any) -> bytes:
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
    stop_ids: tuple[int, ...] = ()
    empty_state_roots: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def build(cls, program: Program, weights: dict[str, Any], stop_ids: Sequence[int]) -> ModelCommitment:
        """The commitment of a program, its weights and its stop tokens (1 to 16 distinct ids in [0, 2^32))."""
        names = weight_names(program)
        widx = {n: i for i, n in enumerate(names)}
        ih = [merkle.keccak(b"instr" + instr_bytes(program, i, widx)) for i in range(len(program.instrs))]
        troot = merkle.hash_tree_root(ih)
        wroots = {}
        for n in names:  # hashing reads every file byte: each weight's pages are let go once hashed (RSS)
            wroots[n] = weight_root(weights[n])
            release_file_pages({n: weights[n]})
        wroot = merkle.hash_tree_root([wroots[n] for n in names])
        S, C = program.steps_per_token, program.context
        stops = tuple(sorted({int(t) for t in stop_ids}))
        mroot = model_root(NUMERICS_VERSION, S, C, troot, wroot, stops)
        return cls(ih, troot, names, wroots, wroot, mroot, S, C, stops)


MAX_STOP_TOKENS = 16


def stop_root(stop_ids: Sequence[int]) -> bytes:
    """keccak256("stop" || u32 n || u32 id_0 .. u32 id_{n-1}) of strictly increasing stop token ids (1 <= n <= 16)."""
    ids = [int(t) for t in stop_ids]
    if not 1 <= len(ids) <= MAX_STOP_TOKENS or any(b <= a for a, b in zip(ids, ids[1:])):
        raise ValueError(f"stop tokens must be 1 to {MAX_STOP_TOKENS} strictly increasing ids, got {ids}")
    if any(not 0 <= t < 1 << 32 for t in ids):
        raise ValueError(f"stop token ids must be in [0, 2^32), got {ids}")
    return merkle.keccak(b"stop" + len(ids).to_bytes(4, "big") + b"".join(t.to_bytes(4, "big") for t in ids))


def model_root(
    numerics_version: int, steps: int, context: int, template_root: bytes, weights_root: bytes, stop_ids: Sequence[int]
) -> bytes:
    """keccak256("model" || u32 nv || u32 S || u32 context || template_root || weights_root || stop_root)."""
    return merkle.keccak(
        b"model"
        + numerics_version.to_bytes(4, "big")
        + steps.to_bytes(4, "big")
        + context.to_bytes(4, "big")
        + template_root
        + weights_root
        + stop_root(stop_ids)
    )


_COMMITMENTS: weakref.WeakKeyDictionary[Any, ModelCommitment] = weakref.WeakKeyDictionary()


def model_commitment(lm: Any) -> ModelCommitment:
    """The commitment of a loaded model (an engine.runtime.IntegerLM), computed once per model object: it hashes
    every weight's file bytes. Cached beside the model, not on it (the engine knows nothing of commitments)."""
    mc = _COMMITMENTS.get(lm)
    if mc is None:
        mc = _COMMITMENTS[lm] = ModelCommitment.build(lm.program, lm.weights, lm.stop_ids)
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
