// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {QuantK} from "./QuantK.sol";

/// @title Quant: fixedpoint/ref/quant.py (exact GGUF weights, the exact quantized linear row) on int256.
/// @notice Layouts (GGML type ids; all little-endian; blocks of B elements, one after another in a row; the
/// full table with every bit position is fixedpoint/ref/blocks.py's):
///   F32 = 0 (B 1, 4 bytes: one fp32), F16 = 1 (B 1, 2 bytes: one fp16), BF16 = 30 (B 1, 2 bytes: one bf16),
///   Q4_0 = 2 (B 32, 18 bytes: fp16 d, 16 nibble bytes; w = d * (nibble - 8)),
///   Q4_1 = 3 (B 32, 20 bytes: fp16 d, fp16 m, 16 nibble bytes; w = d * nibble + m),
///   Q5_0 = 6 (B 32, 22 bytes: d, qh u32, 16 nibble bytes; w = d * (nibble + 16 hbit - 16)),
///   Q5_1 = 7 (B 32, 24 bytes: d, m, qh u32, 16 nibble bytes; w = d * (nibble + 16 hbit) + m),
///   Q8_0 = 8 (B 32, 34 bytes: fp16 d, 32 int8; w = d * q),
///   Q2_K = 10 (B 256, 84 bytes), Q3_K = 11 (B 256, 110), Q4_K = 12 (B 256, 144), Q5_K = 13 (B 256, 176),
///   Q6_K = 14 (B 256, 210): super-blocks of fp16 d (and dmin) with 4-, 6- or 8-bit sub-scales over sub-blocks
///   of 16 or 32, w = d * sc * q - dmin * mn (QuantK.sol).
/// Byte j (0..15) of a nibble block holds element j in its low nibble and element j + 16 in its high one.
/// Every weight is the file's own number (an fp16/bf16/fp32 is mant * 2^exp exactly), so results are exact and
/// equal fixedpoint.ref's bit for bit (tests/vectors/quant.json).
/// Totality rule (as FixedPoint.sol): never revert; where Python raises, return a DEFINED value:
///   (1) x outside int64 is saturated to int64; fx, fy above 62 are taken as 62;
///   (2) an inf/NaN scale (fp16/bf16/fp32 exponent all ones) counts as 0: its term contributes nothing;
///   (3) a result outside int64 saturates to int64 (Python raises FixedPointOverflow);
///   (4) a malformed call (unknown type id, K not a multiple of B, row.length != K / B * bytes per block,
///       k beyond the row) gives 0.
library Quant {
    uint256 internal constant F32 = 0;
    uint256 internal constant F16 = 1;
    uint256 internal constant Q4_0 = 2;
    uint256 internal constant Q4_1 = 3;
    uint256 internal constant Q5_0 = 6;
    uint256 internal constant Q5_1 = 7;
    uint256 internal constant Q8_0 = 8;
    uint256 internal constant Q2_K = 10;
    uint256 internal constant Q3_K = 11;
    uint256 internal constant Q4_K = 12;
    uint256 internal constant Q5_K = 13;
    uint256 internal constant Q6_K = 14;
    uint256 internal constant BF16 = 30;

    int256 internal constant INT64_MIN = -0x8000000000000000;
    int256 internal constant INT64_MAX = 0x7fffffffffffffff;

    /// (block size B, bytes per block) of a GGML type id, as GGML_TYPES; (0, 0) for an unsupported id.
    function typeLayout(uint256 wtype) internal pure returns (uint256 blk, uint256 bpb) {
        if (wtype == Q4_1) return (32, 20);
        if (wtype == Q4_0) return (32, 18);
        if (wtype == Q8_0) return (32, 34);
        if (wtype == Q5_0) return (32, 22);
        if (wtype == Q5_1) return (32, 24);
        if (wtype == Q4_K) return (256, 144);
        if (wtype == Q6_K) return (256, 210);
        if (wtype == Q5_K) return (256, 176);
        if (wtype == Q3_K) return (256, 110);
        if (wtype == Q2_K) return (256, 84);
        if (wtype == F16) return (1, 2);
        if (wtype == BF16) return (1, 2);
        if (wtype == F32) return (1, 4);
        return (0, 0);
    }

    // ----------------------------------------------------------------------------------- floats

    /// (mant, exp) with value(IEEE binary16 ``bits``) == mant * 2^exp exactly
    /// mant odd, or (0, 0) for +-0. EVM where Python raises: inf/NaN bits, and bits >= 2^16, give (0, 0).
    function fp16Decode(uint256 bits) internal pure returns (int256 mant, int256 exp) {
        return floatDecode(bits, 16, 5, 10);
    }

    /// (mant, exp) with value(IEEE binary32 ``bits``) == mant * 2^exp exactly
    /// mant odd, or (0, 0) for +-0. EVM where Python raises: inf/NaN bits, and bits >= 2^32, give (0, 0).
    function fp32Decode(uint256 bits) internal pure returns (int256 mant, int256 exp) {
        return floatDecode(bits, 32, 8, 23);
    }

    /// (mant, exp) with value(bfloat16 ``bits``) == mant * 2^exp exactly
    /// mant odd, or (0, 0) for +-0. EVM where Python raises: inf/NaN bits, and bits >= 2^16, give (0, 0).
    function bf16Decode(uint256 bits) internal pure returns (int256 mant, int256 exp) {
        return floatDecode(bits, 16, 8, 7);
    }

    /// Python's _float_decode then _canonical: normal (2^frac_bits + f) * 2^(e - bias - frac_bits),
    /// subnormal f * 2^(1 - bias - frac_bits), negated when the sign bit is set, then made odd.
    function floatDecode(uint256 b, uint256 width, uint256 expBits, uint256 fracBits)
        internal
        pure
        returns (int256 mant, int256 exp)
    {
        if (b >> width != 0) return (0, 0);
        uint256 emax = (1 << expBits) - 1;
        int256 bias = int256((1 << (expBits - 1)) - 1);
        uint256 e = (b >> fracBits) & emax;
        uint256 f = b & ((1 << fracBits) - 1);
        if (e == emax) return (0, 0);
        if (e == 0) (mant, exp) = (int256(f), 1 - bias - int256(fracBits));
        else (mant, exp) = (int256((1 << fracBits) | f), int256(e) - bias - int256(fracBits));
        if (b >> (width - 1) != 0) mant = -mant;
        if (mant == 0) return (0, 0);
        // _canonical: |mant| < 2^24, so at most 23 halvings (`>>` floors like Python's on negatives)
        while (mant & 1 == 0) {
            mant >>= 1;
            exp += 1;
        }
    }

    // -------------------------------------------------------------------------------- the linear row

    /// y[n] = roundHalfUp(2^fy * sumK w[n,k] * x[k] * 2^-fx) exactly (one output of ``qlinear``).
    /// `row` is the raw bytes of row n (K / B blocks), `wtype` its GGML type id, x.length = K.
    /// EVM where Python raises: rules (1)-(4) of the header (x saturated, fx/fy <= 62, inf/NaN scale 0,
    /// result saturated; malformed call 0). Exact for every input: the dot product is accumulated as one
    /// integer S at a fixed base exponent (2^-24 for fp16 scales: |S| < 2^122 * sub-blocks; 2^-149 for F32 and
    /// 2^-133 for BF16, in two words: |S| < 2^340 * K), so no row exponent span can overflow it; rounded once.
    /// Equal to ref's least-live-exponent sum since both are the same exact value.
    function qlinearRow(bytes memory row, uint256 wtype, int256[] memory x, uint256 fx, uint256 fy)
        internal
        pure
        returns (int256)
    {
        (uint256 blk, uint256 bpb) = typeLayout(wtype);
        uint256 n = x.length;
        if (blk == 0 || n % blk != 0 || row.length != (n / blk) * bpb) return 0;
        if (fx > 62) fx = 62;
        if (fy > 62) fy = 62;
        (int256 hi, uint256 lo, uint256 bad) = dotRow(row, wtype, x);
        if (bad >> 64 != 0) {
            // some x[k] outside int64 (the sum above may have wrapped; it is discarded): rule (1)
            int256[] memory xs = new int256[](n);
            for (uint256 i = 0; i < n; ++i) xs[i] = _sat64(x[i]);
            (hi, lo,) = dotRow(row, wtype, xs);
        }
        int256 base = wtype == F32 ? int256(-149) : wtype == BF16 ? int256(-133) : int256(-24);
        return roundHalfUpPow2(hi, lo, base + int256(fy) - int256(fx)); // exponent in [-211, 38]
    }

    /// (hi, lo, bad): sum_k w[k] * x[k] = (hi * 2^256 + lo) * 2^base exactly (base -24, -149 for F32, -133 for
    /// BF16), and
    /// bad = OR of (x[k] + 2^63): bad >> 64 != 0 iff some x[k] is outside int64 (then the sum is void).
    /// Only for a well-formed (row, wtype, x) (qlinearRow checks); scales are decoded without making them
    /// odd: fp16 m * 2^(sh - 24), sh in [0, 29]; fp32 m * 2^(sh - 149), sh in [0, 253]; inf/NaN m = 0.
    function dotRow(bytes memory row, uint256 wtype, int256[] memory x)
        internal
        pure
        returns (int256 hi, uint256 lo, uint256 bad)
    {
        int256 acc;
        if (wtype == Q4_1 || wtype == Q4_0) (acc, bad) = _dotQ4(row, x, wtype == Q4_1);
        else if (wtype == Q8_0) (acc, bad) = _dotQ8(row, x);
        else if (wtype == Q4_K || wtype == Q5_K) (acc, bad) = QuantK.dotQ45K(row, x, wtype == Q5_K);
        else if (wtype == Q6_K) (acc, bad) = QuantK.dotQ6K(row, x);
        else if (wtype == Q5_0 || wtype == Q5_1) (acc, bad) = QuantK.dotQ5(row, x, wtype == Q5_1);
        else if (wtype == Q2_K || wtype == Q3_K) (acc, bad) = QuantK.dotQ23K(row, x, wtype == Q3_K);
        else if (wtype == F16) (acc, bad) = _dotF16(row, x);
        else return _dotWide(row, x, wtype == BF16);
        return (acc >> 255, uint256(acc), bad);
    }

    /// Q4_0 / Q4_1: sum over blocks of d * sum_j q_j x_j (+ m * sum_j x_j), at base 2^-24.
    function _dotQ4(bytes memory row, int256[] memory x, bool hasMin) private pure returns (int256 acc, uint256 bad) {
        // Exact in int256 when every x is in int64 (else `bad` says so and the caller redoes it):
        // |sum nib*x| <= 32*15*2^63 < 2^72, |sum x| <= 2^68, |d|,|m| mantissas < 2^11, shifts <= 29:
        // each block adds < 2^113, and a memory row has < 2^64 blocks. Two's complement add/mul/shl are
        // exact on values that fit. Reads past the last block's bytes (mload of 32) are ignored bytes.
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
            let bpb := 18
            let qo := 16 // bit offset of the nibble bytes: 2 bytes of d
            if hasMin {
                bpb := 20
                qo := 32 // d and m
            }
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(5, mload(x)), bpb)) } lt(p, end) { p := add(p, bpb) } {
                let w := mload(p)
                let wq := shl(qo, w) // the nibble bytes, first one on top
                let sq := 0
                let sx := 0
                // 16 nibble bytes, two per iteration: byte j pairs x[j] (low nibble) with x[j + 16] (high)
                for { let xa := xp } lt(xa, add(xp, 0x200)) { xa := add(xa, 0x40) } {
                    let bt := byte(0, wq)
                    let x0 := mload(xa)
                    let x1 := mload(add(xa, 0x200))
                    sq := add(sq, add(mul(and(bt, 0xf), x0), mul(shr(4, bt), x1)))
                    sx := add(sx, add(x0, x1))
                    bad := or(bad, or(add(x0, 0x8000000000000000), add(x1, 0x8000000000000000)))
                    bt := byte(1, wq)
                    x0 := mload(add(xa, 0x20))
                    x1 := mload(add(xa, 0x220))
                    sq := add(sq, add(mul(and(bt, 0xf), x0), mul(shr(4, bt), x1)))
                    sx := add(sx, add(x0, x1))
                    bad := or(bad, or(add(x0, 0x8000000000000000), add(x1, 0x8000000000000000)))
                    wq := shl(16, wq)
                }
                let dm, dsh := f16(or(byte(0, w), shl(8, byte(1, w))))
                switch hasMin
                case 0 {
                    sq := sub(sq, shl(3, sx)) // Q4_0: q = nibble - 8
                }
                default {
                    let mm, msh := f16(or(byte(2, w), shl(8, byte(3, w))))
                    acc := add(acc, shl(msh, mul(mm, sx)))
                }
                acc := add(acc, shl(dsh, mul(dm, sq)))
                xp := add(xp, 0x400)
            }
        }
    }

    /// Q8_0: sum over blocks of d * sum_j q_j x_j with q_j int8, at base 2^-24.
    function _dotQ8(bytes memory row, int256[] memory x) private pure returns (int256 acc, uint256 bad) {
        // Exact as _dotQ4: |sum q*x| <= 32*128*2^63 = 2^75, * 2^11 * 2^29: < 2^115 per block.
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
            let xp := add(x, 0x20)
            let p := add(row, 0x20)
            for { let end := add(p, mul(shr(5, mload(x)), 34)) } lt(p, end) { p := add(p, 34) } {
                let w := mload(add(p, 2)) // the 32 int8 of the block, first one on top
                let sq := 0
                for { let xa := xp } lt(xa, add(xp, 0x400)) { xa := add(xa, 0x40) } {
                    let x0 := mload(xa)
                    let x1 := mload(add(xa, 0x20))
                    sq := add(sq, add(mul(signextend(0, byte(0, w)), x0), mul(signextend(0, byte(1, w)), x1)))
                    bad := or(bad, or(add(x0, 0x8000000000000000), add(x1, 0x8000000000000000)))
                    w := shl(16, w)
                }
                let h := mload(p)
                let dm, dsh := f16(or(byte(0, h), shl(8, byte(1, h))))
                acc := add(acc, shl(dsh, mul(dm, sq)))
                xp := add(xp, 0x400)
            }
        }
    }

    /// F16: sum_k value_k * x_k at base 2^-24.
    function _dotF16(bytes memory row, int256[] memory x) private pure returns (int256 acc, uint256 bad) {
        // Exact: |m * x| < 2^11 * 2^63, shifted <= 29: < 2^103 per element.
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
            let n := mload(x)
            let p := add(row, 0x20)
            for { let k := 0 } lt(k, n) { k := add(k, 1) } {
                let w := mload(add(p, shl(1, k)))
                let x0 := mload(add(x, shl(5, add(k, 1))))
                let m, sh := f16(or(byte(0, w), shl(8, byte(1, w))))
                acc := add(acc, shl(sh, mul(m, x0)))
                bad := or(bad, add(x0, 0x8000000000000000))
            }
        }
    }

    /// F32 (bf false) or BF16 (bf true): sum_k value_k * x_k at base 2^-149 (BF16: 2^-133), in two words
    /// (hi * 2^256 + lo). A bf16 is the top half of an fp32: 8 exponent bits, 7 fraction bits.
    function _dotWide(bytes memory row, int256[] memory x, bool bf)
        private
        pure
        returns (int256 hi, uint256 lo, uint256 bad)
    {
        // Each term t * 2^sh with |t| = |m * x| < 2^24 * 2^63 = 2^87 and sh <= 253 (< 2^340), added as the
        // 512-bit two's complement pair (t << sh mod 2^256, floor(t * 2^sh / 2^256) = sar(256 - sh, t);
        // sar by 256 is the sign fill) with the carry of the low word. |sum| < 2^404 fits 512 bits.
        assembly ("memory-safe") {
            let n := mload(x)
            let p := add(row, 0x20)
            let fb := 23 // fraction bits
            let ebytes := 2 // log2 bytes per element
            if bf {
                fb := 7
                ebytes := 1
            }
            for { let k := 0 } lt(k, n) { k := add(k, 1) } {
                let w := mload(add(p, shl(ebytes, k)))
                let h := or(byte(0, w), shl(8, byte(1, w)))
                if iszero(bf) { h := or(h, or(shl(16, byte(2, w)), shl(24, byte(3, w)))) }
                let x0 := mload(add(x, shl(5, add(k, 1))))
                let e := and(shr(fb, h), 0xff)
                let m := and(h, sub(shl(fb, 1), 1))
                let sh := 0
                if e {
                    m := or(m, shl(fb, 1))
                    sh := sub(e, 1)
                }
                if eq(e, 0xff) { m := 0 }
                if shr(add(fb, 8), h) { m := sub(0, m) }
                let t := mul(m, x0)
                let nlo := add(lo, shl(sh, t))
                hi := add(hi, add(sar(sub(256, sh), t), lt(nlo, lo)))
                lo := nlo
                bad := or(bad, add(x0, 0x8000000000000000))
            }
        }
    }

    /// roundHalfUp(A * 2^e) = floor(A * 2^e + 1/2) for A = hi * 2^256 + lo (512-bit two's complement,
    /// |A| < 2^500), e in [-255, 2^17], saturated to int64.
    function roundHalfUpPow2(int256 hi, uint256 lo, int256 e) internal pure returns (int256) {
        if (e >= 0) {
            if (hi == 0 && lo == 0) return 0;
            int256 a = int256(lo);
            // |A| >= 1 and e > 64, or A outside int64: |A * 2^e| > 2^63; the sign is hi's
            if (hi != (a >> 255) || e > 64 || a > INT64_MAX || a < INT64_MIN) return hi < 0 ? INT64_MIN : INT64_MAX;
            return _sat64(a << uint256(e)); // |a| <= 2^63, e <= 64: exact
        }
        unchecked {
            uint256 s = uint256(-e); // in [1, 255]
            uint256 nlo = lo + (uint256(1) << (s - 1)); // A + 2^(s-1), carrying into hi (|A| < 2^500)
            if (nlo < lo) hi += 1;
            int256 rhi = hi >> s; // floor of the 512-bit value over 2^s: arithmetic on the high word
            uint256 rlo = (nlo >> s) | (uint256(hi) << (256 - s));
            if (rhi == 0 && rlo <= uint256(INT64_MAX)) return int256(rlo);
            if (rhi == -1 && rlo >= uint256(INT64_MIN)) return int256(rlo); // uint256(INT64_MIN) = 2^256 - 2^63
            return rhi < 0 ? INT64_MIN : INT64_MAX;
        }
    }

    // ------------------------------------------------------------------------------- one weight

    /// roundHalfUp(w[n, k] * 2^f) exactly, with Python ints (the spec of ``dequantRowFixed``)
    /// Mirrors engine/ops/embedding.py dequant_elem_fixed_ref on the raw bytes of row n: canonical (d, m)
    /// (m = (0, 0) without a min), e0 = min(de, me), v = (dm*q << (de-e0)) + (mm << (me-e0)), rescale(v, -(e0+f)).
    /// EVM where Python raises (a shift outside [-62, 62], an int64 overflow, inf/NaN scales, k beyond
    /// the row, a bad type id): the exact round_half_up(w * 2^f) saturated to int64, inf/NaN scales
    /// counting as 0 (header rules (2)-(4)); f above 2^16 is taken as 2^16 (the same result).
    function dequantElemFixed(bytes memory row, uint256 wtype, uint256 k, uint256 f) internal pure returns (int256) {
        (uint256 blk, uint256 bpb) = typeLayout(wtype);
        if (blk == 0 || row.length % bpb != 0 || k / blk >= row.length / bpb) return 0;
        (int256 q, int256 dm, int256 de, int256 mm, int256 me) = _element(row, wtype, (k / blk) * bpb, k % blk);
        int256 e0 = de < me ? de : me;
        // exponents: fp16-based in [-24, 15] (Q5, K-quants: not canonical, in [-24, 5]), fp32 in [-149, 127], bf16
        // in [-133, 127]; me = 0 without a min. F16/BF16/F32: q = 1, mm = 0, v = dm << max(de, 0) < 2^128.
        // Block types: |dm| < 2^18 (d times a sub-scale), |q| <= 128, shifts <= 39: |v| < 2^65. No wrap.
        int256 v = ((dm * q) << uint256(de - e0)) + (mm << uint256(me - e0));
        if (f > 1 << 16) f = 1 << 16; // |v| >= 1 with e0 + f > 64 saturates either way
        return roundHalfUpPow2(v >> 255, uint256(v), e0 + int256(f)); // exponent >= -149
    }

    /// (q, dMant, dExp, mMant, mExp) of element j of the block starting at byte o, as QuantMatrix's fields:
    /// w = D q + M; m = (0, 0) without a min, q = 1 for F16/BF16/F32 (Q4_0, Q4_1, Q8_0, F16, BF16, F32: canonical
    /// scales; Q5 and K-quants: the same values, D = d * sub-scale as QuantK.element gives them).
    function _element(bytes memory row, uint256 wtype, uint256 o, uint256 j)
        private
        pure
        returns (int256 q, int256 dm, int256 de, int256 mm, int256 me)
    {
        q = 1;
        if (wtype == F32) {
            (dm, de) = fp32Decode(_le(row, o, 4));
            return (q, dm, de, mm, me);
        }
        if (wtype == BF16) {
            (dm, de) = bf16Decode(_le(row, o, 2));
            return (q, dm, de, mm, me);
        }
        if (wtype == Q5_0 || wtype == Q5_1 || (wtype >= Q2_K && wtype <= Q6_K)) {
            uint256 dsh;
            uint256 msh;
            (q, dm, dsh, mm, msh) = QuantK.element(row, wtype, o, j);
            return (q, dm, int256(dsh) - 24, mm, int256(msh) - 24);
        }
        (dm, de) = fp16Decode(_le(row, o, 2));
        if (wtype == Q8_0) {
            q = int256(int8(uint8(row[o + 2 + j])));
        } else if (wtype != F16) {
            uint256 bt = uint8(row[o + (wtype == Q4_1 ? 4 : 2) + (j & 15)]);
            q = int256(j < 16 ? bt & 15 : bt >> 4);
            if (wtype == Q4_0) q -= 8;
            else (mm, me) = fp16Decode(_le(row, o + 2, 2));
        }
    }

    /// The little-endian unsigned integer of row[o .. o + len), len <= 32, o + len <= row.length.
    function _le(bytes memory row, uint256 o, uint256 len) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            let w := mload(add(add(row, 0x20), o))
            for { let i := 0 } lt(i, len) { i := add(i, 1) } { v := or(v, shl(shl(3, i), byte(i, w))) }
        }
    }

    function _sat64(int256 x) private pure returns (int256) {
        return x < INT64_MIN ? INT64_MIN : x > INT64_MAX ? INT64_MAX : x;
    }
}
