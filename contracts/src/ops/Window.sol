// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title WindowFamily: engine/ops/window.py (`swa_mask`, opcode 0xB0) for the one-step verifier.
/// @notice y[h, j] = s[h, j] if position - j < window, else -2^31. Fan-in of y[h, j]: s[h, j] inside the window,
/// nothing outside it.
contract WindowFamily is OpFamily {
    uint256 internal constant OP_SWA_MASK = 0xB0;
    // params (index in ascending name order)
    uint256 internal constant SWA_MASK_WINDOW = 0;
    int256 internal constant MASKED = -(2 ** 31);

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_SWA_MASK ? 1 : 0;
    }

    /// SwaMask.shape: s's shape.
    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.copy(OneStepIO.shapeOf(s, 0));
    }

    /// SwaMask.element: s[j] if position - (j mod n) < window, else MASKED (n = the row length, position + 1).
    function _element(uint256, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        uint256 n = OneStepIO.dim(a[0].shape, 1);
        uint256 col = OneStepIO.mod(j, n);
        // col <= position for every element of an (H, position + 1) row; a larger col is inside the window too
        if (col > position || position - col < OneStepIO.u(prm, SWA_MASK_WINDOW)) return OneStepIO.elem(a[0], j);
        return MASKED;
    }
}
