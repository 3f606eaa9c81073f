// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title GeluFamily: engine/ops/gelu.py (`geglu`, opcode 0x80) for the one-step verifier.
/// @notice y = saturate(mul_round_shift(gelu_tanh(g), u, 16 + fu - fy), width) (gelu_tanh Q16 in, Q16 out).
/// Fan-in of one output: the same index of g and of u.
contract GeluFamily is OpFamily {
    uint256 internal constant OP_GEGLU = 0x80;
    // params (index in ascending name order)
    uint256 internal constant GEGLU_FU = 0;
    uint256 internal constant GEGLU_FY = 1;
    uint256 internal constant GEGLU_WIDTH = 2;

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_GEGLU ? 2 : 0;
    }

    /// GeGLU.shape: g's shape.
    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    /// GeGLU.element: saturate(mul_round_shift(gelu_tanh(g[j]), u[j], 16 + fu - fy), width).
    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        int256 sh = 16 + FixedPoint.sat64(OneStepIO.p(prm, GEGLU_FU)) - FixedPoint.sat64(OneStepIO.p(prm, GEGLU_FY));
        int256 y = FixedPoint.mulRoundShift(Nonlinear.geluTanh(OneStepIO.elem(a[0], j)), OneStepIO.elem(a[1], j), sh);
        return FixedPoint.saturate(y, OneStepIO.p(prm, GEGLU_WIDTH));
    }
}
