"""Engine values that are not plain int arrays: the carried state of ops whose output grows by position.

``Rows`` is a KV cache: the logical tensor (capacity, width) whose rows past the position are zero, stored as one
buffer shared by successive tokens (append-only: a token's cache is a prefix of the next token's).
prover.commit.values is the one place that commits, packs and reads such values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


@njit(cache=True, nogil=True, boundscheck=False)
def _append_i32(buf, amax, rows, at):
    """buf[at + t] = rows[t] and amax[at + t] = max |rows[t]| for every t, if every value fits int32 (else
    nothing is written and False is returned). buf: (capacity, w) int32; rows: (T, w) int64."""
    T, w = rows.shape
    for t in range(T):
        for c in range(w):
            v = rows[t, c]
            if v < -2147483648 or v > 2147483647:
                return False
    for t in range(T):
        m = 0
        for c in range(w):
            v = rows[t, c]
            buf[at + t, c] = v
            a = v if v >= 0 else -v
            if a > m:
                m = a
        amax[at + t] = m
    return True


class Rows:
    """A KV cache: logical shape (capacity, width); only the first ``n`` rows are stored (the rest are 0).

    ``empty`` allocates the whole (capacity, width) buffer once as int32 (the committed element type; zero pages
    cost no memory until written), so an append writes one row in place and copies nothing. Rows below n never
    change, so the previous token's Rows (a smaller n) stays valid. ``amax[r]`` is max |row r| (int64), kept by
    every write, so attention proves its int64 bounds from n numbers instead of the whole cache. A buffer built
    by hand (tests) may be int64 and have no ``amax``; then attention takes its generic path.
    """

    __slots__ = ("buf", "n", "capacity", "amax")

    def __init__(self, buf: np.ndarray, n: int, capacity: int, amax: np.ndarray | None = None):
        self.buf, self.n, self.capacity, self.amax = buf, n, capacity, amax

    @classmethod
    def empty(cls, capacity: int, width: int) -> Rows:
        return cls(np.zeros((capacity, width), dtype=np.int32), 0, capacity, np.zeros(capacity, dtype=np.int64))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.capacity, self.buf.shape[1])

    @property
    def valid(self) -> np.ndarray:
        return self.buf[: self.n]

    @property
    def size(self) -> int:
        return self.capacity * self.buf.shape[1]

    def _room(self, upto: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The buffer (and amax) able to hold rows [0, upto) with values in [lo, hi]: the shared one, or (a value
        outside int32, or a hand-built short buffer) a wider or longer copy of the rows so far."""
        buf, amax = self.buf, self.amax
        wide = buf.dtype == np.int32 and (lo < I32_MIN or hi > I32_MAX)
        if upto > buf.shape[0] or wide:
            rows = max(upto, buf.shape[0]) if not wide else self.capacity
            new = np.zeros((min(self.capacity, max(rows, 2 * buf.shape[0])), buf.shape[1]), np.int64)
            new[: self.n] = buf[: self.n]
            buf = new
            if amax is not None:
                a = np.zeros(self.capacity, np.int64)
                a[: self.n] = amax[: self.n]
                amax = a
        return buf, amax

    def appended(self, row: np.ndarray, at: int) -> Rows:
        """This cache with ``row`` as row ``at`` (== n): written in place into the shared buffer."""
        return self.appended_rows(np.asarray(row).reshape(1, -1), at)[-1]

    def appended_rows(self, rows: np.ndarray, at: int) -> list[Rows]:
        """The caches after appending each of ``rows`` (T, width) from position ``at`` (== n) on: T snapshots
        sharing one buffer (the t-th holds at + t + 1 rows)."""
        if at != self.n:
            raise ValueError(f"KV append at position {at} but the cache holds {self.n} rows")
        k = rows.shape[0]
        if at + k > self.capacity:
            raise ValueError(f"KV cache full: position {at + k - 1} >= context {self.capacity}")
        if rows.shape[1] != self.buf.shape[1]:
            raise ValueError(f"KV append of rows of {rows.shape[1]} elements to a cache of width {self.buf.shape[1]}")
        if rows.dtype.kind not in "iu" or rows.dtype == np.uint64:
            rows = np.asarray(rows, dtype=np.int64)
        if (
            self.buf.dtype == np.int32
            and self.amax is not None
            and rows.dtype == np.int64
            and _append_i32(self.buf, self.amax, rows, at)
        ):
            return [Rows(self.buf, at + i + 1, self.capacity, self.amax) for i in range(k)]
        lo, hi = (int(rows.min()), int(rows.max())) if rows.size else (0, 0)
        buf, amax = self._room(at + k, lo, hi)
        buf[at : at + k] = rows
        if amax is not None:
            r64 = rows.astype(np.int64, copy=False)
            amax[at : at + k] = np.maximum(r64.max(axis=1), -r64.min(axis=1)) if rows.size else 0
        return [Rows(buf, at + i + 1, self.capacity, amax) for i in range(k)]

    def set(self, r: int, c: int, v: int) -> Rows:
        """Element (r, c) := v for a stored row r < n (a dishonest operator's edit); returns the cache holding it
        (this one, or one with a wider buffer if v leaves int32)."""
        buf, amax = self._room(self.n, v, v)
        buf[r, c] = v
        out = self if buf is self.buf else Rows(buf, self.n, self.capacity, amax)
        if amax is not None:
            out.amax = amax
            amax[r] = int(np.abs(buf[r].astype(np.int64)).max())
        return out

    def get(self, r: int, c: int) -> int:
        return int(self.buf[r, c]) if r < self.n else 0

    def to_array(self) -> np.ndarray:
        """The full logical tensor (tests and small models only)."""
        out = np.zeros(self.shape, dtype=np.int64)
        out[: self.n] = self.valid
        return out
