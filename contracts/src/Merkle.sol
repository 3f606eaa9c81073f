// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Merkle: tensor commitments of docs/encoding.md (version 1), mirroring prover/merkle.py.
/// @notice leaf_hash = keccak256("leaf" || 256 leaf bytes); node_hash = keccak256("node" || left || right);
/// a tree over n leaves is padded to the next power of two with empty subtrees Z_h; a proof is the
/// sibling list bottom-up, bit h of the leaf index saying whether the running hash is the right child;
/// tensor_root = keccak256("tensor" || u8 dtype || u8 ndim || u32 dims.. || merkle_root).
/// Nothing here reverts: malformed input (a leaf that is not 256 bytes, an index beyond the proof's
/// depth, an out-of-range element) gives false / 0.
library Merkle {
    uint256 internal constant LEAF_BYTES = 256;
    uint8 internal constant RAW = 0;
    uint8 internal constant I8 = 1;
    uint8 internal constant I16 = 2;
    uint8 internal constant I32 = 3;
    uint8 internal constant I64 = 4;

    /// keccak256("leaf" || leaf): the hash of a leaf's bytes (a tree leaf is exactly 256 bytes; see verifyLeaf).
    function leafHash(bytes calldata leaf) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40) // scratch past the free pointer, not claimed
            mstore(m, "leaf")
            calldatacopy(add(m, 4), leaf.offset, leaf.length)
            h := keccak256(m, add(leaf.length, 4))
        }
    }

    /// keccak256("node" || left || right): the parent of two 32-byte hashes.
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, "node")
            mstore(add(m, 4), left)
            mstore(add(m, 36), right)
            h := keccak256(m, 68)
        }
    }

    /// Z_h, the root of an empty subtree of height h: Z_0 = leafHash(0^256), Z_{h+1} = nodeHash(Z_h, Z_h);
    /// h >= 64 gives 0 (Python's table stops there too: no tree has 2^64 leaves).
    function zeroHash(uint256 h) internal pure returns (bytes32 z) {
        assembly ("memory-safe") {
            switch h
            case 0 { z := 0x7839d5dae0f837fa808fc01fd0f86c10cb9a1432fa74d5b8b0b07d9e535f0746 }
            case 1 { z := 0xe5a1191db5b2a70c3fc440f9e51549295e68c2c99979ba137eca3f90389b43b6 }
            case 2 { z := 0x2d1dfa99530ec1cc72826a85b49f5b97394ff190136de091f1ec7a45497009b3 }
            case 3 { z := 0x33bb79c3c54872ce249ee8627a1e1798490fc0358226744770c22cd96439e612 }
            case 4 { z := 0x04962407185fbe9683632e0fd6f47dfa6e33159309b0839ea473e1885b46a462 }
            case 5 { z := 0x9b070f6e10b88da26df0dbfa2f08862e6523e43ede7c621539aab0b4ecf71625 }
            case 6 { z := 0x74c90ad7511bcc6d895d4a47e7075263e9aa4cbbd2733bd3437fc369a0a74f12 }
            case 7 { z := 0xc285c79dd21d60689f8a7020fa907b2f30b6aa3fb577a0707da076219b4dff6c }
            case 8 { z := 0xeb8c97186b235e2b14ddadee9193765afb0a4cb70d3ff2c780f6fcc8885f81bc }
            case 9 { z := 0x0ec2c9cf35ec8fea776b15024465ffead1c064bb2784fce80fa5d9c8f733c734 }
            case 10 { z := 0x2f3c39a3e7ad9790cc8a515aa91ec36359d6c369f73298a140ebedff3732f0d4 }
            case 11 { z := 0xfd65a46316d1fc0c200e8e427ffa547d5f2cce30b389e704d1f176fc945de9c6 }
            case 12 { z := 0x3e4721b6372f56a25c8a809ab8f514021bfc4bbc713038f871abdce6182eb54a }
            case 13 { z := 0x9588dc75e1089ca8fa344317453f16c7534e383dc6dbdd430550abdc4d045f26 }
            case 14 { z := 0x9acfedf0533606fa05c0165fde960255f788069573fedf2733dc6466c3b4203b }
            case 15 { z := 0x849110f4bb56d7b6b5586a5713fdc06a63fea16f781776eef4cfa062f956c4fc }
            case 16 { z := 0xd159fc79bcd48f7f3e4eeeeffb6b3d4d2160d3db3888d89b22af6c7a8d9d8ef6 }
            case 17 { z := 0x0e35c4876d75c14d69547f529fc4c75ce5fa379484d76fa4909337e7c966b4bc }
            case 18 { z := 0x06d1ca80fa1086322c657208cfd39d1e74fa6fcffd40445824c319df32e0d137 }
            case 19 { z := 0x71ad4ca133d4c39a0cd54727bae008565d3181126b5aed3f289de3a616d80f80 }
            case 20 { z := 0xa1eb9e882ae51ec35e8a16d9f8ec53e879a926a36dfd06a5950d763b33effcab }
            case 21 { z := 0x8e94a4b12d30e9049d52a979cd047d4b7a17bd0280063eb2729b3416552fbaff }
            case 22 { z := 0x58b969c6db88936dc1a1778b5f8d5111713df7fcfc37972492995f6f60cbc2b5 }
            case 23 { z := 0x0ba3d7ce7e2e7f8fb7aee61c49bcce4cc4f98791f9f26f58abca51f821dc7ca5 }
            case 24 { z := 0xf3baa9ca9ba09ff7c0434baf3595894062fde22cd811940b6ea1c3109cae494a }
            case 25 { z := 0xfd1270231b5be7dfdda391c430c2677b1cf739f9988942d96cb5ff4250b88f90 }
            case 26 { z := 0x251a643733a9678450f72fd4fc2b33f26e4d27b3fac09b374742a1ef0d8d455e }
            case 27 { z := 0xac645db986927b03e0c854c588a981d66c3bb784fb27ead052269bd93c2d8ef3 }
            case 28 { z := 0xca534664312a83d2934c9ba985f662cc5c71210d781f8e6aab378aae3884babf }
            case 29 { z := 0x27c56b555236f0271b85c865eb75149860f461b876eb01283bcdbbf1403c24ff }
            case 30 { z := 0x7f269a284a8b7966d38125da8822d8ba9c7f5312f61d68312ecd41b1765f7110 }
            case 31 { z := 0x00a384ddbf30949e2d32c061fb3228f86596977bf7aaba45ac1434fc02217dc6 }
            case 32 { z := 0xe8fbb2658d0575b23419620727685ed8b3615532bdd1566e775d84ab8f4d7a42 }
            case 33 { z := 0x51f0228aefb2475caf71ab8c22146c281e58d7698877cc8560a5afad3f17b034 }
            case 34 { z := 0x561e80c2b3c234344e3250a4fc523b65b99133b81b15746ea9747c24d7198fbf }
            case 35 { z := 0xabc64e4e9a529bd1670f9e49fa211ea75212aeba0fc0acd079242badb88e1ea7 }
            case 36 { z := 0x1f64812306e6d9899fbd542c9e1e6e116484eba63528a48d858ea8a69a9513a0 }
            case 37 { z := 0xbbcb4915d82d1b0b595071a846617b1999b4772e0e736b4c112cd2adbe1445a4 }
            case 38 { z := 0xb56f86dc6e5546076f47068e1e01ac7de2210a6a1e2872064dcdd57717c94fc3 }
            case 39 { z := 0x4649cd9ace4e03b33def256e2f5f57408dff6b4f5053a8d650eb65d570a77555 }
            case 40 { z := 0x19f2c16af1c4dc7662bafd44c5a882e2929eb5ef49657a7f12b737648c54d1af }
            case 41 { z := 0x11ed5789cc0b1198a6df26b19803f6b3bbb53afe10c520157815b96d18baacbf }
            case 42 { z := 0x4f1df10cd16496ccf32874cc8bdccc049645769ad962759f640e0b514edf8fa4 }
            case 43 { z := 0xaabcb3b3b6f56a509442048040812db55bd3a6cbe467bae590dab62021da0d85 }
            case 44 { z := 0x3762588d60f2b0dfb11a31c71a79340b9808388051e9cf38a44fb9185835bafd }
            case 45 { z := 0x4f03ec0e0674749e24d0f927da25d2e6bdfd8012365ca4cbe7e7fac98a559d95 }
            case 46 { z := 0x9246faad5b038c55ad6fc33c7457dda53f0672580b4ee9ce29a549dfc363e314 }
            case 47 { z := 0x70234dc5d4a6849365776737907c4c3b4d2902d7a85121809780c77b2cc0bf19 }
            case 48 { z := 0xcf50978327cf99179b6b9272138b66b38b8b25ebdac6830825fb57a5b1cde5a5 }
            case 49 { z := 0x47dd3de69f0b0220878de36908ac47937ffe99c2688ea3510476459ba8ef9aa4 }
            case 50 { z := 0xf623ef4f94a8857be1b278ee83ddbaa240eab23157aa29e3f7430da13f033503 }
            case 51 { z := 0x3b44fca3128f7d3018a6cf8ec3853c00d9893e0d5fff4f16b93cc9762a10a31c }
            case 52 { z := 0x5a9393788832673836586bd2d6449d16a870e6ba62dc34a9f1ff8bfa0bb1be58 }
            case 53 { z := 0x05269fe0719a6c530f0c16853f03b5167cb0837fa786961f8fabd7d32626aa97 }
            case 54 { z := 0x143ae342c9dc65772d374525c2e8ea7cee9e99a68bb3bb41d68d80007ec4bd0d }
            case 55 { z := 0x4a745defe60e3c9d4e5f690609bded29727980e99f0c658c8f41abe21f7ceb0f }
            case 56 { z := 0x19e55fd1a0704ba7486388d78cd60726468ea8c5443cef7253c6da1a42995fa6 }
            case 57 { z := 0x735b9ab6a8db864bc42e130583ecaad05b34790ab4a3ad8905d3d2e51aa39fde }
            case 58 { z := 0xe7d839daa0f5925e074678c5e278f4290056125da99d0d072d00884bc8dc8f6c }
            case 59 { z := 0x36cc43f46dd1f76d0ee59bf52355a97eef777deedc153ef7e2aef3557188ad4c }
            case 60 { z := 0x97122e7e13c6cc348703b49d204a75f8bcf28dfd0b30d1ba22119392bf8ff4ac }
            case 61 { z := 0x368b843638b230d9131819ed932a44673dc3601c03a1137fa8d23ed672c59334 }
            case 62 { z := 0xfb20021696c2652f869938b4b22ed0643f610fe6c15a0631767e9c82843b9e2c }
            case 63 { z := 0x5f531b65e8fb6d245005452532836c6136de22ec7a17bca64d7ab0466bb79e10 }
            default { z := 0 }
        }
    }

    /// True iff folding hashedLeaf with proof (bit h of index: 1 = running hash is the right child) gives root;
    /// false if index >= 2^proof.length.
    function verifyProof(bytes32 root, bytes32 hashedLeaf, uint256 index, bytes32[] calldata proof)
        internal
        pure
        returns (bool ok)
    {
        if (index >> proof.length != 0) return false; // a shift by >= 256 gives 0: every index fits
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, "node")
            let h := hashedLeaf
            for {
                let p := proof.offset
                let end := add(p, shl(5, proof.length))
            } lt(p, end) {
                p := add(p, 0x20)
            } {
                let right := shl(5, and(index, 1)) // 32 if the running hash is the right child, else 0
                mstore(add(m, add(4, right)), h)
                mstore(add(m, sub(36, right)), calldataload(p))
                h := keccak256(m, 68)
                index := shr(1, index)
            }
            ok := eq(h, root)
        }
    }

    /// verifyProof(root, leafHash(leaf), index, proof) for a leaf of exactly 256 bytes; false for any other length.
    function verifyLeaf(bytes32 root, bytes calldata leaf, uint256 index, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        if (leaf.length != LEAF_BYTES) return false;
        return verifyProof(root, leafHash(leaf), index, proof);
    }

    /// Root of the tree over packed's 256-byte leaves (the last zero-padded; none: one empty leaf),
    /// padded to the next power of two with empty subtrees. Costs one keccak per leaf and per node.
    function merkleRoot(bytes calldata packed) internal pure returns (bytes32) {
        uint256 n = (packed.length + LEAF_BYTES - 1) / LEAF_BYTES;
        if (n == 0) return zeroHash(0);
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 lo = i * LEAF_BYTES;
            uint256 len = packed.length - lo < LEAF_BYTES ? packed.length - lo : LEAF_BYTES;
            bytes32 h;
            assembly ("memory-safe") {
                let m := mload(0x40)
                mstore(m, "leaf")
                for { let o := 4 } lt(o, 260) { o := add(o, 32) } { mstore(add(m, o), 0) } // zero padding
                calldatacopy(add(m, 4), add(packed.offset, lo), len)
                h := keccak256(m, 260)
            }
            level[i] = h;
        }
        for (uint256 height = 0; n > 1; ++height) {
            uint256 up = (n + 1) / 2;
            for (uint256 j = 0; j < up; ++j) {
                bytes32 right = 2 * j + 1 < n ? level[2 * j + 1] : zeroHash(height);
                level[j] = nodeHash(level[2 * j], right);
            }
            n = up;
        }
        return level[0];
    }

    /// keccak256("tensor" || u8 dtypeCode || u8 ndim || u32 dim_0 .. || root), root = merkleRoot; 0 if ndim > 255.
    function tensorRoot(uint8 dtypeCode, uint32[] memory shape, bytes32 root)
        internal
        pure
        returns (bytes32 h)
    {
        uint256 ndim = shape.length;
        if (ndim > 255) return 0;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, "tensor")
            mstore8(add(m, 6), dtypeCode)
            mstore8(add(m, 7), ndim)
            let q := add(m, 8)
            for {
                let i := 0
            } lt(i, ndim) {
                i := add(i, 1)
            } {
                mstore(q, shl(224, mload(add(shape, shl(5, add(i, 1)))))) // u32 big-endian, rest overwritten
                q := add(q, 4)
            }
            mstore(q, root)
            h := keccak256(m, sub(add(q, 32), m))
        }
    }

    /// tensorRoot of a header given as uint256 dims: (true, root) if dtypeCode <= 4, ndim <= 255 and every dim
    /// fits u32; (false, 0) otherwise (no committed tensor has such a header; each caller names its own error).
    function headerRoot(uint8 dtypeCode, uint256[] calldata shape, bytes32 root)
        internal
        pure
        returns (bool ok, bytes32 h)
    {
        uint256 nd = shape.length;
        if (dtypeCode > I64 || nd > 255) return (false, 0);
        uint32[] memory dims = new uint32[](nd);
        for (uint256 i = 0; i < nd; ++i) {
            if (shape[i] > type(uint32).max) return (false, 0);
            dims[i] = uint32(shape[i]);
        }
        return (true, tensorRoot(dtypeCode, dims, root));
    }

    /// Bytes per element of a dtype code: raw 1, i8 1, i16 2, i32 4, i64 8; 0 for an unknown code.
    function widthOf(uint256 dtypeCode) internal pure returns (uint256) {
        if (dtypeCode > I64) return 0;
        return dtypeCode <= I8 ? 1 : 1 << (dtypeCode - 1);
    }

    /// ceil(log2(x)) for x >= 1, 0 for x <= 1: the depth of a tree over x leaves (prover.commit.merkle.ceil_log2).
    function ceilLog2(uint256 x) internal pure returns (uint256 r) {
        uint256 v = 1;
        while (v < x) {
            v <<= 1;
            ++r;
        }
    }

    /// The depth of the tree of a tensor of nbytes bytes: ceilLog2(max(1, ceil(nbytes / 256))).
    function depthOf(uint256 nbytes) internal pure returns (uint256) {
        return ceilLog2((nbytes + LEAF_BYTES - 1) / LEAF_BYTES);
    }

    /// Element i of leaf as a signed big-endian integer of the dtype's width (raw: byte i, unsigned);
    /// 0 if the element does not lie inside leaf or dtypeCode is unknown (> 4).
    function readElement(bytes calldata leaf, uint8 dtypeCode, uint256 i) internal pure returns (int256 v) {
        assembly ("memory-safe") {
            let code := and(dtypeCode, 0xff) // a uint8's high bits are not guaranteed clean in assembly
            if lt(code, 5) {
                let w := 1 // bytes per element: raw 1, i8 1, i16 2, i32 4, i64 8
                if gt(code, 1) {
                    w := shl(sub(code, 1), 1)
                }
                if lt(i, div(leaf.length, w)) {
                    v := shr(sub(256, shl(3, w)), calldataload(add(leaf.offset, mul(i, w))))
                    if code {
                        v := signextend(sub(w, 1), v)
                    }
                }
            }
        }
    }
}
