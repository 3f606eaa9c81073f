// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title ElementwiseOp: engine/ops/elementwise.py (add 0x50, swiglu 0x51) for the one-step verifier.
/// @notice add: y = saturate(a + b, width); swiglu: y = saturate(mul_round_shift(silu(g), u, 16 + fu - fy), width)
/// (silu Q16 in, Q16 out). Fan-in of one output: the same index of each input.
library ElementwiseOp {
    uint256 internal constant OP_ADD = 0x50;
    uint256 internal constant OP_SWIGLU = 0x51;
    // params (index in ascending name order)
    uint256 internal constant ADD_WIDTH = 0;
    uint256 internal constant SWIGLU_FU = 0;
    uint256 internal constant SWIGLU_FY = 1;
    uint256 internal constant SWIGLU_WIDTH = 2;

    /// _Pointwise.shape: the first operand's shape.
    function pointwiseShape(uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    /// Add.element: saturate(checked_add(a[j], b[j]), width).
    function addElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        return add(OneStepIO.elem(a[0], j), OneStepIO.elem(a[1], j), OneStepIO.p(prm, ADD_WIDTH));
    }

    /// saturate(checked_add(a, b), width): add's value (also linear_add's).
    function add(int256 a, int256 b, int256 width) internal pure returns (int256) {
        return FixedPoint.saturate(FixedPoint.checkedAdd(a, b), width);
    }

    /// SwiGLU._shift: 16 + fu - fy.
    function swigluShift(int256 fu, int256 fy) internal pure returns (int256) {
        return 16 + FixedPoint.sat64(fu) - FixedPoint.sat64(fy);
    }

    /// SwiGLU.element: saturate(mul_round_shift(silu(g[j]), u[j], 16 + fu - fy), width).
    function swigluElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256 s = swigluShift(OneStepIO.p(prm, SWIGLU_FU), OneStepIO.p(prm, SWIGLU_FY));
        return swiglu(OneStepIO.elem(a[0], j), OneStepIO.elem(a[1], j), s, OneStepIO.p(prm, SWIGLU_WIDTH));
    }

    /// saturate(mul_round_shift(silu(g), u, shift), width): swiglu's value (also linear_swiglu's).
    function swiglu(int256 g, int256 u, int256 shift, int256 width) internal pure returns (int256) {
        return FixedPoint.saturate(FixedPoint.mulRoundShift(Nonlinear.silu(g), u, shift), width);
    }
}

/// @title ElementwiseFamily: the one-step verifier of the elementwise family (add, swiglu).
contract ElementwiseFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == ElementwiseOp.OP_ADD || opcode == ElementwiseOp.OP_SWIGLU ? 2 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return ElementwiseOp.pointwiseShape(s);
    }

    function _element(uint256 opcode, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        if (opcode == ElementwiseOp.OP_ADD) return ElementwiseOp.addElement(prm, a, j);
        return ElementwiseOp.swigluElement(prm, a, j);
    }
}
