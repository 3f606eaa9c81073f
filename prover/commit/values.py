"""Committed values: the one place that knows an engine value's committed form (docs/encoding.md).

An engine value is an int array (an activation, committed i32; RUN, i64) or a KV cache (engine.values.Rows,
committed as its logical (capacity, width) i32 tensor through an incremental KVTree). Everything in prover/ that
packs, commits, shapes or reads an element of a step's value goes through these functions.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence  # noqa: F401
from typing import Any

import numpy as np

from engine.values import Rows
from fixedpoint.errors import FixedPointOverflow

from . import keccak as _kk
from . import merkle

ACT_DTYPE = "i32"  # every activation is saturated to <= 32 bits


def is_cache(value: Any) -> bool:
    """True for a KV cache (its tree is a KVTree, updated row by row)."""
    return isinstance(value, Rows)


def as_array(value: Any) -> np.ndarray:
    """The value's full logical tensor as an int64 array (a KV cache materialized: tests and small models)."""
    return value.to_array() if isinstance(value, Rows) else np.asarray(value)


def shape_of(value: Any) -> tuple[int, ...]:
    """The value's logical shape (a weight's (rows, cols), a KV cache's (capacity, width))."""
    s = getattr(value, "shape", None)
    return tuple(int(d) for d in s) if s is not None else tuple(np.asarray(value).shape)


def element_of(value: Any, j: int) -> int:
    """Flat element j of the value (a KV cache read without materializing it)."""
    if isinstance(value, Rows):
        r, c = divmod(j, value.shape[1])
        return value.get(r, c)
    return int(np.asarray(value).reshape(-1)[j])


def packed_i32(value: Any) -> bytes:
    """The value's committed bytes (i32 big-endian, row-major, zero-padded to whole leaves)."""
    return merkle.pack(as_array(value), ACT_DTYPE)


def commit_value(value: Any, dtype: str = ACT_DTYPE) -> bytes:
    """tensor_root of an engine value: an int array, or a KV cache (its full logical tensor)."""
    if isinstance(value, Rows):
        return KVTree.of(value).root()
    a = np.asarray(value)
    if dtype == "i32" and a.dtype == np.int64 and a.ndim <= 8:  # every engine activation: the short path
        return merkle.tensor_root_i32(a)
    return merkle.tensor_root(a, dtype, a.shape)


class KVTree:
    """The commitment of a KV cache (capacity, width) i32, updated row by row: an append hashes only the leaves
    holding the new rows and the paths above them, once each (compiled, prover.commit.keccak.dense_set_leaves).

    The tree is dense (every node stored, 32 bytes each: 2 x 32 x leaves, ~256 KB for a 1024 x 192 cache) and
    equals merkle.FixedCapacityTree / merkle_root over the same packing (tested)."""

    ELEM = 4

    def __init__(self, capacity: int, width: int, pool: KVPool | None = None, slot: int = 0):
        self.capacity, self.width = capacity, width
        self.pool, self.slot = pool, slot  # a pooled tree's nodes are rows of pool.nodes (KVPool.sync)
        total = capacity * width * self.ELEM
        n_leaves = max(1, -(-total // merkle.LEAF_BYTES))
        self.depth = merkle.ceil_log2(n_leaves)
        sizes = [1 << (self.depth - lvl) for lvl in range(self.depth + 1)]
        self.offs = np.cumsum([0] + sizes[:-1]).astype(np.int64)  # level l's nodes are rows offs[l] + index
        total_nodes = sum(sizes)
        if pool is None:
            self.nodes = np.empty((total_nodes, 8), np.uint32)
        else:
            self.nodes = pool.nodes[slot * total_nodes : (slot + 1) * total_nodes]
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
        # the stored rows as one flat array: a view of the (int32, C-ordered) buffer, no per-token copy
        flat = rows.buf[: rows.n].reshape(-1)
        if flat.dtype != np.int32 and flat.dtype != np.int64:
            flat = flat.astype(np.int64)
        if not _kk.dense_set_leaves(self.nodes, self.offs, self.depth, flat, flat.size, lo, hi):
            mn, mx = int(flat.min()), int(flat.max())
            raise FixedPointOverflow(f"pack(i32): values [{mn}, {mx}] outside [{-(1 << 31)}, {(1 << 31) - 1}]")
        self.rows = rows.n

    def node(self, level: int, index: int) -> bytes:
        """Node ``index`` at height ``level`` (0 = leaves) of the cache's full tree."""
        node: bytes = self.nodes[self.offs[level] + index].tobytes()
        return node

    def root(self) -> bytes:
        return merkle.keccak(self._head + self.node(self.depth, 0))


class KVPool:
    """The trees of up to m KV caches of one shape in one node array, so that the appends of a whole position are
    hashed together, 8 leaves or nodes at a time (prover.commit.keccak.dense_set_many), as KVTree.sync would
    one tree at a time (the same nodes)."""

    def __init__(self, m: int, capacity: int, width: int):
        self.m, self.capacity, self.width = m, capacity, width
        proto = KVTree(capacity, width)
        self.total, self.offs, self.depth = proto.nodes.shape[0], proto.offs, proto.depth
        self.nodes = np.empty((m * self.total, 8), np.uint32)

    def tree(self, slot: int) -> KVTree:
        """A fresh (empty) tree in slot ``slot`` (its nodes reset)."""
        return KVTree(self.capacity, self.width, self, slot)

    def sync(self, pairs: list[tuple[KVTree, Any]]) -> None:
        """t.sync(rows) for every (t, rows) of this pool's trees, all in one compiled call."""
        todo = [(t, r) for t, r in pairs if r.n != t.rows]
        if len(todo) < 2 or any(t.pool is not self or r.n < t.rows or r.buf.dtype.kind != "i" for t, r in todo):
            for t, r in todo:
                t.sync(r)
            return
        rb = self.width * KVTree.ELEM
        lo = np.array([(t.rows * rb) // merkle.LEAF_BYTES for t, _ in todo], np.int64)
        hi = np.array([-(-(r.n * rb) // merkle.LEAF_BYTES) for _, r in todo], np.int64)
        stage = np.zeros((len(todo), 64 * int((hi - lo).max())), np.int64)
        for k, (_, r) in enumerate(todo):
            seg = r.buf[: r.n].reshape(-1)[64 * lo[k] : 64 * hi[k]]
            stage[k, : seg.size] = seg
        ids = np.array([t.slot for t, _ in todo], np.int64)
        if not _kk.dense_set_many(self.nodes, self.total, self.offs, self.depth, ids, stage, lo, hi):
            for t, r in todo:
                t.sync(r)  # raises the FixedPointOverflow that names the values
            return
        for t, r in todo:
            t.rows = r.n


def raw_shape(w: Any) -> tuple[int, ...]:
    """Shape under which a raw weight is committed: (rows, bytes per row) for matrices, (bytes,) for vectors."""
    if len(w.shape) == 2:
        return (w.shape[0], w.raw.size // w.shape[0])
    return (w.raw.size,)


# -- committed tensors as a witness opens them ---------------------------------------------------------


LEAF = merkle.LEAF_BYTES


class Source:
    """A committed tensor: header, leaf bytes and tree nodes on demand."""

    dtype: str
    shape: tuple[int, ...]

    def leaf(self, i: int) -> bytes:
        raise NotImplementedError

    def node(self, level: int, index: int) -> bytes:
        raise NotImplementedError

    @property
    def width(self) -> int:
        return merkle.DTYPE_WIDTH[self.dtype]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.width

    @property
    def depth(self) -> int:
        return merkle.tree_depth(self.nbytes)

    def root(self) -> bytes:
        return self.node(self.depth, 0)


class _Packed(Source):
    """A tensor packed whole (activations, RUN, RoPE tables, raw weights): levels of its tree kept."""

    def __init__(self, packed: bytes, dtype: str, shape: tuple[int, ...]):
        self.packed, self.dtype, self.shape = packed, dtype, tuple(int(d) for d in shape)
        self.levels = merkle.tree_levels(merkle.leaf_hashes(packed))

    def leaf(self, i: int) -> bytes:
        return merkle.leaf_bytes(self.packed, i)

    def node(self, level: int, index: int) -> bytes:
        lv = self.levels[level]
        return lv[index] if index < len(lv) else merkle.ZERO[level]


class _KV(Source):
    """A KV cache (capacity, width) i32: only its stored rows are packed; its tree is a KVTree."""

    dtype = "i32"

    def __init__(self, rows: Rows):
        self.rows = rows
        self.shape = rows.shape
        self.tree = KVTree.of(rows)

    def leaf(self, i: int) -> bytes:
        rb = self.shape[1] * 4
        lo, hi = i * LEAF, (i + 1) * LEAF
        r0, r1 = lo // rb, min(self.rows.n, -(-hi // rb))
        if r0 >= r1:
            return bytes(LEAF)
        data = merkle.pack(self.rows.buf[r0:r1].astype(np.int64), "i32")[lo - r0 * rb : hi - r0 * rb]
        return data + bytes(LEAF - len(data))

    def node(self, level: int, index: int) -> bytes:
        return self.tree.node(level, index)


_WEIGHT_SOURCES: dict[int, Source] = {}  # id(weight) -> its whole-tensor tree, dropped with the weight


def _weight_source(w: Any) -> Source:
    """A weight's committed tensor, built once per weight object (its tree is what every witness opens)."""
    cached = _WEIGHT_SOURCES.get(id(w))
    if cached is None:
        if hasattr(w, "raw"):
            cached = _Packed(np.ascontiguousarray(w.raw).tobytes(), "raw", raw_shape(w))
        else:
            cached = _Packed(merkle.pack(w.data, "i32"), "i32", w.data.shape)
        _WEIGHT_SOURCES[id(w)] = cached
        weakref.finalize(w, _WEIGHT_SOURCES.pop, id(w), None)
    return cached


def operand_source(kind: str, value: Any) -> Source:
    """The committed tensor of an operand value of this kind (see the module docstring)."""
    if kind == "weight":
        return _weight_source(value)
    if is_cache(value):
        return _KV(value)
    a = np.asarray(value)
    dtype = "i64" if kind == "run" else "i32"
    return _Packed(merkle.pack(a, dtype), dtype, a.shape)
