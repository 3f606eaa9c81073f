// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "../Merkle.sol";

/// @title MerkleHarness: each Merkle function as an external pure function, plus gas probes, for tests.
contract MerkleHarness {
    /// Merkle.leafHash(leaf).
    function leafHash(bytes calldata leaf) external pure returns (bytes32) {
        return Merkle.leafHash(leaf);
    }

    /// Merkle.nodeHash(left, right).
    function nodeHash(bytes32 left, bytes32 right) external pure returns (bytes32) {
        return Merkle.nodeHash(left, right);
    }

    /// Merkle.zeroHash(h).
    function zeroHash(uint256 h) external pure returns (bytes32) {
        return Merkle.zeroHash(h);
    }

    /// Merkle.verifyProof(root, leaf, index, proof).
    function verifyProof(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return Merkle.verifyProof(root, leaf, index, proof);
    }

    /// Merkle.verifyLeaf(root, leaf, index, proof).
    function verifyLeaf(bytes32 root, bytes calldata leaf, uint256 index, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return Merkle.verifyLeaf(root, leaf, index, proof);
    }

    /// Merkle.merkleRoot(packed).
    function merkleRoot(bytes calldata packed) external pure returns (bytes32) {
        return Merkle.merkleRoot(packed);
    }

    /// Merkle.tensorRoot(dtypeCode, shape, root).
    function tensorRoot(uint8 dtypeCode, uint32[] calldata shape, bytes32 root) external pure returns (bytes32) {
        return Merkle.tensorRoot(dtypeCode, shape, root);
    }

    /// Merkle.readElement(leaf, dtypeCode, i).
    function readElement(bytes calldata leaf, uint8 dtypeCode, uint256 i) external pure returns (int256) {
        return Merkle.readElement(leaf, dtypeCode, i);
    }

    /// (Merkle.leafHash(leaf), gas spent inside that call alone).
    function leafHashGas(bytes calldata leaf) external view returns (bytes32 h, uint256 g) {
        g = gasleft();
        h = Merkle.leafHash(leaf);
        g -= gasleft();
    }

    /// (Merkle.verifyLeaf(root, leaf, index, proof), gas spent inside that call alone).
    function verifyLeafGas(bytes32 root, bytes calldata leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool ok, uint256 g)
    {
        g = gasleft();
        ok = Merkle.verifyLeaf(root, leaf, index, proof);
        g -= gasleft();
    }

    /// (Merkle.verifyProof(root, leaf, index, proof), gas spent inside that call alone).
    function verifyProofGas(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool ok, uint256 g)
    {
        g = gasleft();
        ok = Merkle.verifyProof(root, leaf, index, proof);
        g -= gasleft();
    }

    /// (Merkle.zeroHash(h), gas spent inside that call alone).
    function zeroHashGas(uint256 h) external view returns (bytes32 z, uint256 g) {
        g = gasleft();
        z = Merkle.zeroHash(h);
        g -= gasleft();
    }

    /// (Merkle.readElement(leaf, dtypeCode, i), gas spent inside that call alone).
    function readElementGas(bytes calldata leaf, uint8 dtypeCode, uint256 i) external view returns (int256 v, uint256 g) {
        g = gasleft();
        v = Merkle.readElement(leaf, dtypeCode, i);
        g -= gasleft();
    }
}
