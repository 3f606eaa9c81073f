// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStep.sol";

/// @title LinearOp: engine/ops/linear.py (op `linear`, opcode 0x10) for the one-step verifier.
/// @notice y[n] = saturate(round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx), width): x (K,) at fx, W a GGUF
/// matrix committed raw as (N, bytes per row) and decoded by its GGML type id `wtype`; one rounding of the
/// exact dot product (Quant.qlinearRow). Fan-in of y[n]: all K elements of x and the bytes of row n of W.
library LinearOp {
    // params of `linear`, ascending names: fx, fy, width, wtype
    uint256 internal constant FX = 0;
    uint256 internal constant FY = 1;
    uint256 internal constant WIDTH = 2;
    uint256 internal constant WTYPE = 3;

    /// Columns of a row of `rowBytes` bytes of GGML type `wtype`: rowBytes / bytes per block * block size
    /// (QuantMatrix.shape[1] from its committed raw shape); 0 for a type the engine does not import.
    function columns(uint256 rowBytes, uint256 wtype) internal pure returns (uint256) {
        (uint256 blk, uint256 bpb) = Quant.typeLayout(wtype);
        return bpb == 0 ? 0 : (rowBytes / bpb) * blk;
    }

    /// Linear.shape: (N,), the rows of W (committed (N, bytes per row)).
    function linearShape(int256[] memory, uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 1), 0));
    }

    /// Linear.element: saturate(qlinear_row(x, W, j, fx, fy), width), row j of W parsed from its bytes.
    function linearElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        int256[] memory x = OneStepIO.range(a[0], 0, a[0].numel);
        uint256 rb = OneStepIO.dim(a[1].shape, 1);
        bytes memory row = OneStepIO.rawBytes(a[1], j * rb, (j + 1) * rb);
        int256 y = Quant.qlinearRow(
            row,
            OneStepIO.u(prm, WTYPE),
            x,
            FixedPoint.clampShift(OneStepIO.p(prm, FX)),
            FixedPoint.clampShift(OneStepIO.p(prm, FY))
        );
        return FixedPoint.saturate(y, OneStepIO.p(prm, WIDTH));
    }
}
