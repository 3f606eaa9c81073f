// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStep.sol";
import {LinearOp} from "./Linear.sol";

/// @title EmbeddingOp: engine/ops/embedding.py (op `embed`, opcode 0x01) for the one-step verifier.
/// @notice h[k] = saturate(round_half_up(w[tok, k] * 2^f), width) for 0 <= tok < vocab, 0 for any other tok;
/// inputs TOKEN (1,) and W committed raw as (vocab, bytes per row), decoded by GGML type id `wtype`.
/// Fan-in of h[k]: the token and the bytes of row tok of W.
library EmbeddingOp {
    // params of `embed`, ascending names: f, width, wtype
    uint256 internal constant F = 0;
    uint256 internal constant WIDTH = 1;
    uint256 internal constant WTYPE = 2;

    /// Embed.shape: (dim,), the columns of W's rows (bytes per row decoded by wtype).
    function embedShape(int256[] memory prm, uint256[][] memory s) internal pure returns (uint256[] memory) {
        uint256 rb = OneStepIO.dim(OneStepIO.shapeOf(s, 1), 1);
        return OneStepIO.shape1(LinearOp.columns(rb, OneStepIO.u(prm, WTYPE)));
    }

    /// Embed.element: 0 if tok is outside [0, vocab), else saturate(dequant_elem_fixed(W, tok, j, f), width).
    function embedElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 t = OneStepIO.elem(a[0], 0);
        uint256 vocab = OneStepIO.dim(a[1].shape, 0);
        if (t < 0 || uint256(t) >= vocab) return 0;
        uint256 rb = OneStepIO.dim(a[1].shape, 1);
        bytes memory row = OneStepIO.rawBytes(a[1], uint256(t) * rb, (uint256(t) + 1) * rb);
        int256 v = Quant.dequantElemFixed(row, OneStepIO.u(prm, WTYPE), j, FixedPoint.clampShift(OneStepIO.p(prm, F)));
        return FixedPoint.saturate(v, OneStepIO.p(prm, WIDTH));
    }
}
