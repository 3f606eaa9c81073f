// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";
import {RopeOp} from "./Rope.sol";

/// @title RopeNeoxFamily: engine/ops/rope_neox.py (`rope_neox`, opcode 0xA0) for the one-step verifier.
/// @notice At position p, head h, i < hd/2: a = x[h*hd + i], b = x[h*hd + i + hd/2], c = cos[p, i], s = sin[p, i];
/// y[h*hd + i] = saturate(round_shift(a*c - b*s, 30), width), y[h*hd + i + hd/2] = saturate(round_shift(a*s + b*c, 30),
/// width). Fan-in: 2 elements of x, one of cos, one of sin.
contract RopeNeoxFamily is OpFamily {
    uint256 internal constant OP_ROPE_NEOX = 0xA0;
    // params (index in ascending name order)
    uint256 internal constant ROPE_NEOX_HEAD_DIM = 0;
    uint256 internal constant ROPE_NEOX_N_HEADS = 1;
    uint256 internal constant ROPE_NEOX_WIDTH = 2;

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_ROPE_NEOX ? 3 : 0;
    }

    /// RopeNeox.shape: (n,), the length of x.
    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0));
    }

    /// RopeNeox.element: rope.rotate_element of the pair (x[h*hd + i], x[h*hd + i + hd/2]), second half or not.
    function _element(uint256, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        uint256 half = OneStepIO.u(prm, ROPE_NEOX_HEAD_DIM) / 2;
        if (half == 0) return 0; // head_dim >= 2 in every template (Python rejects an odd or zero head_dim)
        uint256 d = j % (2 * half);
        (int256 c, int256 s) = RopeOp.angles(a[1], a[2], position, d % half);
        return _rotate(a[0], j - d + d % half, half, c, s, d >= half, OneStepIO.p(prm, ROPE_NEOX_WIDTH));
    }

    /// rope.rotate_element of the pair (x[ia], x[ia + half]) by (c, s).
    function _rotate(Opened memory x, uint256 ia, uint256 half, int256 c, int256 s, bool second, int256 width)
        private
        pure
        returns (int256)
    {
        return RopeOp.rotate(OneStepIO.elem(x, ia), OneStepIO.elem(x, ia + half), c, s, second, width);
    }
}
