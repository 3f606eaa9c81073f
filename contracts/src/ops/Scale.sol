// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {OpFamily} from "../OpFamily.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";

/// @title ScaleFamily: engine/ops/scale.py (`scale`, opcode 0x70) for the one-step verifier.
/// @notice y[i] = saturate(mul_round_shift(x[i], c, s), width): x times the constant c * 2^-s, rounded half up once.
/// Fan-in of y[i]: x[i].
contract ScaleFamily is OpFamily {
    uint256 internal constant OP_SCALE = 0x70;
    // params (index in ascending name order)
    uint256 internal constant SCALE_C = 0;
    uint256 internal constant SCALE_S = 1;
    uint256 internal constant SCALE_WIDTH = 2;

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_SCALE ? 1 : 0;
    }

    /// Scale.shape: x's shape.
    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    /// Scale.element: saturate(mul_round_shift(x[j], c, s), width).
    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        int256 y = FixedPoint.mulRoundShift(OneStepIO.elem(a[0], j), OneStepIO.p(prm, SCALE_C), OneStepIO.p(prm, SCALE_S));
        return FixedPoint.saturate(y, OneStepIO.p(prm, SCALE_WIDTH));
    }
}
