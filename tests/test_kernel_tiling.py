"""The tiled, column-blocked quantized kernels (fixedpoint.vec.kernels) against a plain int64 numpy computation:
row counts not a multiple of the tile, column counts not a multiple of the column block, C = 1..7."""

from __future__ import annotations

import numpy as np
import pytest

from fixedpoint.vec import kernels

B = 32


def _ref(q: np.ndarray, dsh: np.ndarray, msh: np.ndarray, x: np.ndarray) -> np.ndarray:
    # q (nb, B, N) int64 values, x (C, K): S[c, n] = sum_b Dsh P + Msh X
    nb = q.shape[0]
    xb = x.astype(np.int64).reshape(x.shape[0], nb, B)
    p = np.einsum("bjn,cbj->cbn", q.astype(np.int64), xb)
    xs = xb.sum(axis=2)  # (C, nb)
    return (p * dsh.astype(np.int64)[None] + msh.astype(np.int64)[None] * xs[:, :, None]).sum(axis=1)


@pytest.mark.parametrize("n_rows", [1, 7, 511, 512, 513, 1100])
@pytest.mark.parametrize("C", [1, 2, 3, 4, 5, 7])
def test_q8_and_q4_tiling(n_rows: int, C: int) -> None:
    rng = np.random.default_rng(n_rows * 10 + C)
    nb, lim = 3, (1 << 31) // (B * 128) - 1
    x = rng.integers(-lim, lim + 1, (C, nb * B)).astype(np.int32)
    q8 = rng.integers(-128, 128, (nb, B, n_rows)).astype(np.int8)
    d = rng.integers(-(1 << 20), 1 << 20, (nb, n_rows)).astype(np.int32)
    m = rng.integers(-(1 << 20), 1 << 20, (nb, n_rows)).astype(np.int32)
    for has_min in (False, True):
        mm = m if has_min else np.zeros_like(m)
        out = np.empty((C, n_rows), np.int64)
        kernels.q8_rows(q8, d, mm, has_min, x, out, 0, n_rows)
        assert np.array_equal(out, _ref(q8, d, mm, x))
    H = n_rows
    q4 = rng.integers(0, 16, (nb, B, 2 * H))
    qp = (q4[:, :, :H] | (q4[:, :, H:] << 4)).astype(np.uint8)
    d4 = rng.integers(-(1 << 20), 1 << 20, (nb, 2 * H)).astype(np.int32)
    m4 = rng.integers(-(1 << 20), 1 << 20, (nb, 2 * H)).astype(np.int32)
    out4 = np.empty((C, 2 * H), np.int64)
    kernels.q4_rows(qp, d4, m4, x, out4, 0, H)
    assert np.array_equal(out4, _ref(q4, d4, m4, x))
