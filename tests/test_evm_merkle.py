"""Merkle.sol == prover.commit.merkle on anvil: shared vectors, random tensors, malformed input gives false
(never a revert), and the gas of leafHash and of verifyProof per level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prover.commit import merkle as mk

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "merkle.json").read_text())
TENSORS = VECTORS["tensors"]


def h2b(x: str) -> bytes:
    return bytes.fromhex(x[2:])


@pytest.fixture(scope="module")
def mh(chain):
    return chain.deploy("MerkleHarness")


def test_vectors_are_current():
    """The file agrees with prover.commit.merkle (regenerate with scripts/gen_vectors.py if this fails)."""
    assert [h2b(z) for z in VECTORS["zero_hashes"]] == mk.ZERO
    for t in TENSORS:
        vals = [int(v) for v in t["values"]]
        arr = np.array(vals, dtype=np.uint8 if t["dtype"] == "raw" else np.int64).reshape(t["shape"])
        packed = mk.pack(arr, t["dtype"])
        assert packed == h2b(t["packed"]), t["name"]
        assert mk.merkle_root(packed) == h2b(t["merkle_root"]), t["name"]
        assert mk.tensor_root(arr, t["dtype"]) == h2b(t["tensor_root"]), t["name"]
        for p in t["proofs"]:
            leaf = mk.leaf_bytes(packed, p["index"])
            assert mk.verify_proof(h2b(t["merkle_root"]), leaf, p["index"], [h2b(s) for s in p["siblings"]])


def test_zero_hash_table(chain, mh):
    got = chain.call_many([(mh, "zeroHash", (h,)) for h in range(66)])
    assert got == mk.ZERO + [bytes(32), bytes(32)]
    assert [chain.call(mh, "zeroHash", h) for h in (64, 1000, 2**256 - 1)] == [mk.zero_hash(64)] * 3


@pytest.mark.parametrize("t", TENSORS, ids=[t["name"] for t in TENSORS])
def test_vector_tensor_on_evm(chain, mh, t):
    packed, root = h2b(t["packed"]), h2b(t["merkle_root"])
    n = len(t["leaf_hashes"])
    leaves = [mk.leaf_bytes(packed, i) for i in range(n)]
    calls = [(mh, "merkleRoot", (packed,)), (mh, "tensorRoot", (t["dtype_code"], t["shape"], root))]
    calls += [(mh, "leafHash", (leaf,)) for leaf in leaves]
    for p in t["proofs"]:
        sib = [h2b(s) for s in p["siblings"]]
        i = p["index"]
        calls += [
            (mh, "verifyLeaf", (root, leaves[i], i, sib)),
            (mh, "verifyProof", (root, h2b(t["leaf_hashes"][i]), i, sib)),
        ]
    got = chain.call_many(calls)
    assert got[0] == root
    assert got[1] == h2b(t["tensor_root"])
    assert got[2 : 2 + n] == [h2b(h) for h in t["leaf_hashes"]]
    assert all(v is True for v in got[2 + n :])
    # every element reads back through readElement from its leaf
    w = mk.DTYPE_WIDTH[t["dtype"]]
    per_leaf = 256 // w
    vals = [int(v) for v in t["values"]]
    reads = chain.call_many(
        [(mh, "readElement", (leaves[j // per_leaf], t["dtype_code"], j % per_leaf)) for j in range(len(vals))]
    )
    assert reads == vals


def test_malformed_proofs_return_false_without_reverting(chain, mh):
    t = next(t for t in TENSORS if t["name"] == "i32_17_leaves")
    packed, root = h2b(t["packed"]), h2b(t["merkle_root"])
    p = t["proofs"][1]
    i, sib = p["index"], [h2b(s) for s in p["siblings"]]
    leaf = mk.leaf_bytes(packed, i)
    depth = len(sib)
    flip = lambda b, k=0: b[:k] + bytes([b[k] ^ 1]) + b[k + 1 :]  # noqa: E731
    cases = {
        "good": ((root, leaf, i, sib), True),
        "wrong index": ((root, leaf, i ^ 1, sib), False),
        "index past depth": ((root, leaf, i + (1 << depth), sib), False),
        "index 2^256-1": ((root, leaf, 2**256 - 1, sib), False),
        "wrong leaf byte": ((root, flip(leaf, 200), i, sib), False),
        "truncated leaf": ((root, leaf[:255], i, sib), False),
        "extra byte": ((root, leaf + b"\0", i, sib), False),
        "empty leaf bytes": ((root, b"", i, sib), False),
        "wrong root": ((flip(root), leaf, i, sib), False),
        "proof missing a level": ((root, leaf, i, sib[:-1]), False),
        "proof with an extra level": ((root, leaf, i, sib + [mk.zero_hash(depth)]), False),
        "empty proof": ((root, leaf, 0, []), False),
    }
    for lvl in range(depth):
        bad = list(sib)
        bad[lvl] = flip(bad[lvl], 31)
        cases[f"wrong sibling {lvl}"] = ((root, leaf, i, bad), False)
    names = list(cases)
    got = chain.call_many([(mh, "verifyLeaf", cases[n][0]) for n in names], strict=False)
    for n, g in zip(names, got):
        assert g is cases[n][1], f"{n}: got {g!r}"
        r, l_, idx, s = cases[n][0]
        assert mk.verify_proof(r, l_, idx, s) is cases[n][1], f"python {n}"
    # a leaf of the wrong length is refused before any hashing
    for bad_leaf in (leaf[:255], leaf + b"\0"):
        ok, gas = chain.call(mh, "verifyLeafGas", root, bad_leaf, i, sib)
        assert ok is False and gas < 200, gas  # a full check of this depth costs over 1000


def test_degenerate_inputs_are_defined(chain, mh):
    one = mk.pack([7], "i32")
    root = mk.merkle_root(one)
    assert chain.call(mh, "verifyLeaf", root, one, 0, []) is True  # one leaf: the leaf hash is the root
    assert chain.call(mh, "verifyProof", root, mk.leaf_hash(one), 1, []) is False
    assert chain.call(mh, "merkleRoot", b"") == mk.merkle_root(b"") == mk.zero_hash(0)
    leaf = mk.pack([1, -2, 3], "i16")
    assert [chain.call(mh, "readElement", leaf, 2, i) for i in (0, 1, 2, 127, 128, 2**256 - 1)] == [1, -2, 3, 0, 0, 0]
    assert [chain.call(mh, "readElement", leaf, code, 0) for code in (5, 255)] == [0, 0]
    assert chain.call(mh, "readElement", b"\xff", 0, 0) == 255  # raw bytes are unsigned
    assert chain.call(mh, "readElement", b"\xff", 1, 0) == -1
    assert chain.call(mh, "readElement", b"\xff\xff", 4, 0) == 0  # an element that does not fit
    assert chain.call(mh, "tensorRoot", 3, [1] * 256, root) == bytes(32)  # ndim > 255
    assert chain.call(mh, "tensorRoot", 3, [1] * 255, root) == mk.tensor_root_hash(3, [1] * 255, root)
    assert chain.call(mh, "tensorRoot", 3, [2**32 - 1, 0], root) == mk.tensor_root_hash(3, [2**32 - 1, 0], root)


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(["raw", "i8", "i16", "i32", "i64"]))
    shape = tuple(draw(st.lists(st.integers(1, 12), min_size=1, max_size=3)))
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 700)),)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "raw":
        return dtype, rng.integers(0, 256, size=shape, dtype=np.uint8)
    bits = 8 * mk.DTYPE_WIDTH[dtype]
    return dtype, rng.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, size=shape, dtype=np.int64, endpoint=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=tensors(), data=st.data())
def test_random_tensors_evm_equals_python(chain, mh, t, data):
    dtype, arr = t
    packed = mk.pack(arr, dtype)
    root = mk.merkle_root(packed)
    n = len(packed) // 256
    i = data.draw(st.integers(0, n - 1))
    leaf = mk.leaf_bytes(packed, i)
    proof = mk.leaf_proof(packed, i)
    w = mk.DTYPE_WIDTH[dtype]
    j = data.draw(st.integers(0, arr.size - 1))
    got = chain.call_many(
        [
            (mh, "merkleRoot", (packed,)),
            (mh, "tensorRoot", (mk.DTYPE_CODES[dtype], list(arr.shape), root)),
            (mh, "verifyLeaf", (root, leaf, i, proof)),
            (mh, "verifyLeaf", (root, leaf, i ^ 1, proof)),
            (mh, "readElement", (mk.leaf_bytes(packed, j * w // 256), mk.DTYPE_CODES[dtype], j % (256 // w))),
        ]
    )
    assert got[0] == root
    assert got[1] == mk.tensor_root(arr, dtype)
    assert got[2] is True
    assert got[3] is (n == 1 and False)  # a sibling index never verifies (n == 1: index 1 >= 2^0)
    assert got[4] == int(arr.ravel()[j])


def test_gas_leaf_hash_and_proof_levels(chain, mh):
    """leafHash under 400 gas; a proof level under 250 gas of execution, so under 800 with its 32 calldata
    bytes at 16 gas each; a transaction that is nothing but a proof pays EIP-7623's floor, 40 gas a byte."""
    leaf = bytes(range(256))
    h, g_leaf = chain.call(mh, "leafHashGas", leaf)
    assert h == mk.leaf_hash(leaf) and 0 < g_leaf < 400
    sib = [bytes([k + 1]) * 32 for k in range(24)]
    exec_gas = {d: chain.call(mh, "verifyProofGas", bytes(32), bytes(32), 0, sib[:d])[1] for d in (0, 8, 16, 24)}
    per_level = (exec_gas[24] - exec_gas[8]) / 16
    assert 0 < per_level < 250, exec_gas
    assert exec_gas[16] - exec_gas[8] == exec_gas[24] - exec_gas[16]  # exactly linear in depth
    assert per_level + 16 * 32 < 800
    tx_gas = {d: chain.estimate_gas(mh, "verifyProof", bytes(32), bytes(32), 0, sib[:d]) for d in (8, 24)}
    per_level_tx = (tx_gas[24] - tx_gas[8]) / 16
    assert per_level_tx <= max(40 * 32, per_level + 16 * 32 + 20), tx_gas
