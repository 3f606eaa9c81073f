"""One-step witnesses: everything ``OneStep.element`` (contracts/src/OneStep.sol) needs to recompute one
element of one step's output on chain (docs/dispute.md, "The one-step").

    w = build_witness(lm, Replayer(lm, run), model_commitment(lm), step, j)
    chain.call(onestep, "element", *to_call_args(w)) == w.expected

A witness holds the step's instruction bytes, its position, the operand roots the trace committed, and per
operand its tensor header (dtype, shape, merkle_root) plus the leaves the op's ``fan_in`` names for element j,
with one Merkle multiproof per operand:

* indices: opened leaf indices, strictly increasing; leaves: their 256 bytes each, concatenated;
* proof: sibling hashes in the order ``multiproof`` (and OneStepIO.verifyLeaves) consumes them: level by level
  from the leaves up, left to right; a node whose sibling is opened (or derived) at that level needs none.
  The tree depth is ceil(log2(leaves)) of the header, so nothing else is sent.

Operand values: activations (int arrays) are committed i32, RUN i64, KV caches (``Rows``) as their logical
(context, width) i32 tensor (their tree comes from ``KVTree``; only the stored rows are packed), imported
weights (``QWeight``/``VWeight``) as their raw file bytes with shape (rows, bytes per row) or (bytes,), derived
tables (``TWeight``) as i32. Whole-tensor trees of weights are cached on the weight object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from dataclasses import dataclass, field


from engine import ops
from engine.ops import Ctx
from engine.program import Program

from . import merkle
from .model import KIND_CODE, instr_bytes, run_root, token_root
from .values import Source, commit_value, operand_source, shape_of

LEAF = merkle.LEAF_BYTES


@dataclass
class OperandWitness:
    """One operand's header and opened leaves (OneStep.sol's ``Operand``)."""

    dtype: int
    shape: tuple[int, ...]
    merkle_root: bytes
    indices: list[int]
    leaves: bytes
    proof: list[bytes]

    @property
    def tensor_root(self) -> bytes:
        return merkle.tensor_root_hash(self.dtype, self.shape, self.merkle_root)

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.dtype, list(self.shape), self.merkle_root, list(self.indices), self.leaves, list(self.proof))


@dataclass
class Witness:
    """Arguments of ``OneStep.element`` for (step, j), plus what Python says the element is."""

    step: int
    op: str
    instr_bytes: bytes
    position: int
    operand_roots: list[bytes]
    operands: list[OperandWitness]
    j: int
    expected: int | None
    out_shape: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def to_call_args(w: Witness) -> tuple[Any, ...]:
    """(instrBytes, position, operandRoots, operands, j) as web3 / eth_abi take them."""
    return (w.instr_bytes, w.position, list(w.operand_roots), [o.as_tuple() for o in w.operands], w.j)


# -- multiproofs --------------------------------------------------------------------------------------


def multiproof(node: Callable[[int, int], bytes], depth: int, indices: Sequence[int]) -> list[bytes]:
    """Siblings proving leaves ``indices`` (strictly increasing) of a depth-``depth`` tree whose node (level,
    index) is ``node(level, index)``, in the order OneStepIO.fold consumes them."""
    cur = list(indices)
    if any(b <= a for a, b in zip(cur, cur[1:])):
        raise ValueError("leaf indices must be strictly increasing")
    if cur and cur[-1] >> depth:
        raise ValueError(f"leaf {cur[-1]} outside a tree of depth {depth}")
    proof: list[bytes] = []
    for h in range(depth if cur else 0):
        nxt, t = [], 0
        while t < len(cur):
            i = cur[t]
            if i % 2 == 0 and t + 1 < len(cur) and cur[t + 1] == i + 1:
                t += 2
            else:
                proof.append(node(h, i ^ 1))
                t += 1
            nxt.append(i >> 1)
        cur = nxt
    return proof


def verify_multiproof(root: bytes, depth: int, indices: Sequence[int], leaves: bytes, proof: Sequence[bytes]) -> bool:
    """The Python twin of OneStepIO.verifyLeaves: True iff the leaves at ``indices`` and ``proof`` fold to root."""
    k = len(indices)
    if len(leaves) != k * LEAF:
        return False
    if k == 0:
        return not proof
    if any(b <= a for a, b in zip(indices, indices[1:])):
        return False
    nodes = [(int(i), merkle.leaf_hash(leaves[t * LEAF : (t + 1) * LEAF])) for t, i in enumerate(indices)]
    sibs = iter(proof)
    used = 0

    def take() -> bytes:
        nonlocal used
        used += 1
        return next(sibs, bytes(32))

    for _ in range(depth):
        up, t = [], 0
        while t < len(nodes):
            i, h = nodes[t]
            if i % 2 == 0 and t + 1 < len(nodes) and nodes[t + 1][0] == i + 1:
                up.append((i >> 1, merkle.node_hash(h, nodes[t + 1][1])))
                t += 2
                continue
            up.append((i >> 1, merkle.node_hash(h, take()) if i % 2 == 0 else merkle.node_hash(take(), h)))
            t += 1
        nodes = up
    return len(nodes) == 1 and nodes[0] == (0, root) and used == len(proof)


def open_operand(src: Source, leaf_ids: Iterable[int]) -> OperandWitness:
    """The header of src and the given leaves (sorted, deduplicated here) with their multiproof."""
    ids = sorted(set(int(i) for i in leaf_ids))
    return OperandWitness(
        dtype=merkle.DTYPE_CODES[src.dtype],
        shape=tuple(src.shape),
        merkle_root=src.root(),
        indices=ids,
        leaves=b"".join(src.leaf(i) for i in ids),
        proof=multiproof(src.node, src.depth, ids),
    )


def fan_in_leaves(fan_in: list[tuple[int, int, int]], widths: list[int], n: int) -> list[set[int]]:
    """Per operand, the leaf indices covering the fan-in ranges (operand units: elements, or bytes of raw)."""
    out: list[set[int]] = [set() for _ in range(n)]
    for m, start, stop in fan_in:
        if stop > start:
            w = widths[m]
            out[m].update(range(start * w // LEAF, -(-stop * w // LEAF)))
    return out


# -- the witness ---------------------------------------------------------------------------------------


def operand_roots(lm: Any, run: Any, mc: Any, step: int) -> list[bytes]:
    """The operand roots step ``step``'s record commits to, from the trace (as prover.commit.trace.Tracer computes
    them)."""
    prog = lm.program
    S = prog.steps_per_token
    t, k = divmod(step, S)
    ins = prog.instrs[k]
    tracer = run.tracer
    roots = []
    for r in ins.inputs:
        if r.kind == "weight":
            roots.append(mc.weight_roots[r.name])
        elif r.kind == "local":
            roots.append(tracer.out_roots[t * S + prog.index[r.name]])
        elif r.kind == "state":
            if t == 0:
                i = prog.index[r.name]
                roots.append(commit_value(ops.get(prog.instrs[i].op).empty_state(prog.instrs[i], Ctx(prog, 0))))
            else:
                roots.append(tracer.out_roots[(t - 1) * S + prog.index[r.name]])
        elif r.kind == "token":
            roots.append(token_root(int(run.snapshots.tokens[t])))
        else:
            roots.append(run_root(run.settings.run_tensor()))
    return roots


def witness_for(
    program: Program,
    weight_names: Sequence[str],
    k: int,
    position: int,
    args: list[Any],
    j: int,
    roots: Sequence[bytes] | None = None,
    step: int | None = None,
    strict: bool = True,
) -> Witness:
    """The witness of element j of instruction k run at ``position`` on operand values ``args`` (any values, not
    only a trace's: tests use it for states a trace rarely holds); operand roots default to the headers' roots.
    strict=False: where Python's element() raises (no engine run reaches that state), ``expected`` is None."""
    ins = program.instrs[k]
    op = ops.get(ins.op)
    ctx = Ctx(program, position)
    srcs = [operand_source(r.kind, a) for r, a in zip(ins.inputs, args)]
    leaves = fan_in_leaves(op.fan_in(ins, args, ctx, j), [s.width for s in srcs], len(srcs))
    opened = [open_operand(s, ids) for s, ids in zip(srcs, leaves)]
    if roots is None:
        roots = [o.tensor_root for o in opened]
    for m, (o, r) in enumerate(zip(opened, roots)):
        if o.tensor_root != r:
            raise AssertionError(
                f"{ins.name} at position {position}, operand {m}: its header does not hash to its root"
            )
    widx = {n: i for i, n in enumerate(weight_names)}
    try:
        expected = int(op.element(ins, args, ctx, j))
    except Exception:
        if strict:
            raise
        expected = None
    return Witness(
        step=position * program.steps_per_token + k if step is None else step,
        op=ins.op,
        instr_bytes=instr_bytes(program, k, widx),
        position=position,
        operand_roots=list(roots),
        operands=opened,
        j=j,
        expected=expected,
        out_shape=tuple(op.shape(ins, [shape_of(a) for a in args], ctx)),
        meta={"instr": ins.name, "kinds": [KIND_CODE[r.kind] for r in ins.inputs]},
    )


def build_witness(lm: Any, replayer: Any, mc: Any, step: int, j: int) -> Witness:
    """The witness of flat output element j of step ``step`` of the replayer's run; its operand headers are
    checked to hash to the roots the trace committed."""
    t, k = divmod(step, lm.program.steps_per_token)
    _, args, _ = replayer.step(step)
    return witness_for(lm.program, mc.weight_names, k, t, args, j, operand_roots(lm, replayer.run, mc, step), step)
