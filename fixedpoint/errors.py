"""Exceptions raised by the numerics: bad input is an exception naming the value, never a wrong number."""


class FixedPointError(Exception):
    """Base class of every numerics error."""


class FixedPointTypeError(FixedPointError, TypeError):
    """An operand is not an integer (float, bool, object array, wrong dtype)."""


class FixedPointValueError(FixedPointError, ValueError):
    """An operand is an integer outside the function's stated domain (negative shift, b <= 0, ...)."""


class FixedPointOverflow(FixedPointError, OverflowError):
    """A result (or an intermediate the spec says must fit) leaves int64; we raise instead of wrapping."""
