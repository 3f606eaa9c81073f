"""Tensor commitments exactly as docs/encoding.md (version 1); contracts/src/Merkle.sol mirrors them.

    packed = pack(arr, "i32")              # big-endian two's complement, zero-padded to 256-byte leaves
    root   = merkle_root(packed)           # keccak tree, tags b"leaf" / b"node", padded with Z_h
    troot  = tensor_root(arr, "i32", arr.shape)
    proof  = leaf_proof(packed, i)         # siblings bottom-up
    verify_proof(root, packed[256*i:256*(i+1)], i, proof)

Name mapping to Merkle.sol: leaf_hash=leafHash, node_hash=nodeHash, zero_hash=zeroHash,
merkle_root=merkleRoot, verify_hash_proof=verifyProof (over a leaf hash), verify_proof=verifyLeaf
(over leaf bytes), tensor_root_hash=tensorRoot, read_element=readElement. hash_tree_root is the
docs' tree over 32-byte values (templates, weight lists, traces); MerkleBuilder streams it.

Decision beyond docs/encoding.md: a tensor with no elements packs to b"" and its tree is one empty
leaf (n = max(1, ceil(len / 256))), so merkle_root(b"") = Z_0; this keeps every root defined (e.g. a
KV cache before its first row).

Speed: hashing costs one keccak per leaf and per node (sha3.keccak_256, ~1 us each) and little else:
about 9 ms per MB of packed tensor on this machine. The tracer's hot paths (tensor_root_i32, KV trees, a
token's records) run the same hashes compiled in prover.commit.keccak: ~0.34 us per 136-byte keccak block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import sha3

from fixedpoint.errors import FixedPointOverflow, FixedPointTypeError

from . import keccak as _kk

LEAF_BYTES = 256
DTYPE_CODES = {"raw": 0, "i8": 1, "i16": 2, "i32": 3, "i64": 4}
DTYPE_WIDTH = {"raw": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8}
MAX_ZERO_HEIGHT = 64  # zeroHash table covers heights [0, 64): trees of up to 2^63 leaves


class _Keccak(Protocol):  # pysha3 ships no type information
    def digest(self) -> bytes: ...


_keccak: Callable[[bytes], _Keccak] = sha3.keccak_256


def keccak(data: bytes) -> bytes:
    """keccak256(data), 32 bytes (Ethereum's keccak, not NIST SHA3)."""
    return _keccak(data).digest()


def leaf_hash(leaf: bytes) -> bytes:
    """keccak256(b"leaf" || leaf): the hash of one leaf's bytes (a tree leaf is exactly 256 bytes)."""
    return _keccak(b"leaf" + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """keccak256(b"node" || left || right): the parent of two 32-byte hashes."""
    return _keccak(b"node" + left + right).digest()


def zero_hashes(zero_leaf_hash: bytes, n: int = MAX_ZERO_HEIGHT) -> list[bytes]:
    """[Z_0 .. Z_{n-1}] with Z_0 = zero_leaf_hash and Z_{h+1} = node_hash(Z_h, Z_h)."""
    zs = [zero_leaf_hash]
    for _ in range(n - 1):
        zs.append(node_hash(zs[-1], zs[-1]))
    return zs


ZERO = zero_hashes(leaf_hash(bytes(LEAF_BYTES)))  # ZERO[h]: root of an all-empty subtree of height h
ZERO_WORDS = _kk.words(b"".join(ZERO)).reshape(MAX_ZERO_HEIGHT, 8)  # ZERO as prover.commit.keccak's u32 words


def zero_hash(h: int) -> bytes:
    """Z_h, the root of an empty subtree of height h: Z_0 = leaf_hash(0^256), Z_{h+1} = node_hash(Z_h, Z_h);
    32 zero bytes for h >= 64, as Merkle.sol's zeroHash (no tree has 2^64 leaves)."""
    if h < 0:
        raise ValueError(f"height {h} < 0")
    return ZERO[h] if h < MAX_ZERO_HEIGHT else bytes(32)


# -- packing -----------------------------------------------------------------------------------


def dtype_code(dtype: str) -> int:
    """The u8 code of an element type name (raw=0, i8=1, i16=2, i32=3, i64=4); ValueError otherwise."""
    try:
        return DTYPE_CODES[dtype]
    except KeyError:
        raise ValueError(f"unknown element type {dtype!r}; expected one of {list(DTYPE_CODES)}") from None


def pad_to_leaves(data: bytes) -> bytes:
    """data zero-padded at the end to a multiple of 256 bytes (b"" stays b"")."""
    r = len(data) % LEAF_BYTES
    return data if r == 0 else data + bytes(LEAF_BYTES - r)


def pack(arr: Any, dtype: str) -> bytes:
    """Row-major elements as big-endian two's complement of dtype's width (raw: the bytes), zero-padded to 256.

    Integer elements outside dtype's range raise FixedPointOverflow (never a silent wrap); non-integer
    arrays raise FixedPointTypeError. For raw, arr is bytes-like or a uint8/int8 array.
    """
    code = dtype_code(dtype)
    if code == 0:
        if isinstance(arr, np.ndarray):
            if arr.dtype not in (np.uint8, np.int8):
                raise FixedPointTypeError(f"raw tensors are bytes or uint8/int8 arrays, got {arr.dtype}")
            return pad_to_leaves(np.ascontiguousarray(arr).tobytes())
        return pad_to_leaves(bytes(arr))
    width = DTYPE_WIDTH[dtype]
    a = arr if isinstance(arr, np.ndarray) else np.asarray(arr, dtype=object)  # lists: exact Python ints
    if a.dtype == object:
        vals = a.ravel().tolist()
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            raise FixedPointTypeError(f"pack({dtype}): elements must be integers")
        lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
        if vals and not (lo <= min(vals) and max(vals) <= hi):
            raise FixedPointOverflow(f"pack({dtype}): element outside [{lo}, {hi}]")
        a = np.array(vals, dtype=np.int64).reshape(a.shape)
    elif a.dtype.kind not in "iu":
        raise FixedPointTypeError(f"pack({dtype}): integer array required, got {a.dtype}")
    if a.size:
        info = np.iinfo(f"i{width}")
        mn, mx = int(a.min()), int(a.max())
        if mn < info.min or mx > info.max:
            raise FixedPointOverflow(f"pack({dtype}): values [{mn}, {mx}] outside [{info.min}, {info.max}]")
    return pad_to_leaves(a.astype(f">i{width}").tobytes())


def ceil_log2(x: int) -> int:
    """ceil(log2(x)) for x >= 1, 0 for x <= 1: the depth of a tree over x leaves (contracts' _ceilLog2)."""
    return max(0, (int(x) - 1).bit_length())


def tree_depth(nbytes: int) -> int:
    """ceil(log2(max(1, ceil(nbytes / 256)))): the depth of a tensor's tree (OneStepIO.depthOf)."""
    return ceil_log2(n_leaves(nbytes))


def n_leaves(packed_len: int) -> int:
    """Leaves of a packed buffer: max(1, ceil(len / 256))."""
    return max(1, -(-packed_len // LEAF_BYTES))


def leaf_bytes(packed: bytes, i: int) -> bytes:
    """Leaf i of a packed buffer: bytes [256 i, 256 (i+1)), zero-padded at the end."""
    chunk = bytes(packed[i * LEAF_BYTES : (i + 1) * LEAF_BYTES])
    return chunk + bytes(LEAF_BYTES - len(chunk))


def leaf_hashes(packed: bytes) -> list[bytes]:
    """[leaf_hash(leaf_bytes(packed, i)) for every leaf i]: one keccak per leaf."""
    packed = pad_to_leaves(bytes(packed)) if len(packed) % LEAF_BYTES else bytes(packed)
    if not packed:
        return [ZERO[0]]
    k = _keccak
    return [k(b"leaf" + packed[o : o + LEAF_BYTES]).digest() for o in range(0, len(packed), LEAF_BYTES)]


def read_element(leaf: bytes, dtype: str, i: int) -> int:
    """Element i of a leaf as a signed big-endian int of dtype's width (raw: byte i, unsigned); 0 if out of range."""
    w = DTYPE_WIDTH[dtype]
    if i < 0 or i >= len(leaf) // w:
        return 0
    return int.from_bytes(leaf[i * w : (i + 1) * w], "big", signed=(dtype != "raw"))


# -- trees over leaf hashes --------------------------------------------------------------------


def _parents(level: list[bytes], zero: bytes) -> list[bytes]:
    """The level above: pairs hashed, an odd last node paired with the empty subtree `zero`."""
    if len(level) & 1:
        level = level + [zero]
    it = iter(level)
    k = _keccak
    return [k(b"node" + left + right).digest() for left, right in zip(it, it)]


def hash_tree_root(hashes: Sequence[bytes], zeros: Sequence[bytes] = ZERO) -> bytes:
    """Root of the tree over these 32-byte values padded to the next power of two with Z_h (docs: hash_tree_root)."""
    level = list(hashes) or [zeros[0]]
    h = 0
    while len(level) > 1:
        level = _parents(level, zeros[h])
        h += 1
    return level[0]


def tree_levels(hashes: Sequence[bytes], zeros: Sequence[bytes] = ZERO) -> list[list[bytes]]:
    """Every level bottom-up: [leaf hashes, parents, ..., [root]]; a level's missing right ends are zeros[h]."""
    levels = [list(hashes) or [zeros[0]]]
    while len(levels[-1]) > 1:
        levels.append(_parents(levels[-1], zeros[len(levels) - 1]))
    return levels


def proof_from_levels(levels: list[list[bytes]], i: int, zeros: Sequence[bytes] = ZERO) -> list[bytes]:
    """Sibling hashes of leaf i, bottom-up, from tree_levels()."""
    if not 0 <= i < len(levels[0]):
        raise IndexError(f"leaf {i} outside [0, {len(levels[0])})")
    proof = []
    for h, level in enumerate(levels[:-1]):
        j = i ^ 1
        proof.append(level[j] if j < len(level) else zeros[h])
        i >>= 1
    return proof


def hash_proof(hashes: Sequence[bytes], i: int, zeros: Sequence[bytes] = ZERO) -> list[bytes]:
    """Sibling hashes of leaf i, bottom-up, in the tree over these leaf hashes."""
    return proof_from_levels(tree_levels(hashes, zeros), i, zeros)


def tree_node(hashes: Sequence[bytes], level: int, index: int, zeros: Sequence[bytes] = ZERO) -> bytes:
    """Node `index` at height `level` (0 = leaves) of the tree over these leaf hashes: covers leaves
    [index 2^level, (index+1) 2^level); costs one keccak per node below it, Z_level if all empty."""
    lo = index << level
    part = list(hashes[lo : lo + (1 << level)])
    if not part:
        return zeros[level]
    for h in range(level):
        part = _parents(part, zeros[h])
    return part[0]


def verify_hash_proof(root: bytes, leaf_h: bytes, index: int, proof: Sequence[bytes]) -> bool:
    """True iff folding leaf_h with proof (bit h of index: 1 = running hash is the right child) gives root;
    False if index is outside [0, 2^len(proof))."""
    if index < 0 or index >> len(proof):
        return False
    h = leaf_h
    for sib in proof:
        h = node_hash(sib, h) if index & 1 else node_hash(h, sib)
        index >>= 1
    return h == root


# -- tensors -----------------------------------------------------------------------------------


def merkle_root(packed: bytes) -> bytes:
    """Root of the tree over the 256-byte leaves of packed (zero-padded), padded to a power of two with Z_h."""
    return hash_tree_root(leaf_hashes(packed))


def leaf_proof(packed: bytes, i: int) -> list[bytes]:
    """Sibling hashes of leaf i of packed, bottom-up (length log2 of the padded leaf count)."""
    return hash_proof(leaf_hashes(packed), i)


def verify_proof(root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
    """True iff leaf (exactly 256 bytes, else False) sits at index under root, per proof."""
    if len(leaf) != LEAF_BYTES:
        return False
    return verify_hash_proof(root, leaf_hash(leaf), index, proof)


def tensor_header(dtype: str | int, shape: Sequence[int]) -> bytes:
    """b"tensor" || u8 dtype_code || u8 ndim || u32 dim_0 .. (ValueError if a field does not fit)."""
    code = dtype if isinstance(dtype, int) else dtype_code(dtype)
    shape = [int(d) for d in shape]
    if not 0 <= code < 256 or len(shape) > 255 or any(not 0 <= d < 2**32 for d in shape):
        raise ValueError(f"tensor header out of range: dtype {code}, shape {shape}")
    return b"tensor" + bytes([code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)


def tensor_root_hash(dtype: str | int, shape: Sequence[int], root: bytes) -> bytes:
    """keccak256(b"tensor" || u8 dtype_code || u8 ndim || u32 dim_0 .. || merkle_root) (Merkle.sol tensorRoot)."""
    return keccak(tensor_header(dtype, shape) + root)


def tensor_root(arr_or_packed: Any, dtype: str, shape: Sequence[int] | None = None) -> bytes:
    """tensor_root_hash(dtype, shape, merkle_root(pack(arr, dtype))); bytes are taken as packed already.

    For an integer array, shape defaults to arr.shape and must equal it; for packed integer bytes,
    shape is required and must account for exactly their element bytes (then only zero padding).
    For raw, shape is whatever the caller commits (docs: the weight's shape; default: (bytes,)).
    """
    dtype_code(dtype)  # validates the name
    if isinstance(arr_or_packed, (bytes, bytearray, memoryview)):
        packed = bytes(arr_or_packed)
        if shape is None:
            if dtype != "raw":
                raise ValueError("tensor_root of packed bytes needs the shape")
            shape = (len(packed),)
        need = int(np.prod(shape, dtype=object)) * DTYPE_WIDTH[dtype]
        if dtype != "raw" and (not need <= len(packed) <= -(-need // LEAF_BYTES) * LEAF_BYTES or any(packed[need:])):
            raise ValueError(
                f"{len(packed)} packed bytes do not hold shape {tuple(shape)} of {dtype} "
                f"({need} bytes, then only zero padding)"
            )
    else:
        a = arr_or_packed
        if not isinstance(a, np.ndarray):  # a list: raw bytes as they are, integers as exact Python ints
            a = np.asarray(a, dtype=np.uint8 if dtype == "raw" else object)
        if shape is None:
            shape = a.shape
        elif dtype != "raw" and tuple(shape) != a.shape:
            raise ValueError(f"shape {tuple(shape)} != array shape {a.shape}")
        packed = pack(a, dtype)
    return tensor_root_hash(dtype, shape, merkle_root(packed))


def tensor_root_i32(arr: np.ndarray) -> bytes:
    """tensor_root(arr, "i32", arr.shape) for an int64 ndarray, on a short path (the tracer's per-step cost):
    range check, packing, leaf hashes, tree and header in one compiled call (prover.commit.keccak).

    Same result and same FixedPointOverflow as the general path (tested against it)."""
    head = _I32_HEADS.get(arr.shape)
    if head is None:
        head = _I32_HEADS[arr.shape] = _kk.words(tensor_header("i32", arr.shape))
    flat = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
    ok, root = _kk.i32_tensor_root(flat, head, ZERO_WORDS)
    if not ok:
        mn, mx = int(flat.min()), int(flat.max())
        raise FixedPointOverflow(f"pack(i32): values [{mn}, {mx}] outside [{-(1 << 31)}, {(1 << 31) - 1}]")
    return root.tobytes()


_I32_HEADS: dict[tuple[int, ...], np.ndarray] = {}


# -- incremental trees -------------------------------------------------------------------------


class MerkleBuilder:
    """Root of a stream of leaf hashes pushed one at a time, keeping only the O(log n) frontier.

    root() equals hash_tree_root(all pushed hashes): the tree padded to the next power of two with
    empty subtrees (zero_leaf_hash defaults to Z_0 = leaf_hash(0^256)); an empty builder's root is Z_0.
    Keep the pushed hashes yourself if you need nodes or proofs later (tree_node, hash_proof).
    """

    def __init__(self, zero_leaf_hash: bytes = ZERO[0]):
        self.zeros = ZERO if zero_leaf_hash == ZERO[0] else zero_hashes(zero_leaf_hash)
        self.frontier: list[bytes] = []  # frontier[h]: the pending left subtree of height h (if bit h of count)
        self.count = 0

    def push(self, leaf_h: bytes) -> int:
        """Append one leaf hash; returns its index. Amortised one node hash per push."""
        node, n, h = leaf_h, self.count, 0
        while n & 1:
            node = _keccak(b"node" + self.frontier[h] + node).digest()
            n >>= 1
            h += 1
        if h == len(self.frontier):
            self.frontier.append(node)
        else:
            self.frontier[h] = node
        self.count += 1
        return self.count - 1

    def push_leaf(self, leaf: bytes) -> int:
        """push(leaf_hash(leaf)) for a leaf of exactly 256 bytes."""
        if len(leaf) != LEAF_BYTES:
            raise ValueError(f"a leaf is {LEAF_BYTES} bytes, got {len(leaf)}")
        return self.push(leaf_hash(leaf))

    def extend(self, hashes: Iterable[bytes]) -> None:
        """push() each hash in order."""
        for h in hashes:
            self.push(h)

    def root(self) -> bytes:
        """Root over the leaves pushed so far, padded to the next power of two; O(log n) hashes."""
        n = self.count
        if n == 0:
            return self.zeros[0]
        depth = ceil_log2(n)
        node = None
        for h in range(depth):
            if (n >> h) & 1:
                node = node_hash(self.frontier[h], node if node is not None else self.zeros[h])
            elif node is not None:
                node = node_hash(node, self.zeros[h])
        return self.frontier[depth] if node is None else node


class FixedCapacityTree:
    """A tree of 2^depth leaves, all empty at first, with set_leaf and root in O(depth) hashes.

    Nodes live in one dict per level (absent = empty subtree), so memory follows the leaves set.
    For a buffer that grows by appending (a KV cache), prefix_root(n) is merkle_root of its first n
    leaves, the same value a one-shot commitment of those leaves gives.
    """

    def __init__(self, depth: int):
        if not 0 <= depth < MAX_ZERO_HEIGHT:
            raise ValueError(f"depth {depth} outside [0, {MAX_ZERO_HEIGHT})")
        self.depth = depth
        self.capacity = 1 << depth
        self.levels: list[dict[int, bytes]] = [{} for _ in range(depth + 1)]
        self.size = 0  # 1 + the highest leaf index ever set

    def set_leaf(self, i: int, leaf: bytes) -> bytes:
        """Set leaf i to these 256 bytes and update its path; returns the new root."""
        if len(leaf) != LEAF_BYTES:
            raise ValueError(f"a leaf is {LEAF_BYTES} bytes, got {len(leaf)}")
        return self.set_leaf_hash(i, leaf_hash(leaf))

    def set_leaf_hash(self, i: int, h: bytes) -> bytes:
        """Set leaf i's hash and update its path (depth node hashes); returns the new root."""
        if not 0 <= i < self.capacity:
            raise IndexError(f"leaf {i} outside [0, {self.capacity})")
        self.size = max(self.size, i + 1)
        for lvl in range(self.depth):
            nodes = self.levels[lvl]
            nodes[i] = h
            sib = nodes.get(i ^ 1, ZERO[lvl])
            h = _keccak(b"node" + sib + h if i & 1 else b"node" + h + sib).digest()
            i >>= 1
        self.levels[self.depth][0] = h
        return h

    def set_leaf_hashes(self, lo: int, hashes: Sequence[bytes]) -> bytes:
        """Set leaves [lo, lo + len(hashes)) to these hashes and update the paths above them once: a node
        shared by several of them is hashed once (an appended KV row's 3 leaves: ~14 hashes, not 3 x depth)."""
        hi = lo + len(hashes)
        if not hashes:
            return self.root()
        if not (lo >= 0 and hi <= self.capacity):
            raise IndexError(f"leaves [{lo}, {hi}) outside [0, {self.capacity})")
        self.size = max(self.size, hi)
        nodes = self.levels[0]
        for i, h in enumerate(hashes):
            nodes[lo + i] = h
        a, b = lo, hi - 1  # the range of changed nodes at this level
        for lvl in range(self.depth):
            nodes, up = self.levels[lvl], self.levels[lvl + 1]
            z = ZERO[lvl]
            for i in range(a >> 1, (b >> 1) + 1):
                up[i] = _keccak(b"node" + nodes.get(2 * i, z) + nodes.get(2 * i + 1, z)).digest()
            a, b = a >> 1, b >> 1
        return self.levels[self.depth].get(0, ZERO[self.depth])

    def node(self, level: int, index: int) -> bytes:
        """Node `index` at height `level` (0 = leaves)."""
        return self.levels[level].get(index, ZERO[level])

    def root(self) -> bytes:
        """Root of all 2^depth leaves."""
        return self.node(self.depth, 0)

    def proof(self, i: int) -> list[bytes]:
        """Sibling hashes of leaf i, bottom-up, in the full 2^depth tree."""
        out = []
        for lvl in range(self.depth):
            out.append(self.node(lvl, i ^ 1))
            i >>= 1
        return out

    def prefix_root(self, n: int) -> bytes:
        """merkle_root of leaves [0, n) (n >= size, n <= capacity): node (ceil log2 n, 0); no hashing."""
        if not self.size <= n <= self.capacity:
            raise ValueError(f"prefix of {n} leaves: need {self.size} <= n <= {self.capacity}")
        return self.node(ceil_log2(n), 0)
