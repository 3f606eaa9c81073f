"""Compiled keccak256 (numba) and the tensor-commitment loops the tracer runs per step, hash for hash the
same as ``prover.commit.merkle`` (which states the encoding and is the reference; the tests compare every function
here with it and with pysha3).

keccak256 is Ethereum's: Keccak-f[1600], rate 136 bytes, capacity 512 bits, padding 0x01 ... 0x80 (not the
NIST SHA3 0x06). Lanes are little-endian 64-bit words. Why compiled: a tensor's leaves and tree nodes are
hashed in one call instead of one Python-level keccak call per 256-byte leaf or node (the tracer commits
~10,000 of them per SmolLM2 token, and the per-call overhead cost more than the hashing).

(Over 600 lines on purpose: it is the compiled twin of prover.commit.merkle, function for function: the scalar and
8-way Keccak-f, the padding and lane helpers and the tree loops built on them, tested against merkle as one.)
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.extending import intrinsic


class _JitOptions(TypedDict):  # typed, so that mypy matches ``njit(**_OPTS)`` with numba's own stubs
    cache: bool
    nogil: bool
    boundscheck: bool


_OPTS: _JitOptions = {"cache": True, "nogil": True, "boundscheck": False}

RATE = 136

RC = np.array(
    [  # iota's round constants
        0x0000000000000001,
        0x0000000000008082,
        0x800000000000808A,
        0x8000000080008000,
        0x000000000000808B,
        0x0000000080000001,
        0x8000000080008081,
        0x8000000000008009,
        0x000000000000008A,
        0x0000000000000088,
        0x0000000080008009,
        0x000000008000000A,
        0x000000008000808B,
        0x800000000000008B,
        0x8000000000008089,
        0x8000000000008003,
        0x8000000000008002,
        0x8000000000000080,
        0x000000000000800A,
        0x800000008000000A,
        0x8000000080008081,
        0x8000000000008080,
        0x0000000080000001,
        0x8000000080008008,
    ],
    dtype=np.uint64,
)


@njit(**_OPTS)
def _rotl(v: np.uint64, r: int) -> np.uint64:  # 0 < r < 64
    return (v << np.uint64(r)) | (v >> np.uint64(64 - r))


@njit(**_OPTS)
def keccak_f(s: np.ndarray, rc: np.ndarray) -> None:
    """Keccak-f[1600] on the 25 lanes s[0:25] (uint64, lane x + 5y), in place. Written out lane by lane so
    that the state lives in registers: theta, then rho and pi (lane x + 5y rotated by its offset into lane
    y + 5 (2x + 3y)), then chi along each row, then iota."""
    a0, a1, a2, a3, a4 = s[0], s[1], s[2], s[3], s[4]
    a5, a6, a7, a8, a9 = s[5], s[6], s[7], s[8], s[9]
    a10, a11, a12, a13, a14 = s[10], s[11], s[12], s[13], s[14]
    a15, a16, a17, a18, a19 = s[15], s[16], s[17], s[18], s[19]
    a20, a21, a22, a23, a24 = s[20], s[21], s[22], s[23], s[24]
    for rnd in range(24):
        c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
        c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
        c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
        c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
        c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
        d0 = c4 ^ _rotl(c1, 1)
        d1 = c0 ^ _rotl(c2, 1)
        d2 = c1 ^ _rotl(c3, 1)
        d3 = c2 ^ _rotl(c4, 1)
        d4 = c3 ^ _rotl(c0, 1)
        a0, a1, a2, a3, a4 = a0 ^ d0, a1 ^ d1, a2 ^ d2, a3 ^ d3, a4 ^ d4
        a5, a6, a7, a8, a9 = a5 ^ d0, a6 ^ d1, a7 ^ d2, a8 ^ d3, a9 ^ d4
        a10, a11, a12, a13, a14 = a10 ^ d0, a11 ^ d1, a12 ^ d2, a13 ^ d3, a14 ^ d4
        a15, a16, a17, a18, a19 = a15 ^ d0, a16 ^ d1, a17 ^ d2, a18 ^ d3, a19 ^ d4
        a20, a21, a22, a23, a24 = a20 ^ d0, a21 ^ d1, a22 ^ d2, a23 ^ d3, a24 ^ d4
        b0 = a0
        b10 = _rotl(a1, 1)
        b20 = _rotl(a2, 62)
        b5 = _rotl(a3, 28)
        b15 = _rotl(a4, 27)
        b16 = _rotl(a5, 36)
        b1 = _rotl(a6, 44)
        b11 = _rotl(a7, 6)
        b21 = _rotl(a8, 55)
        b6 = _rotl(a9, 20)
        b7 = _rotl(a10, 3)
        b17 = _rotl(a11, 10)
        b2 = _rotl(a12, 43)
        b12 = _rotl(a13, 25)
        b22 = _rotl(a14, 39)
        b23 = _rotl(a15, 41)
        b8 = _rotl(a16, 45)
        b18 = _rotl(a17, 15)
        b3 = _rotl(a18, 21)
        b13 = _rotl(a19, 8)
        b14 = _rotl(a20, 18)
        b24 = _rotl(a21, 2)
        b9 = _rotl(a22, 61)
        b19 = _rotl(a23, 56)
        b4 = _rotl(a24, 14)
        a0 = b0 ^ (~b1 & b2)
        a1 = b1 ^ (~b2 & b3)
        a2 = b2 ^ (~b3 & b4)
        a3 = b3 ^ (~b4 & b0)
        a4 = b4 ^ (~b0 & b1)
        a5 = b5 ^ (~b6 & b7)
        a6 = b6 ^ (~b7 & b8)
        a7 = b7 ^ (~b8 & b9)
        a8 = b8 ^ (~b9 & b5)
        a9 = b9 ^ (~b5 & b6)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a0 ^= rc[rnd]
    s[0], s[1], s[2], s[3], s[4] = a0, a1, a2, a3, a4
    s[5], s[6], s[7], s[8], s[9] = a5, a6, a7, a8, a9
    s[10], s[11], s[12], s[13], s[14] = a10, a11, a12, a13, a14
    s[15], s[16], s[17], s[18], s[19] = a15, a16, a17, a18, a19
    s[20], s[21], s[22], s[23], s[24] = a20, a21, a22, a23, a24


# -- eight messages at once: Keccak-f[1600] on 8 states in vector registers ------------------------------------
# Leaves and the nodes of a level are independent hashes. keccak_f8 permutes 8 states held lane-major (lane i of
# state k at st[8 i + k]) as 25 <8 x i64> vectors, emitted directly as LLVM IR (numba does not vectorize the scalar
# form, and its SLP vectorizer is off): ~7x the throughput of keccak_f on AVX-512 (measured 0.04 us a permutation
# against 0.30), the same function lane by lane (the tests compare every hash with pysha3 and merkle.py).

_ROT = (0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14)  # lane x + 5y
_PI = tuple(y + 5 * ((2 * x + 3 * y) % 5) for y in range(5) for x in range(5))  # lane x + 5y goes to _PI[x + 5y]
Arr = np.ndarray  # the compiled kernels' array arguments
NWAY = 8


@intrinsic
def keccak_f8(typingctx: Any, st: Any) -> Any:
    """Keccak-f[1600] in place on the 8 states of st (uint64 C array of 25 * 8, lane i of state k at 8 i + k)."""
    sig = types.void(st)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        i64 = ir.IntType(64)
        vty = ir.VectorType(i64, NWAY)
        vp = builder.bitcast(arr.data, vty.as_pointer())
        ptrs = [builder.gep(vp, [ir.Constant(ir.IntType(32), i)]) for i in range(25)]
        a = [builder.load(q, align=8) for q in ptrs]

        def splat(c: int) -> Any:
            return ir.Constant(vty, [ir.Constant(i64, c)] * NWAY)

        ones = splat(-1)

        def rotl(v: Any, r: int) -> Any:
            return builder.or_(builder.shl(v, splat(r)), builder.lshr(v, splat(64 - r)))

        for rnd in range(24):
            c = [a[x] for x in range(5)]
            for x in range(5):
                for y in range(1, 5):
                    c[x] = builder.xor(c[x], a[x + 5 * y])
            d = [builder.xor(c[(x + 4) % 5], rotl(c[(x + 1) % 5], 1)) for x in range(5)]
            b = [a[0]] * 25
            for i in range(25):
                v = builder.xor(a[i], d[i % 5])
                b[_PI[i]] = v if _ROT[i] == 0 else rotl(v, _ROT[i])
            for y in range(5):
                for x in range(5):
                    nb = builder.and_(builder.xor(b[(x + 1) % 5 + 5 * y], ones), b[(x + 2) % 5 + 5 * y])
                    a[x + 5 * y] = builder.xor(b[x + 5 * y], nb)
            r = int(RC[rnd])
            a[0] = builder.xor(a[0], splat(r - (1 << 64) if r >= 1 << 63 else r))
        for q, v in zip(ptrs, a):
            builder.store(v, q, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(**_OPTS)
def hash8(msgs: np.ndarray, nb: int, st: np.ndarray, out: np.ndarray, dst: np.ndarray, n: int) -> None:
    """out[dst[k]] = keccak256 of message k (8 words) for k < n: msgs (8, >= 34 nb) uint32 holds each message's
    words already padded to nb blocks (``pad_words``); st is a 200-lane scratch state."""
    st[:] = 0
    for blk in range(nb):
        for i in range(17):
            w = 34 * blk + 2 * i
            for k in range(NWAY):
                st[NWAY * i + k] ^= np.uint64(msgs[k, w]) | (np.uint64(msgs[k, w + 1]) << np.uint64(32))
        keccak_f8(st)  # type: ignore[call-arg]  # an intrinsic: numba passes the typing context
    for k in range(n):
        o = dst[k]
        for i in range(4):
            v = st[NWAY * i + k]
            out[o, 2 * i] = np.uint32(v & np.uint64(0xFFFFFFFF))
            out[o, 2 * i + 1] = np.uint32(v >> np.uint64(32))


@njit(**_OPTS)
def pad_words(msgs: np.ndarray, k: int, nw: int, nb: int) -> None:
    """Keccak padding of message k of nw words in msgs[k, :34 nb] (0x01 after the message, 0x80 last)."""
    for w in range(nw, 34 * nb):
        msgs[k, w] = 0
    msgs[k, nw] |= np.uint32(1)
    msgs[k, 34 * nb - 1] |= np.uint32(0x80000000)


# -- messages as little-endian u32 words ----------------------------------------------------------------------
# Every message the tracer hashes is a whole number of 4-byte words: b"leaf" + 256 bytes, b"node" + 2 x 32,
# b"tensor" + code + ndim + u32 dims + 32. A hash is kept as its 8 little-endian u32 words (its bytes, in order);
# a big-endian i32 element v is the word bswap32(v).


@njit(**_OPTS)
def _bswap32(v: np.uint32) -> np.uint32:
    return (
        ((v & np.uint32(0xFF)) << np.uint32(24))
        | ((v & np.uint32(0xFF00)) << np.uint32(8))
        | ((v >> np.uint32(8)) & np.uint32(0xFF00))
        | (v >> np.uint32(24))
    )


@njit(**_OPTS)
def _lane(lo: int | np.uint32, hi: int | np.uint32) -> np.uint64:
    return np.uint64(lo) | (np.uint64(hi) << np.uint64(32))


@njit(**_OPTS)
def keccak_words(w: np.ndarray, nw: int, s: np.ndarray, out: np.ndarray, oo: int) -> None:
    """out[oo:oo+8] = keccak256 of the 4 nw bytes whose little-endian u32 words are w[:nw] (its 32 bytes as 8
    words); s is a 25-lane scratch state. Padding: byte 4 nw gets 0x01, the block's last byte 0x80."""
    s[:] = 0
    pos = 0
    while nw - pos >= 34:  # full 136-byte blocks
        for i in range(17):
            s[i] ^= _lane(w[pos + 2 * i], w[pos + 2 * i + 1])
        keccak_f(s, RC)
        pos += 34
    rem = nw - pos  # 0..33 words left
    for i in range(rem // 2):
        s[i] ^= _lane(w[pos + 2 * i], w[pos + 2 * i + 1])
    if rem & 1:
        s[rem // 2] ^= _lane(w[pos + rem - 1], 1)
    else:
        s[rem // 2] ^= np.uint64(1)
    s[16] ^= np.uint64(0x80) << np.uint64(56)
    keccak_f(s, RC)
    for i in range(4):
        out[oo + 2 * i] = np.uint32(s[i] & np.uint64(0xFFFFFFFF))
        out[oo + 2 * i + 1] = np.uint32(s[i] >> np.uint64(32))


LEAF_TAG = np.frombuffer(b"leaf", "<u4")[0]
NODE_TAG = np.frombuffer(b"node", "<u4")[0]


@njit(**_OPTS)
def node_into(hw: np.ndarray, li: int, ri: int, oi: int, msg: np.ndarray, s: np.ndarray) -> None:
    """hw[oi] = keccak256(b"node" || hw[li] || hw[ri]) for hashes as rows of 8 words (hw (n, 8) uint32)."""
    msg[0] = NODE_TAG
    for k in range(8):
        msg[1 + k] = hw[li, k]
        msg[9 + k] = hw[ri, k]
    keccak_words(msg, 17, s, hw[oi], 0)


@njit(**_OPTS)
def i32_leaf_into(
    flat: np.ndarray, nvalid: int, leaf: int, out: np.ndarray, oo: int, msg: np.ndarray, s: np.ndarray
) -> None:
    """out[oo:oo+8] = keccak256(b"leaf" || leaf ``leaf`` of the big-endian i32 packing of flat[:nvalid]):
    elements [64 leaf, 64 leaf + 64), zero past nvalid."""
    msg[0] = LEAF_TAG
    base = 64 * leaf
    for k in range(64):
        j = base + k
        msg[1 + k] = _bswap32(np.uint32(flat[j] & 0xFFFFFFFF)) if j < nvalid else np.uint32(0)
    keccak_words(msg, 65, s, out, oo)


@njit(**_OPTS)
def _fits_i32(flat: np.ndarray, lo: int, hi: int) -> bool:
    for j in range(lo, hi):  # noqa: SIM110 (numba compiles loops, not generators)
        if flat[j] < -2147483648 or flat[j] > 2147483647:
            return False
    return True


@njit(**_OPTS)
def i32_tensor_root(flat: np.ndarray, head: np.ndarray, zeros: np.ndarray) -> tuple[bool, np.ndarray]:
    """(ok, words): ok False if an element of flat (int64) is outside i32; else words = the 8 words of
    keccak256(head || merkle_root(pack(flat, "i32"))), head being the tensor header (a whole number of words)."""
    out = np.zeros(8, np.uint32)
    n = flat.shape[0]
    if not _fits_i32(flat, 0, n):
        return False, out
    s = np.empty(25, np.uint64)
    msg = np.empty(65, np.uint32)
    hw = np.empty((max(1, (n + 63) // 64) + 1, 8), np.uint32)
    nh = head.shape[0]
    hm = np.empty(nh + 8, np.uint32)
    hm[:nh] = head
    _i32_merkle_into(flat, hw, msg, s, zeros, hm[nh:])
    keccak_words(hm, nh + 8, s, out, 0)
    return True, out


@njit(**_OPTS)
def _i32_merkle_into(
    part: np.ndarray, hw: np.ndarray, msg: np.ndarray, s: np.ndarray, zeros: np.ndarray, dst: np.ndarray
) -> None:
    """dst[:8] = merkle_root(pack(part, "i32")) (part inside i32); hw is scratch of >= max(1, ceil(len / 64)) + 1
    rows (the spare row: an odd level's last node pairs with a zero hash)."""
    n = part.shape[0]
    nl = max(1, (n + 63) // 64)
    for i in range(nl):
        i32_leaf_into(part, n, i, hw[i], 0, msg, s)
    count, h = nl, 0
    while count > 1:
        if count & 1:
            hw[count] = zeros[h]
            count += 1
        for i in range(count // 2):
            node_into(hw, 2 * i, 2 * i + 1, i, msg, s)
        count //= 2
        h += 1
    dst[:] = hw[0]


@njit(**_OPTS)
def _leaf8(flat: np.ndarray, nvalid: int, leaf: int, msgs: np.ndarray, k: int) -> None:
    """msgs[k] = the padded message b"leaf" || leaf ``leaf`` of the i32 packing of flat[:nvalid] (2 blocks)."""
    msgs[k, 0] = LEAF_TAG
    base = 64 * leaf
    for i in range(64):
        j = base + i
        msgs[k, 1 + i] = _bswap32(np.uint32(flat[j] & 0xFFFFFFFF)) if j < nvalid else np.uint32(0)
    pad_words(msgs, k, 65, 2)


@njit(**_OPTS)
def _leaves_many(
    vals: Arr,
    offs: Arr,
    cnt: Arr,
    base: Arr,
    hw: Arr,
    msgs: Arr,
    st: Arr,
    dst: Arr,
) -> None:
    """hw[base[j] + i] = leaf i of tensor j's i32 packing for i < cnt[j], 8 leaves a call of hash8."""
    q = 0
    for j in range(offs.shape[0] - 1):
        part = vals[offs[j] : offs[j + 1]]
        for i in range(cnt[j]):
            _leaf8(part, part.shape[0], i, msgs, q)
            dst[q] = base[j] + i
            q += 1
            if q == NWAY:
                hash8(msgs, 2, st, hw, dst, q)
                q = 0
    if q:
        hash8(msgs, 2, st, hw, dst, q)


@njit(**_OPTS)
def _level_many(
    cnt: Arr,
    base: Arr,
    hw: Arr,
    zero: Arr,
    msgs: Arr,
    st: Arr,
    dst: Arr,
) -> bool:
    """One tree level of every tensor with cnt[j] > 1 nodes, in place (node i of the next level on row i; an odd
    level's last node pairs with ``zero``); returns False if there was none."""
    q = 0
    busy = False
    for j in range(cnt.shape[0]):
        c = cnt[j]
        if c <= 1:
            continue
        busy = True
        b0 = base[j]
        if c & 1:
            hw[b0 + c] = zero
            c += 1
        for i in range(c // 2):  # rows 2i, 2i+1 are read before row i (< 2i for i > 0) is written
            msgs[q, 0] = NODE_TAG
            for w in range(8):
                msgs[q, 1 + w] = hw[b0 + 2 * i, w]
                msgs[q, 9 + w] = hw[b0 + 2 * i + 1, w]
            pad_words(msgs, q, 17, 1)
            dst[q] = b0 + i
            q += 1
            if q == NWAY:
                hash8(msgs, 1, st, hw, dst, q)
                q = 0
        cnt[j] = c // 2
    if q:
        hash8(msgs, 1, st, hw, dst, q)
    return busy


@njit(**_OPTS)
def merkle_many(vals: np.ndarray, offs: np.ndarray, skip: np.ndarray, zeros: np.ndarray, roots: np.ndarray) -> None:
    """roots[j] = merkle_root(pack(vals[offs[j]:offs[j+1]], "i32")) for every j without skip[j] (values inside
    i32: the caller checks), as _i32_merkle_into computes it, hashing 8 leaves or nodes at a time (hash8)."""
    S = offs.shape[0] - 1
    cnt = np.zeros(S, np.int64)
    base = np.zeros(S + 1, np.int64)
    for j in range(S):
        if not skip[j]:
            cnt[j] = max(1, (offs[j + 1] - offs[j] + 63) // 64)
        base[j + 1] = base[j] + cnt[j] + 1  # a spare row: an odd level's last node pairs with a zero hash
    hw = np.empty((max(1, base[S]), 8), np.uint32)
    msgs = np.zeros((NWAY, 68), np.uint32)
    st = np.empty(25 * NWAY, np.uint64)
    dst = np.empty(NWAY, np.int64)
    _leaves_many(vals, offs, cnt, base, hw, msgs, st, dst)
    h = 0
    while _level_many(cnt, base, hw, zeros[h], msgs, st, dst):
        h += 1
    for j in range(S):
        if not skip[j]:
            roots[j] = hw[base[j]]


@njit(**_OPTS)
def dense_set_leaves(
    nodes: np.ndarray, offs: np.ndarray, depth: int, flat: np.ndarray, nvalid: int, lo: int, hi: int
) -> bool:
    """Leaves [lo, hi) of a dense tree of 2^depth leaves over the i32 packing of flat[:nvalid] (zero past it),
    then their paths: each changed node hashed once. nodes (total, 8) uint32, level l at rows offs[l] + index.
    Returns False (changing nothing) if an element of flat[64 lo : 64 hi] is outside i32."""
    if not _fits_i32(flat, min(64 * lo, nvalid), min(64 * hi, nvalid)):
        return False
    s = np.empty(25, np.uint64)
    msg = np.empty(65, np.uint32)
    for i in range(lo, hi):
        i32_leaf_into(flat, nvalid, i, nodes[offs[0] + i], 0, msg, s)
    a, b = lo, hi - 1
    for lvl in range(depth):
        for p in range(a >> 1, (b >> 1) + 1):
            node_into(nodes, offs[lvl] + 2 * p, offs[lvl] + 2 * p + 1, offs[lvl + 1] + p, msg, s)
        a >>= 1
        b >>= 1
    return True


@njit(**_OPTS)
def dense_set_many(
    nodes: Arr,
    total: int,
    offs: Arr,
    depth: int,
    ids: Arr,
    stage: Arr,
    lo: Arr,
    hi: Arr,
) -> bool:
    """dense_set_leaves for m trees of one shape at once, 8 hashes at a time: tree k's nodes are rows
    [ids[k] total, (ids[k] + 1) total) of nodes; its leaves [lo[k], hi[k]) are re-hashed from stage[k]
    (the i32 elements [64 lo[k], 64 hi[k]) of its packing, zero past the data), then their paths.
    Returns False (changing nothing) if a staged element is outside i32."""
    m = lo.shape[0]
    if not _fits_i32(stage.reshape(-1), 0, stage.size):
        return False
    msgs = np.zeros((NWAY, 68), np.uint32)
    st = np.empty(25 * NWAY, np.uint64)
    dst = np.empty(NWAY, np.int64)
    q = 0
    for k in range(m):
        row = stage[k]
        for i in range(lo[k], hi[k]):
            _leaf8(row, row.shape[0], i - lo[k], msgs, q)
            dst[q] = ids[k] * total + offs[0] + i
            q += 1
            if q == NWAY:
                hash8(msgs, 2, st, nodes, dst, q)
                q = 0
    if q:
        hash8(msgs, 2, st, nodes, dst, q)
    for lvl in range(depth):  # level lvl + 1 from level lvl: reads and writes never meet
        q = 0
        for k in range(m):
            if hi[k] <= lo[k]:
                continue
            a = lo[k] >> lvl
            b = (hi[k] - 1) >> lvl
            for p in range(a >> 1, (b >> 1) + 1):
                left = ids[k] * total + offs[lvl] + 2 * p
                msgs[q, 0] = NODE_TAG
                for w in range(8):
                    msgs[q, 1 + w] = nodes[left, w]
                    msgs[q, 9 + w] = nodes[left + 1, w]
                pad_words(msgs, q, 17, 1)
                dst[q] = ids[k] * total + offs[lvl + 1] + p
                q += 1
                if q == NWAY:
                    hash8(msgs, 1, st, nodes, dst, q)
                    q = 0
        if q:
            hash8(msgs, 1, st, nodes, dst, q)
    return True


@njit(**_OPTS)
def _absorb_blocks(lanes: np.ndarray, nblocks: int, s: np.ndarray) -> None:
    for b in range(nblocks):
        for i in range(17):
            s[i] ^= lanes[17 * b + i]
        keccak_f(s, RC)


def keccak256(data: bytes) -> bytes:
    """keccak256 of any bytes (the general path, for tests and odd lengths): pads in numpy, absorbs compiled."""
    n = len(data)
    nb = n // RATE + 1
    buf = np.zeros(nb * RATE, np.uint8)
    buf[:n] = np.frombuffer(bytes(data), np.uint8)
    buf[n] ^= 0x01
    buf[-1] ^= 0x80
    s = np.zeros(25, np.uint64)
    _absorb_blocks(buf.view("<u8"), nb, s)
    return s[:4].astype("<u8").tobytes()


def words(b: bytes) -> np.ndarray:
    """The little-endian u32 words of b (len(b) a multiple of 4)."""
    return np.frombuffer(b, "<u4").copy()


# -- one token's steps at once (the tracer) -----------------------------------------------------------------------


@njit(**_OPTS)
def keccak_bytes(buf: np.ndarray, n: int, s: np.ndarray, out: np.ndarray, oo: int) -> None:
    """out[oo:oo+8] = keccak256(buf[:n]) as words; buf is scratch past n (>= (n // 136 + 1) * 136 bytes)."""
    nb = n // RATE + 1
    buf[n : nb * RATE] = 0
    buf[n] ^= np.uint8(0x01)
    buf[nb * RATE - 1] ^= np.uint8(0x80)
    s[:] = 0
    for blk in range(nb):
        for i in range(17):
            o = blk * RATE + 8 * i
            v = np.uint64(0)
            for k in range(8):
                v |= np.uint64(buf[o + k]) << np.uint64(8 * k)
            s[i] ^= v
        keccak_f(s, RC)
    for i in range(4):
        out[oo + 2 * i] = np.uint32(s[i] & np.uint64(0xFFFFFFFF))
        out[oo + 2 * i + 1] = np.uint32(s[i] >> np.uint64(32))


@njit(**_OPTS)
def _put_hash(buf: np.ndarray, o: int, w: np.ndarray) -> None:
    """buf[o:o+32] = the bytes of a hash held as 8 little-endian words."""
    for k in range(8):
        v = w[k]
        buf[o + 4 * k] = np.uint8(v & np.uint32(255))
        buf[o + 4 * k + 1] = np.uint8((v >> np.uint32(8)) & np.uint32(255))
        buf[o + 4 * k + 2] = np.uint8((v >> np.uint32(16)) & np.uint32(255))
        buf[o + 4 * k + 3] = np.uint8(v >> np.uint32(24))


TENS_TAG = np.frombuffer(b"tens", "<u4")[0]


@njit(**_OPTS)
def trace_token(
    vals: np.ndarray,
    offs: np.ndarray,
    dims: np.ndarray,
    ndims: np.ndarray,
    given: np.ndarray,
    given_roots: np.ndarray,
    step0: int,
    instr_hashes: np.ndarray,
    opk: np.ndarray,
    opi: np.ndarray,
    nops: np.ndarray,
    consts: np.ndarray,
    prev_roots: np.ndarray,
    token_root: np.ndarray,
    zeros: np.ndarray,
    frontier: np.ndarray,
    count: np.ndarray,
    out_roots: np.ndarray,
    records: np.ndarray,
) -> int:
    """Commit the S steps of one token and push their records into the trace builder; returns -1, or the first
    step (within the token) whose output has an element outside i32 (nothing is pushed then).

    Step j's output root: given_roots[j] if given[j] (KV caches, odd values: committed by the caller), else
    tensor_root(vals[offs[j]:offs[j+1]], "i32", dims[j, :ndims[j]]). Its operand m's root, by opk[j, m]:
    0 consts[opi], 1 this token's output opi, 2 the previous token's output opi (prev_roots), 3 token_root.
    Record j = keccak256("step" || u64 (step0 + j) || instr_hashes[j] || u8 nops[j] || operand roots ||
    output root), pushed as merkle.MerkleBuilder.push does (frontier (64, 8) words, count[0] leaves so far).
    """
    S = offs.shape[0] - 1
    for j in range(S):
        if not given[j] and not _fits_i32(vals, offs[j], offs[j + 1]):
            return j
    s = np.empty(25, np.uint64)
    msg = np.empty(65, np.uint32)
    trees = np.empty((S, 8), np.uint32)
    merkle_many(vals, offs, given, zeros, trees)  # every tensor's tree, 8 hashes at a time
    hm = np.empty(2 + 8 + 8, np.uint32)
    rec = np.zeros(((77 + 32 * opk.shape[1]) // RATE + 1) * RATE, np.uint8)
    node = np.empty((1, 8), np.uint32)
    pair = np.empty((2, 8), np.uint32)
    for j in range(S):
        if given[j]:
            out_roots[j] = given_roots[j]
        else:  # the tensor's header, then its tree's root (as i32_tensor_root)
            nd = ndims[j]
            hm[0] = TENS_TAG
            # bytes "or", dtype code 3 (i32), ndim
            hm[1] = np.uint32(0x726F) | (np.uint32(3) << np.uint32(16)) | (np.uint32(nd) << np.uint32(24))
            for d in range(nd):
                hm[2 + d] = _bswap32(np.uint32(dims[j, d]))
            hm[2 + nd : 10 + nd] = trees[j]
            keccak_words(hm, 10 + nd, s, out_roots[j], 0)
        # the record: "step" || u64 BE step || instr hash || u8 n || operand roots || output root
        rec[0], rec[1], rec[2], rec[3] = 115, 116, 101, 112
        st = step0 + j
        for k in range(8):
            rec[4 + k] = np.uint8((st >> (8 * (7 - k))) & 255)
        _put_hash(rec, 12, instr_hashes[j])
        rec[44] = np.uint8(nops[j])
        o = 45
        for m in range(nops[j]):
            kind, idx = opk[j, m], opi[j, m]
            if kind == 0:
                _put_hash(rec, o, consts[idx])
            elif kind == 1:
                _put_hash(rec, o, out_roots[idx])
            elif kind == 2:
                _put_hash(rec, o, prev_roots[idx])
            else:
                _put_hash(rec, o, token_root)
            o += 32
        _put_hash(rec, o, out_roots[j])
        keccak_bytes(rec, o + 32, s, records[j], 0)
        # push: fold the record with the pending left subtrees of the frontier
        node[0] = records[j]
        c, h = count[0], 0
        while c & 1:
            pair[0] = frontier[h]
            pair[1] = node[0]
            node_into(pair, 0, 1, 0, msg, s)
            node[0] = pair[0]
            c >>= 1
            h += 1
        frontier[h] = node[0]
        count[0] += 1
    return -1
