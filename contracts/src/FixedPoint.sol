// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title FixedPoint: fixedpoint/ref/core.py on int256, function by function, same one-line specs.
/// @notice Totality rule. A one-step verifier must never revert on a state a trace can contain, so
/// every function DEFINES a result for every input where Python raises:
///   (1) an operand outside int64 is first saturated to int64 (no trace holds one: tensors pack <= i64);
///   (2) a shift is clamped to [0, 62] ([-62, 62] for rescale), a width to [1, 64];
///   (3) the formula is then evaluated exactly in int256: every operand is within 2^63 in magnitude,
///       so every intermediate is within 2^127 and nothing wraps (this is what makes `unchecked` safe);
///   (4) a result outside int64 is saturated to int64 (Python raises FixedPointOverflow);
///   (5) a divisor outside the domain (floorDiv: b = 0; roundDiv: b <= 0) gives 0.
/// Where Python returns a value the EVM returns the same value (tests/vectors/fixedpoint_core.json).
/// The first /// line of each function is the Python docstring's first line up to its ';' (names in
/// camelCase); the second says what the EVM returns where Python raises.
/// Shifts: int256 `>>` is arithmetic and floors, as Python's `>>`. Solidity's `/` truncates toward
/// zero; floorDiv and roundDiv correct it explicitly.
library FixedPoint {
    int256 internal constant INT64_MIN = -0x8000000000000000;
    int256 internal constant INT64_MAX = 0x7fffffffffffffff;
    int256 internal constant MAX_SHIFT = 62;

    /// min(max(x, -2^63), 2^63 - 1): saturate to int64 (where Python's as_int raises).
    function sat64(int256 x) internal pure returns (int256) {
        return x < INT64_MIN ? INT64_MIN : x > INT64_MAX ? INT64_MAX : x;
    }

    /// min(max(s, 0), 62): clamp a shift to [0, 62] (where Python's check_shift raises).
    function clampShift(int256 s) internal pure returns (uint256) {
        return s < 0 ? 0 : s > MAX_SHIFT ? uint256(MAX_SHIFT) : uint256(s);
    }

    /// floor((x + 2^(s-1)) / 2^s) for s >= 1, x for s = 0: right shift rounding half up.
    /// EVM where Python raises: rules (1)-(2); x + 2^(s-1) > INT64_MAX gives this exact quotient (it fits int64).
    function roundShift(int256 x, int256 s) internal pure returns (int256) {
        x = sat64(x);
        uint256 t = clampShift(s);
        if (t == 0) return x;
        unchecked {
            return (x + int256(1 << (t - 1))) >> t; // |x| <= 2^63, 2^(t-1) <= 2^61: no wrap
        }
    }

    /// floor(x / 2^s): arithmetic right shift (rounds toward -inf), s in [0, 62].
    /// EVM where Python raises: rules (1)-(2) only.
    function floorShift(int256 x, int256 s) internal pure returns (int256) {
        return sat64(x) >> clampShift(s);
    }

    /// x * 2^s exactly.
    /// EVM where Python raises: rules (1)-(2); a result outside int64 saturates.
    function shiftLeft(int256 x, int256 s) internal pure returns (int256) {
        x = sat64(x);
        uint256 t = clampShift(s);
        unchecked {
            return sat64(x << t); // |x| <= 2^63, t <= 62: |x << t| <= 2^125, exact
        }
    }

    /// Signed shift: shiftLeft(x, -s) for s <= 0, roundShift(x, s) for s > 0.
    /// EVM where Python raises: s clamped to [-62, 62], then as shiftLeft / roundShift.
    function rescale(int256 x, int256 s) internal pure returns (int256) {
        s = s < -MAX_SHIFT ? -MAX_SHIFT : s > MAX_SHIFT ? MAX_SHIFT : s;
        return s <= 0 ? shiftLeft(x, -s) : roundShift(x, s);
    }

    /// min(max(x, -2^(bits-1)), 2^(bits-1) - 1): clamp to the signed bits-wide range, bits in [1, 64].
    /// EVM where Python raises: bits clamped to [1, 64]; an x outside int64 clamps like any other x.
    function saturate(int256 x, int256 bits) internal pure returns (int256) {
        uint256 b = bits < 1 ? 1 : bits > 64 ? 64 : uint256(bits);
        unchecked {
            int256 hi = int256(1 << (b - 1)) - 1; // b in [1, 64]: 2^(b-1) <= 2^63, no wrap
            int256 lo = -hi - 1;
            return x < lo ? lo : x > hi ? hi : x;
        }
    }

    /// a + b exactly.
    /// EVM where Python raises: rule (1); a result outside int64 saturates.
    function checkedAdd(int256 a, int256 b) internal pure returns (int256) {
        unchecked {
            return sat64(sat64(a) + sat64(b)); // |a|, |b| <= 2^63: no wrap
        }
    }

    /// a * b exactly.
    /// EVM where Python raises: rule (1); a result outside int64 saturates.
    function checkedMul(int256 a, int256 b) internal pure returns (int256) {
        unchecked {
            return sat64(sat64(a) * sat64(b)); // |a|, |b| <= 2^63: |a * b| <= 2^126
        }
    }

    /// floor(a / b) (toward -inf, unlike Solidity's truncating /).
    /// EVM where Python raises: rule (1); b = 0 gives 0; INT64_MIN / -1 saturates to INT64_MAX.
    function floorDiv(int256 a, int256 b) internal pure returns (int256) {
        a = sat64(a);
        b = sat64(b);
        if (b == 0) return 0;
        unchecked {
            int256 q = a / b; // truncates toward zero; |a| <= 2^63 so no int256 overflow
            if (a % b != 0 && (a ^ b) < 0) q -= 1; // inexact with opposite signs: step down to the floor
            return sat64(q);
        }
    }

    /// floor(a / b + 1/2) = floor((a + floor(b/2)) / b): division rounding half up.
    /// EVM where Python raises: rule (1); b <= 0 gives 0; a + floor(b/2) > INT64_MAX gives this exact quotient.
    function roundDiv(int256 a, int256 b) internal pure returns (int256) {
        a = sat64(a);
        b = sat64(b);
        if (b <= 0) return 0;
        unchecked {
            int256 n = a + (b >> 1); // |n| < 2^64
            int256 q = n / b;
            if (n % b < 0) q -= 1; // b > 0: a negative remainder means n < 0 inexact, floor is one lower
            return q; // |q| <= |a| / b + 1/2: b = 1 gives a, b >= 2 gives < 2^62 + 1; fits int64
        }
    }

    /// roundShift(a * b, s) with the product a*b taken exactly (any size).
    /// EVM where Python raises: rules (1)-(2); a result outside int64 saturates.
    function mulRoundShift(int256 a, int256 b, int256 s) internal pure returns (int256) {
        uint256 t = clampShift(s);
        unchecked {
            int256 p = sat64(a) * sat64(b); // |p| <= 2^126
            if (t != 0) p = (p + int256(1 << (t - 1))) >> t;
            return sat64(p);
        }
    }
}
