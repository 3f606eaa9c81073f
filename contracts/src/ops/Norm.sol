// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";
import {Nonlinear} from "../Nonlinear.sol";
import {Quant} from "../Quant.sol";
import {Opened, OneStepIO} from "../OneStepIO.sol";
import {OpFamily} from "../OpFamily.sol";

/// @title NormOp: engine/ops/norm.py (ops `rmsnorm`, opcode 0x20, and `rmsnorm_typed`, 0x21) for the one-step
/// verifier.
/// @notice v = max(floor(sum_i x_i^2 / n) + eps, 1); r = rsqrt_floor(v, 2fx, 30);
/// nrm_i = round_shift(x_i * r, fx); y_i = saturate(rescale(nrm_i * gm_i, min(30 - ge_i - fy, 62)), width)
/// with g_i = gm_i * 2^ge_i the F32 gain (committed raw, 4 little-endian bytes each).
/// Fan-in of y_i: all n elements of x and bytes [4i, 4i + 4) of g. rmsnorm_typed: the same with g of GGML type
/// gtype (F32 0, F16 1, BF16 30; fan-in bytes [2i, 2i + 2) for the 16-bit ones; any other gtype reads as F32).
library NormOp {
    uint256 internal constant OP_RMSNORM = 0x20;
    uint256 internal constant OP_RMSNORM_TYPED = 0x21;
    // params (index in ascending name order)
    uint256 internal constant RMSNORM_EPS = 0;
    uint256 internal constant RMSNORM_FX = 1;
    uint256 internal constant RMSNORM_FY = 2;
    uint256 internal constant RMSNORM_WIDTH = 3;
    uint256 internal constant RMSNORM_TYPED_EPS = 0;
    uint256 internal constant RMSNORM_TYPED_FX = 1;
    uint256 internal constant RMSNORM_TYPED_FY = 2;
    uint256 internal constant RMSNORM_TYPED_GTYPE = 3;
    uint256 internal constant RMSNORM_TYPED_WIDTH = 4;

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
        (int256 gm, int256 ge) = Quant.fp32Decode(gainBits(a[1], j));
        return normed(prm, a, j, gm, ge, OneStepIO.p(prm, RMSNORM_WIDTH));
    }

    /// RMSNormTyped.element: RMSNorm.element with gain j decoded as GGML type gtype (F16, BF16; else F32).
    function rmsnormTypedElement(int256[] memory prm, Opened[] memory a, uint256 j) internal pure returns (int256) {
        uint256 gtype = OneStepIO.u(prm, RMSNORM_TYPED_GTYPE);
        int256 gm;
        int256 ge;
        if (gtype == Quant.F16 || gtype == Quant.BF16) {
            bytes memory b = OneStepIO.rawBytes(a[1], 2 * j, 2 * j + 2);
            uint256 bits = uint256(uint8(b[0])) | (uint256(uint8(b[1])) << 8);
            (gm, ge) = gtype == Quant.F16 ? Quant.fp16Decode(bits) : Quant.bf16Decode(bits);
        } else {
            (gm, ge) = Quant.fp32Decode(gainBits(a[1], j));
        }
        return normed(prm, a, j, gm, ge, OneStepIO.p(prm, RMSNORM_TYPED_WIDTH));
    }

    /// saturate(rescale(checked_mul(mul_round_shift(x_j, r, fx), gm), gain_shift(ge, fy)), width) for the gain
    /// gm * 2^ge of element j (eps, fx, fy are params 0, 1, 2 of both norm ops).
    function normed(int256[] memory prm, Opened[] memory a, uint256 j, int256 gm, int256 ge, int256 width)
        private
        pure
        returns (int256)
    {
        int256 nrm = normalized(prm, a, j);
        int256 y = FixedPoint.rescale(FixedPoint.checkedMul(nrm, gm), gainShift(ge, OneStepIO.p(prm, RMSNORM_FY)));
        return FixedPoint.saturate(y, width);
    }

    /// mul_round_shift(x_j, r, fx) with r = rsqrt_floor(max(sum x^2 // n + eps, 1), 2fx, 30); 0 for an empty x.
    function normalized(int256[] memory prm, Opened[] memory a, uint256 j) private pure returns (int256) {
        uint256 n = a[0].numel;
        if (n == 0) return 0; // Python divides by zero: no run has an empty norm input (and 0 * gm = 0)
        int256[] memory xs = OneStepIO.range(a[0], 0, n);
        int256 fx = FixedPoint.sat64(OneStepIO.p(prm, RMSNORM_FX));
        return FixedPoint.mulRoundShift(j < n ? xs[j] : int256(0), inverseRms(xs, OneStepIO.p(prm, RMSNORM_EPS), fx), fx);
    }
}

/// @title NormFamily: the one-step verifier of the norm family (rmsnorm, rmsnorm_typed).
contract NormFamily is OpFamily {
    /// @inheritdoc OpFamily
    function arity(uint256 opcode) public pure override returns (uint256) {
        return opcode == NormOp.OP_RMSNORM || opcode == NormOp.OP_RMSNORM_TYPED ? 2 : 0;
    }

    function _outShape(uint256, uint256, int256[] memory prm, uint256[][] memory s)
        internal
        pure
        override
        returns (uint256[] memory)
    {
        return NormOp.rmsnormShape(prm, s);
    }

    function _element(uint256 opcode, uint256, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        override
        returns (int256)
    {
        if (opcode == NormOp.OP_RMSNORM_TYPED) return NormOp.rmsnormTypedElement(prm, a, j);
        return NormOp.rmsnormElement(prm, a, j);
    }
}
