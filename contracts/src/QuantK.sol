// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title QuantK: the dot products and single weights of the Q5_0/Q5_1 blocks and the K-quant super-blocks
/// (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) for Quant.sol; layouts as fixedpoint/ref/blocks.py tabulates them.
/// @notice Each dot returns (acc, bad): sum_k w[k] * x[k] = acc * 2^-24 exactly when every x[k] is in int64
/// (bad = OR of (x[k] + 2^63), so bad >> 64 != 0 iff one is not; then acc is void). A scale is an fp16
/// m * 2^(sh - 24) (sh in [0, 29]; inf/NaN: m = 0), a sub-block's D = d * sc and M = -dmin * mn are
/// (m * sc) * 2^(sh - 24). Bounds (x in int64): a sub-block's sum_j q_j x_j is below 32 * 63 * 2^63 < 2^75,
/// times |m * sc| < 2^11 * 2^7 = 2^18, shifted by <= 29: below 2^122 per sub-block; a row of bytes has fewer
/// than 2^64 sub-blocks, so acc never wraps. Reads past a row's last byte (mload of 32) are ignored bytes.
/// Only for a well-formed (row, x) (Quant.qlinearRow checks the lengths first).
library QuantK {
    /// Q5_0 (hasMin false: 22 bytes d, qh u32, qs[16]; q = nib + 16 hbit - 16) and Q5_1 (24 bytes d, m, qh, qs;
    /// w = d q + m): per block d * sum_j q_j x_j (+ m * sum_j x_j).
    function dotQ5(bytes memory row, int256[] memory x, bool hasMin) internal pure returns (int256 acc, uint256 bad) {
        assembly ("memory-safe") {
            function f16(h) -> m, sh {
                let e := and(shr(10, h), 0x1f)
                m := and(h, 0x3ff)
                if e {
                    m := or(m, 0x400)
                    sh := sub(e, 1)
                }
                if eq(e, 0x1f) { m := 0 }
                if shr(15, h) { m := sub(0, m) }
            }
            // (sum q x with q = nib + 16 hbit, sum x, bad bits) of the block at p (qh at byte ho), x from xs
            function sub5(p, xs, ho) -> sq, sx, bd {
                let qh := 0
                for { let i := 0 } lt(i, 4) { i := add(i, 1) } { qh := or(qh, shl(shl(3, i), byte(add(ho, i), mload(p)))) }
                let wq := shl(shl(3, add(ho, 4)), mload(p)) // the 16 nibble bytes, first one on top
                // byte j pairs x[j] (low nibble, qh bit j) with x[j + 16] (high nibble, qh bit j + 16)
                for { let xa := xs } lt(xa, add(xs, 0x200)) { xa := add(xa, 0x20) } {
                    let bt := byte(0, wq)
                    let x0 := mload(xa)
                    let x1 := mload(add(xa, 0x200))
                    sq := add(sq, mul(or(and(bt, 0xf), shl(4, and(qh, 1))), x0))
                    sq := add(sq, mul(or(shr(4, bt), shl(4, and(shr(16, qh), 1))), x1))
                    sx := add(sx, add(x0, x1))
                    bd := or(bd, or(add(x0, 0x8000000000000000), add(x1, 0x8000000000000000)))
                    qh := shr(1, qh)
                    wq := shl(8, wq)
                }
            }
            // the block's term: d (sq - 16 sx) for Q5_0, d sq + m sx for Q5_1, at base 2^-24
            function term5(p, hm, sq, sx) -> v {
                let w := mload(p)
                let dm, dsh := f16(or(byte(0, w), shl(8, byte(1, w))))
                switch hm
                case 0 { v := shl(dsh, mul(dm, sub(sq, shl(4, sx)))) }
                default {
                    let mm, msh := f16(or(byte(2, w), shl(8, byte(3, w))))
                    v := add(shl(dsh, mul(dm, sq)), shl(msh, mul(mm, sx)))
                }
            }
            let bpb := 22
            if hasMin { bpb := 24 }
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(5, mload(x)), bpb)) } lt(p, end) { p := add(p, bpb) } {
                let sq, sx, bd := sub5(p, xp, sub(bpb, 20))
                acc := add(acc, term5(p, hasMin, sq, sx))
                bad := or(bad, bd)
                xp := add(xp, 0x400)
            }
        }
    }

    /// Q4_K (144 bytes: d, dmin, sc[12], qs[128]) and Q5_K (176 bytes: d, dmin, sc[12], qh[32], qs[128]): per
    /// sub-block s of 32, d * sc_s * sum_j q_j x_j - dmin * mn_s * sum_j x_j. Element 32s + i reads the
    /// (s & 1 ? high : low) nibble of qs[32(s >> 1) + i] and (Q5_K) bit s of qh[i].
    function dotQ45K(bytes memory row, int256[] memory x, bool five) internal pure returns (int256 acc, uint256 bad) {
        assembly ("memory-safe") {
            function f16(h) -> m, sh {
                let e := and(shr(10, h), 0x1f)
                m := and(h, 0x3ff)
                if e {
                    m := or(m, 0x400)
                    sh := sub(e, 1)
                }
                if eq(e, 0x1f) { m := 0 }
                if shr(15, h) { m := sub(0, m) }
            }
            // (sum q x, sum x, bad bits) of sub-block s of the block at p, x[32s] at xs + 1024 s
            function sub45(p, xs, s, fv) -> sq, sx, bd {
                let qw := mload(add(p, add(add(16, shl(5, fv)), shl(5, shr(1, s)))))
                let qhw := mload(add(p, 16))
                let nsh := shl(2, and(s, 1))
                let xa := add(xs, shl(10, s))
                for { let i := 0 } lt(i, 32) { i := add(i, 1) } {
                    let q := and(shr(nsh, byte(i, qw)), 15)
                    if fv { q := or(q, shl(4, and(shr(s, byte(i, qhw)), 1))) }
                    let x0 := mload(add(xa, shl(5, i)))
                    sq := add(sq, mul(q, x0))
                    sx := add(sx, x0)
                    bd := or(bd, add(x0, 0x8000000000000000))
                }
            }
            // sub-block s's term d sc_s sq - dmin mn_s sx from the block's first word w (scale bytes at 4..15)
            function term45(w, s, sq, sx) -> v {
                let sc := 0
                let mn := 0
                switch lt(s, 4)
                case 1 {
                    sc := and(byte(add(4, s), w), 63)
                    mn := and(byte(add(8, s), w), 63)
                }
                default {
                    sc := or(and(byte(add(8, s), w), 15), shl(4, shr(6, byte(s, w))))
                    mn := or(shr(4, byte(add(8, s), w)), shl(4, shr(6, byte(add(4, s), w))))
                }
                let dm, dsh := f16(or(byte(0, w), shl(8, byte(1, w))))
                let nm, nsh := f16(or(byte(2, w), shl(8, byte(3, w))))
                v := sub(shl(dsh, mul(mul(dm, sc), sq)), shl(nsh, mul(mul(nm, mn), sx)))
            }
            let bpb := 144
            if five { bpb := 176 }
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(8, mload(x)), bpb)) } lt(p, end) { p := add(p, bpb) } {
                for { let s := 0 } lt(s, 8) { s := add(s, 1) } {
                    let sq, sx, bd := sub45(p, xp, s, five)
                    acc := add(acc, term45(mload(p), s, sq, sx))
                    bad := or(bad, bd)
                }
                xp := add(xp, 0x2000)
            }
        }
    }

    /// Q2_K (84 bytes: sc[16], qs[64], d, dmin; q 2-bit, D = d (sc & 15), M = -dmin (sc >> 4)) and Q3_K (110
    /// bytes: hmask[32], qs[64], sc[12], d; q = low + 4 hbit - 4, D = d (sc6 - 32)): per sub-block of 16,
    /// D * sum_j q_j x_j + M * sum_j x_j. Sub-block s = 8h + 2j + u holds elements 16s + l (l < 16), which read
    /// bits 2j of qs[32h + 16u + l] (and, Q3_K, bit 4h + j of hmask[16u + l]).
    function dotQ23K(bytes memory row, int256[] memory x, bool three) internal pure returns (int256 acc, uint256 bad) {
        assembly ("memory-safe") {
            function f16(h) -> m, sh {
                let e := and(shr(10, h), 0x1f)
                m := and(h, 0x3ff)
                if e {
                    m := or(m, 0x400)
                    sh := sub(e, 1)
                }
                if eq(e, 0x1f) { m := 0 }
                if shr(15, h) { m := sub(0, m) }
            }
            // the 16 elements of a sub-block: qw the qs word, hm the hmask word, bit shifts sh (2j) and hsh
            // (4h + j), first byte i0, x from xa; (sum q x with Q3_K's q + 4, sum x, bad bits)
            function loop23(qw, hm, sh, hsh, xa, i0, th) -> sq, sx, bd {
                for { let i := i0 } lt(i, add(i0, 16)) { i := add(i, 1) } {
                    let q := and(shr(sh, byte(i, qw)), 3)
                    if th { q := or(q, shl(2, and(shr(hsh, byte(i, hm)), 1))) }
                    let x0 := mload(xa)
                    sq := add(sq, mul(q, x0))
                    sx := add(sx, x0)
                    bd := or(bd, add(x0, 0x8000000000000000))
                    xa := add(xa, 0x20)
                }
            }
            function sub23(p, xs, s, th) -> sq, sx, bd {
                let h := shr(3, s)
                let j := and(shr(1, s), 3)
                let qw := mload(add(p, add(add(16, shl(4, th)), shl(5, h))))
                sq, sx, bd := loop23(qw, mload(p), shl(1, j), add(shl(2, h), j), add(xs, shl(9, s)), shl(4, and(s, 1)), th)
            }
            // sub-block s's term at base 2^-24
            function term23(p, s, th, sq, sx) -> v {
                switch th
                case 0 {
                    let w := mload(add(p, 80))
                    let b := byte(s, mload(p))
                    let dm, dsh := f16(or(byte(0, w), shl(8, byte(1, w))))
                    let nm, nsh := f16(or(byte(2, w), shl(8, byte(3, w))))
                    v := sub(shl(dsh, mul(mul(dm, and(b, 15)), sq)), shl(nsh, mul(mul(nm, shr(4, b)), sx)))
                }
                default {
                    let w := mload(add(p, 96)) // sc[12], then d
                    let lo := shr(4, byte(and(s, 7), w))
                    if lt(s, 8) { lo := and(byte(s, w), 15) }
                    let sc := sub(or(lo, shl(4, and(shr(shl(1, shr(2, s)), byte(add(8, and(s, 3)), w)), 3))), 32)
                    let dm, dsh := f16(or(byte(12, w), shl(8, byte(13, w))))
                    v := shl(dsh, mul(mul(dm, sc), sub(sq, shl(2, sx))))
                }
            }
            let bpb := 84
            if three { bpb := 110 }
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(8, mload(x)), bpb)) } lt(p, end) { p := add(p, bpb) } {
                for { let s := 0 } lt(s, 16) { s := add(s, 1) } {
                    let sq, sx, bd := sub23(p, xp, s, three)
                    acc := add(acc, term23(p, s, three, sq, sx))
                    bad := or(bad, bd)
                }
                xp := add(xp, 0x2000)
            }
        }
    }

    /// Q6_K (210 bytes: ql[128], qh[64], sc[16] int8, d; q = low | high << 4, minus 32): per sub-block of 16,
    /// d * sc_s * sum_j q_j x_j. Sub-block s = 8h + 2j + u holds elements 16s + l, which read the (j >= 2 ? high
    /// : low) nibble of ql[64h + 32(j & 1) + 16u + l] and bits 2j of qh[32h + 16u + l].
    function dotQ6K(bytes memory row, int256[] memory x) internal pure returns (int256 acc, uint256 bad) {
        assembly ("memory-safe") {
            function f16(h) -> m, sh {
                let e := and(shr(10, h), 0x1f)
                m := and(h, 0x3ff)
                if e {
                    m := or(m, 0x400)
                    sh := sub(e, 1)
                }
                if eq(e, 0x1f) { m := 0 }
                if shr(15, h) { m := sub(0, m) }
            }
            function loop6(la, hw, nsh, hsh, xa, i0) -> sq, sx, bd {
                for { let i := i0 } lt(i, add(i0, 16)) { i := add(i, 1) } {
                    let q := or(and(shr(nsh, byte(i, la)), 15), shl(4, and(shr(hsh, byte(i, hw)), 3)))
                    let x0 := mload(xa)
                    sq := add(sq, mul(q, x0))
                    sx := add(sx, x0)
                    bd := or(bd, add(x0, 0x8000000000000000))
                    xa := add(xa, 0x20)
                }
            }
            function sub6(p, xs, s) -> sq, sx, bd {
                let h := shr(3, s)
                let j := and(shr(1, s), 3)
                let la := mload(add(p, add(shl(6, h), shl(5, and(j, 1)))))
                let hw := mload(add(p, add(128, shl(5, h))))
                sq, sx, bd := loop6(la, hw, shl(2, shr(1, j)), shl(1, j), add(xs, shl(9, s)), shl(4, and(s, 1)))
            }
            // d * sc_s * (sq - 32 sx) at base 2^-24 (sc[16] int8 at byte 192, d at 208)
            function term6(p, s, sq, sx) -> v {
                let w := mload(add(p, 192))
                let dm, dsh := f16(or(byte(16, w), shl(8, byte(17, w))))
                v := shl(dsh, mul(mul(dm, signextend(0, byte(s, w))), sub(sq, shl(5, sx))))
            }
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(8, mload(x)), 210)) } lt(p, end) { p := add(p, 210) } {
                for { let s := 0 } lt(s, 16) { s := add(s, 1) } {
                    let sq, sx, bd := sub6(p, xp, s)
                    acc := add(acc, term6(p, s, sq, sx))
                    bad := or(bad, bd)
                }
                xp := add(xp, 0x2000)
            }
        }
    }

    // ------------------------------------------------------------------------------------- one weight

    /// (q, D mant, D shift, M mant, M shift) of element j (< 256) of the K-quant block or element j (< 32) of the
    /// Q5 block at byte o of row: w = D * q + M with D = dMant * 2^(dSh - 24), M = mMant * 2^(mSh - 24) (fp16
    /// scales undecoded: m * 2^(sh - 24), inf/NaN m = 0). wtype: 6 Q5_0, 7 Q5_1, 10 Q2_K .. 14 Q6_K.
    function element(bytes memory row, uint256 wtype, uint256 o, uint256 j)
        internal
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        if (wtype == 6 || wtype == 7) return _elemQ5(row, wtype == 7, o, j);
        if (wtype == 10) return _elemQ2K(row, o, j);
        if (wtype == 11) return _elemQ3K(row, o, j);
        if (wtype == 12 || wtype == 13) return _elemQ45K(row, wtype == 13, o, j);
        if (wtype == 14) return _elemQ6K(row, o, j);
    }

    function _elemQ5(bytes memory row, bool hasMin, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        (dm, dsh) = half(row, o);
        uint256 ho = hasMin ? 4 : 2;
        if (hasMin) (mm, msh) = half(row, o + 2);
        uint256 qh = _b(row, o + ho) | (_b(row, o + ho + 1) << 8) | (_b(row, o + ho + 2) << 16) | (_b(row, o + ho + 3) << 24);
        uint256 bt = _b(row, o + ho + 4 + (j & 15));
        q = int256((j < 16 ? bt & 15 : bt >> 4) | (((qh >> j) & 1) << 4));
        if (!hasMin) q -= 16;
    }

    /// The 2 low bits of element j of a Q2_K / Q3_K block at o (qs at byte o + qo).
    function _low2(bytes memory row, uint256 o, uint256 qo, uint256 j) private pure returns (uint256) {
        return (_b(row, o + qo + 32 * (j / 128) + (j % 32)) >> (2 * ((j / 32) % 4))) & 3;
    }

    function _elemQ2K(bytes memory row, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        q = int256(_low2(row, o, 16, j));
        uint256 sc = _b(row, o + j / 16);
        (dm, dsh) = half(row, o + 80);
        (mm, msh) = half(row, o + 82);
        dm *= int256(sc & 15);
        mm = -mm * int256(sc >> 4);
    }

    function _elemQ3K(bytes memory row, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        q = int256(_low2(row, o, 32, j) + 4 * ((_b(row, o + (j % 32)) >> (j / 32)) & 1)) - 4;
        uint256 s = j / 16;
        (dm, dsh) = half(row, o + 108);
        uint256 lo = s < 8 ? _b(row, o + 96 + s) & 15 : _b(row, o + 88 + s) >> 4;
        uint256 hi = (_b(row, o + 104 + (s % 4)) >> (2 * (s / 4))) & 3;
        dm *= int256(lo | (hi << 4)) - 32;
        return (q, dm, dsh, mm, msh);
    }

    function _elemQ45K(bytes memory row, bool five, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        uint256 s = j / 32; // = 2c + t, element 64c + 32t + i
        uint256 v = _b(row, o + (five ? 48 : 16) + 32 * (s / 2) + (j % 32));
        q = int256(s % 2 == 1 ? v >> 4 : v & 15);
        if (five) q += int256(16 * ((_b(row, o + 16 + (j % 32)) >> s) & 1));
        (uint256 sc, uint256 mn) = _scaleMinK(row, o, s);
        (dm, dsh) = half(row, o);
        (mm, msh) = half(row, o + 2);
        dm *= int256(sc);
        mm = -mm * int256(mn);
    }

    /// The 6-bit (sc, mn) of sub-block s of the Q4_K / Q5_K block at o (scale bytes b at o + 4 .. o + 15).
    function _scaleMinK(bytes memory row, uint256 o, uint256 s) private pure returns (uint256 sc, uint256 mn) {
        if (s < 4) return (_b(row, o + 4 + s) & 63, _b(row, o + 8 + s) & 63);
        uint256 b = _b(row, o + 8 + s);
        sc = (b & 15) | ((_b(row, o + s) >> 6) << 4);
        mn = (b >> 4) | ((_b(row, o + 4 + s) >> 6) << 4);
    }

    function _elemQ6K(bytes memory row, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, uint256 dsh, int256 mm, uint256 msh)
    {
        uint256 h = j / 128;
        uint256 jj = (j / 32) % 4;
        uint256 v = _b(row, o + 64 * h + 32 * (jj & 1) + (j % 32));
        uint256 hi = (_b(row, o + 128 + 32 * h + (j % 32)) >> (2 * jj)) & 3;
        q = int256((jj >= 2 ? v >> 4 : v & 15) | (hi << 4)) - 32;
        (dm, dsh) = half(row, o + 208);
        dm *= int256(int8(uint8(_b(row, o + 192 + j / 16))));
        return (q, dm, dsh, mm, msh);
    }

    /// The fp16 at byte o of row as m * 2^(sh - 24) (sh in [0, 29]); inf/NaN gives m = 0.
    function half(bytes memory row, uint256 o) internal pure returns (int256 m, uint256 sh) {
        uint256 h = _b(row, o) | (_b(row, o + 1) << 8);
        uint256 e = (h >> 10) & 0x1f;
        uint256 f = h & 0x3ff;
        if (e == 0x1f) return (0, 0);
        if (e != 0) (f, sh) = (f | 0x400, e - 1);
        m = h >> 15 != 0 ? -int256(f) : int256(f);
    }

    function _b(bytes memory row, uint256 i) private pure returns (uint256) {
        return uint8(row[i]);
    }
}
