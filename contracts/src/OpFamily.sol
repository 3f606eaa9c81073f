// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "./Merkle.sol";
import {IOpFamily, IOneStep} from "./interfaces/IOneStep.sol";
import {Operand, Opened, OneStepIO} from "./OneStepIO.sol";

/// @title OpFamily: the one-step verifier of one op family, deployed as its own contract (docs/dispute.md, "The
/// one-step"). The OneStep router forwards each call to the family of its opcode, so families are added without
/// touching any other contract and none nears the 24 KB code limit.
/// @notice element() checks every operand header against its agreed root and every opened leaf against its header,
/// then recomputes flat output element j as engine/ops/<family>.py `element()` does. It reverts only on a bad
/// witness (header or proof mismatch, a missing leaf, operand count != the instruction's, an opcode this family
/// does not know); on any state a trace can contain it returns a value. An element j at or past the output's
/// element count is 0 (the zero padding of the output's last leaf). A family implements `arity`, `_outShape` and
/// `_element` for its opcodes (and `_emptyShape` for ops with carried state); its op parameters are read by the
/// constants `<OP>_<PARAM>` (the index of the param in ascending name order), which tests check against the
/// Python op table (engine/ops).
abstract contract OpFamily is IOpFamily {
    error UnknownOpcode(uint256 opcode);
    error OperandCount(uint256 instr, uint256 roots, uint256 operands);
    error BadArity(uint256 opcode, uint256 operands);
    error BadPosition(uint256 position);

    /// @inheritdoc IOneStep
    function element(
        bytes calldata instrBytes,
        uint256 position,
        bytes32[] calldata operandRoots,
        Operand[] calldata operands,
        uint256 j
    ) external pure returns (int256) {
        (uint256 opcode, uint256[] memory kinds, int256[] memory prm) =
            abi.decode(instrBytes, (uint256, uint256[], int256[]));
        _checkCall(opcode, kinds.length, operandRoots.length, operands.length, position);
        Opened[] memory a = new Opened[](operands.length);
        uint256[][] memory shapes = new uint256[][](operands.length);
        for (uint256 m = 0; m < a.length; ++m) {
            a[m] = OneStepIO.open(operands[m], operandRoots[m], m);
            shapes[m] = a[m].shape;
        }
        if (j >= OneStepIO.numel(_outShape(opcode, position, prm, shapes))) return 0;
        return _element(opcode, position, prm, a, j);
    }

    /// @inheritdoc IOneStep
    function outShape(bytes calldata instrBytes, uint256 position, uint256[][] calldata operandShapes)
        external
        pure
        returns (uint256[] memory)
    {
        (uint256 opcode,, int256[] memory prm) = abi.decode(instrBytes, (uint256, uint256[], int256[]));
        if (arity(opcode) == 0) revert UnknownOpcode(opcode);
        uint256[][] memory shapes = new uint256[][](operandShapes.length);
        for (uint256 m = 0; m < shapes.length; ++m) shapes[m] = operandShapes[m];
        return _outShape(opcode, position, prm, shapes);
    }

    /// @inheritdoc IOneStep
    function emptyStateRoot(bytes calldata instrBytes, uint256 context) external pure returns (bytes32) {
        (uint256 opcode,, int256[] memory prm) = abi.decode(instrBytes, (uint256, uint256[], int256[]));
        uint256[] memory s = _emptyShape(opcode, prm, context);
        if (s.length == 0) return bytes32(0);
        uint32[] memory dims = new uint32[](s.length);
        for (uint256 i = 0; i < s.length; ++i) dims[i] = uint32(s[i]); // _emptyShape clamps dims to u32
        uint256 d = Merkle.depthOf(OneStepIO.numel(s) * 4);
        return Merkle.tensorRoot(Merkle.I32, dims, Merkle.zeroHash(d));
    }

    /// @inheritdoc IOpFamily
    function arity(uint256 opcode) public pure virtual returns (uint256);

    /// The output shape of `opcode` at `position` given its operands' committed shapes (raw weights: (rows, bytes
    /// per row)); mirrors the op's Python shape(); defined (no revert) for any shapes.
    function _outShape(uint256 opcode, uint256 position, int256[] memory prm, uint256[][] memory shapes)
        internal
        pure
        virtual
        returns (uint256[] memory);

    /// Flat element j of the output of `opcode` at `position` from the opened operands (j < its element count).
    function _element(uint256 opcode, uint256 position, int256[] memory prm, Opened[] memory a, uint256 j)
        internal
        pure
        virtual
        returns (int256);

    /// The shape of the op's carried state before the first token (engine Op.empty_state: all zeros, i32) for a
    /// model of this context; () for ops without carried state (their empty-state root is 0).
    function _emptyShape(uint256, int256[] memory, uint256) internal pure virtual returns (uint256[] memory) {
        return new uint256[](0);
    }

    /// Reverts unless the call is well formed: an opcode of this family, as many roots and opened operands as
    /// the instruction has operands, that many for the op, and a u64 position (a step index is a u64).
    function _checkCall(uint256 opcode, uint256 n, uint256 nRoots, uint256 nOperands, uint256 position)
        internal
        pure
    {
        if (nRoots != n || nOperands != n) revert OperandCount(n, nRoots, nOperands);
        uint256 ar = arity(opcode);
        if (ar == 0) revert UnknownOpcode(opcode);
        if (n != ar) revert BadArity(opcode, n);
        if (position >> 64 != 0) revert BadPosition(position);
    }
}
