// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Nonlinear} from "../Nonlinear.sol";

/// @title NonlinearHarness: each Nonlinear function as an external pure function, for eth_call tests,
/// plus gas probes (gasleft around the library call alone: calldata decoding is not counted).
contract NonlinearHarness {
    /// Nonlinear.isqrt(n).
    function isqrt(int256 n) external pure returns (int256) {
        return Nonlinear.isqrt(n);
    }

    /// Nonlinear.isqrtU(n).
    function isqrtU(uint256 n) external pure returns (uint256) {
        return Nonlinear.isqrtU(n);
    }

    /// Nonlinear.rsqrtFloor(v, fv, fr).
    function rsqrtFloor(int256 v, uint256 fv, uint256 fr) external pure returns (int256) {
        return Nonlinear.rsqrtFloor(v, fv, fr);
    }

    /// Nonlinear.expNeg(x).
    function expNeg(int256 x) external pure returns (int256) {
        return Nonlinear.expNeg(x);
    }

    /// Nonlinear.sigmoid(x).
    function sigmoid(int256 x) external pure returns (int256) {
        return Nonlinear.sigmoid(x);
    }

    /// Nonlinear.silu(x).
    function silu(int256 x) external pure returns (int256) {
        return Nonlinear.silu(x);
    }

    /// Nonlinear.mulSqrtRoundShift(m, n, s).
    function mulSqrtRoundShift(int256 m, uint256 n, uint256 s) external pure returns (int256) {
        return Nonlinear.mulSqrtRoundShift(m, n, s);
    }

    /// Nonlinear.tanh(x).
    function tanh(int256 x) external pure returns (int256) {
        return Nonlinear.tanh(x);
    }

    /// Nonlinear.geluTanh(x).
    function geluTanh(int256 x) external pure returns (int256) {
        return Nonlinear.geluTanh(x);
    }

    /// Nonlinear.softmaxElement(row, j).
    function softmaxElement(int256[] memory row, uint256 j) external pure returns (int256) {
        return Nonlinear.softmaxElement(row, j);
    }

    /// [Nonlinear.softmaxElement(row, j) for j in js].
    function softmaxElements(int256[] memory row, uint256[] calldata js) external pure returns (int256[] memory out) {
        out = new int256[](js.length);
        for (uint256 i = 0; i < js.length; ++i) out[i] = Nonlinear.softmaxElement(row, js[i]);
    }

    /// Nonlinear.sinCos(theta).
    function sinCos(int256 theta) external pure returns (int256 c, int256 s) {
        return Nonlinear.sinCos(theta);
    }

    /// (Nonlinear.<fn>(a[, b, c]), gas spent inside that call alone) for the scalar functions.
    function gasOf(string calldata fn, int256 a, uint256 b, uint256 c) external view returns (int256 r, uint256 g) {
        bytes32 k = keccak256(bytes(fn));
        uint256 g0;
        if (k == keccak256("isqrt")) { g0 = gasleft(); r = Nonlinear.isqrt(a); g = g0 - gasleft(); }
        else if (k == keccak256("rsqrtFloor")) { g0 = gasleft(); r = Nonlinear.rsqrtFloor(a, b, c); g = g0 - gasleft(); }
        else if (k == keccak256("expNeg")) { g0 = gasleft(); r = Nonlinear.expNeg(a); g = g0 - gasleft(); }
        else if (k == keccak256("sigmoid")) { g0 = gasleft(); r = Nonlinear.sigmoid(a); g = g0 - gasleft(); }
        else if (k == keccak256("silu")) { g0 = gasleft(); r = Nonlinear.silu(a); g = g0 - gasleft(); }
        else if (k == keccak256("tanh")) { g0 = gasleft(); r = Nonlinear.tanh(a); g = g0 - gasleft(); }
        else if (k == keccak256("geluTanh")) { g0 = gasleft(); r = Nonlinear.geluTanh(a); g = g0 - gasleft(); }
        else if (k == keccak256("mulSqrtRoundShift")) { g0 = gasleft(); r = Nonlinear.mulSqrtRoundShift(a, b, c); g = g0 - gasleft(); }
        else if (k == keccak256("sinCos")) { g0 = gasleft(); (r,) = Nonlinear.sinCos(a); g = g0 - gasleft(); }
    }

    /// (Nonlinear.softmaxElement(row, j), gas spent inside that call alone).
    function softmaxElementGas(int256[] memory row, uint256 j) external view returns (int256 r, uint256 g) {
        uint256 g0 = gasleft();
        r = Nonlinear.softmaxElement(row, j);
        g = g0 - gasleft();
    }
}
