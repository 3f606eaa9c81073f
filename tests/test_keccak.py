"""The compiled commitment code (prover.commit.keccak) against its references: pysha3 for keccak256,
prover.commit.merkle for tensor roots and trees, and a plain-Python tracer (prover.commit.step_record and
merkle.MerkleBuilder, one step at a time) for the batched Tracer."""

from __future__ import annotations

import numpy as np
import pytest
import sha3
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.generate import GenSettings
from engine.values import Rows
from fixedpoint import FixedPointOverflow
from prover.commit import keccak as K
from prover.commit import merkle
from prover.commit.model import KVTree, commit_value, model_commitment, run_root, step_record, token_root
from prover.commit.trace import Corruption, Tracer
from prover.runner import traced_generate

I32 = (-(1 << 31), (1 << 31) - 1)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=700))
def test_keccak256_equals_pysha3(data):
    assert K.keccak256(data) == sha3.keccak_256(data).digest()


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(0, 90).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)))
def test_word_keccak_equals_pysha3_at_every_block_boundary(data):
    out = np.zeros(8, np.uint32)
    K.keccak_words(K.words(data), len(data) // 4, np.zeros(25, np.uint64), out, 0)
    assert out.tobytes() == sha3.keccak_256(data).digest()


def test_byte_keccak_with_scratch_past_the_message():
    rng = np.random.default_rng(1)
    for n in (0, 1, 76, 135, 136, 137, 205, 271, 272):
        buf = rng.integers(0, 256, (n // 136 + 1) * 136, dtype=np.uint8)  # garbage past n must not matter
        out = np.zeros(8, np.uint32)
        K.keccak_bytes(buf, n, np.zeros(25, np.uint64), out, 0)
        assert out.tobytes() == sha3.keccak_256(bytes(buf[:n])).digest(), n


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=0, max_size=3), st.integers(0, 2**32 - 1), st.booleans())
def test_i32_tensor_root_equals_merkle_tensor_root(shape, seed, edges):
    rng = np.random.default_rng(seed)
    shape = tuple(shape) + (int(rng.integers(0, 200)),)
    a = rng.integers(*I32, shape, endpoint=True)
    if edges and a.size:
        a.reshape(-1)[:2] = I32[: a.reshape(-1)[:2].size]
    assert merkle.tensor_root_i32(a) == merkle.tensor_root(a, "i32", a.shape)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1300), min_size=1, max_size=20), st.integers(0, 2**32 - 1))
def test_merkle_many_equals_merkle_root_per_tensor(sizes, seed):
    """The 8-way batched trees (partial batches, odd levels, empty tensors, skipped ones) give each tensor's
    merkle_root over its i32 packing, and the 8-way permutation equals pysha3 lane by lane."""
    rng = np.random.default_rng(seed)
    vals = rng.integers(*I32, sum(sizes), endpoint=True)
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    skip = rng.integers(0, 2, len(sizes)).astype(np.bool_)
    roots = np.zeros((len(sizes), 8), np.uint32)
    K.merkle_many(vals, offs, skip, merkle.ZERO_WORDS, roots)
    for j, n in enumerate(sizes):
        want = bytes(32) if skip[j] else merkle.merkle_root(merkle.pack(vals[offs[j] : offs[j + 1]], "i32"))
        assert (roots[j].tobytes() if not skip[j] else bytes(32)) == want, (j, n)


@pytest.mark.parametrize("bad", [I32[1] + 1, I32[0] - 1, 2**62])
def test_i32_tensor_root_refuses_values_outside_i32_like_pack(bad):
    a = np.arange(100, dtype=np.int64)
    a[37] = bad
    with pytest.raises(FixedPointOverflow) as short:
        merkle.tensor_root_i32(a)
    with pytest.raises(FixedPointOverflow) as general:
        merkle.tensor_root(a, "i32", a.shape)
    assert str(short.value) == str(general.value)


@settings(max_examples=examples(40), deadline=None)
@given(
    st.integers(1, 70),
    st.integers(1, 40),
    st.lists(st.integers(1, 9), min_size=1, max_size=8),
    st.integers(0, 2**32 - 1),
)
def test_dense_kv_tree_equals_the_reference_tree(width, capacity, steps, seed):
    """Rows appended in bursts (a sync may cover several rows, and rows straddle leaves): every node of the dense
    tree equals merkle.FixedCapacityTree's over the same leaves, and the root is the one-shot commitment."""
    rng = np.random.default_rng(seed)
    rows, t = Rows.empty(capacity, width), KVTree(capacity, width)
    ref = merkle.FixedCapacityTree(t.depth)
    for k in steps:
        for _ in range(min(k, capacity - rows.n)):
            rows = rows.appended(rng.integers(*I32, width, endpoint=True), rows.n)
        t.sync(rows)
        packed = merkle.pack(rows.to_array(), "i32")
        for i, h in enumerate(merkle.leaf_hashes(packed)):
            ref.set_leaf_hash(i, h)
        for lvl in range(t.depth + 1):
            for i in range(1 << (t.depth - lvl)):
                assert t.node(lvl, i) == ref.node(lvl, i)
        assert t.root() == merkle.tensor_root(rows.to_array(), "i32", (capacity, width)) == commit_value(rows)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 70), st.integers(2, 11), st.integers(0, 2**32 - 1))
def test_pooled_kv_trees_synced_together_equal_their_one_by_one_trees(capacity, width, m, seed):
    """KVPool.sync (m trees of one shape, 8 hashes at a time, appends of different lengths) gives every node of
    each tree as KVTree.sync does alone."""
    from prover.commit.values import KVPool

    rng = np.random.default_rng(seed)
    pool = KVPool(m, capacity, width)
    trees = [pool.tree(k) for k in range(m)]
    alone = [KVTree(capacity, width) for _ in range(m)]
    caches = [Rows.empty(capacity, width) for _ in range(m)]
    while any(c.n < capacity for c in caches):
        for k in range(m):
            for _ in range(min(int(rng.integers(0, 3)), capacity - caches[k].n)):
                caches[k] = caches[k].appended(rng.integers(*I32, width, endpoint=True), caches[k].n)
        pool.sync(list(zip(trees, caches)))
        for k in range(m):
            alone[k].sync(caches[k])
            assert trees[k].rows == caches[k].n
            assert np.array_equal(trees[k].nodes, alone[k].nodes) and trees[k].root() == alone[k].root()


def test_kv_row_outside_i32_raises_and_changes_nothing():
    rows, t = Rows.empty(8, 70), KVTree(8, 70)
    rows = rows.appended(np.arange(70), 0)
    t.sync(rows)
    before = t.nodes.copy()
    rows = rows.appended(np.full(70, 1 << 31), 1)
    with pytest.raises(FixedPointOverflow):
        t.sync(rows)
    assert np.array_equal(t.nodes, before) and t.rows == 1


class PlainTracer:
    """The trace as docs/encoding.md states it, one step at a time with prover.commit.model and prover.commit.merkle."""

    transform = None

    def __init__(self, program, mc, run):
        self.program, self.mc, self.run_root = program, mc, run_root(run)
        self.builder = merkle.MerkleBuilder()
        self.out_roots, self.records, self.cur, self.prev = [], [], {}, {}

    def on_step(self, step, token, index, ins, args, out):
        roots = []
        for r, a in zip(ins.inputs, args):
            roots.append(
                self.mc.weight_roots[r.name]
                if r.kind == "weight"
                else self.cur[r.name]
                if r.kind == "local"
                else token_root(int(a[0]))
                if r.kind == "token"
                else self.run_root
                if r.kind == "run"
                else self.prev.get(r.name) or commit_value(a)
            )
        out_root = commit_value(out)
        rec = step_record(step, self.mc.instr_hashes[index], roots, out_root)
        self.builder.push(rec)
        self.out_roots.append(out_root)
        self.records.append(rec)
        self.cur[ins.name] = out_root
        if index == len(self.program.instrs) - 1:
            self.prev, self.cur = self.cur, {}


def test_batched_tracer_equals_the_plain_tracer(lm):
    settings_ = GenSettings(max_new_tokens=4)
    run = settings_.run_tensor()
    mc = model_commitment(lm)
    plain, fast = PlainTracer(lm.program, mc, run), Tracer(lm.program, mc, run)
    ea, eb = lm.executor(plain), lm.executor(fast)
    for tok in (5, 17, 99, 120, 3, 250):
        ea.step_token(tok, run)
        eb.step_token(tok, run)
        assert fast.out_roots == plain.out_roots and fast.records == plain.records
        assert fast.root() == plain.builder.root() and fast.step_count == plain.builder.count


def test_an_output_outside_i32_fails_the_run_with_the_packing_error(lm):
    S = lm.program.steps_per_token
    step = S + next(i for i, ins in enumerate(lm.program.instrs) if ins.op == "rmsnorm")
    with pytest.raises(FixedPointOverflow, match="outside"):
        traced_generate(lm, [5, 17, 99], GenSettings(max_new_tokens=1), corrupt=Corruption(step, 3, 1 << 40))
