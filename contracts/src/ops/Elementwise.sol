// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Opened, OneStepIO} from "../OneStep.sol";

/// @title ElementwiseOp: engine/ops/elementwise.py (add 0x50, swiglu 0x51) for the one-step verifier.
/// @notice add: y = saturate(a + b, width); swiglu: y = saturate(mul_round_shift(silu(g), u, 16 + fu - fy), width)
/// (silu Q16 in, Q16 out). Fan-in of one output: the same index of each input.
library ElementwiseOp {
    // params of `add`: width
    uint256 internal constant ADD_WIDTH = 0;
    // params of `swiglu`, ascending names: fu, fy, width
    uint256 internal constant SW_FU = 0;
    uint256 internal constant SW_FY = 1;
    uint256 internal constant SW_WIDTH = 2;

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
        int256 s = swigluShift(OneStepIO.p(prm, SW_FU), OneStepIO.p(prm, SW_FY));
        return swiglu(OneStepIO.elem(a[0], j), OneStepIO.elem(a[1], j), s, OneStepIO.p(prm, SW_WIDTH));
    }

    /// saturate(mul_round_shift(silu(g), u, shift), width): swiglu's value (also linear_swiglu's).
    function swiglu(int256 g, int256 u, int256 shift, int256 width) internal pure returns (int256) {
        return FixedPoint.saturate(FixedPoint.mulRoundShift(Nonlinear.silu(g), u, shift), width);
    }
}
