// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Nonlinear: fixedpoint/ref/nonlinear.py on int256, function by function, same one-line specs.
/// @notice Same constants, same range reductions, same nested Taylor polynomials with the same roundings
/// (round_div = floor((a + floor(b/2)) / b), round_shift = floor((x + 2^(s-1)) / 2^s)), so every result
/// equals fixedpoint.ref's bit for bit (tests/vectors/nonlinear.json).
/// Totality rule (as FixedPoint.sol): a one-step verifier must never revert, so where Python raises the
/// EVM returns a DEFINED value, stated per function on its second /// line. The rule throughout:
///   (1) an operand outside int64 is saturated to int64 (no trace holds one: tensors pack <= i64);
///   (2) an operand outside the function's domain is clamped to the nearest end of the domain
///       (expNeg: x > 0 -> 0; sigmoid/silu: |x| -> 2^62; sinCos: |theta| -> 2^52; isqrt: n < 0 -> 0;
///       rsqrtFloor: v < 1 -> 1, fv/fr -> [0, 62]);
///   (3) a result outside int64 saturates (Python raises FixedPointOverflow).
/// No function loops unboundedly or reverts; `unchecked` blocks state the bound that makes them safe.
library Nonlinear {
    int256 internal constant INT64_MIN = -0x8000000000000000;
    int256 internal constant INT64_MAX = 0x7fffffffffffffff;
    int256 internal constant ONE30 = 1 << 30;

    /// round(ln 2 * 2^48) (fixedpoint/constants.py LN2_Q48).
    uint256 internal constant LN2_Q48 = 195103586505167;
    /// round(pi/2 * 2^32) (HALF_PI_Q32).
    int256 internal constant HALF_PI_Q32 = 6746518852;
    /// round(pi/2 * 2^60) - HALF_PI_Q32 * 2^28: the Cody-Waite tail (HALF_PI_LOW_Q60).
    int256 internal constant HALF_PI_LOW_Q60 = 70064199;
    /// The least z = -x with z * 2^32 >= 32 * LN2_Q48: exp_neg is 0 from there on (EXP_ZERO_Z).
    uint256 internal constant EXP_ZERO_Z = 1453635;
    /// sigmoid / silu domain: |x| <= 2^62.
    int256 internal constant SIGMOID_MAX = 1 << 62;
    /// sin_cos domain: |theta| <= 2^52.
    int256 internal constant TRIG_MAX = 1 << 52;
    /// tanh domain: |x| <= 2^61 (TANH_MAX).
    int256 internal constant TANH_MAX = 1 << 61;
    /// round(2 sqrt(2/pi) * 2^30) (GELU_K1_Q30).
    int256 internal constant GELU_K1_Q30 = 1713444047;
    /// round(2 sqrt(2/pi) * 0.044715 * 2^30) (GELU_K3_Q30).
    int256 internal constant GELU_K3_Q30 = 76616651;
    /// gelu_tanh evaluates its cubic on x clamped to +-2^20 (GELU_CLAMP): sigmoid is flat beyond.
    int256 internal constant GELU_CLAMP = 1 << 20;
    /// mul_sqrt_round_shift domain: 0 <= n <= 2^32 (MUL_SQRT_MAX_N).
    uint256 internal constant MUL_SQRT_MAX_N = 1 << 32;

    // ------------------------------------------------------------------------------------- sqrt

    /// floor(sqrt(n)) for 0 <= n <= 2^63 - 1
    /// EVM where Python raises: n above int64 is taken as 2^63 - 1 (rule 1), n < 0 as 0 (rule 2).
    function isqrt(int256 n) internal pure returns (int256) {
        if (n <= 0) return 0;
        if (n > INT64_MAX) n = INT64_MAX;
        return int256(isqrtU(uint256(n))); // <= 3037000499
    }

    /// floor(sqrt(n)) for any uint256 n (Python's math.isqrt, used by rsqrt_floor); exact.
    /// Newton from above, as ref.isqrt: r0 = 2^ceil(bitlen/2) <= 2 sqrt(n), so the relative error
    /// squares every step (1, 2^-2, 2^-5, ... 2^-191 after 7): at most 9 steps for any uint256 (the
    /// vectors check every bit length); the loop is capped at 16, never reached.
    function isqrtU(uint256 n) internal pure returns (uint256 r) {
        if (n == 0) return 0;
        unchecked {
            r = uint256(1) << ((bitLength(n) + 1) >> 1); // bitLength <= 256: r <= 2^128
            for (uint256 i = 0; i < 16; ++i) {
                uint256 s = (r + n / r) >> 1; // r <= 2^128 and n / r < 2^128 here: no wrap
                if (s >= r) return r;
                r = s;
            }
        }
    }

    /// Python's int.bit_length: the least b with n < 2^b (0 for n = 0).
    function bitLength(uint256 n) internal pure returns (uint256 b) {
        unchecked {
            if (n >> 128 != 0) { n >>= 128; b += 128; }
            if (n >> 64 != 0) { n >>= 64; b += 64; }
            if (n >> 32 != 0) { n >>= 32; b += 32; }
            if (n >> 16 != 0) { n >>= 16; b += 16; }
            if (n >> 8 != 0) { n >>= 8; b += 8; }
            if (n >> 4 != 0) { n >>= 4; b += 4; }
            if (n >> 2 != 0) { n >>= 2; b += 2; }
            if (n >> 1 != 0) { n >>= 1; b += 1; }
            b += n; // n is now 0 or 1
        }
    }

    /// floor(2^fr / sqrt(v * 2^-fv)) = isqrt(floor(2^(2fr+fv) / v)) for v >= 1
    /// EVM where Python raises: v above int64 is taken as 2^63 - 1, v < 1 as 1; fv, fr above 62 as 62;
    /// a root above int64 (e.g. v = 1, fr = fv = 62) saturates to 2^63 - 1.
    function rsqrtFloor(int256 v, uint256 fv, uint256 fr) internal pure returns (int256) {
        if (v < 1) v = 1;
        if (v > INT64_MAX) v = INT64_MAX;
        if (fv > 62) fv = 62;
        if (fr > 62) fr = 62;
        uint256 q = (uint256(1) << (2 * fr + fv)) / uint256(v); // 2fr + fv <= 186: 2^186 fits uint256
        uint256 r = isqrtU(q);
        return r > uint256(INT64_MAX) ? INT64_MAX : int256(r);
    }

    /// floor(m * sqrt(n) * 2^-s + 1/2) for m in int64, 0 <= n <= 2^32, s in [0, 62]
    /// EVM where Python raises: m outside int64 is saturated to int64, n above 2^32 is taken as 2^32, s above
    /// 62 as 62; a result outside int64 saturates. (Exact: r = isqrtU(4 m^2 n >> 2s), then (r + 1) >> 1 for
    /// m >= 0 and -((r + inexact) >> 1) for m < 0, as ref.)
    function mulSqrtRoundShift(int256 m, uint256 n, uint256 s) internal pure returns (int256) {
        if (m < INT64_MIN) m = INT64_MIN;
        else if (m > INT64_MAX) m = INT64_MAX;
        if (n > MUL_SQRT_MAX_N) n = MUL_SQRT_MAX_N;
        if (s > 62) s = 62;
        uint256 a = uint256(m < 0 ? -m : m); // <= 2^63
        uint256 t = 4 * a * a * n; // <= 2^160
        uint256 r = isqrtU(t >> (2 * s)); // r^2 4^s <= t: the test below cannot wrap
        int256 y = m >= 0 ? int256((r + 1) >> 1) : -int256((r + ((r * r) << (2 * s) != t ? 1 : 0)) >> 1);
        return y > INT64_MAX ? INT64_MAX : y < INT64_MIN ? INT64_MIN : y;
    }

    // -------------------------------------------------------------------------------------- exp

    /// exp(-t * 2^-30) in Q30 for t in [0, ln2 * 2^30]: 1 - t(1 - t/2(1 - ... (1 - t/11))), each step roundDiv.
    /// (EXP_TERMS = 11, unrolled: acc = 2^30 - roundDiv(t * acc, i * 2^30) for i = 11 .. 1.)
    function expPoly(uint256 t) internal pure returns (uint256 acc) {
        // Safe without checks: t <= ln2 * 2^30 + 1 < 2^30 and acc in (0, 2^30] throughout (each step
        // subtracts at most t/i * acc / 2^30 + 1/2 < 0.7 * 2^30 from 2^30), so t * acc < 2^60 and every
        // round_div operand is >= 0: floor((a + b/2) / b) is EVM div. b/2 = i * 2^29 exactly.
        assembly {
            acc := 0x40000000
            acc := sub(0x40000000, div(add(mul(t, acc), 0x160000000), 0x2c0000000)) // i = 11
            acc := sub(0x40000000, div(add(mul(t, acc), 0x140000000), 0x280000000)) // i = 10
            acc := sub(0x40000000, div(add(mul(t, acc), 0x120000000), 0x240000000)) // i = 9
            acc := sub(0x40000000, div(add(mul(t, acc), 0x100000000), 0x200000000)) // i = 8
            acc := sub(0x40000000, div(add(mul(t, acc), 0xe0000000), 0x1c0000000)) // i = 7
            acc := sub(0x40000000, div(add(mul(t, acc), 0xc0000000), 0x180000000)) // i = 6
            acc := sub(0x40000000, div(add(mul(t, acc), 0xa0000000), 0x140000000)) // i = 5
            acc := sub(0x40000000, div(add(mul(t, acc), 0x80000000), 0x100000000)) // i = 4
            acc := sub(0x40000000, div(add(mul(t, acc), 0x60000000), 0xc0000000)) // i = 3
            acc := sub(0x40000000, div(add(mul(t, acc), 0x40000000), 0x80000000)) // i = 2
            acc := sub(0x40000000, div(add(mul(t, acc), 0x20000000), 0x40000000)) // i = 1
        }
    }

    /// exp(x * 2^-16) in Q30 for x <= 0 in Q16: k = floor(-x*2^32 / LN2_Q48), p = expPoly(roundShift(rem, 18)), result roundShift(p, k) (0 when k >= 32).
    /// EVM where Python raises: x > 0 is taken as 0 (result 2^30); x below int64 gives 0 like any x <= -EXP_ZERO_Z.
    function expNeg(int256 x) internal pure returns (int256) {
        if (x > 0) x = 0;
        if (x <= -int256(EXP_ZERO_Z)) return 0;
        return int256(expNegZ(uint256(-x)));
    }

    /// expNeg(-z) for 0 <= z < EXP_ZERO_Z (the body of expNeg, shared with softmaxElement).
    function expNegZ(uint256 z) internal pure returns (uint256 r) {
        // Safe without checks: z < EXP_ZERO_Z < 2^21, so z48 < 2^53, k < 32, rem < LN2_Q48 < 2^48 and
        // p <= 2^30 (expPoly); every operand is >= 0, so EVM div / shr are the floors.
        uint256 p;
        uint256 k;
        assembly {
            let z48 := shl(32, z)
            k := div(z48, LN2_Q48)
            let rem := sub(z48, mul(k, LN2_Q48)) // [0, LN2_Q48): -x = k ln2 + rem * 2^-48
            p := shr(18, add(rem, 0x20000)) // t = roundShift(rem, 18)
        }
        p = expPoly(p);
        assembly {
            r := p
            if k { r := shr(k, add(p, shl(sub(k, 1), 1))) } // roundShift(p, k)
        }
    }

    /// 1/(1 + exp(-x * 2^-16)) in Q30 for |x| <= 2^62 in Q16: e = expNeg(-|x|), s = roundDiv(e * 2^30, 2^30 + e), sigmoid = x >= 0 ? 2^30 - s : s.
    /// EVM where Python raises: x is clamped to [-2^62, 2^62] (the result is then 2^30 or 0, as for any larger |x|).
    function sigmoid(int256 x) internal pure returns (int256) {
        if (x > SIGMOID_MAX) x = SIGMOID_MAX;
        else if (x < -SIGMOID_MAX) x = -SIGMOID_MAX;
        int256 e = expNeg(x >= 0 ? -x : x);
        unchecked {
            // 0 <= e <= 2^30: numerator < 2^61, divisor in [2^30, 2^31]; both >= 0 so `/` is the floor.
            int256 s = ((e << 30) + ((ONE30 + e) >> 1)) / (ONE30 + e);
            return x >= 0 ? ONE30 - s : s;
        }
    }

    /// x * sigmoid(x) in Q16 for |x| <= 2^62 in Q16: mulRoundShift(x, sigmoid(x), 30).
    /// EVM where Python raises: x outside int64 is saturated to int64; |x| > 2^62 then gives x (x > 0) or 0 (x < 0).
    function silu(int256 x) internal pure returns (int256) {
        x = x < INT64_MIN ? INT64_MIN : x > INT64_MAX ? INT64_MAX : x;
        int256 s = sigmoid(x);
        unchecked {
            return (x * s + (1 << 29)) >> 30; // |x| <= 2^63, 0 <= s <= 2^30: |x * s| <= 2^93
        }
    }

    /// tanh(x * 2^-16) in Q30 for |x| <= 2^61 in Q16: 2 * sigmoid(2x) - 2^30.
    /// EVM where Python raises: x is clamped to [-2^61, 2^61] (the result is then +-2^30, as for any larger |x|).
    function tanh(int256 x) internal pure returns (int256) {
        if (x > TANH_MAX) x = TANH_MAX;
        else if (x < -TANH_MAX) x = -TANH_MAX;
        return 2 * sigmoid(2 * x) - ONE30;
    }

    /// 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) = x sigmoid(2u) in Q16 for |x| <= 2^62 in Q16: c = clamp(x, +-2^20), v = roundShift(K1 * c + K3 * roundShift(c^3, 32), 30), mulRoundShift(x, sigmoid(v), 30).
    /// EVM where Python raises: x outside int64 is saturated to int64; |x| > 2^62 then gives x (x > 0) or 0 (x < 0).
    function geluTanh(int256 x) internal pure returns (int256) {
        x = _sat64(x);
        int256 c = x > GELU_CLAMP ? GELU_CLAMP : x < -GELU_CLAMP ? -GELU_CLAMP : x;
        unchecked {
            // |c|^3 <= 2^60; K1 |c| < 2^51 and K3 |c3| < 2^55; 0 <= sigmoid <= 2^30 and |x| <= 2^63: no wrap.
            int256 c3 = (c * c * c + (1 << 31)) >> 32;
            int256 v = (GELU_K1_Q30 * c + GELU_K3_Q30 * c3 + (1 << 29)) >> 30;
            return (x * sigmoid(v) + (1 << 29)) >> 30;
        }
    }

    /// Q30 probabilities of Q16 scores: eJ = expNeg(max(xJ - max, -EXP_ZERO_Z)), pJ = roundDiv(eJ * 2^30, sum e)
    /// Returns element j of ref.softmax(row): one pass for the max, one for the sum (each exp is
    /// recomputed, no array is allocated). EVM where Python raises: elements outside int64 are
    /// saturated to int64; an empty row, or j >= row.length (Python: IndexError), gives 0.
    function softmaxElement(int256[] memory row, uint256 j) internal pure returns (int256 p) {
        if (j >= row.length) return 0;
        // The hot loop of attention, in assembly with expNegZ inlined (the same range reduction and the
        // same expPoly steps and constants as above; tests check both copies). Safe without checks: every
        // v is saturated to int64 and m is their max, so z = m - v is in [0, 2^64); live terms have
        // z < EXP_ZERO_Z (then as expNegZ); each e <= 2^30 and n < 2^64 (a memory array), so s < 2^94;
        // s >= 2^30 (the max term is exp(0)), so the final div is by s > 0; all values are >= 0 there, so
        // EVM div / shr are the floors.
        assembly ("memory-safe") {
            let data := add(row, 0x20)
            let end := add(data, shl(5, mload(row)))
            let lo := not(0x7fffffffffffffff) // INT64_MIN
            let hi := 0x7fffffffffffffff // INT64_MAX
            let m := lo
            for { let a := data } lt(a, end) { a := add(a, 0x20) } {
                let v := mload(a)
                if sgt(v, m) { m := v }
            }
            if sgt(m, hi) { m := hi } // max of the saturated row = the saturated max (saturation is monotone)
            let s := 0
            let ej := 0
            let aj := add(data, shl(5, j))
            for { let a := data } lt(a, end) { a := add(a, 0x20) } {
                let v := mload(a)
                if slt(v, lo) { v := lo }
                let z := sub(m, v)
                if sgt(v, hi) { z := 0 } // v saturates to INT64_MAX, which is then m
                if lt(z, 1453635) { // EXP_ZERO_Z: from there on expNeg(max(-z, -EXP_ZERO_Z)) = 0
                    let z48 := shl(32, z)
                    let k := div(z48, 195103586505167) // LN2_Q48
                    let t := shr(18, add(sub(z48, mul(k, 195103586505167)), 0x20000)) // roundShift(rem, 18)
                    let acc := 0x40000000
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x160000000), 0x2c0000000)) // i = 11
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x140000000), 0x280000000)) // i = 10
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x120000000), 0x240000000)) // i = 9
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x100000000), 0x200000000)) // i = 8
                    acc := sub(0x40000000, div(add(mul(t, acc), 0xe0000000), 0x1c0000000)) // i = 7
                    acc := sub(0x40000000, div(add(mul(t, acc), 0xc0000000), 0x180000000)) // i = 6
                    acc := sub(0x40000000, div(add(mul(t, acc), 0xa0000000), 0x140000000)) // i = 5
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x80000000), 0x100000000)) // i = 4
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x60000000), 0xc0000000)) // i = 3
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x40000000), 0x80000000)) // i = 2
                    acc := sub(0x40000000, div(add(mul(t, acc), 0x20000000), 0x40000000)) // i = 1
                    let e := acc
                    if k { e := shr(k, add(acc, shl(sub(k, 1), 1))) } // roundShift(p, k)
                    s := add(s, e)
                    if eq(a, aj) { ej := e }
                }
            }
            p := div(add(shl(30, ej), shr(1, s)), s) // roundDiv(ej * 2^30, s)
        }
    }

    // ------------------------------------------------------------------------------------- trig

    /// (cos r, sin r) in Q30 for |r| <= ~0.8 * 2^30 (Q30) by nested Taylor series.
    /// sin r = r(1 - r^2/6(1 - r^2/20(... (1 - r^2/110)))), cos r = 1 - r^2/2(1 - r^2/12(... (1 - r^2/132))),
    /// each step acc = 2^30 - roundDiv(r2 * acc, d * 2^30) with r2 = roundShift(r * r, 30), unrolled.
    function sinCosQ30(int256 r) internal pure returns (int256 c, int256 s) {
        // Safe without checks: |r| < 2^30 (sinCos reduces to |r| <= pi/4 + 2^-29), so r2 < 2^30 and
        // acc stays in (0, 2^30] (each step subtracts at most r2/d * acc + 1/2 < 0.31 * 2^30), so every
        // round_div operand is >= 0 (EVM div is the floor) and below 2^60; r * acc < 2^60 signed.
        assembly {
            let r2 := shr(30, add(mul(r, r), 0x20000000))
            let acc := 0x40000000
            acc := sub(0x40000000, div(add(mul(r2, acc), 0xdc0000000), 0x1b80000000)) // d = 110
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x900000000), 0x1200000000)) // d = 72
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x540000000), 0xa80000000)) // d = 42
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x280000000), 0x500000000)) // d = 20
            acc := sub(0x40000000, div(add(mul(r2, acc), 0xc0000000), 0x180000000)) // d = 6
            s := sar(30, add(mul(r, acc), 0x20000000))
            acc := 0x40000000
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x1080000000), 0x2100000000)) // d = 132
            acc := sub(0x40000000, div(add(mul(r2, acc), 0xb40000000), 0x1680000000)) // d = 90
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x700000000), 0xe00000000)) // d = 56
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x3c0000000), 0x780000000)) // d = 30
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x180000000), 0x300000000)) // d = 12
            acc := sub(0x40000000, div(add(mul(r2, acc), 0x40000000), 0x80000000)) // d = 2
            c := acc
        }
    }

    /// (cos, sin) of theta * 2^-32 radians in Q30 for |theta| <= 2^52: quadrant k = round(theta / (pi/2)), Cody-Waite remainder in Q60, nested Taylor on |r| <= pi/4.
    /// EVM where Python raises: theta is clamped to [-2^52, 2^52].
    function sinCos(int256 theta) internal pure returns (int256 c, int256 s) {
        if (theta > TRIG_MAX) theta = TRIG_MAX;
        else if (theta < -TRIG_MAX) theta = -TRIG_MAX;
        unchecked {
            // |theta| <= 2^52: |k| < 2^20, |r32| <= 2^32, |r32 << 28| <= 2^60, |k * LOW| < 2^47.
            int256 a = theta + (HALF_PI_Q32 >> 1);
            int256 k = a / HALF_PI_Q32; // nearest quadrant: floor(theta/(pi/2) + 1/2) ...
            if (a % HALF_PI_Q32 < 0) k -= 1; // ... `/` truncates toward zero: step down to the floor
            int256 r32 = theta - k * HALF_PI_Q32;
            int256 r60 = (r32 << 28) - k * HALF_PI_LOW_Q60; // theta - k*pi/2 in Q60 (pi/2 to 2^-61)
            (c, s) = sinCosQ30((r60 + (1 << 29)) >> 30);
            uint256 q = uint256(k) & 3; // k mod 4 (Python's %, also for k < 0: two's complement)
            if (q == 0) return (c, s);
            if (q == 1) return (-s, c);
            if (q == 2) return (-c, -s);
            return (s, -c);
        }
    }

    /// row[i] without the bounds check (callers loop i < row.length).
    function _at(int256[] memory row, uint256 i) private pure returns (int256 v) {
        assembly ("memory-safe") {
            v := mload(add(add(row, 0x20), shl(5, i)))
        }
    }

    function _sat64(int256 x) private pure returns (int256) {
        return x < INT64_MIN ? INT64_MIN : x > INT64_MAX ? INT64_MAX : x;
    }
}
