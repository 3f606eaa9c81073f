"""Integer constants of the numerics. Each states the real value it encodes; tests check them with mpmath.

Formats are fixed here (value = raw * 2^-F):
"""

EXP_IN_F = 16  # exp_neg, sigmoid, silu, softmax inputs: Q16
EXP_OUT_F = 30  # exp_neg output, sigmoid output, softmax probabilities: Q30
SIG_F = 30  # sigmoid output; tanh output also Q30; gelu_tanh in and out Q16 (like silu)
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

# gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): 2u = K1 x + K3 x^3
GELU_K1_Q30 = 1713444047  # round(2 sqrt(2/pi) * 2^30)
GELU_K3_Q30 = 76616651  # round(2 sqrt(2/pi) * 0.044715 * 2^30)
# |x| >= 2^20 (16.0 in Q16) gives 2u >= 317 > EXP_ZERO_Z * 2^-16 (22.2): sigmoid(2u) is exactly 0 or 2^30 there, so
# the cubic is evaluated on x clamped to +-GELU_CLAMP (|x|^3 <= 2^60 fits int64) without changing any result.
GELU_CLAMP = 1 << 20
TANH_MAX = 1 << 61  # tanh's domain: |x| <= 2^61, so 2x stays in sigmoid's |x| <= 2^62

ISQRT_MAX_ROOT = 3037000499  # isqrt(2^63 - 1): the largest root whose square fits int64
