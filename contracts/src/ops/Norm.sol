// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title NormOp: engine/ops/norm.py (op `rmsnorm`, opcode 0x20) for the one-step verifier.
/// @notice v = max(floor(sum_i x_i^2 / n) + eps, 1); r = rsqrt_floor(v, 2fx, 30);
/// nrm_i = round_shift(x_i * r, fx); y_i = saturate(rescale(nrm_i * gm_i, min(30 - ge_i - fy, 62)), width)
/// with g_i = gm_i * 2^ge_i the F32 gain (committed raw, 4 little-endian bytes each).
/// Fan-in of y_i: all n elements of x and bytes [4i, 4i + 4) of g.
library NormOp {
    uint256 internal constant OP_RMSNORM = 0x20;
    // params (index in ascending name order)
    uint256 internal constant RMSNORM_EPS = 0;
    uint256 internal constant RMSNORM_FX = 1;
    uint256 internal constant RMSNORM_FY = 2;
    uint256 internal constant RMSNORM_WIDTH = 3;

    /// RMSNorm.shape: (n,), the length of x.
    function rmsnormShape(int256[] memory, uint256[][] memory s) internal pure returns (uint256[] memory) {
        return OneStepIO.shape1(OneStepIO.dim(OneStepIO.shapeOf(s, 0), 0));
    }

    /// _gain_shift: min(30 - ge - fy, 62).
    function gainShift(int256 ge, int256 fy) internal pure returns (int256) {
        int256 s = 30 - FixedPoint.sat64(ge) - FixedPoint.sat64(fy); // |.| < 2^65: no overflow
        return s < 62 ? s : int256(62);
    }

    /// rsqrt_floor(max(sum x^2 // n + eps, 1), 2fx, 30): 2^30 / rms(x) in Q30 (n = len(x) >= 1).
    function inverseRms(int256[] memory xs, int256 eps, int256 fx) internal pure returns (int256) {
        uint256 n = xs.length;
        int256 sumsq;
        assembly ("memory-safe") {
            // |x| <= 2^63 (elements are at most i64), n <= 2^64: the sum stays below 2^191, no wrap
            let p := add(xs, 0x20)
            for { let end := add(p, shl(5, n)) } lt(p, end) { p := add(p, 0x20) } {
                let x := mload(p)
                sumsq := add(sumsq, mul(x, x))
            }
        }
        int256 v = sumsq / int256(n) + FixedPoint.sat64(eps); // sumsq >= 0: / floors
        if (v < 1) v = 1;
        return Nonlinear.rsqrtFloor(v, FixedPoint.clampShift(2 * fx), 30);
    }

    /// The fp32 bits of gain i: bytes [4i, 4i + 4) of g, little-endian.
    function gainBits(Opened memory g, uint256 i) internal pure returns (uint256) {
        bytes memory b = OneStepIO.rawBytes(g, 4 * i, 4 * i + 4);
        return uint256(uint8(b[0])) | (uint256(uint8(b[1])) << 8) | (uint256(uint8(b[2])) << 16)
            | (uint256(uint8(b[3])) << 24);
    }

    /// RMSNorm.element: saturate(rescale(checked_mul(mul_round_shift(x_j, r, fx), gm_j), gain_shift(ge_j, fy)), width),
    /// r = rsqrt_floor(max(sum x^2 // n + eps, 1), 2fx, 30).
    function rmsnormElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        uint256 n = a[0].numel;
        if (n == 0) return 0; // Python divides by zero: no run has an empty norm input
        int256[] memory xs = OneStepIO.range(a[0], 0, n);
        int256 fx = FixedPoint.sat64(OneStepIO.p(prm, RMSNORM_FX));
        int256 nrm = FixedPoint.mulRoundShift(j < n ? xs[j] : int256(0), inverseRms(xs, OneStepIO.p(prm, RMSNORM_EPS), fx), fx);
        (int256 gm, int256 ge) = Quant.fp32Decode(gainBits(a[1], j));
        int256 y = FixedPoint.rescale(FixedPoint.checkedMul(nrm, gm), gainShift(ge, OneStepIO.p(prm, RMSNORM_FY)));
        return FixedPoint.saturate(y, OneStepIO.p(prm, RMSNORM_WIDTH));
    }
}

/// @title NormFamily: the one-step verifier of the norm family (rmsnorm).
contract NormFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == NormOp.OP_RMSNORM ? 2 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return NormOp.rmsnormShape(prm, s);
    }

    function _element(uint256, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        return NormOp.rmsnormElement(prm, a, j);
    }
}
