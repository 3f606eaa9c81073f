// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "../Merkle.sol";
import {IOneStep} from "../interfaces/IOneStep.sol";
import {Operand} from "../OneStepIO.sol";

/// @title MockOneStep: a stand-in one-step verifier for the dispute game's tests.
/// @notice Synthetic op semantics (mirrored by prover.chain.game.mock_element): element j of instruction
/// instrBytes at `position` is the low 32 bits (signed) of keccak256("mock" || instrBytes || position || j);
/// the output shape (and the empty state's shape) is the instruction's params. A test can override the value
/// or make every call revert. With `strict`, operand headers must hash to the operand roots (the real
/// verifier's first check), else BadWitness.
contract MockOneStep is IOneStep {
    bool public overrideOn;
    int256 public overrideValue;
    bool public broken;
    bool public strict = true;

    error BadWitness();
    error Broken();

    /// Make element() return `value` (on) or the synthetic value (off).
    function setOverride(bool on, int256 value) external {
        overrideOn = on;
        overrideValue = value;
    }

    /// Make every call revert with Broken() (on) or not (off).
    function setBroken(bool on) external {
        broken = on;
    }

    /// Check operand headers against operand roots (on) or not (off).
    function setStrict(bool on) external {
        strict = on;
    }

    /// The synthetic element (or the override); reverts BadWitness if strict and a header does not hash to its root.
    function element(
        bytes calldata instrBytes,
        uint256 position,
        bytes32[] calldata operandRoots,
        Operand[] calldata operands,
        uint256 j
    ) external view returns (int256) {
        if (broken) revert Broken();
        if (strict) {
            if (operands.length != operandRoots.length) revert BadWitness();
            for (uint256 i = 0; i < operands.length; ++i) {
                uint32[] memory s = new uint32[](operands[i].shape.length);
                for (uint256 d = 0; d < s.length; ++d) {
                    s[d] = uint32(operands[i].shape[d]);
                }
                if (Merkle.tensorRoot(operands[i].dtype, s, operands[i].merkleRoot) != operandRoots[i]) {
                    revert BadWitness();
                }
            }
        }
        if (overrideOn) return overrideValue;
        uint256 h = uint256(keccak256(abi.encodePacked("mock", instrBytes, position, j)));
        return int256(int32(uint32(h)));
    }

    /// The instruction's params as a shape (operand shapes and position are ignored).
    function outShape(bytes calldata instrBytes, uint256, uint256[][] calldata) external view returns (uint256[] memory) {
        if (broken) revert Broken();
        return _params(instrBytes);
    }

    /// tensorRoot(i32, params, Z_d): the all-zero i32 tensor whose shape is the instruction's params.
    function emptyStateRoot(bytes calldata instrBytes, uint256) external view returns (bytes32) {
        if (broken) revert Broken();
        uint256[] memory p = _params(instrBytes);
        uint32[] memory s = new uint32[](p.length);
        uint256 numel = 1;
        for (uint256 i = 0; i < p.length; ++i) {
            s[i] = uint32(p[i]);
            numel *= p[i];
        }
        uint256 leaves = (numel * 4 + 255) / 256;
        uint256 depth;
        while ((1 << depth) < leaves) ++depth;
        return Merkle.tensorRoot(Merkle.I32, s, Merkle.zeroHash(depth));
    }

    /// abi.decode(instrBytes, (uint256, uint256[], int256[])).params as uint256[].
    function _params(bytes calldata instrBytes) internal pure returns (uint256[] memory s) {
        (,, int256[] memory params) = abi.decode(instrBytes, (uint256, uint256[], int256[]));
        s = new uint256[](params.length);
        for (uint256 i = 0; i < params.length; ++i) {
            s[i] = uint256(params[i]);
        }
    }
}
