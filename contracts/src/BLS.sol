// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A point the precompiles refuse (not on the curve, not in the group, a coordinate >= p).
error BadPoint();
/// Hash-to-curve hints that do not prove hashToG1's point (BLS.hashToG1Hinted).
error BadHint();

/// @title BLS: BLS signatures over BN254 with the EVM's precompiles (ecAdd 0x06, ecMul 0x07, ecPairing 0x08,
/// modexp 0x05): the mirror of prover/quorum/bls.py, which is the spec (docs/quorum.md).
/// @notice A G1 point is [x, y]; a G2 point is [x_im, x_re, y_im, y_re] (EIP-197: each F_p^2 coordinate imaginary
/// part first); [0, 0] is G1's point at infinity. Signatures and hashed messages are in G1, the key a pairing
/// checks against is in G2.
library BLS {
    uint256 internal constant P = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant SQRT_EXP = 0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52; // (p+1)/4

    // -G2, the generator negated (y -> -y), in the precompile's order
    uint256 internal constant NG2_X_IM = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant NG2_X_RE = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant NG2_Y_IM = 17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 internal constant NG2_Y_RE = 13392588948715843804641432497768002650278120570034223513918757245338268106653;

    /// a + b in G1 (precompile 0x06); BadPoint if either is not a G1 point.
    function add(uint256 ax, uint256 ay, uint256 bx, uint256 by) internal view returns (uint256 x, uint256 y) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, ax)
            mstore(add(m, 0x20), ay)
            mstore(add(m, 0x40), bx)
            mstore(add(m, 0x60), by)
            ok := staticcall(gas(), 0x06, m, 0x80, m, 0x40)
            x := mload(m)
            y := mload(add(m, 0x20))
        }
        if (!ok) revert BadPoint();
    }

    /// s * a in G1 (precompile 0x07); BadPoint if a is not a G1 point.
    function mul(uint256 ax, uint256 ay, uint256 s) internal view returns (uint256 x, uint256 y) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, ax)
            mstore(add(m, 0x20), ay)
            mstore(add(m, 0x40), s)
            ok := staticcall(gas(), 0x07, m, 0x60, m, 0x40)
            x := mload(m)
            y := mload(add(m, 0x20))
        }
        if (!ok) revert BadPoint();
    }

    /// -a in G1: (x, p - y), the point at infinity for itself.
    function neg(uint256 ax, uint256 ay) internal pure returns (uint256, uint256) {
        return (ax, ay == 0 ? 0 : P - ay);
    }

    /// x < p, y < p, y^2 == x^3 + 3 (mod p), and not the point at infinity.
    function isG1(uint256 x, uint256 y) internal pure returns (bool) {
        if (x >= P || y >= P || (x == 0 && y == 0)) return false;
        return mulmod(y, y, P) == addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
    }

    /// H(domain, msg) (bls.py hash_to_g1): for ctr = 0, 1, ..: x = keccak256(domain || msg || uint256 ctr) mod p,
    /// f = x^3 + 3, y = f^((p+1)/4); the first ctr with y^2 == f gives (x, the even one of y and p - y).
    function hashToG1(bytes32 domain, bytes32 msg_) internal view returns (uint256 x, uint256 y) {
        for (uint256 ctr = 0; ctr < 256; ++ctr) {
            x = uint256(keccak256(abi.encodePacked(domain, msg_, ctr))) % P;
            uint256 f = addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
            y = _sqrtCandidate(f);
            if (mulmod(y, y, P) == f) {
                if (y & 1 == 1) y = P - y;
                return (x, y);
            }
        }
        revert BadPoint(); // unreachable but with probability 2^-256
    }

    /// hashToG1 checked from hints instead of computed (no modexp): with n = hints.length >= 1, hints[c] for c < n - 1
    /// is a square root of p - f(x_c) (so f(x_c) is no square: -1 is none mod p = 3 mod 4), and hints[n - 1] is the
    /// even square root y < p of f(x_{n-1}). Exactly hashToG1's point is accepted; BadHint for anything else.
    function hashToG1Hinted(bytes32 domain, bytes32 msg_, uint256[] calldata hints)
        internal
        pure
        returns (uint256 x, uint256 y)
    {
        uint256 n = hints.length;
        if (n == 0 || n > 256) revert BadHint();
        for (uint256 ctr = 0; ctr < n; ++ctr) {
            assembly ("memory-safe") {
                let m := mload(0x40) // scratch above the free pointer: no allocation a counter
                mstore(m, domain)
                mstore(add(m, 0x20), msg_)
                mstore(add(m, 0x40), ctr)
                x := mod(keccak256(m, 0x60), P)
            }
            uint256 f = addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
            uint256 h = hints[ctr];
            if (ctr + 1 < n) {
                if (mulmod(h, h, P) != P - f) revert BadHint(); // f != 0: G1 has no point with y = 0
            } else {
                if (h >= P || h & 1 == 1 || mulmod(h, h, P) != f) revert BadHint();
                y = h;
            }
        }
    }

    /// f^((p+1)/4) mod p by the modexp precompile (a square root of f when f is a square).
    function _sqrtCandidate(uint256 f) private view returns (uint256 r) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x60), f)
            mstore(add(m, 0x80), SQRT_EXP)
            mstore(add(m, 0xa0), P)
            ok := staticcall(gas(), 0x05, m, 0xc0, m, 0x20)
            r := mload(m)
        }
        if (!ok) revert BadPoint();
    }

    /// uint256(keccak256(msg || apk1 || apk2 || sig)) mod r: the Fiat-Shamir weight binding the two checks.
    function gamma(bytes32 msg_, uint256[2] memory apk1, uint256[4] memory apk2, uint256[2] memory sig)
        internal
        pure
        returns (uint256)
    {
        return uint256(
            keccak256(abi.encodePacked(msg_, apk1[0], apk1[1], apk2[0], apk2[1], apk2[2], apk2[3], sig[0], sig[1]))
        ) % R;
    }

    /// e(sig + g*apk1, -G2) * e(H(domain, msg) + g*G1, apk2) == 1 with g = gamma(msg, apk1, apk2, sig): sig signs
    /// msg under apk2 and apk1 (G1) has apk2's discrete log, but with probability ~1/r (bls.py verify_g1g2).
    /// BadPoint if apk1 or sig is not a G1 point or apk2 is not a G2 point of order r (the pairing precompile checks).
    function verifyG1G2(
        bytes32 domain,
        bytes32 msg_,
        uint256[2] memory apk1,
        uint256[4] memory apk2,
        uint256[2] memory sig
    ) internal view returns (bool) {
        uint256[2] memory h;
        (h[0], h[1]) = hashToG1(domain, msg_);
        return verifyG1G2At(msg_, h, apk1, apk2, sig);
    }

    /// verifyG1G2 with h = H(domain, msg) already computed (or checked from hints).
    function verifyG1G2At(
        bytes32 msg_,
        uint256[2] memory h,
        uint256[2] memory apk1,
        uint256[4] memory apk2,
        uint256[2] memory sig
    ) internal view returns (bool) {
        uint256 g = gamma(msg_, apk1, apk2, sig);
        (uint256 ax, uint256 ay) = mul(apk1[0], apk1[1], g);
        (ax, ay) = add(sig[0], sig[1], ax, ay);
        (uint256 gx, uint256 gy) = mul(1, 2, g);
        (gx, gy) = add(h[0], h[1], gx, gy);
        return pairing2(ax, ay, gx, gy, apk2);
    }

    /// e((ax, ay), -G2) * e((bx, by), q) == 1 (precompile 0x08); BadPoint if the precompile refuses the input.
    function pairing2(uint256 ax, uint256 ay, uint256 bx, uint256 by, uint256[4] memory q)
        internal
        view
        returns (bool)
    {
        bool ok;
        uint256 res;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, ax)
            mstore(add(m, 0x20), ay)
            mstore(add(m, 0x40), NG2_X_IM)
            mstore(add(m, 0x60), NG2_X_RE)
            mstore(add(m, 0x80), NG2_Y_IM)
            mstore(add(m, 0xa0), NG2_Y_RE)
            mstore(add(m, 0xc0), bx)
            mstore(add(m, 0xe0), by)
            mstore(add(m, 0x100), mload(q))
            mstore(add(m, 0x120), mload(add(q, 0x20)))
            mstore(add(m, 0x140), mload(add(q, 0x40)))
            mstore(add(m, 0x160), mload(add(q, 0x60)))
            ok := staticcall(gas(), 0x08, m, 0x180, m, 0x20)
            res := mload(m)
        }
        if (!ok) revert BadPoint();
        return res == 1;
    }
}
