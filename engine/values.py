"""Engine values that are not plain int arrays: the carried state of ops whose output grows by position.

``Rows`` is a KV cache: the logical tensor (capacity, width) whose rows past the position are zero, stored as a
growing buffer shared by successive tokens (append-only: a token's cache is a prefix of the next token's).
prover.commit.values is the one place that commits, packs and reads such values.
"""

from __future__ import annotations

import numpy as np


class Rows:
    """A KV cache: logical shape (capacity, width); only the first ``n`` rows are stored (the rest are 0).

    Appending shares one growing buffer between successive tokens: rows below n never change, so the
    previous token's Rows (a smaller n) stays valid.
    """

    __slots__ = ("buf", "n", "capacity")

    def __init__(self, buf: np.ndarray, n: int, capacity: int):
        self.buf, self.n, self.capacity = buf, n, capacity

    @classmethod
    def empty(cls, capacity: int, width: int) -> Rows:
        return cls(np.zeros((16, width), dtype=np.int64), 0, capacity)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.capacity, self.buf.shape[1])

    @property
    def valid(self) -> np.ndarray:
        return self.buf[: self.n]

    @property
    def size(self) -> int:
        return self.capacity * self.buf.shape[1]

    def appended(self, row: np.ndarray, at: int) -> Rows:
        if at != self.n:
            raise ValueError(f"KV append at position {at} but the cache holds {self.n} rows")
        if at >= self.capacity:
            raise ValueError(f"KV cache full: position {at} >= context {self.capacity}")
        buf = self.buf
        if at >= buf.shape[0]:
            buf = np.zeros((min(self.capacity, 2 * buf.shape[0]), buf.shape[1]), dtype=np.int64)
            buf[: self.n] = self.buf[: self.n]
        buf[at] = row
        return Rows(buf, at + 1, self.capacity)

    def get(self, r: int, c: int) -> int:
        return int(self.buf[r, c]) if r < self.n else 0

    def to_array(self) -> np.ndarray:
        """The full logical tensor (tests and small models only)."""
        out = np.zeros(self.shape, dtype=np.int64)
        out[: self.n] = self.valid
        return out
