"""openbrains numerics: the normative integer spec of every number format, rounding and overflow rule.

Two twins export the same names and must agree bit for bit on every input in their domain:

* ``fixedpoint.ref`` -- readable pure-Python-int reference, scalar (one element per call);
* ``fixedpoint.vec`` -- numpy twin over int64 arrays (broadcasting), the one the engine runs.

A tensor is an int64 array plus a static exponent: value = raw * 2^-F (see ``Format``).
Rounding has one rule, named in every function: ``round_shift`` = right shift with round-half-up,
``(x + (1 << (s-1))) >> s`` with an arithmetic (flooring) shift.

Every value a twin accepts or returns lies in int64 [-2^63, 2^63-1]; anything that would leave it
raises ``FixedPointOverflow`` in both twins, so they agree even on failure.
"""

from .errors import FixedPointError, FixedPointOverflow, FixedPointTypeError, FixedPointValueError
from .formats import INT64_MAX, INT64_MIN, Format

# Bump on any change that alters a committed value (rounding, constants, kernels, encodings).
NUMERICS_VERSION = 1

__all__ = [
    "NUMERICS_VERSION",
    "Format",
    "INT64_MIN",
    "INT64_MAX",
    "FixedPointError",
    "FixedPointOverflow",
    "FixedPointTypeError",
    "FixedPointValueError",
]
