// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";
import {NormOp} from "./Norm.sol";

/// @title HeadNormFamily: engine/ops/headnorm.py (`head_rmsnorm`, opcode 0x90) for the one-step verifier.
/// @notice rmsnorm (NormOp's steps) of each head's hd elements with the shared F32 gain vector (hd,): for j = h*hd + d,
/// r = rsqrt_floor(max(sum_{head h} x^2 // hd + eps, 1), 2fx, 30), nrm = round_shift(x_j * r, fx),
/// y_j = saturate(rescale(nrm * gm_d, min(30 - ge_d - fy, 62)), width). Fan-in: head h of x, bytes [4d, 4d + 4) of g.
contract HeadNormFamily is OpFamily {
    uint256 internal constant OP_HEAD_RMSNORM = 0x90;
    // params (index in ascending name order)
    uint256 internal constant HEAD_RMSNORM_EPS = 0;
    uint256 internal constant HEAD_RMSNORM_FX = 1;
    uint256 internal constant HEAD_RMSNORM_FY = 2;
    uint256 internal constant HEAD_RMSNORM_HEAD_DIM = 3;
    uint256 internal constant HEAD_RMSNORM_WIDTH = 4;

    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == OP_HEAD_RMSNORM ? 2 : 0;
    }

    /// HeadRMSNorm.shape: (n,), the length of x.
    function _outShape(uint256, uint256, int256[] memory, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0));
    }

    /// HeadRMSNorm.element: rmsnorm element d of head h = j // hd.
    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        uint256 hd = OneStepIO.u(prm, HEAD_RMSNORM_HEAD_DIM);
        if (hd == 0) return 0; // size params are >= 1 in every template (Python rejects 0)
        uint256 d = j % hd;
        int256 nrm = _normalized(prm, a[0], j - d, hd, d);
        (int256 gm, int256 ge) = Quant.fp32Decode(NormOp.gainBits(a[1], d));
        int256 y = FixedPoint.rescale(
            FixedPoint.checkedMul(nrm, gm), NormOp.gainShift(ge, OneStepIO.p(prm, HEAD_RMSNORM_FY))
        );
        return FixedPoint.saturate(y, OneStepIO.p(prm, HEAD_RMSNORM_WIDTH));
    }

    /// mul_round_shift(x[start + d], r, fx) with r = rsqrt_floor(max(sum_{head} x^2 // hd + eps, 1), 2fx, 30).
    function _normalized(int256[] memory prm, Opened memory x, uint256 start, uint256 hd, uint256 d)
        private
        pure
        returns (int256)
    {
        int256[] memory xs = OneStepIO.range(x, start, start + hd);
        int256 fx = FixedPoint.sat64(OneStepIO.p(prm, HEAD_RMSNORM_FX));
        return FixedPoint.mulRoundShift(xs[d], NormOp.inverseRms(xs, OneStepIO.p(prm, HEAD_RMSNORM_EPS), fx), fx);
    }
}
