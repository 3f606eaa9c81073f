// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "./Merkle.sol";

/// One operand of a step as the one-step receives it (docs/dispute.md, "The one-step"): its tensor header
/// (dtype, shape, merkleRoot), which must hash to the agreed operand root, and the leaves the op's fan-in
/// needs, with one Merkle multiproof for all of them (prover/witness.py builds it).
/// - indices: the opened leaf indices, strictly increasing;
/// - leaves:  256 bytes per index, in the same order;
/// - proof:   the sibling hashes OneStepIO.verifyLeaves consumes, in the order it consumes them.
struct Operand {
    uint8 dtype;
    uint256[] shape;
    bytes32 merkleRoot;
    uint256[] indices;
    bytes leaves;
    bytes32[] proof;
}

/// An operand after its header and leaves were checked: what the op family code reads elements from.
/// numel is the element count (bytes for raw), capped at 2^64; leaves/indices are calldata offsets.
struct Opened {
    uint256 dtype;
    uint256 width;
    uint256 numel;
    uint256 leaves;
    uint256 indices;
    uint256 k;
    uint256[] shape;
}

/// @title OneStepIO: operand headers, multiproofs and element reads for the one-step verifier.
/// @notice Reads are total: an element at or past numel is 0 (no leaf needed), an element inside the
/// tensor whose leaf was not opened reverts MissingLeaf (a bad witness, never a state of a trace).
library OneStepIO {
    uint256 internal constant LEAF = 256;
    uint256 internal constant MAX_NUMEL = 1 << 64; // no tensor has more elements; caps products of dims
    uint256 internal constant MAX_DIM = (1 << 32) - 1; // dims and size params are u32 (tensor headers)

    error BadHeader(uint256 operand);
    error BadProof(uint256 operand);
    error MissingLeaf(uint256 leaf);

    /// prod(shape), capped at 2^64 (prod of no dims is 1, as numpy's size of a 0-d array).
    function numel(uint256[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; ++i) {
            uint256 d = shape[i] > MAX_NUMEL ? MAX_NUMEL : shape[i];
            n = n * d; // both <= 2^64: no overflow
            if (n > MAX_NUMEL) n = MAX_NUMEL;
        }
    }

    /// Param i of the instruction (params in ascending name order), 0 if the template has fewer.
    function p(int256[] memory prm, uint256 i) internal pure returns (int256) {
        return i < prm.length ? prm[i] : int256(0);
    }

    /// Param i as a size: clamped to [0, 2^32 - 1] (tensor dims are u32), so products of a few never overflow.
    function u(int256[] memory prm, uint256 i) internal pure returns (uint256) {
        int256 v = p(prm, i);
        return v < 0 ? 0 : v > int256(MAX_DIM) ? MAX_DIM : uint256(v);
    }

    /// Dim i of a shape, 0 if it has fewer dims.
    function dim(uint256[] memory shape, uint256 i) internal pure returns (uint256) {
        return i < shape.length ? shape[i] : 0;
    }

    /// a / b, 0 for b = 0 (Python raises ZeroDivisionError there: such a template never runs).
    function div(uint256 a, uint256 b) internal pure returns (uint256) {
        return b == 0 ? 0 : a / b;
    }

    /// a % b, 0 for b = 0.
    function mod(uint256 a, uint256 b) internal pure returns (uint256) {
        return b == 0 ? 0 : a % b;
    }

    /// ceil(a / b), 0 for b = 0.
    function ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return b == 0 ? 0 : (a + b - 1) / b;
    }

    /// min(a, b).
    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    /// (n) as a one-dim shape.
    function shape1(uint256 a) internal pure returns (uint256[] memory s) {
        s = new uint256[](1);
        s[0] = a;
    }

    /// (a, b).
    function shape2(uint256 a, uint256 b) internal pure returns (uint256[] memory s) {
        s = new uint256[](2);
        s[0] = a;
        s[1] = b;
    }

    /// (a, b, c).
    function shape3(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory s) {
        s = new uint256[](3);
        s[0] = a;
        s[1] = b;
        s[2] = c;
    }

    /// Shape m of a list of operand shapes; () if there are fewer operands (outShape is total).
    function shapeOf(uint256[][] memory s, uint256 m) internal pure returns (uint256[] memory) {
        return m < s.length ? s[m] : new uint256[](0);
    }

    /// A copy of a shape (the result of ops whose output shape is an input's).
    function copy(uint256[] memory shape) internal pure returns (uint256[] memory s) {
        s = new uint256[](shape.length);
        for (uint256 i = 0; i < shape.length; ++i) s[i] = shape[i];
    }

    /// keccak256("tensor" || u8 dtype || u8 ndim || u32 dims .. || merkleRoot) of the operand's header;
    /// reverts BadHeader(m) for an unknown dtype, ndim > 255 or a dim >= 2^32 (no root has such a header).
    function headerRoot(Operand calldata o, uint256 m) internal pure returns (bytes32) {
        (bool ok, bytes32 h) = Merkle.headerRoot(o.dtype, o.shape, o.merkleRoot);
        if (!ok) revert BadHeader(m);
        return h;
    }

    /// True iff the opened leaves (strictly increasing indices, 256 bytes each) and the multiproof hash to
    /// o.merkleRoot in a tree of the given depth, using every proof hash exactly once. Level by level, bottom
    /// up: a node whose sibling is also known is paired with it, else with the next proof hash.
    function verifyLeaves(Operand calldata o, uint256 depth) internal pure returns (bool) {
        uint256 k = o.indices.length;
        if (o.leaves.length != k * LEAF) return false;
        if (k == 0) return o.proof.length == 0;
        (bytes32[] memory hs, uint256[] memory ix, bool sorted) = leafHashes(o.leaves, o.indices);
        if (!sorted) return false;
        (uint256 n, uint256 used) = fold(hs, ix, depth, o.proof);
        // one node left, index 0 (so every index was < 2^depth), the root, every proof hash used
        return n == 1 && ix[0] == 0 && hs[0] == o.merkleRoot && used == o.proof.length;
    }

    /// (leaf hashes, indices, whether the indices strictly increase) of the opened leaves.
    function leafHashes(bytes calldata lv, uint256[] calldata idx)
        private
        pure
        returns (bytes32[] memory hs, uint256[] memory ix, bool sorted)
    {
        uint256 k = idx.length;
        hs = new bytes32[](k);
        ix = new uint256[](k);
        sorted = true;
        assembly ("memory-safe") {
            let m := mload(0x40) // scratch past the free pointer, not claimed
            mstore(m, "leaf")
            let prev := 0
            for { let t := 0 } lt(t, k) { t := add(t, 1) } {
                calldatacopy(add(m, 4), add(lv.offset, shl(8, t)), 256)
                mstore(add(hs, shl(5, add(t, 1))), keccak256(m, 260))
                let i := calldataload(add(idx.offset, shl(5, t)))
                if and(gt(t, 0), iszero(gt(i, prev))) { sorted := 0 }
                prev := i
                mstore(add(ix, shl(5, add(t, 1))), i)
            }
        }
    }

    /// Folds the known nodes (hashes hs at indices is, increasing) up `depth` levels in place, pairing known
    /// siblings and taking the others from pf in order; (nodes left, proof hashes used).
    function fold(bytes32[] memory hs, uint256[] memory ix, uint256 depth, bytes32[] calldata pf)
        private
        pure
        returns (uint256 n, uint256 used)
    {
        n = hs.length;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, "node")
            let h0 := add(hs, 0x20)
            let i0 := add(ix, 0x20)
            for { let h := 0 } lt(h, depth) { h := add(h, 1) } {
                let w := 0
                for { let t := 0 } lt(t, n) {} {
                    let i := mload(add(i0, shl(5, t)))
                    switch and(i, 1)
                    case 0 {
                        mstore(add(m, 4), mload(add(h0, shl(5, t))))
                        let t1 := add(t, 1)
                        switch and(lt(t1, n), eq(mload(add(i0, shl(5, t1))), add(i, 1)))
                        case 1 {
                            mstore(add(m, 36), mload(add(h0, shl(5, t1))))
                            t := add(t, 2)
                        }
                        default {
                            mstore(add(m, 36), calldataload(add(pf.offset, shl(5, used))))
                            used := add(used, 1)
                            t := t1
                        }
                    }
                    default {
                        mstore(add(m, 4), calldataload(add(pf.offset, shl(5, used))))
                        mstore(add(m, 36), mload(add(h0, shl(5, t))))
                        used := add(used, 1)
                        t := add(t, 1)
                    }
                    mstore(add(h0, shl(5, w)), keccak256(m, 68))
                    mstore(add(i0, shl(5, w)), shr(1, i))
                    w := add(w, 1)
                }
                n := w
            }
        }
    }

    /// The operand opened for reading: header checked against root (BadHeader(m)), leaves against the header's
    /// merkleRoot (BadProof(m)); reverts only on a bad witness.
    function open(Operand calldata o, bytes32 root, uint256 m) internal pure returns (Opened memory t) {
        if (headerRoot(o, m) != root) revert BadHeader(m);
        t.dtype = o.dtype;
        t.width = Merkle.widthOf(o.dtype);
        t.shape = o.shape;
        t.numel = numel(t.shape);
        if (!verifyLeaves(o, Merkle.depthOf(t.numel * t.width))) revert BadProof(m);
        uint256[] calldata idx = o.indices;
        bytes calldata lv = o.leaves;
        uint256 a;
        uint256 b;
        assembly ("memory-safe") {
            a := lv.offset
            b := idx.offset
        }
        t.leaves = a;
        t.indices = b;
        t.k = idx.length;
    }

    /// Position in t's opened leaves of leaf `leaf` (binary search); reverts MissingLeaf if not opened.
    function find(Opened memory t, uint256 leaf) internal pure returns (uint256 pos) {
        uint256 base = t.indices;
        uint256 k = t.k;
        uint256 lo = 0;
        uint256 hi = k;
        bool found;
        assembly ("memory-safe") {
            for {} lt(lo, hi) {} {
                let mid := shr(1, add(lo, hi))
                switch lt(calldataload(add(base, shl(5, mid))), leaf)
                case 1 { lo := add(mid, 1) }
                default { hi := mid }
            }
            found := and(lt(lo, k), eq(calldataload(add(base, shl(5, lo))), leaf))
        }
        if (!found) revert MissingLeaf(leaf);
        return lo;
    }

    /// The element at byte offset `off` of opened leaf `pos`: signed big-endian of t.width bytes (raw: unsigned).
    function load(Opened memory t, uint256 pos, uint256 off) private pure returns (int256 v) {
        uint256 w = t.width;
        uint256 signed = t.dtype;
        uint256 src = t.leaves + pos * LEAF + off;
        assembly ("memory-safe") {
            v := shr(sub(256, shl(3, w)), calldataload(src))
            if signed { v := signextend(sub(w, 1), v) }
        }
    }

    /// Flat element i of the operand; 0 for i >= numel.
    function elem(Opened memory t, uint256 i) internal pure returns (int256) {
        if (i >= t.numel) return 0;
        uint256 b = i * t.width;
        return load(t, find(t, b / LEAF), b % LEAF);
    }

    /// Elements [start, stop) of the operand (0 past numel) as int256[]: one search, then leaf by leaf.
    function range(Opened memory t, uint256 start, uint256 stop) internal pure returns (int256[] memory out) {
        out = new int256[](stop > start ? stop - start : 0);
        uint256 end = min(stop, t.numel);
        if (start >= end) return out;
        uint256 pos = find(t, (start * t.width) / LEAF);
        uint256 i = start;
        while (true) {
            i = copyLeaf(t, pos, i, end, out, start);
            if (i >= end) break;
            pos = nextLeaf(t, pos, (i * t.width) / LEAF);
        }
    }

    /// Copies the elements [i, min(end, the leaf's last + 1)) of opened leaf `pos` (the leaf holding element i)
    /// into out[i - start ..]; returns the first element not copied.
    function copyLeaf(Opened memory t, uint256 pos, uint256 i, uint256 end, int256[] memory out, uint256 start)
        private
        pure
        returns (uint256 next)
    {
        uint256 w = t.width;
        next = min(end, ((i * w) / LEAF + 1) * LEAF / w);
        uint256 src = t.leaves + pos * LEAF + (i * w) % LEAF;
        uint256 signed = t.dtype;
        assembly ("memory-safe") {
            let dst := add(add(out, 0x20), shl(5, sub(i, start)))
            let cnt := sub(next, i)
            let e := 0
            if eq(signed, 3) {
                // i32, the activations: 8 elements from each 32-byte calldata word (unaligned loads are fine)
                for {} lt(add(e, 7), cnt) { e := add(e, 8) } {
                    let x := calldataload(add(src, shl(2, e)))
                    let d := add(dst, shl(5, e))
                    mstore(d, signextend(3, shr(224, x)))
                    mstore(add(d, 0x20), signextend(3, shr(192, x)))
                    mstore(add(d, 0x40), signextend(3, shr(160, x)))
                    mstore(add(d, 0x60), signextend(3, shr(128, x)))
                    mstore(add(d, 0x80), signextend(3, shr(96, x)))
                    mstore(add(d, 0xa0), signextend(3, shr(64, x)))
                    mstore(add(d, 0xc0), signextend(3, shr(32, x)))
                    mstore(add(d, 0xe0), signextend(3, x))
                }
            }
            let sh := sub(256, shl(3, w))
            for {} lt(e, cnt) { e := add(e, 1) } {
                let v := shr(sh, calldataload(add(src, mul(e, w))))
                if signed { v := signextend(sub(w, 1), v) }
                mstore(add(dst, shl(5, e)), v)
            }
        }
    }

    /// pos + 1, checked to hold leaf `leaf` (the leaf after the one at pos); reverts MissingLeaf otherwise.
    function nextLeaf(Opened memory t, uint256 pos, uint256 leaf) private pure returns (uint256) {
        ++pos;
        if (pos >= t.k || idxAt(t, pos) != leaf) revert MissingLeaf(leaf);
        return pos;
    }

    /// Elements start + r * stride for r in [0, count) (0 past numel), reading leaves in increasing order
    /// with a forward cursor (one pass over the opened indices): a column of a row-major matrix.
    function strided(Opened memory t, uint256 start, uint256 stride, uint256 count)
        internal
        pure
        returns (int256[] memory out)
    {
        out = new int256[](count);
        uint256 pos = 0;
        uint256 k = t.k;
        uint256 w = t.width;
        for (uint256 r = 0; r < count; ++r) {
            uint256 i = start + r * stride;
            if (i >= t.numel) break; // increasing: every later one is past numel too
            uint256 b = i * w;
            uint256 leaf = b / LEAF;
            while (pos < k && idxAt(t, pos) < leaf) ++pos;
            if (pos >= k || idxAt(t, pos) != leaf) revert MissingLeaf(leaf);
            out[r] = load(t, pos, b % LEAF);
        }
    }

    /// indices[pos] of the opened operand.
    function idxAt(Opened memory t, uint256 pos) private pure returns (uint256 v) {
        uint256 a = t.indices + pos * 32;
        assembly ("memory-safe") {
            v := calldataload(a)
        }
    }

    /// Bytes [start, stop) of a raw operand (0 past numel), leaf by leaf.
    function rawBytes(Opened memory t, uint256 start, uint256 stop) internal pure returns (bytes memory out) {
        out = new bytes(stop > start ? stop - start : 0);
        uint256 end = min(stop, t.numel);
        if (start >= end || t.width != 1) return out;
        uint256 pos = find(t, start / LEAF);
        uint256 i = start;
        while (true) {
            uint256 next = min(end, (i / LEAF + 1) * LEAF);
            uint256 src = t.leaves + pos * LEAF + i % LEAF;
            uint256 dst;
            assembly ("memory-safe") {
                dst := add(add(out, 0x20), sub(i, start))
                calldatacopy(dst, src, sub(next, i))
            }
            i = next;
            if (i >= end) break;
            pos = nextLeaf(t, pos, i / LEAF);
        }
    }
}
