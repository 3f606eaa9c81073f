// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";

/// Test harness: BLS's internal functions as external views (tests/test_quorum_bls.py).
contract BLSHarness {
    function hashToG1(bytes32 domain, bytes32 msg_) external view returns (uint256, uint256) {
        return BLS.hashToG1(domain, msg_);
    }

    function hashToG1Hinted(bytes32 domain, bytes32 msg_, uint256[] calldata hints)
        external
        pure
        returns (uint256, uint256)
    {
        return BLS.hashToG1Hinted(domain, msg_, hints);
    }

    function verifyG1G2(
        bytes32 domain,
        bytes32 msg_,
        uint256[2] memory apk1,
        uint256[4] memory apk2,
        uint256[2] memory sig
    ) external view returns (bool) {
        return BLS.verifyG1G2(domain, msg_, apk1, apk2, sig);
    }

    function gamma(bytes32 msg_, uint256[2] memory apk1, uint256[4] memory apk2, uint256[2] memory sig)
        external
        pure
        returns (uint256)
    {
        return BLS.gamma(msg_, apk1, apk2, sig);
    }

    /// e(a, -G2) * e(b, q) == 1.
    function pairing2(uint256[2] memory a, uint256[2] memory b, uint256[4] memory q) external view returns (bool) {
        return BLS.pairing2(a[0], a[1], b[0], b[1], q);
    }

    function add(uint256[2] memory a, uint256[2] memory b) external view returns (uint256, uint256) {
        return BLS.add(a[0], a[1], b[0], b[1]);
    }

    function mul(uint256[2] memory a, uint256 s) external view returns (uint256, uint256) {
        return BLS.mul(a[0], a[1], s);
    }

    function isG1(uint256 x, uint256 y) external pure returns (bool) {
        return BLS.isG1(x, y);
    }
}
