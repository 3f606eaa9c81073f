// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Opened, OneStepIO} from "../OneStep.sol";

/// @title RopeOp: engine/ops/rope.py (op `rope`, opcode 0x30) for the one-step verifier.
/// @notice At position p, head h, pair i: a = x[h*hd + 2i], b = x[h*hd + 2i + 1], c = cos[p, i], s = sin[p, i];
/// y[h*hd + 2i] = saturate(round_shift(a*c - b*s, 30), width), y[h*hd + 2i + 1] = saturate(round_shift(a*s + b*c, 30), width).
/// cos, sin: the model's i32 tables (context, hd/2) in Q30. Fan-in: 2 elements of x, one of cos, one of sin.
library RopeOp {
    // params of `rope`, ascending names: head_dim, n_heads, width
    uint256 internal constant HEAD_DIM = 0;
    uint256 internal constant N_HEADS = 1;
    uint256 internal constant WIDTH = 2;

    /// Rope.shape: (n,), the length of x.
    function ropeShape(int256[] memory, uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0));
    }

    /// Rope.element: saturate(round_shift(j even ? a*c - b*s : a*s + b*c, 30), width).
    function ropeElement(int256[] memory prm, Opened[] memory a, uint256 position, uint256 j)
        internal
        pure
        returns (int256)
    {
        uint256 hd = OneStepIO.u(prm, HEAD_DIM);
        uint256 i = OneStepIO.mod(j, hd) / 2;
        uint256 base = j - (j % 2);
        int256 x0 = OneStepIO.elem(a[0], base);
        int256 x1 = OneStepIO.elem(a[0], base + 1);
        int256 c = OneStepIO.elem(a[1], position * OneStepIO.dim(a[1].shape, 1) + i);
        int256 s = OneStepIO.elem(a[2], position * OneStepIO.dim(a[2].shape, 1) + i);
        int256 v = j % 2 == 0 ? x0 * c - x1 * s : x0 * s + x1 * c; // |.| <= 2^127: no overflow
        return FixedPoint.saturate(FixedPoint.roundShift(v, 30), OneStepIO.p(prm, WIDTH));
    }
}
