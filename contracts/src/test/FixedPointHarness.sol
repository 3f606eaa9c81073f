// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FixedPoint} from "../FixedPoint.sol";

/// @title FixedPointHarness: each FixedPoint function as an external pure function, for eth_call tests.
contract FixedPointHarness {
    /// FixedPoint.sat64(x).
    function sat64(int256 x) external pure returns (int256) {
        return FixedPoint.sat64(x);
    }

    /// FixedPoint.roundShift(x, s).
    function roundShift(int256 x, int256 s) external pure returns (int256) {
        return FixedPoint.roundShift(x, s);
    }

    /// FixedPoint.floorShift(x, s).
    function floorShift(int256 x, int256 s) external pure returns (int256) {
        return FixedPoint.floorShift(x, s);
    }

    /// FixedPoint.shiftLeft(x, s).
    function shiftLeft(int256 x, int256 s) external pure returns (int256) {
        return FixedPoint.shiftLeft(x, s);
    }

    /// FixedPoint.rescale(x, s).
    function rescale(int256 x, int256 s) external pure returns (int256) {
        return FixedPoint.rescale(x, s);
    }

    /// FixedPoint.saturate(x, bits).
    function saturate(int256 x, int256 bits) external pure returns (int256) {
        return FixedPoint.saturate(x, bits);
    }

    /// FixedPoint.checkedAdd(a, b).
    function checkedAdd(int256 a, int256 b) external pure returns (int256) {
        return FixedPoint.checkedAdd(a, b);
    }

    /// FixedPoint.checkedMul(a, b).
    function checkedMul(int256 a, int256 b) external pure returns (int256) {
        return FixedPoint.checkedMul(a, b);
    }

    /// FixedPoint.floorDiv(a, b).
    function floorDiv(int256 a, int256 b) external pure returns (int256) {
        return FixedPoint.floorDiv(a, b);
    }

    /// FixedPoint.roundDiv(a, b).
    function roundDiv(int256 a, int256 b) external pure returns (int256) {
        return FixedPoint.roundDiv(a, b);
    }

    /// FixedPoint.mulRoundShift(a, b, s).
    function mulRoundShift(int256 a, int256 b, int256 s) external pure returns (int256) {
        return FixedPoint.mulRoundShift(a, b, s);
    }

    /// (FixedPoint.<fn>(a, b[, c]), gas spent inside that call alone) with fn its name; for gas reports.
    function gasOf(string calldata fn, int256 a, int256 b, int256 c) external view returns (int256 r, uint256 g) {
        bytes32 k = keccak256(bytes(fn));
        uint256 g0;
        if (k == keccak256("roundShift")) { g0 = gasleft(); r = FixedPoint.roundShift(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("floorShift")) { g0 = gasleft(); r = FixedPoint.floorShift(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("shiftLeft")) { g0 = gasleft(); r = FixedPoint.shiftLeft(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("rescale")) { g0 = gasleft(); r = FixedPoint.rescale(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("saturate")) { g0 = gasleft(); r = FixedPoint.saturate(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("checkedAdd")) { g0 = gasleft(); r = FixedPoint.checkedAdd(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("checkedMul")) { g0 = gasleft(); r = FixedPoint.checkedMul(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("floorDiv")) { g0 = gasleft(); r = FixedPoint.floorDiv(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("roundDiv")) { g0 = gasleft(); r = FixedPoint.roundDiv(a, b); g = g0 - gasleft(); }
        else if (k == keccak256("mulRoundShift")) { g0 = gasleft(); r = FixedPoint.mulRoundShift(a, b, c); g = g0 - gasleft(); }
    }
}
