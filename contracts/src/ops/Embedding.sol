// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";
import {LinearOp} from "./Linear.sol";

/// @title EmbeddingOp: engine/ops/embedding.py (op `embed`, opcode 0x01) for the one-step verifier.
/// @notice h[k] = saturate(round_half_up(w[tok, k] * 2^f), width) for 0 <= tok < vocab, 0 for any other tok;
/// inputs TOKEN (1,) and W committed raw as (vocab, bytes per row), decoded by GGML type id `wtype`.
/// Fan-in of h[k]: the token and the bytes of row tok of W.
library EmbeddingOp {
    uint256 internal constant OP_EMBED = 0x01;
    // params (index in ascending name order)
    uint256 internal constant EMBED_F = 0;
    uint256 internal constant EMBED_WIDTH = 1;
    uint256 internal constant EMBED_WTYPE = 2;

    /// Embed.shape: (dim,), the columns of W's rows (bytes per row decoded by wtype).
    function embedShape(int256[] memory prm, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256 rb = OneStepIO.dim(OneStepIO.shapeOf(s, 1), 1);
        return OneStepIO.shape1(LinearOp.columns(rb, OneStepIO.u(prm, EMBED_WTYPE)));
    }

    /// Embed.element: 0 if tok is outside [0, vocab), else saturate(dequant_elem_fixed(W, tok, j, f), width).
    function embedElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 t = OneStepIO.elem(a[0], 0);
        uint256 vocab = OneStepIO.dim(a[1].shape, 0);
        if (t < 0 || uint256(t) >= vocab) return 0;
        uint256 rb = OneStepIO.dim(a[1].shape, 1);
        bytes memory row = OneStepIO.rawBytes(a[1], uint256(t) * rb, (uint256(t) + 1) * rb);
        int256 v = Quant.dequantElemFixed(row, OneStepIO.u(prm, EMBED_WTYPE), j, FixedPoint.clampShift(OneStepIO.p(prm, EMBED_F)));
        return FixedPoint.saturate(v, OneStepIO.p(prm, EMBED_WIDTH));
    }
}

/// @title EmbeddingFamily: the one-step verifier of the embedding family (embed).
contract EmbeddingFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == EmbeddingOp.OP_EMBED ? 2 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return EmbeddingOp.embedShape(prm, s);
    }

    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        return EmbeddingOp.embedElement(prm, a, j);
    }
}
