// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title AttentionOp: engine/ops/attention.py (kv_append 0x40, attn_scores 0x41, softmax 0x42, attn_mix 0x43,
/// attn_mix_partial 0x44).
/// @notice A KV cache is the i32 tensor (context, kvd) with zero rows past the position.
/// kv_append: row p = new, rows < p = prev's, rows > p = 0.
/// attn_scores: s[h, r] = saturate(round_shift(dot(q_h, K[r, g*hd:(g+1)*hd]) * cm, fq + fk + cs - fy), width),
///   g = h // (H / H_kv), cm * 2^-cs = floor(2^30 / sqrt(hd)) * 2^-30 with trailing zero bits stripped.
/// softmax: the fixedpoint softmax of row h (Q16 in, Q30 out).
/// attn_mix_partial: part[c, h*hd + d] = saturate(round_shift(sum_{c*chunk <= r < min(n, (c+1)*chunk)} p[h, r] *
///   V[r, g*hd + d], 30 + fv - fp), width), shape (ceil(n / chunk), H*hd).
/// attn_mix: y[j] = saturate(round_shift(sum_{c<C} part[c, j], fp - fy), width), shape (W,) for part (C, W).
library AttentionOp {
    uint256 internal constant OP_KV_APPEND = 0x40;
    uint256 internal constant OP_ATTN_SCORES = 0x41;
    uint256 internal constant OP_SOFTMAX = 0x42;
    uint256 internal constant OP_ATTN_MIX = 0x43;
    uint256 internal constant OP_ATTN_MIX_PARTIAL = 0x44;
    // params (index in ascending name order)
    uint256 internal constant KV_APPEND_WIDTH_ELEMS = 0;
    uint256 internal constant ATTN_SCORES_FK = 0;
    uint256 internal constant ATTN_SCORES_FQ = 1;
    uint256 internal constant ATTN_SCORES_FY = 2;
    uint256 internal constant ATTN_SCORES_HEAD_DIM = 3;
    uint256 internal constant ATTN_SCORES_N_HEADS = 4;
    uint256 internal constant ATTN_SCORES_N_KV_HEADS = 5;
    uint256 internal constant ATTN_SCORES_WIDTH = 6;
    uint256 internal constant ATTN_MIX_PARTIAL_CHUNK = 0;
    uint256 internal constant ATTN_MIX_PARTIAL_FP = 1;
    uint256 internal constant ATTN_MIX_PARTIAL_FV = 2;
    uint256 internal constant ATTN_MIX_PARTIAL_HEAD_DIM = 3;
    uint256 internal constant ATTN_MIX_PARTIAL_N_HEADS = 4;
    uint256 internal constant ATTN_MIX_PARTIAL_N_KV_HEADS = 5;
    uint256 internal constant ATTN_MIX_PARTIAL_WIDTH = 6;
    uint256 internal constant ATTN_MIX_FP = 0;
    uint256 internal constant ATTN_MIX_FY = 1;
    uint256 internal constant ATTN_MIX_WIDTH = 2;

    /// _score_scale: (cm, cs) with cm * 2^-cs == rsqrt_floor(head_dim, 0, 30) * 2^-30 and cm odd (or 0).
    function scoreScale(uint256 headDim) internal pure returns (int256 cm, int256 cs) {
        cm = Nonlinear.rsqrtFloor(int256(headDim), 0, 30);
        cs = 30;
        while (cm != 0 && cm % 2 == 0 && cs > 0) {
            cm /= 2; // cm > 0 here (rsqrtFloor >= 0): / is exact
            cs -= 1;
        }
    }

    /// _group: h // (n_heads // n_kv_heads) (0 where Python divides by zero).
    function group(uint256 h, uint256 nHeads, uint256 nKvHeads) internal pure returns (uint256) {
        return OneStepIO.div(h, OneStepIO.div(nHeads, nKvHeads));
    }

    /// KVAppend.shape: (capacity, width), the previous cache's shape.
    function kvAppendShape(int256[] memory, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256[] memory prev = OneStepIO.shapeOf(s, 0);
        return OneStepIO.shape2(OneStepIO.dim(prev, 0), OneStepIO.dim(prev, 1));
    }

    /// KVAppend.empty_state: the shape (context, width_elems) of the all-zero cache before the first token.
    function kvAppendEmptyState(int256[] memory prm, uint256 context) internal pure returns (uint256[] memory) {
        uint256 c = context > OneStepIO.MAX_DIM ? OneStepIO.MAX_DIM : context;
        return OneStepIO.shape2(c, OneStepIO.u(prm, KV_APPEND_WIDTH_ELEMS));
    }

    /// KVAppend.element: with (r, c) = divmod(j, width): new[c] if r == p, prev[r, c] if r < p, else 0.
    function kvAppendElement(Opened[] memory a, uint256 position, uint256 j) internal pure returns (int256) {
        uint256 w = OneStepIO.dim(a[0].shape, 1);
        uint256 r = OneStepIO.div(j, w);
        if (r == position) return OneStepIO.elem(a[1], OneStepIO.mod(j, w));
        if (r < position) return OneStepIO.elem(a[0], j);
        return 0;
    }

    /// AttnScores.shape: (n_heads, position + 1).
    function attnScoresShape(int256[] memory prm, uint256 position) internal pure returns (uint256[] memory) {
        return OneStepIO.shape2(OneStepIO.u(prm, ATTN_SCORES_N_HEADS), position + 1);
    }

    /// AttnScores._shift: fq + fk + cs - fy.
    function attnScoresShift(int256[] memory prm, int256 cs) internal pure returns (int256) {
        return FixedPoint.sat64(OneStepIO.p(prm, ATTN_SCORES_FQ)) + FixedPoint.sat64(OneStepIO.p(prm, ATTN_SCORES_FK)) + cs
            - FixedPoint.sat64(OneStepIO.p(prm, ATTN_SCORES_FY));
    }

    /// dot(a, b) over their common length, exactly (|a|, |b| <= 2^63 and n < 2^64: |dot| < 2^190).
    function dot(int256[] memory a, int256[] memory b) internal pure returns (int256 acc) {
        uint256 n = a.length < b.length ? a.length : b.length;
        unchecked {
            for (uint256 d = 0; d < n; ++d) acc += a[d] * b[d];
        }
    }

    /// AttnScores.element: saturate(mul_round_shift(sum_d q[h*hd + d] * K[r, g*hd + d], cm, fq + fk + cs - fy), width),
    /// (h, r) = divmod(j, position + 1).
    function attnScoresElement(int256[] memory prm, Opened[] memory a, uint256 position, uint256 j)
        internal
        pure
        returns (int256)
    {
        uint256 hd = OneStepIO.u(prm, ATTN_SCORES_HEAD_DIM);
        (int256 cm, int256 cs) = scoreScale(hd);
        int256 acc = scoresDot(prm, a, position, j);
        return FixedPoint.saturate(FixedPoint.mulRoundShift(acc, cm, attnScoresShift(prm, cs)), OneStepIO.p(prm, ATTN_SCORES_WIDTH));
    }

    /// sum_d q[h*hd + d] * K[r, g*hd + d] with (h, r) = divmod(j, position + 1), g = _group(h).
    function scoresDot(int256[] memory prm, Opened[] memory a, uint256 position, uint256 j)
        internal
        pure
        returns (int256)
    {
        uint256 hd = OneStepIO.u(prm, ATTN_SCORES_HEAD_DIM);
        uint256 h = j / (position + 1);
        uint256 g = group(h, OneStepIO.u(prm, ATTN_SCORES_N_HEADS), OneStepIO.u(prm, ATTN_SCORES_N_KV_HEADS));
        uint256 k0 = (j % (position + 1)) * OneStepIO.dim(a[1].shape, 1) + g * hd; // K[r, g*hd]
        return dot(OneStepIO.range(a[0], h * hd, (h + 1) * hd), OneStepIO.range(a[1], k0, k0 + hd));
    }

    /// Softmax.shape: the shape of the scores.
    function softmaxShape(uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    /// Softmax.element: softmax(s[h])[c] with (h, c) = divmod(j, n), n = s.shape[1].
    function softmaxElement(Opened[] memory a, uint256 j) internal pure returns (int256) {
        uint256 n = OneStepIO.dim(a[0].shape, 1);
        uint256 h = OneStepIO.div(j, n);
        int256[] memory row = OneStepIO.range(a[0], h * n, (h + 1) * n);
        return Nonlinear.softmaxElement(row, OneStepIO.mod(j, n));
    }

    /// AttnMixPartial.shape: (ceil(n / chunk), n_heads * head_dim) with n = p.shape[1].
    function attnMixPartialShape(int256[] memory prm, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256 n = OneStepIO.dim(OneStepIO.shapeOf(s, 0), 1);
        return OneStepIO.shape2(OneStepIO.ceilDiv(n, OneStepIO.u(prm, ATTN_MIX_PARTIAL_CHUNK)), OneStepIO.u(prm, ATTN_MIX_PARTIAL_N_HEADS) * OneStepIO.u(prm, ATTN_MIX_PARTIAL_HEAD_DIM));
    }

    /// AttnMixPartial.element: saturate(round_shift(sum_{r0 <= r < r1} p[h, r] * V[r, g*hd + d], 30 + fv - fp), width),
    /// (c, h*hd + d) = divmod(j, n_heads * hd), r0 = c * chunk, r1 = min(n, r0 + chunk) (r0 < n: j < numel).
    function attnMixPartialElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 acc = partialDot(prm, a, j);
        int256 shift = 30 + FixedPoint.sat64(OneStepIO.p(prm, ATTN_MIX_PARTIAL_FV)) - FixedPoint.sat64(OneStepIO.p(prm, ATTN_MIX_PARTIAL_FP));
        return FixedPoint.saturate(FixedPoint.roundShift(acc, shift), OneStepIO.p(prm, ATTN_MIX_PARTIAL_WIDTH));
    }

    /// sum_{r0 <= r < r1} p[h, r] * V[r, col] for element j of attn_mix_partial (see mixSpan).
    function partialDot(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        (uint256 h, uint256 r0, uint256 col) = mixSpan(prm, j);
        uint256 n = OneStepIO.dim(a[0].shape, 1);
        uint256 r1 = OneStepIO.min(n, r0 + OneStepIO.u(prm, ATTN_MIX_PARTIAL_CHUNK));
        uint256 kvd = OneStepIO.dim(a[1].shape, 1);
        return dot(OneStepIO.range(a[0], h * n + r0, h * n + r1), OneStepIO.strided(a[1], r0 * kvd + col, kvd, r1 - r0));
    }

    /// AttnMixPartial._span less r1: (h, r0, col) with (c, h*hd + d) = divmod(j, n_heads * hd), r0 = c * chunk,
    /// col = _group(h) * hd + d (the V column).
    function mixSpan(int256[] memory prm, uint256 j) internal pure returns (uint256 h, uint256 r0, uint256 col) {
        uint256 hd = OneStepIO.u(prm, ATTN_MIX_PARTIAL_HEAD_DIM);
        uint256 w = OneStepIO.u(prm, ATTN_MIX_PARTIAL_N_HEADS) * hd;
        h = OneStepIO.div(OneStepIO.mod(j, w), hd);
        r0 = OneStepIO.div(j, w) * OneStepIO.u(prm, ATTN_MIX_PARTIAL_CHUNK);
        col = group(h, OneStepIO.u(prm, ATTN_MIX_PARTIAL_N_HEADS), OneStepIO.u(prm, ATTN_MIX_PARTIAL_N_KV_HEADS)) * hd + OneStepIO.mod(j, hd);
    }

    /// AttnMix.shape: (W,) for partials of shape (C, W).
    function attnMixShape(uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 0), 1));
    }

    /// AttnMix.element: saturate(round_shift(sum_{c<C} part[c, j], fp - fy), width), (C, W) = part.shape.
    /// (elements are within 2^63 and C < 2^64: the sum is exact in int256.)
    function attnMixElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256 acc) {
        int256[] memory col = OneStepIO.strided(a[0], j, OneStepIO.dim(a[0].shape, 1), OneStepIO.dim(a[0].shape, 0));
        unchecked {
            for (uint256 c = 0; c < col.length; ++c) acc += col[c];
        }
        int256 shift = FixedPoint.sat64(OneStepIO.p(prm, ATTN_MIX_FP)) - FixedPoint.sat64(OneStepIO.p(prm, ATTN_MIX_FY));
        return FixedPoint.saturate(FixedPoint.roundShift(acc, shift), OneStepIO.p(prm, ATTN_MIX_WIDTH));
    }
}

/// @title AttentionFamily: the one-step verifier of the attention family (kv_append, attn_scores, softmax,
/// attn_mix_partial, attn_mix).
contract AttentionFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        if (opcode == AttentionOp.OP_SOFTMAX || opcode == AttentionOp.OP_ATTN_MIX) return 1;
        if (opcode == AttentionOp.OP_KV_APPEND || opcode == AttentionOp.OP_ATTN_SCORES) return 2;
        if (opcode == AttentionOp.OP_ATTN_MIX_PARTIAL) return 2;
        return 0;
    }

    function _outShape(uint256 opcode, uint256 position, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        if (opcode == AttentionOp.OP_KV_APPEND) return AttentionOp.kvAppendShape(prm, s);
        if (opcode == AttentionOp.OP_ATTN_SCORES) return AttentionOp.attnScoresShape(prm, position);
        if (opcode == AttentionOp.OP_SOFTMAX) return AttentionOp.softmaxShape(s);
        if (opcode == AttentionOp.OP_ATTN_MIX_PARTIAL) return AttentionOp.attnMixPartialShape(prm, s);
        return AttentionOp.attnMixShape(s);
    }

    function _element(uint256 opcode, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        if (opcode == AttentionOp.OP_KV_APPEND) return AttentionOp.kvAppendElement(a, position, j);
        if (opcode == AttentionOp.OP_ATTN_SCORES) return AttentionOp.attnScoresElement(prm, a, position, j);
        if (opcode == AttentionOp.OP_SOFTMAX) return AttentionOp.softmaxElement(a, j);
        if (opcode == AttentionOp.OP_ATTN_MIX_PARTIAL) return AttentionOp.attnMixPartialElement(prm, a, j);
        return AttentionOp.attnMixElement(prm, a, j);
    }

    function _emptyShape(uint256 opcode, int256[] memory prm, uint256 context)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        if (opcode != AttentionOp.OP_KV_APPEND) return new uint256[](0);
        return AttentionOp.kvAppendEmptyState(prm, context);
    }
}
