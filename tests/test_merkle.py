"""prover.commit.merkle: the byte encoding of docs/encoding.md and the tree properties, in Python alone."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from hypo import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from fixedpoint.errors import FixedPointOverflow, FixedPointTypeError
from prover.commit import merkle as mk


def k256(b: bytes) -> bytes:
    """keccak256 from a second, independent library (pycryptodome)."""
    return pycryptodome_keccak.new(digest_bits=256, data=b).digest()


def naive_root(leaves: list[bytes]) -> bytes:
    """The tree of docs/encoding.md written out literally: pad with zero leaves to P, hash pairs."""
    p = 1
    while p < len(leaves):
        p *= 2
    level = [k256(b"leaf" + leaf) for leaf in leaves + [bytes(256)] * (p - len(leaves))]
    while len(level) > 1:
        level = [k256(b"node" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# -- encoding -------------------------------------------------------------------------------------


def test_hashes_are_tagged_keccak256():
    leaf = os.urandom(256)
    assert mk.leaf_hash(leaf) == k256(b"leaf" + leaf)
    a, b = os.urandom(32), os.urandom(32)
    assert mk.node_hash(a, b) == k256(b"node" + a + b) != mk.node_hash(b, a)
    assert mk.zero_hash(0) == k256(b"leaf" + bytes(256))
    for h in range(1, 64):
        assert mk.zero_hash(h) == k256(b"node" + mk.zero_hash(h - 1) * 2)
    assert mk.zero_hash(64) == bytes(32)
    # a known answer, so a change of hash function or tag cannot go unnoticed
    assert mk.zero_hash(0).hex() == "7839d5dae0f837fa808fc01fd0f86c10cb9a1432fa74d5b8b0b07d9e535f0746"


def test_pack_is_big_endian_twos_complement_row_major_zero_padded():
    assert mk.pack([1, -1, 256], "i16") == b"\x00\x01\xff\xff\x01\x00" + bytes(250)
    assert mk.pack([-2], "i8") == b"\xfe" + bytes(255)
    assert mk.pack([-(1 << 63)], "i64")[:8] == b"\x80" + bytes(7)
    assert mk.pack([0x01020304], "i32")[:4] == b"\x01\x02\x03\x04"
    a = np.arange(6).reshape(2, 3)
    assert mk.pack(np.asfortranarray(a), "i32") == mk.pack(a, "i32")  # row-major whatever the layout
    assert mk.pack(a, "i32")[:24] == b"".join(int(v).to_bytes(4, "big") for v in range(6))
    assert len(mk.pack(np.zeros(64, np.int64), "i32")) == 256
    assert len(mk.pack(np.zeros(65, np.int64), "i32")) == 512
    assert mk.pack(b"\x01\x02", "raw") == b"\x01\x02" + bytes(254)
    assert mk.pack(np.zeros((0, 4), np.int64), "i32") == b""


@pytest.mark.parametrize(
    "dtype,bad", [("i8", 128), ("i8", -129), ("i16", 1 << 15), ("i32", -(1 << 31) - 1), ("i64", 1 << 63)]
)
def test_pack_refuses_values_outside_the_width(dtype, bad):
    with pytest.raises(FixedPointOverflow):
        mk.pack([0, bad], dtype)


def test_pack_refuses_non_integers_and_unknown_types():
    with pytest.raises(FixedPointTypeError):
        mk.pack(np.array([1.0]), "i32")
    with pytest.raises(FixedPointTypeError):
        mk.pack(np.array([1], np.int32), "raw")
    with pytest.raises(ValueError):
        mk.pack([1], "i12")


def test_merkle_root_matches_the_literal_definition():
    for n_bytes in (0, 1, 255, 256, 257, 3 * 256, 5 * 256 - 7, 17 * 256):
        data = os.urandom(n_bytes)
        padded = mk.pad_to_leaves(data)
        leaves = [padded[i : i + 256] for i in range(0, len(padded), 256)] or [bytes(256)]
        assert mk.merkle_root(data) == mk.merkle_root(padded) == naive_root(leaves), n_bytes


def test_tensor_root_binds_dtype_shape_and_root():
    a = np.arange(12).reshape(3, 4)
    root = mk.merkle_root(mk.pack(a, "i32"))
    head = b"tensor" + bytes([3, 2]) + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert mk.tensor_root(a, "i32") == k256(head + root)
    assert mk.tensor_root(a, "i32") == mk.tensor_root(mk.pack(a, "i32"), "i32", (3, 4))
    assert mk.tensor_root(a, "i32") != mk.tensor_root(a.reshape(4, 3), "i32")
    assert mk.tensor_root(a, "i32") != mk.tensor_root(a.reshape(12), "i32")
    assert mk.tensor_root(a, "i32") != mk.tensor_root(a, "i64")
    with pytest.raises(ValueError):
        mk.tensor_root(mk.pack(a, "i32"), "i32", (100, 4))  # more elements than the bytes hold
    with pytest.raises(ValueError):
        mk.tensor_root(mk.pack(a, "i32"), "i32", (2, 4))  # non-zero bytes past the elements
    with pytest.raises(ValueError):
        mk.tensor_root(a, "i32", (4, 3))  # shape disagrees with the array


def test_read_element_inverts_pack():
    vals = [-(1 << 31), -1, 0, 1, (1 << 31) - 1]
    leaf = mk.pack(vals, "i32")
    assert [mk.read_element(leaf, "i32", i) for i in range(5)] == vals
    assert mk.read_element(leaf, "i32", 64) == 0 and mk.read_element(leaf, "i32", -1) == 0
    assert mk.read_element(b"\xff\x01" + bytes(254), "raw", 0) == 255
    assert mk.read_element(b"\xff\x01" + bytes(254), "i8", 0) == -1


# -- properties -----------------------------------------------------------------------------------

DTYPES = ["i8", "i16", "i32", "i64"]


@st.composite
def tensors(draw, max_elems=700):
    dtype = draw(st.sampled_from(DTYPES))
    bits = 8 * mk.DTYPE_WIDTH[dtype]
    n = draw(st.integers(1, max_elems))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    vals = rng.integers(lo, hi, size=n, dtype=np.int64, endpoint=True)
    return dtype, vals


@settings(max_examples=examples(30), deadline=None)
@given(t=tensors(), data=st.data())
def test_flipping_any_single_element_changes_the_root(t, data):
    dtype, vals = t
    root = mk.tensor_root(vals, dtype)
    bits = 8 * mk.DTYPE_WIDTH[dtype]
    for i in data.draw(st.lists(st.integers(0, len(vals) - 1), min_size=1, max_size=8)):
        bit = data.draw(st.integers(0, bits - 1))
        flipped = vals.copy()
        # flip one bit of element i within its width (as a two's complement value of `bits` bits)
        u = (int(flipped[i]) & ((1 << bits) - 1)) ^ (1 << bit)
        flipped[i] = u - (1 << bits) if u >> (bits - 1) else u
        assert mk.tensor_root(flipped, dtype) != root, (i, bit)


@settings(max_examples=examples(30), deadline=None)
@given(t=tensors(max_elems=3000), data=st.data())
def test_every_proof_verifies_and_any_corruption_fails(t, data):
    dtype, vals = t
    packed = mk.pack(vals, dtype)
    root = mk.merkle_root(packed)
    n = len(packed) // 256
    i = data.draw(st.integers(0, n - 1))
    leaf = packed[256 * i : 256 * (i + 1)]
    proof = mk.leaf_proof(packed, i)
    assert len(proof) == (n - 1).bit_length()
    assert mk.verify_proof(root, leaf, i, proof)
    # wrong index: another index below 2^depth, or one past the depth, or negative
    if len(proof):
        j = data.draw(st.integers(0, (1 << len(proof)) - 1).filter(lambda j: j != i))
        assert not mk.verify_proof(root, leaf, j, proof)
    assert not mk.verify_proof(root, leaf, i + (1 << len(proof)), proof)
    assert not mk.verify_proof(root, leaf, -1, proof)
    # wrong sibling at any level
    for lvl in range(len(proof)):
        bad = list(proof)
        bad[lvl] = bytes([proof[lvl][0] ^ 1]) + proof[lvl][1:]
        assert not mk.verify_proof(root, leaf, i, bad)
    # wrong leaf byte, truncated, extended, dropped or extra proof level
    pos = data.draw(st.integers(0, 255))
    assert not mk.verify_proof(root, leaf[:pos] + bytes([leaf[pos] ^ 0x80]) + leaf[pos + 1 :], i, proof)
    assert not mk.verify_proof(root, leaf[:255], i, proof)
    assert not mk.verify_proof(root, leaf + b"\0", i, proof)
    if proof:
        assert not mk.verify_proof(root, leaf, i, proof[:-1])
    assert not mk.verify_proof(root, leaf, i, proof + [mk.zero_hash(len(proof))])


@settings(max_examples=examples(20), deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_builder_equals_one_shot_root(n, seed):
    rnd = random.Random(seed)
    hashes = [rnd.randbytes(32) for _ in range(n)]
    b = mk.MerkleBuilder()
    roots = []
    for h in hashes:
        b.push(h)
        roots.append(b.root())
    assert b.count == n
    assert b.root() == mk.hash_tree_root(hashes)
    for m in sorted({1, n // 3, n // 2, n} & set(range(1, n + 1))):  # the root after m pushes is the root of the prefix
        assert roots[m - 1] == mk.hash_tree_root(hashes[:m])
    assert len(b.frontier) <= max(1, n.bit_length())  # O(log n) state


def test_builder_of_leaf_bytes_equals_merkle_root_and_empty_is_z0():
    data = os.urandom(256 * 13)
    b = mk.MerkleBuilder()
    for i in range(13):
        b.push_leaf(data[256 * i : 256 * (i + 1)])
    assert b.root() == mk.merkle_root(data)
    assert mk.MerkleBuilder().root() == mk.zero_hash(0) == mk.merkle_root(b"")
    with pytest.raises(ValueError):
        b.push_leaf(bytes(255))


def test_tree_node_and_hash_proofs_agree_with_the_levels():
    rnd = random.Random(7)
    hashes = [rnd.randbytes(32) for _ in range(37)]
    levels = mk.tree_levels(hashes)
    assert len(levels) == 7 and levels[-1] == [mk.hash_tree_root(hashes)]
    for lvl in range(len(levels)):
        for idx in range(len(levels[lvl])):
            assert mk.tree_node(hashes, lvl, idx) == levels[lvl][idx], (lvl, idx)
    assert mk.tree_node(hashes, 3, 5) == mk.zero_hash(3)  # entirely past the end: the empty subtree
    assert mk.tree_node(hashes, 6, 0) == mk.hash_tree_root(hashes)
    for i in (0, 1, 20, 36):
        assert mk.verify_hash_proof(levels[-1][0], hashes[i], i, mk.hash_proof(hashes, i))
    with pytest.raises(IndexError):
        mk.hash_proof(hashes, 37)


@settings(max_examples=examples(20), deadline=None)
@given(
    depth=st.integers(0, 7),
    ops=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 2**32 - 1)), min_size=1, max_size=40),
)
def test_fixed_capacity_updates_equal_recompute(depth, ops):
    t = mk.FixedCapacityTree(depth)
    buf = bytearray(256 << depth)
    for i, seed in ops:
        i %= t.capacity
        leaf = random.Random(seed).randbytes(256)
        buf[256 * i : 256 * (i + 1)] = leaf
        assert t.set_leaf(i, leaf) == t.root() == mk.merkle_root(bytes(buf))
    for i in range(t.capacity):
        assert mk.verify_proof(t.root(), bytes(buf[256 * i : 256 * (i + 1)]), i, t.proof(i))
    for n in range(t.size, t.capacity + 1):  # any prefix covering every set leaf
        assert t.prefix_root(n) == mk.merkle_root(bytes(buf[: 256 * n])), n
    with pytest.raises(ValueError):
        t.prefix_root(t.size - 1)


@settings(max_examples=examples(30), deadline=None)
@given(
    depth=st.integers(0, 7),
    runs=st.lists(
        st.tuples(st.integers(0, 127), st.integers(1, 9), st.integers(0, 2**32 - 1)), min_size=1, max_size=12
    ),
)
def test_fixed_capacity_range_updates_equal_recompute(depth, runs):
    """set_leaf_hashes(lo, [...]) == the same leaves set one by one == a one-shot root, with fewer hashes."""
    t, ref = mk.FixedCapacityTree(depth), mk.FixedCapacityTree(depth)
    buf = bytearray(256 << depth)
    for lo, n, seed in runs:
        lo %= t.capacity
        n = min(n, t.capacity - lo)
        rnd = random.Random(seed)
        leaves = [rnd.randbytes(256) for _ in range(n)]
        for k, leaf in enumerate(leaves):
            buf[256 * (lo + k) : 256 * (lo + k + 1)] = leaf
            ref.set_leaf(lo + k, leaf)
        assert t.set_leaf_hashes(lo, [mk.leaf_hash(x) for x in leaves]) == ref.root() == mk.merkle_root(bytes(buf))
        assert t.size == ref.size
    for i in range(0, t.capacity, 7):
        assert t.proof(i) == ref.proof(i)
    with pytest.raises(IndexError):
        t.set_leaf_hashes(t.capacity - 1, [mk.ZERO[0]] * 2)


def test_fixed_capacity_append_rows_like_a_kv_cache():
    ctx, width = 16, 64  # one i32 row per leaf
    t = mk.FixedCapacityTree(4)
    cache = np.zeros((ctx, width), np.int64)
    rng = np.random.default_rng(3)
    for pos in range(ctx):
        cache[pos] = rng.integers(-(2**31), 2**31, size=width)
        t.set_leaf(pos, mk.pack(cache[pos], "i32"))
        assert t.root() == mk.merkle_root(mk.pack(cache, "i32"))


def test_one_megabyte_costs_one_keccak_per_leaf_and_node(monkeypatch):
    """1 MB = 4096 leaves: 4096 leaf hashes + 4095 node hashes, and nothing else hashed."""
    calls = []
    real = mk._keccak

    def counting(data=b""):
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(mk, "_keccak", counting)
    data = np.random.default_rng(0).integers(-(2**31), 2**31, size=1 << 18)
    mk.merkle_root(mk.pack(data, "i32"))
    assert len(calls) == 4096 + 4095
    assert calls.count(260) == 4096 and calls.count(68) == 4095


@settings(max_examples=examples(60), deadline=None)
@given(
    shape=st.lists(st.integers(0, 70), min_size=0, max_size=3),
    edge=st.sampled_from([0, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 12345]),
    seed=st.integers(0, 2**32 - 1),
)
def test_short_i32_root_equals_the_general_path(shape, edge, seed):
    """The tracer's short path (tensor_root_i32) gives tensor_root's value, or raises the same error."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-(2**31), 2**31, size=shape, dtype=np.int64)
    if a.size:
        a.reshape(-1)[rng.integers(a.size)] = edge
    try:
        want = mk.tensor_root(a, "i32", a.shape)
    except FixedPointOverflow:
        with pytest.raises(FixedPointOverflow):
            mk.tensor_root_i32(a)
        return
    assert mk.tensor_root_i32(a) == want
