// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Quant} from "../Quant.sol";

/// @title QuantHarness: each Quant function as an external pure function, for eth_call tests, plus gas
/// probes (gasleft around the library call alone: calldata decoding and copying are not counted).
contract QuantHarness {
    /// Quant.fp16Decode(bits).
    function fp16Decode(uint256 bits) external pure returns (int256 mant, int256 exp) {
        return Quant.fp16Decode(bits);
    }

    /// Quant.fp32Decode(bits).
    function fp32Decode(uint256 bits) external pure returns (int256 mant, int256 exp) {
        return Quant.fp32Decode(bits);
    }

    /// Quant.bf16Decode(bits).
    function bf16Decode(uint256 bits) external pure returns (int256 mant, int256 exp) {
        return Quant.bf16Decode(bits);
    }

    /// keccak256(abi.encode(Quant.bf16Decode(b) for b in [lo, hi))).
    function bf16DecodeRangeHash(uint256 lo, uint256 hi) external pure returns (bytes32 h) {
        for (uint256 b = lo; b < hi; ++b) {
            (int256 m, int256 e) = Quant.bf16Decode(b);
            h = keccak256(abi.encode(h, m, e));
        }
    }

    /// keccak256(abi.encode(Quant.fp16Decode(b) for b in [lo, hi))): an exhaustive check in a few calls.
    function fp16DecodeRangeHash(uint256 lo, uint256 hi) external pure returns (bytes32 h) {
        for (uint256 b = lo; b < hi; ++b) {
            (int256 m, int256 e) = Quant.fp16Decode(b);
            h = keccak256(abi.encode(h, m, e));
        }
    }

    /// Quant.qlinearRow(row, wtype, x, fx, fy).
    function qlinearRow(bytes memory row, uint256 wtype, int256[] memory x, uint256 fx, uint256 fy)
        external
        pure
        returns (int256)
    {
        return Quant.qlinearRow(row, wtype, x, fx, fy);
    }

    /// Quant.dequantElemFixed(row, wtype, k, f).
    function dequantElemFixed(bytes memory row, uint256 wtype, uint256 k, uint256 f) external pure returns (int256) {
        return Quant.dequantElemFixed(row, wtype, k, f);
    }

    /// [Quant.dequantElemFixed(row, wtype, ks[i], fs[i]) for each i] (one call for many elements of a row).
    function dequantElems(bytes memory row, uint256 wtype, uint256[] calldata ks, uint256[] calldata fs)
        external
        pure
        returns (int256[] memory out)
    {
        out = new int256[](ks.length);
        for (uint256 i = 0; i < ks.length && i < fs.length; ++i) out[i] = Quant.dequantElemFixed(row, wtype, ks[i], fs[i]);
    }

    /// (Quant.qlinearRow(row, wtype, x, fx, fy), gas spent inside that call alone).
    function qlinearRowGas(bytes memory row, uint256 wtype, int256[] memory x, uint256 fx, uint256 fy)
        external
        view
        returns (int256 r, uint256 g)
    {
        uint256 g0 = gasleft();
        r = Quant.qlinearRow(row, wtype, x, fx, fy);
        g = g0 - gasleft();
    }

    /// (Quant.dequantElemFixed(row, wtype, k, f), gas spent inside that call alone).
    function dequantElemFixedGas(bytes memory row, uint256 wtype, uint256 k, uint256 f)
        external
        view
        returns (int256 r, uint256 g)
    {
        uint256 g0 = gasleft();
        r = Quant.dequantElemFixed(row, wtype, k, f);
        g = g0 - gasleft();
    }
}
