"""Integer nonlinear functions, pure-Python reference (scalars). ``fixedpoint.vec.nonlinear`` mirrors each name.

Every function is an integer algorithm with integer constants (range reduction, then a nested Taylor
polynomial evaluated with round_div / round_shift); no float anywhere. Each docstring's first line is its
exact spec; the error bound against the real function is stated below it and checked by the tests.
"""

from __future__ import annotations

from ..constants import (
    COS_DIVISORS,
    EXP_TERMS,
    EXP_ZERO_Z,
    GELU_CLAMP,
    GELU_K1_Q30,
    GELU_K3_Q30,
    HALF_PI_LOW_Q60,
    HALF_PI_Q32,
    LN2_Q48,
    SIN_DIVISORS,
    TANH_MAX,
)
from ..errors import FixedPointOverflow, FixedPointValueError
from ..formats import INT64_MAX
from .core import as_int, check_shift, round_div, round_shift

__all__ = [
    "isqrt",
    "rsqrt_floor",
    "mul_sqrt_round_shift",
    "exp_neg",
    "sigmoid",
    "silu",
    "tanh",
    "gelu_tanh",
    "softmax",
    "sin_cos",
    "rope_inv_freq",
    "rope_table",
]

ONE30 = 1 << 30


def isqrt(n: int) -> int:
    """floor(sqrt(n)) for 0 <= n <= 2^63 - 1; exact."""
    n = as_int(n, "n")
    if n < 0:
        raise FixedPointValueError(f"isqrt of negative n={n}")
    r = 0 if n == 0 else 1 << ((n.bit_length() + 1) // 2)
    while True:  # Newton from above: decreases monotonically to floor(sqrt(n))
        s = (r + n // r) // 2 if r else 0
        if s >= r:
            return r
        r = s


def rsqrt_floor(v: int, fv: int, fr: int) -> int:
    """floor(2^fr / sqrt(v * 2^-fv)) = isqrt(floor(2^(2fr+fv) / v)) for v >= 1; exact (0 LSB below the real value, < 1 above)."""
    v = as_int(v, "v")
    fv, fr = check_shift(fv, "fv"), check_shift(fr, "fr")
    if v < 1:
        raise FixedPointValueError(f"rsqrt_floor needs v >= 1, got v={v}")
    q = (1 << (2 * fr + fv)) // v
    r = _isqrt_big(q)
    if r > INT64_MAX:
        raise FixedPointOverflow(f"rsqrt_floor(v={v}, fv={fv}, fr={fr}) = {r} overflows int64")
    return r


def _isqrt_big(n: int) -> int:
    import math

    return math.isqrt(n)


MUL_SQRT_MAX_N = 1 << 32


def mul_sqrt_round_shift(m: int, n: int, s: int) -> int:
    """floor(m * sqrt(n) * 2^-s + 1/2) for m in int64, 0 <= n <= 2^32, s in [0, 62]; exact (0 LSB: one rounding of the real product).

    With t = 4 m^2 n and r = isqrt(floor(t / 4^s)) = floor(2 |m| sqrt(n) 2^-s): m >= 0 gives (r + 1) >> 1; m < 0
    gives -((r + e) >> 1), e = 0 if r^2 4^s == t (2|m| sqrt(n) 2^-s is an integer) else 1. (Gemma's embedding
    scale sqrt(640) is irrational, so no result there is a tie.) FixedPointOverflow if the result leaves int64.
    """
    m, n = as_int(m, "m"), as_int(n, "n")
    s = check_shift(s)
    if not 0 <= n <= MUL_SQRT_MAX_N:
        raise FixedPointValueError(f"mul_sqrt_round_shift needs 0 <= n <= 2^32, got n={n}")
    t = 4 * m * m * n
    r = _isqrt_big(t >> (2 * s))
    y = (r + 1) >> 1 if m >= 0 else -((r + ((r * r) << (2 * s) != t)) >> 1)
    if abs(y) > INT64_MAX:
        raise FixedPointOverflow(f"mul_sqrt_round_shift(m={m}, n={n}, s={s}) = {y} overflows int64")
    return y


def _exp_poly(t: int) -> int:
    """exp(-t * 2^-30) in Q30 for t in [0, ln2 * 2^30]: 1 - t(1 - t/2(1 - ... (1 - t/11))), each step round_div."""
    acc = ONE30
    for i in range(EXP_TERMS, 0, -1):
        acc = ONE30 - round_div(t * acc, i << 30)
    return acc


def exp_neg(x: int) -> int:
    """exp(x * 2^-16) in Q30 for x <= 0 in Q16: k = floor(-x*2^32 / LN2_Q48), p = exp_poly(round_shift(rem, 18)), result round_shift(p, k) (0 when k >= 32).

    Error against the real exp at the exact input: at most 2 LSB (2^-29) (measured max 1; tests check 2).
    exp_neg(0) = 2^30 exactly.
    """
    x = as_int(x, "x")
    if x > 0:
        raise FixedPointValueError(f"exp_neg needs x <= 0, got x={x}")
    z = -x
    if z >= EXP_ZERO_Z:
        return 0
    z48 = z << 32
    k = z48 // LN2_Q48
    rem = z48 - k * LN2_Q48  # [0, LN2_Q48): -x = k ln2 + rem * 2^-48
    p = _exp_poly(round_shift(rem, 18))
    return round_shift(p, k)


def sigmoid(x: int) -> int:
    """1/(1 + exp(-x * 2^-16)) in Q30 for |x| <= 2^62 in Q16: e = exp_neg(-|x|), s = round_div(e * 2^30, 2^30 + e), sigmoid = x >= 0 ? 2^30 - s : s.

    sigmoid(x) + sigmoid(-x) == 2^30 exactly; sigmoid(0) = 2^29. Error at most 2 LSB of Q30.
    """
    x = as_int(x, "x")
    if abs(x) > (1 << 62):
        raise FixedPointValueError(f"sigmoid needs |x| <= 2^62, got x={x}")
    e = exp_neg(-abs(x))
    s = round_div(e << 30, ONE30 + e)
    return ONE30 - s if x >= 0 else s


def silu(x: int) -> int:
    """x * sigmoid(x) in Q16 for |x| <= 2^62 in Q16: mul_round_shift(x, sigmoid(x), 30).

    Error at most 0.5 LSB + |x| * 2^-29 (from sigmoid) in Q16 LSB units: < 1 LSB for |x| < 2^28 raw.
    """
    x = as_int(x, "x")
    s = sigmoid(x)
    return round_shift(x * s, 30) if abs(x * s) < (1 << 62) else _wide_round_shift(x * s, 30)


def tanh(x: int) -> int:
    """tanh(x * 2^-16) in Q30 for |x| <= 2^61 in Q16: 2 * sigmoid(2x) - 2^30.

    tanh(-x) == -tanh(x) exactly (sigmoid's symmetry); tanh(0) = 0. Error at most 4 LSB of Q30 (twice sigmoid's; measured max 2).
    """
    x = as_int(x, "x")
    if abs(x) > TANH_MAX:
        raise FixedPointValueError(f"tanh needs |x| <= 2^61, got x={x}")
    return 2 * sigmoid(2 * x) - ONE30


def gelu_tanh(x: int) -> int:
    """0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) = x sigmoid(2u) in Q16 for |x| <= 2^62 in Q16: c = clamp(x, +-2^20), v = round_shift(K1 * c + K3 * round_shift(c^3, 32), 30), mul_round_shift(x, sigmoid(v), 30).

    K1 = GELU_K1_Q30 = round(2 sqrt(2/pi) 2^30), K3 = GELU_K3_Q30 = round(2 sqrt(2/pi) 0.044715 2^30); v is 2u in
    Q16. The clamp changes nothing: from |x| = 2^20 (16.0) on, |v| > EXP_ZERO_Z and sigmoid(v) is exactly 0 or 2^30,
    so gelu_tanh(x) = x for x >= 2^20 and 0 for x <= -2^20. Error against the real function at the exact input: at
    most 1 LSB of Q16 (0.5 from the last rounding, the rest from v's rounding through sigmoid's slope; measured
    max about 0.6). gelu_tanh(0) = 0.
    """
    x = as_int(x, "x")
    if abs(x) > (1 << 62):
        raise FixedPointValueError(f"gelu_tanh needs |x| <= 2^62, got x={x}")
    c = max(-GELU_CLAMP, min(GELU_CLAMP, x))
    v = round_shift(GELU_K1_Q30 * c + GELU_K3_Q30 * round_shift(c * c * c, 32), 30)  # |c^3| <= 2^60
    return round_shift(x * sigmoid(v), 30) if abs(x) < (1 << 32) else _wide_round_shift(x * sigmoid(v), 30)


def _wide_round_shift(p: int, s: int) -> int:
    r = (p + (1 << (s - 1))) >> s
    if abs(r) > INT64_MAX:
        raise FixedPointOverflow(f"result {r} overflows int64")
    return r


def softmax(row: list[int]) -> list[int]:
    """Q30 probabilities of Q16 scores: e_j = exp_neg(max(x_j - max, -EXP_ZERO_Z)), p_j = round_div(e_j * 2^30, sum e); len(row) >= 1.

    Each p_j is within 2.5 + 2 n p_j LSB of the real softmax (n = len(row): the <= 2 LSB exp errors add up in
    the sum); sum p_j within n/2 + 1 LSB of 2^30.
    """
    xs = [as_int(v, "x") for v in row]
    if not xs:
        raise FixedPointValueError("softmax of an empty row")
    m = max(xs)
    es = [exp_neg(max(v - m, -EXP_ZERO_Z)) for v in xs]  # exp_neg is 0 at and below -EXP_ZERO_Z anyway
    s = sum(es)
    return [round_div(e << 30, s) for e in es]


def _sin_cos_q30(r: int) -> tuple[int, int]:
    """(cos r, sin r) in Q30 for |r| <= ~0.8 * 2^30 (Q30) by nested Taylor series."""
    r2 = round_shift(r * r, 30)
    acc = ONE30
    for d in reversed(SIN_DIVISORS):
        acc = ONE30 - round_div(r2 * acc, d << 30)
    s = round_shift(r * acc, 30)
    acc = ONE30
    for d in reversed(COS_DIVISORS):
        acc = ONE30 - round_div(r2 * acc, d << 30)
    return acc, s


def sin_cos(theta: int) -> tuple[int, int]:
    """(cos, sin) of theta * 2^-32 radians in Q30 for |theta| <= 2^52: quadrant k = round(theta / (pi/2)), Cody-Waite remainder in Q60, nested Taylor on |r| <= pi/4.

    Error at most 2 LSB of Q30 against the real functions at the exact input (measured max 1).
    """
    theta = as_int(theta, "theta")
    if abs(theta) > (1 << 52):
        raise FixedPointValueError(f"sin_cos needs |theta| <= 2^52, got {theta}")
    k = (theta + (HALF_PI_Q32 >> 1)) // HALF_PI_Q32  # nearest quadrant (floor of theta/(pi/2) + 1/2)
    r32 = theta - k * HALF_PI_Q32
    r60 = (r32 << 28) - k * HALF_PI_LOW_Q60  # theta - k*pi/2 in Q60 (pi/2 to 2^-61)
    c, s = _sin_cos_q30(round_shift(r60, 30))
    q = k % 4
    return ((c, s), (-s, c), (-c, -s), (s, -c))[q]


def _iroot(n: int, d: int) -> int:
    """floor(n^(1/d)) for n >= 0, d >= 1 (big ints, Newton from above)."""
    if n < 2 or d == 1:
        return n
    x = 1 << -(-n.bit_length() // d)  # >= the root
    while True:
        y = ((d - 1) * x + n // x ** (d - 1)) // d
        if y >= x:
            break
        x = y
    while x**d > n:
        x -= 1
    while (x + 1) ** d <= n:
        x += 1
    return x


def rope_inv_freq(base_mant: int, base_exp: int, head_dim: int, f: int = 40) -> list[int]:
    """[floor(2^f * base^(-2i/head_dim)) for i < head_dim/2] with base = base_mant * 2^base_exp > 0; exact (big ints)."""
    base_mant, base_exp = as_int(base_mant, "base_mant"), as_int(base_exp, "base_exp")
    head_dim, f = as_int(head_dim, "head_dim"), check_shift(f, "f")
    if base_mant <= 0:
        raise FixedPointValueError(f"rope base must be > 0, got mantissa {base_mant}")
    if head_dim < 2 or head_dim % 2:
        raise FixedPointValueError(f"head_dim must be even and >= 2, got {head_dim}")
    out = []
    for i in range(head_dim // 2):
        a = 2 * i
        # 2^(f*d) / base^a = 2^(f*d - e*a) / m^a, then the d-th root (floor(floor(y)^(1/d)) = floor(y^(1/d))).
        sh = f * head_dim - base_exp * a
        num = 1 << sh if sh >= 0 else 1
        den = base_mant**a << (-sh if sh < 0 else 0)
        out.append(_iroot(num // den, head_dim))
    return out


def _check_table_args(n_pos: object) -> int:
    n_pos = as_int(n_pos, "n_pos")
    if n_pos < 0:
        raise FixedPointValueError(f"rope_table needs n_pos >= 0, got {n_pos}")
    return n_pos


def rope_table(n_pos: int, inv_freq: list[int]) -> tuple[list[list[int]], list[list[int]]]:
    """(cos, sin) lists (n_pos x len(inv_freq)) in Q30 of theta = round_shift(p * inv_freq[i], 8) (Q40 -> Q32 radians)."""
    n_pos = _check_table_args(n_pos)
    cos, sin = [], []
    for p in range(n_pos):
        row_c, row_s = [], []
        for w in inv_freq:
            c, s = sin_cos(round_shift(p * int(w), 8))
            row_c.append(c)
            row_s.append(s)
        cos.append(row_c)
        sin.append(row_s)
    return cos, sin
