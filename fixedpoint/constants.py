"""Integer constants of the numerics. Each states the real value it encodes; tests check them with mpmath.

Formats are fixed here (value = raw * 2^-F):
"""

EXP_IN_F = 16  # exp_neg, sigmoid, silu, softmax inputs: Q16
EXP_OUT_F = 30  # exp_neg output, sigmoid output, softmax probabilities: Q30
SIG_F = 30
TRIG_IN_F = 32  # sin_cos angles: radians in Q32
TRIG_OUT_F = 30  # sin_cos outputs: Q30
ROPE_FREQ_F = 40  # rope_inv_freq: Q40

LN2_Q48 = 195103586505167  # round(ln 2 * 2^48)
HALF_PI_Q32 = 6746518852  # round(pi/2 * 2^32)
HALF_PI_Q60 = 1811004864519280711  # round(pi/2 * 2^60)
HALF_PI_LOW_Q60 = HALF_PI_Q60 - (HALF_PI_Q32 << 28)  # pi/2 * 2^60 - HALF_PI_Q32 * 2^28, rounded: the Cody-Waite tail

EXP_TERMS = 11  # exp(-t) = 1 - t(1 - t/2(1 - t/3(...(1 - t/11)))) on t in [0, ln 2): truncation < 2^-33
SIN_DIVISORS = (2 * 3, 4 * 5, 6 * 7, 8 * 9, 10 * 11)  # sin r = r(1 - r^2/6(1 - r^2/20(...)))
COS_DIVISORS = (1 * 2, 3 * 4, 5 * 6, 7 * 8, 9 * 10, 11 * 12)  # cos r = 1 - r^2/2(1 - r^2/12(...))

# exp_neg returns 0 once k = floor(-x / ln 2) >= 32 (then p * 2^-k < 1/2 LSB of Q30); in Q16 that is
# every z = -x >= EXP_ZERO_Z, the least z with z * 2^32 >= 32 * LN2_Q48.
EXP_ZERO_Z = -(-(32 * LN2_Q48) // (1 << 32))

ISQRT_MAX_ROOT = 3037000499  # isqrt(2^63 - 1): the largest root whose square fits int64
