// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title RopeOp: engine/ops/rope.py (op `rope`, opcode 0x30) for the one-step verifier.
/// @notice At position p, head h, pair i: a = x[h*hd + 2i], b = x[h*hd + 2i + 1], c = cos[p, i], s = sin[p, i];
/// y[h*hd + 2i] = saturate(round_shift(a*c - b*s, 30), width), y[h*hd + 2i + 1] = saturate(round_shift(a*s + b*c, 30), width).
/// cos, sin: the model's i32 tables (context, hd/2) in Q30. Fan-in: 2 elements of x, one of cos, one of sin.
library RopeOp {
    uint256 internal constant OP_ROPE = 0x30;
    // params (index in ascending name order)
    uint256 internal constant ROPE_HEAD_DIM = 0;
    uint256 internal constant ROPE_N_HEADS = 1;
    uint256 internal constant ROPE_WIDTH = 2;

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
        uint256 base = j - (j % 2);
        (int256 c, int256 s) = angles(a[1], a[2], position, OneStepIO.mod(j, OneStepIO.u(prm, ROPE_HEAD_DIM)) / 2);
        return rotate(OneStepIO.elem(a[0], base), OneStepIO.elem(a[0], base + 1), c, s, j % 2 == 1, OneStepIO.p(prm, ROPE_WIDTH));
    }

    /// (cos[position, i], sin[position, i]) from the opened tables (rope.py table_fan_in).
    function angles(Opened memory cosT, Opened memory sinT, uint256 position, uint256 i)
        internal
        pure
        returns (int256 c, int256 s)
    {
        c = OneStepIO.elem(cosT, position * OneStepIO.dim(cosT.shape, 1) + i);
        s = OneStepIO.elem(sinT, position * OneStepIO.dim(sinT.shape, 1) + i);
    }

    /// rope.py rotate_element: saturate(round_shift(odd ? a*s + b*c : a*c - b*s, 30), width) for the pair
    /// (a, b) = x[2i], x[2i+1]. Every input is at most an i64 (an element or 64-bit saturated): |v| <= 2^127.
    function rotate(int256 a, int256 b, int256 c, int256 s, bool odd, int256 width) internal pure returns (int256) {
        int256 v = odd ? a * s + b * c : a * c - b * s;
        return FixedPoint.saturate(FixedPoint.roundShift(v, 30), width);
    }
}

/// @title RopeFamily: the one-step verifier of the rope family (rope).
contract RopeFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == RopeOp.OP_ROPE ? 3 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return RopeOp.ropeShape(prm, s);
    }

    function _element(uint256, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        return RopeOp.ropeElement(prm, a, position, j);
    }
}
