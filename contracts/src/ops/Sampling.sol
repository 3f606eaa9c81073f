// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title SamplingOp: engine/ops/sampling.py (topk_chunk 0x60, topk_merge 0x61, sample 0x62) for the one-step.
/// @notice Candidates (value, index) order by value descending, then index ascending; lists shorter than k are
/// padded with (PAD_VALUE, -1) = (-2^31, -1).
/// topk_chunk (x (V,); chunk, k) -> (ceil(V/chunk), k, 2): the k best of each chunk of consecutive entries.
/// topk_merge (c (n, k', 2); group, k) -> (ceil(n/group), k, 2): the k best of each group of candidate lists.
/// sample (c (1, k, 2); run (4,)) -> (1,): greedy if temperature <= 0 or top_k <= 1, else the first i with
/// e_0 + .. + e_i > keccak256("sample" || u64 seed || u64 position) mod sum(e), e_i = exp_neg(round_div((v_i - v_0) 2^16, T)).
library SamplingOp {
    int256 internal constant PAD_VALUE = -(1 << 31);
    uint256 internal constant OP_TOPK_CHUNK = 0x60;
    uint256 internal constant OP_TOPK_MERGE = 0x61;
    uint256 internal constant OP_SAMPLE = 0x62;
    // params (index in ascending name order)
    uint256 internal constant TOPK_CHUNK_CHUNK = 0;
    uint256 internal constant TOPK_CHUNK_K = 1;
    uint256 internal constant TOPK_MERGE_GROUP = 0;
    uint256 internal constant TOPK_MERGE_K = 1;

    /// The candidate (v, t) as one word ordered like the candidates: a larger key is a better candidate
    /// (value descending, then index ascending). |v|, |t| < 2^126, so both halves lie in (0, 2^128).
    function candKey(int256 v, int256 t) internal pure returns (uint256) {
        return (uint256(v + (1 << 127)) << 128) | uint256((1 << 127) - 1 - t);
    }

    /// The candidate of a key (inverse of candKey).
    function candOf(uint256 key) internal pure returns (int256 v, int256 t) {
        v = int256(key >> 128) - (1 << 127);
        t = (1 << 127) - 1 - int256(key & type(uint128).max);
    }

    /// _best_k_ref(pairs, k)[r]: the candidate of rank r (0 = best) among the keys, or (PAD_VALUE, -1) if there
    /// are at most r of them. Keeps the r + 1 best keys seen so far sorted best first: a key better than the
    /// worst kept is placed by binary search and the tail moved up one word (mcopy); at worst
    /// n (log2(r + 1) compares + one (r + 1)-word copy).
    function bestAt(uint256[] memory keys, uint256 r) internal pure returns (int256 v, int256 t) {
        uint256 n = keys.length;
        if (r >= n) return (PAD_VALUE, -1);
        uint256 m = r + 1;
        uint256[] memory best = new uint256[](m);
        uint256 key;
        assembly ("memory-safe") {
            let b := add(best, 0x20)
            let cnt := 0
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let x := mload(add(keys, shl(5, add(i, 1))))
                // once m are kept, only a key better than the worst kept enters
                if or(lt(cnt, m), gt(x, mload(add(b, shl(5, sub(m, 1)))))) {
                    let lo := 0
                    let hi := cnt
                    for {} lt(lo, hi) {} {
                        let mid := shr(1, add(lo, hi))
                        switch lt(mload(add(b, shl(5, mid))), x)
                        case 1 { hi := mid }
                        default { lo := add(mid, 1) }
                    }
                    let last := cnt // the kept keys after the insertion point move up one slot,
                    if eq(cnt, m) { last := sub(m, 1) } // dropping the worst once m are kept
                    mcopy(add(b, shl(5, add(lo, 1))), add(b, shl(5, lo)), shl(5, sub(last, lo)))
                    mstore(add(b, shl(5, lo)), x)
                    if lt(cnt, m) { cnt := add(cnt, 1) }
                }
            }
            key := mload(add(b, shl(5, r)))
        }
        return candOf(key);
    }

    /// candKey of every pair (vals[2i], vals[2i + 1]), or of (vals[i], first + i) when pairs is false, written
    /// over vals (which is shortened to the key count and returned as the keys).
    function keysOf(int256[] memory vals, bool pairs, uint256 first) internal pure returns (uint256[] memory keys) {
        uint256 n = pairs ? vals.length / 2 : vals.length;
        int256 half = 1 << 127;
        assembly ("memory-safe") {
            keys := vals
            let p := add(vals, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let v := 0
                let t := 0
                switch pairs
                case 0 {
                    v := mload(add(p, shl(5, i)))
                    t := add(first, i)
                }
                default {
                    v := mload(add(p, shl(6, i)))
                    t := mload(add(p, add(shl(6, i), 0x20)))
                }
                // |v|, |t| < 2^126 (elements are at most i64, first + i < 2^65): no wrap; key i is written
                // after elements >= i (or >= 2i) were read
                mstore(add(p, shl(5, i)), or(shl(128, add(v, half)), sub(sub(half, 1), t)))
            }
            mstore(keys, n)
        }
    }

    /// TopKChunk.shape: (ceil(V / chunk), k, 2).
    function topkChunkShape(int256[] memory prm, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256 v = OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0);
        return OneStepIO.shape3(OneStepIO.ceilDiv(v, OneStepIO.u(prm, TOPK_CHUNK_CHUNK)), OneStepIO.u(prm, TOPK_CHUNK_K), 2);
    }

    /// TopKChunk.element: _best_k_ref([(x[t], t) for t in chunk i], k)[r][f] with (i, rest) = divmod(j, 2k), (r, f) = divmod(rest, 2).
    function topkChunkElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        uint256 c = OneStepIO.u(prm, TOPK_CHUNK_CHUNK);
        uint256 k2 = 2 * OneStepIO.u(prm, TOPK_CHUNK_K);
        uint256 i = OneStepIO.div(j, k2);
        uint256 rest = OneStepIO.mod(j, k2);
        uint256 lo = i * c;
        uint256 hi = OneStepIO.min((i + 1) * c, a[0].numel);
        int256[] memory vals = OneStepIO.range(a[0], lo, hi > lo ? hi : lo);
        (int256 v, int256 tk) = bestAt(keysOf(vals, false, lo), rest / 2);
        return rest % 2 == 0 ? v : tk;
    }

    /// TopKMerge.shape: (ceil(n / group), k, 2).
    function topkMergeShape(int256[] memory prm, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256 n = OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0);
        return OneStepIO.shape3(OneStepIO.ceilDiv(n, OneStepIO.u(prm, TOPK_MERGE_GROUP)), OneStepIO.u(prm, TOPK_MERGE_K), 2);
    }

    /// TopKMerge.element: _best_k_ref(all pairs of lists [i*group, (i+1)*group), k)[r][f], (i, rest) = divmod(j, 2k), (r, f) = divmod(rest, 2).
    function topkMergeElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        uint256 g = OneStepIO.u(prm, TOPK_MERGE_GROUP);
        uint256 k2 = 2 * OneStepIO.u(prm, TOPK_MERGE_K);
        uint256 i = OneStepIO.div(j, k2);
        uint256 rest = OneStepIO.mod(j, k2);
        uint256 per = 2 * OneStepIO.dim(a[0].shape, 1);
        uint256 rows = OneStepIO.dim(a[0].shape, 0);
        uint256 lo = i * g;
        uint256 hi = OneStepIO.min((i + 1) * g, rows);
        uint256 npairs = hi > lo ? (hi - lo) * per / 2 : 0;
        int256[] memory flat = OneStepIO.range(a[0], lo * per, lo * per + 2 * npairs);
        (int256 v, int256 tk) = bestAt(keysOf(flat, true, 0), rest / 2);
        return rest % 2 == 0 ? v : tk;
    }

    /// Sample.shape: (1,).
    function sampleShape() internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(1);
    }

    /// sample_draw: keccak256("sample" || u64 seed || u64 position) as a big-endian integer, mod total (total >= 1).
    function sampleDraw(int256 seed, uint256 position, uint256 total) internal pure returns (uint256) {
        bytes32 h = keccak256(abi.encodePacked("sample", uint64(uint256(seed)), uint64(position)));
        return uint256(h) % total;
    }

    /// Sample.element (sample_ref): the chosen token id of the candidates c[0] under run = [T, top_k, seed, _].
    function sampleElement(Opened[] memory a, uint256 position, uint256) internal pure returns (int256) {
        uint256 k = OneStepIO.dim(a[0].shape, 1);
        int256 temperature = OneStepIO.elem(a[1], 0);
        int256 topK = OneStepIO.elem(a[1], 1);
        if (temperature <= 0 || topK <= 1) return OneStepIO.elem(a[0], 1);
        uint256 m = uint256(topK) < k ? uint256(topK) : k;
        int256[] memory c = OneStepIO.range(a[0], 0, 2 * m);
        int256 v0 = c.length > 0 ? c[0] : int256(0);
        uint256[] memory es = new uint256[](m);
        uint256 total = 0;
        for (uint256 i = 0; i < m; ++i) {
            if (c[2 * i + 1] < 0) continue; // padding: never chosen
            int256 z = FixedPoint.roundDiv((c[2 * i] - v0) * (1 << 16), temperature);
            int256 e = Nonlinear.expNeg(z);
            es[i] = e > 0 ? uint256(e) : 0;
            total += es[i];
        }
        uint256 r = sampleDraw(OneStepIO.elem(a[1], 2), position, total > 1 ? total : 1);
        uint256 acc = 0;
        for (uint256 i = 0; i < m; ++i) {
            acc += es[i];
            if (acc > r) return c[2 * i + 1];
        }
        return c.length > 1 ? c[1] : int256(0);
    }
}

/// @title SamplingFamily: the one-step verifier of the sampling family (topk_chunk, topk_merge, sample).
contract SamplingFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        if (opcode == SamplingOp.OP_TOPK_CHUNK || opcode == SamplingOp.OP_TOPK_MERGE) return 1;
        if (opcode == SamplingOp.OP_SAMPLE) return 2;
        return 0;
    }

    function _outShape(uint256 opcode, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        if (opcode == SamplingOp.OP_TOPK_CHUNK) return SamplingOp.topkChunkShape(prm, s);
        if (opcode == SamplingOp.OP_TOPK_MERGE) return SamplingOp.topkMergeShape(prm, s);
        return SamplingOp.sampleShape();
    }

    function _element(uint256 opcode, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        if (opcode == SamplingOp.OP_TOPK_CHUNK) return SamplingOp.topkChunkElement(prm, a, j);
        if (opcode == SamplingOp.OP_TOPK_MERGE) return SamplingOp.topkMergeElement(prm, a, j);
        return SamplingOp.sampleElement(a, position, j);
    }
}
