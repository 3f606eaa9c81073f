"""The trees a game descends, as both players see them: the docs' hash trees over 32-byte leaves (trace
records, instruction hashes, weight roots), a tensor's leaf tree (phase 2), the defender's trace as an honest
challenger reconstructs it, and step openings (a record's preimage) with the way an honest challenger wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..commit import merkle
from ..commit.model import step_record
from .protocol import ceil_log2


class TreeError(RuntimeError):
    """A tree asked for a node it cannot know (a bug in the caller, never a chain state)."""


class HashTree:
    """The docs' tree over 32-byte leaves (records, instruction hashes, weight roots, leaf hashes), padded
    with Z_h: nodes, the children a defender reveals, the child an honest challenger picks, proofs."""

    def __init__(self, leaves: Sequence[bytes]):
        self.count = max(1, len(leaves))
        self.levels = merkle.tree_levels(list(leaves))
        self.depth = len(self.levels) - 1

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def node(self, height: int, index: int) -> bytes:
        lvl = self.levels[height]
        return lvl[index] if index < len(lvl) else merkle.zero_hash(height)

    def children(self, height: int, index: int, k: int) -> list[bytes]:
        """The children of node (height, index) one reveal shows: 2^min(log2 k, height) nodes."""
        levels = min(ceil_log2(k), height)
        h = height - levels
        first = index << levels
        return [self.node(h, first + p) for p in range(1 << levels)]

    def proof(self, i: int) -> list[bytes]:
        return merkle.proof_from_levels(self.levels, i)


class TensorTree(HashTree):
    """The Merkle tree of a packed tensor's 256-byte leaves (phase 2), with the leaves' bytes."""

    def __init__(self, packed: bytes):
        self.packed = merkle.pad_to_leaves(bytes(packed))
        super().__init__(merkle.leaf_hashes(self.packed))
        self.count = merkle.n_leaves(len(self.packed))

    def leaf(self, i: int) -> bytes:
        return merkle.leaf_bytes(self.packed, i)


class RevealedTree:
    """The defender's trace tree as a challenger knows it at the bottom of phase 1: every node entirely left
    of the disputed step i is agreed (taken from the challenger's own tree), every node the defender revealed
    is known, and the rest hash up from those. Gives proofs of agreed records k < i in the defender's tree."""

    def __init__(self, mine: HashTree, revealed: dict[tuple[int, int], bytes], i: int, depth: int):
        self.mine, self.revealed, self.i, self.depth = mine, dict(revealed), i, depth

    def node(self, h: int, idx: int) -> bytes:
        key = (h, idx)
        if key in self.revealed:
            return self.revealed[key]
        if (idx + 1) << h <= self.i:
            return self.mine.node(h, idx)
        if h == 0:
            raise TreeError(f"leaf {idx} of the defender's trace is neither agreed nor revealed")
        v = merkle.node_hash(self.node(h - 1, 2 * idx), self.node(h - 1, 2 * idx + 1))
        self.revealed[key] = v
        return v

    def proof(self, k: int) -> list[bytes]:
        return [self.node(h, (k >> h) ^ 1) for h in range(self.depth)]


def leftmost_diff(
    revealed: Sequence[bytes], mine: Sequence[bytes], first: int, child_height: int, count: int
) -> int | None:
    """The child an honest challenger picks: the leftmost revealed child (within the tree's `count`
    leaves) that differs from its own; None if all agree."""
    for p, (a, b) in enumerate(zip(revealed, mine)):
        if ((first + p) << child_height) >= count:
            break
        if a != b:
            return p
    return None


# -- step openings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOpening:
    """A step record's preimage: instruction hash, operand roots and the output header."""

    instr_hash: bytes
    operand_roots: tuple[bytes, ...]
    dtype: int
    shape: tuple[int, ...]
    merkle_root: bytes

    @property
    def output_root(self) -> bytes:
        return merkle.tensor_root_hash(self.dtype, self.shape, self.merkle_root)

    def record(self, i: int) -> bytes:
        return step_record(i, self.instr_hash, list(self.operand_roots), self.output_root)

    def as_source(self) -> tuple:
        """The (instrHash, operandRoots, outputRoot) tuple the prove_* functions take for a source step."""
        return (self.instr_hash, list(self.operand_roots), self.output_root)


def opening_diff(mine: StepOpening, theirs: StepOpening) -> tuple | None:
    """How an honest challenger (mine = the true opening) wins against theirs:
    ("instruction",) | ("operand_count",) | ("operand", m) | ("header",) | ("output",) | None (equal)."""
    if mine.instr_hash != theirs.instr_hash:
        return ("instruction",)
    if len(mine.operand_roots) != len(theirs.operand_roots):
        return ("operand_count",)
    for m, (a, b) in enumerate(zip(mine.operand_roots, theirs.operand_roots)):
        if a != b:
            return ("operand", m)
    if mine.dtype != theirs.dtype or tuple(mine.shape) != tuple(theirs.shape):
        return ("header",)
    if mine.merkle_root != theirs.merkle_root:
        return ("output",)
    return None
