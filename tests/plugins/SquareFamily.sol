// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "FixedPoint.sol";
import {OpFamily} from "OpFamily.sol";
import {Opened, OneStepIO} from "OneStepIO.sol";

/// @title SquareFamily: tests/plugins/square_op.py's `square` (0x7F01): y[i] = saturate(round_shift(x[i]^2, f), width).
contract SquareFamily is OpFamily {
    uint256 internal constant OP_SQUARE = 0x7F01;
    // params (index in ascending name order)
    uint256 internal constant SQUARE_F = 0;
    uint256 internal constant SQUARE_WIDTH = 1;

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_SQUARE ? 1 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        int256 x = OneStepIO.elem(a[0], j);
        int256 y = FixedPoint.roundShift(FixedPoint.checkedMul(x, x), OneStepIO.p(prm, SQUARE_F));
        return FixedPoint.saturate(y, OneStepIO.p(prm, SQUARE_WIDTH));
    }
}
