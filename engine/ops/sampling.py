"""Sampling family: choose the next token from the logits with a tree of small steps (the fan-in bound).

Candidates are (value, index) pairs ordered by value descending, then index ascending (a strict total
order, so ties resolve to the lowest token id, as greedy argmax does).

topk_chunk (x: (V,); params chunk, k) -> (ceil(V/chunk), k, 2): the k best candidates of each chunk of
    ``chunk`` consecutive entries (global indices); a chunk with fewer than k entries is padded with
    (INT32_MIN, -1), which orders after every real candidate.
topk_merge (c: (n, k, 2); params group, k) -> (ceil(n/group), k, 2): the k best of each group of ``group``
    consecutive candidate lists.
sample (c: (1, k, 2); run: (4,) = [temperature Q16, top_k, seed, max_new_tokens]) -> (1,) the chosen token id:
    temperature <= 0 or top_k <= 1: the best candidate (greedy).
    else with m = min(top_k, k): z_i = round_div((v_i - v_0) * 2^16, temperature) (Q16, <= 0),
    e_i = exp_neg(z_i) (Q30), S = sum e_i, r = keccak256("sample" || u64 seed || u64 position) mod S
    (as a 256-bit big-endian integer), token = index of the first i with e_0 + ... + e_i > r.
"""

from __future__ import annotations

import numpy as np
import sha3

from fixedpoint import ref

from . import Ctx, Op, operand, register, size

PAD_VALUE = -(1 << 31)


def _best_k(values: np.ndarray, indices: np.ndarray, k: int) -> np.ndarray:
    """(k, 2) best (value, index) pairs, value desc then index asc, padded with (PAD_VALUE, -1)."""
    order = np.lexsort((indices, -values))[:k]
    out = np.empty((k, 2), dtype=np.int64)
    out[:, 0], out[:, 1] = PAD_VALUE, -1
    out[: order.size, 0] = values[order]
    out[: order.size, 1] = indices[order]
    return out


def _best_k_ref(pairs: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
    best = sorted(pairs, key=lambda p: (-p[0], p[1]))[:k]
    return best + [(PAD_VALUE, -1)] * (k - len(best))


@register
class TopKChunk(Op):
    name = "topk_chunk"
    opcode = 0x60
    family = "sampling"
    params = (size("chunk"), size("k"))
    operands = (operand("logits"),)
    solidity = "SamplingFamily"

    def shape(self, ins, in_shapes, ctx):
        (v,) = in_shapes[0]
        c, k = int(ins.p("chunk")), int(ins.p("k"))
        return (-(-v // c), k, 2)

    def run(self, ins, args, ctx: Ctx):
        x = args[0]
        c, k = int(ins.p("chunk")), int(ins.p("k"))
        n = -(-x.size // c)
        out = np.empty((n, k, 2), dtype=np.int64)
        idx = np.arange(x.size, dtype=np.int64)
        for i in range(n):
            seg = x[i * c : (i + 1) * c]
            if seg.size > 4 * k:  # partition first: only the k best (plus ties at the boundary) matter
                kth = np.partition(seg, seg.size - k)[seg.size - k]
                keep = np.nonzero(seg >= kth)[0]
                out[i] = _best_k(seg[keep], idx[i * c : (i + 1) * c][keep], k)
            else:
                out[i] = _best_k(seg, idx[i * c : (i + 1) * c], k)
        return out

    def element(self, ins, args, ctx, j):
        x = args[0]
        c, k = int(ins.p("chunk")), int(ins.p("k"))
        i, rest = divmod(j, 2 * k)
        r, f = divmod(rest, 2)
        seg = [(int(x[t]), t) for t in range(i * c, min((i + 1) * c, x.size))]
        return _best_k_ref(seg, k)[r][f]

    def fan_in(self, ins, args, ctx, j):
        c, k = int(ins.p("chunk")), int(ins.p("k"))
        i = j // (2 * k)
        return [(0, i * c, min((i + 1) * c, args[0].size))]


@register
class TopKMerge(Op):
    name = "topk_merge"
    opcode = 0x61
    family = "sampling"
    params = (size("group"), size("k"))
    operands = (operand("lists"),)
    solidity = "SamplingFamily"

    def shape(self, ins, in_shapes, ctx):
        n, k, _ = in_shapes[0]
        return (-(-n // int(ins.p("group"))), int(ins.p("k")), 2)

    def run(self, ins, args, ctx: Ctx):
        c = args[0]
        g, k = int(ins.p("group")), int(ins.p("k"))
        n = -(-c.shape[0] // g)
        out = np.empty((n, k, 2), dtype=np.int64)
        for i in range(n):
            part = c[i * g : (i + 1) * g].reshape(-1, 2)
            out[i] = _best_k(part[:, 0], part[:, 1], k)
        return out

    def element(self, ins, args, ctx, j):
        c = args[0]
        g, k = int(ins.p("group")), int(ins.p("k"))
        i, rest = divmod(j, 2 * k)
        r, f = divmod(rest, 2)
        pairs = [(int(v), int(t)) for row in c[i * g : (i + 1) * g] for v, t in row]
        return _best_k_ref(pairs, k)[r][f]

    def fan_in(self, ins, args, ctx, j):
        c = args[0]
        g, k = int(ins.p("group")), int(ins.p("k"))
        i = j // (2 * k)
        per = c.shape[1] * 2
        return [(0, i * g * per, min((i + 1) * g, c.shape[0]) * per)]


def sample_draw(seed: int, position: int, total: int) -> int:
    """keccak256("sample" || u64 seed || u64 position) as a big-endian integer, mod total (total >= 1)."""
    h = sha3.keccak_256(b"sample" + (seed & (2**64 - 1)).to_bytes(8, "big") + position.to_bytes(8, "big")).digest()
    return int.from_bytes(h, "big") % total


def sample_ref(cands: list[tuple[int, int]], temperature: int, top_k: int, seed: int, position: int) -> int:
    """The sample op's spec with Python ints (see module docstring)."""
    if temperature <= 0 or top_k <= 1:
        return cands[0][1]
    m = min(top_k, len(cands))
    v0 = cands[0][0]
    es = []
    for v, t in cands[:m]:
        if t < 0:  # padding: never chosen
            es.append(0)
            continue
        z = ref.round_div((v - v0) * (1 << 16), temperature)
        es.append(ref.exp_neg(z))
    r = sample_draw(seed, position, max(sum(es), 1))
    acc = 0
    for (_v, t), e in zip(cands[:m], es):
        acc += e
        if acc > r:
            return t
    return cands[0][1]


@register
class Sample(Op):
    name = "sample"
    opcode = 0x62
    family = "sampling"
    params = ()
    operands = (operand("cands"), operand("run", "run"))
    solidity = "SamplingFamily"

    def shape(self, ins, in_shapes, ctx):
        return (1,)

    def run(self, ins, args, ctx: Ctx):
        c, run = args
        cands = [(int(v), int(t)) for v, t in c[0]]
        tok = sample_ref(cands, int(run[0]), int(run[1]), int(run[2]), ctx.position)
        return np.array([tok], dtype=np.int64)

    def element(self, ins, args, ctx, j):
        return int(self.run(ins, args, ctx)[0])

    def fan_in(self, ins, args, ctx, j):
        c, _ = args
        return [(0, 0, c.size), (1, 0, 3)]  # max_new_tokens (run[3]) does not affect the choice
