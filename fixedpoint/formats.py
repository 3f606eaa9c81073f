"""Fixed-point formats: value = raw * 2^-frac_bits, raw saturated to a signed ``width``-bit range."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FixedPointValueError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Format:
    """A static fixed-point format: ``frac_bits`` F in [0, 62], ``width`` W in [2, 64] bits (signed).

    Representable raws are [-2^(W-1), 2^(W-1)-1]; the real value of raw r is r * 2^-F exactly.
    """

    frac_bits: int
    width: int = 32

    def __post_init__(self) -> None:
        if not (isinstance(self.frac_bits, int) and 0 <= self.frac_bits <= 62):
            raise FixedPointValueError(f"frac_bits must be an int in [0, 62], got {self.frac_bits!r}")
        if not (isinstance(self.width, int) and 2 <= self.width <= 64):
            raise FixedPointValueError(f"width must be an int in [2, 64], got {self.width!r}")

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def one(self) -> int:
        """The raw that encodes 1.0."""
        return 1 << self.frac_bits

    def to_float(self, raw: int) -> float:
        """Display/measurement only (never on a committed path): raw * 2^-F as float."""
        return raw / float(1 << self.frac_bits)

    def from_float_for_tests(self, x: float) -> int:
        """Test/input helper only: round-half-up of x * 2^F, saturated. Never used on a committed path."""
        import math

        r = math.floor(x * (1 << self.frac_bits) + 0.5)
        return max(self.lo, min(self.hi, r))

    def __str__(self) -> str:
        return f"Q{self.width - self.frac_bits}.{self.frac_bits}"
