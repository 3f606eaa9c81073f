"""Numpy twin of the numerics spec over int64 arrays. Same names as ``fixedpoint.ref``."""

from .core import *  # noqa: F403
from .core import MAX_SHIFT, as_int, check_shift, check_width  # noqa: F401
from .nonlinear import *  # noqa: F403
from .matmul import *  # noqa: F403
from .quant import *  # noqa: F403
