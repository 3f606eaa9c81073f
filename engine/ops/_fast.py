"""Compiled kernels of the attention family (numba): exact integer dot products over the int32 KV caches.

Each kernel computes exactly the op's spec (attention.py) for inputs within its stated contract; the ops prove the
contract (one product of maxima, in Python ints) before calling and take their generic path otherwise. Caches are
``engine.values.Rows`` buffers (capacity, H_kv * hd) int32 in the committed row layout: head g of row r is the
contiguous slice [g hd, (g + 1) hd), so both products stream contiguous memory.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numba import njit


class _JitOptions(TypedDict):  # typed, so that mypy matches ``njit(**_OPTS)`` with numba's own stubs
    cache: bool
    nogil: bool
    boundscheck: bool


_OPTS: _JitOptions = {"cache": True, "nogil": True, "boundscheck": False}


@njit(**_OPTS)
def scores(q, K, n, H, G, hd, cm, sh, lo, hi, out):
    """out[h, j] = saturate(round_shift(dot(q[h hd:(h+1) hd], K[j, g hd:(g+1) hd]) * cm, sh), lo, hi) for h < H,
    j < n, g = h // G (q: (H hd,) int32 or int64, K: int32 buffer, out: (H, n) int64). Contract: hd * max|q| *
    max|K| * cm + 2^(sh-1) <= 2^63 - 1 (so every partial sum and the product fit int64); 0 <= sh <= 62."""
    # Rows and heads are sliced before the dot product: an index that is the bare loop variable is provably >= 0,
    # so numba emits no negative-index fix-up and LLVM vectorizes contiguous loads (offset indices compiled to
    # gathers, ~4x slower). Each K row is read once for the G heads of its group.
    half = (1 << (sh - 1)) if sh > 0 else 0
    for g in range(H // G):
        for j in range(n):
            kr = K[j, g * hd : (g + 1) * hd]
            for h in range(g * G, (g + 1) * G):
                qr = q[h * hd : (h + 1) * hd]
                acc = 0
                for d in range(hd):
                    acc += np.int64(qr[d]) * np.int64(kr[d])
                y = (acc * cm + half) >> sh
                out[h, j] = lo if y < lo else hi if y > hi else y


@njit(**_OPTS)
def mix_partial(p, V, nv, H, G, hd, chunk, sh, lo, hi, out):
    """out[c, h hd + d] = saturate(round_shift(sum_{r in chunk c, r < n} p[h, r] * V[r, g hd + d], sh), lo, hi)
    with V rows >= nv read as 0 (p: (H, n) int64, V: int32 buffer, out: (C, H hd) int64, C = ceil(n / chunk)).
    Contract: chunk * max|p| * max|V| + 2^(sh-1) <= 2^63 - 1; 0 <= sh <= 62."""
    n = p.shape[1]
    C = out.shape[0]
    half = (1 << (sh - 1)) if sh > 0 else 0
    m = min(n, nv)
    for c in range(C):
        r0 = c * chunk
        r1 = min(m, r0 + chunk)
        for h in range(H):
            g = h // G
            acc = out[c, h * hd : (h + 1) * hd]  # sliced: contiguous vector loads (see scores)
            for d in range(hd):
                acc[d] = 0
            ph = p[h]
            for r in range(r0, r1):
                w = ph[r]
                vr = V[r, g * hd : (g + 1) * hd]
                for d in range(hd):
                    acc[d] += w * vr[d]
            for d in range(hd):
                y = (acc[d] + half) >> sh
                acc[d] = lo if y < lo else hi if y > hi else y


@njit(**_OPTS)
def mix_sum(part, sh, lo, hi, out):
    """out[j] = saturate(round_shift(sum_c part[c, j], sh), lo, hi). Contract: C * max|part| + 2^(sh-1) <= 2^63 - 1."""
    C, W = part.shape
    half = (1 << (sh - 1)) if sh > 0 else 0
    for j in range(W):
        out[j] = 0
    for c in range(C):
        for j in range(W):
            out[j] += part[c, j]
    for j in range(W):
        y = (out[j] + half) >> sh
        out[j] = lo if y < lo else hi if y > hi else y


@njit(**_OPTS)
def absmax(a):
    """max |a| over a 2-D int64 array (0 if empty), as int64 (|-2^63| saturates to 2^63 - 1)."""
    m = 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = a[i, j]
            if v < 0:
                v = -v if v > -9223372036854775807 else 9223372036854775807
            if v > m:
                m = v
    return m


@njit(**_OPTS)
def rows_max(amax, n):
    """max(amax[:n]) (0 if n == 0)."""
    m = 0
    for r in range(n):
        if amax[r] > m:
            m = amax[r]
    return m
