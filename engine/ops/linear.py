"""Linear family: y = x W^T with W a GGUF matrix imported exactly (Q4_0/Q4_1/Q8_0/F16/F32).

linear:  y[n] = saturate(round_half_up(2^fy * sum_k w[n,k] * x[k] * 2^-fx), width)
         params fx, fy, width, wtype (the GGML type id of W: how its raw bytes decode)
         x: (K,) raw at fx; W: (N, K); y: (N,) raw at fy. One rounding of the exact dot product.
Fan-in of y[n]: all K elements of x and row n of W (its raw bytes).

Fused forms (a linear output read by exactly one later op is not committed; each equals the composition of the
unfused ops bit for bit: linear, then swiglu or add (elementwise.py) or rope (rope.py)):

linear_swiglu (x, W_gate, W_up; params fh, fx, fy, width, wtype_gate, wtype_up):
         g = saturate(qlinear_row(x, W_gate, n, fx, fh), width), u = saturate(qlinear_row(x, W_up, n, fx, fh), width)
         y[n] = saturate(mul_round_shift(silu(g), u, 16 + fh - fy), width)
         = linear(fx, fy=fh, width) of each matrix, then swiglu(fu=fh, fy, width); silu reads g as Q16 (the
         llama template has fh = 16). wtype_gate / wtype_up: the GGML type ids of W_gate / W_up. Needs
         0 <= 16 + fh - fy <= 62. Fan-in of y[n]: all K elements of x, row n of W_gate, row n of W_up.
linear_add    (x, W, h; params fx, fy, width, wtype):
         y[n] = saturate(checked_add(h[n], saturate(qlinear_row(x, W, n, fx, fy), width)), width)
         = linear(fx, fy, width), then add(width) with h. Fan-in of y[n]: all K elements of x, row n of W, h[n].
linear_rope   (x, W, cos, sin; params fx, fy, head_dim, n_heads, width, wtype):
         z[m] = saturate(qlinear_row(x, W, m, fx, fy), width); at position p, for n = h*hd + 2i + e (e in {0, 1}),
         a = z[n - e], b = z[n - e + 1], c = cos[p, i], s = sin[p, i]:
         y[n] = saturate(round_shift(e == 0 ? a*c - b*s : a*s + b*c, 30), width)
         = linear(fx, fy, width), then rope(head_dim, n_heads, width) (rope.py). Fan-in of y[n]: all K elements
         of x, rows n - e and n - e + 1 of W (one byte range), cos[p, i], sin[p, i]. Needs width <= 32 (so
         rope's vectorized products fit int64, as rope's i32 inputs do). linear_rope instructions
         share stacked kernel calls with the linear ones that read the same input (q|k|v).
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec
from fixedpoint.vec import layers

from . import Ctx, Op, ggml_type, operand, register, shift, size, width
from .rope import rotate, rotate_element, table_fan_in

_STACKED = ("linear", "linear_rope")  # ops whose matrix rows Linear.plan stacks with others on the same input


def _bounds(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _x2(x, ctx: Ctx) -> np.ndarray:
    """The input of a block of ctx.count positions as (T, K)."""
    return np.asarray(x).reshape(ctx.count, -1)


def _positions(ctx: Ctx) -> np.ndarray:
    return np.arange(ctx.position, ctx.position + ctx.count, dtype=np.int64)


def _joined(raws: list) -> np.ndarray:
    """The concatenation of raw weight bytes: a view of the file's bytes when they lie back to back in it (gate|up
    do in a GGUF: no copy, ~33 MB less resident for SmolLM2), else a copy."""
    flats = [np.asarray(r).reshape(-1) for r in raws]
    roots = []
    for f in flats:
        r = f
        while isinstance(r.base, np.ndarray):
            r = r.base
        roots.append(r)
    if all(f.dtype == np.uint8 for f in flats) and all(r is roots[0] for r in roots) and roots[0].ndim >= 1:
        root = roots[0]
        if root.dtype == np.uint8 and root.flags.c_contiguous:
            flat = root.reshape(-1)
            addr = [f.__array_interface__["data"][0] for f in flats]
            a0 = flat.__array_interface__["data"][0]
            if all(addr[i] + flats[i].size == addr[i + 1] for i in range(len(flats) - 1)) and a0 <= addr[0]:
                lo = addr[0] - a0
                hi = lo + sum(f.size for f in flats)
                if hi <= flat.size:
                    return flat[lo:hi]
    return np.concatenate(flats)


class _Group:
    """Linear instructions that read the same input in the same formats, run as one stacked kernel call.

    Exactness is per output row, so stacking the matrices' rows changes no result; it only saves calls
    (the float reference fuses q|k|v and gate|up the same way). The stacked fast form replaces the members'
    own fast forms, keeping memory flat.
    """

    def __init__(self, names: list[str], weights: list, prep, fx: int, fy: int):
        self.names, self.fx, self.fy, self.prep = names, fx, fy, prep
        self.rows = np.cumsum([0] + [w.shape[0] for w in weights])


@register
class Linear(Op):
    name = "linear"
    opcode = 0x10
    family = "linear"
    params = (shift("fx"), shift("fy"), width(), ggml_type())
    operands = (operand("x"), operand("W", "weight"))
    solidity = "LinearFamily"

    def shape(self, ins, in_shapes, ctx):
        (k,), (n, k2) = in_shapes
        if k != k2:
            raise ValueError(f"{ins.name}: x has {k} elements but W is {n}x{k2}")
        return (n,)

    def plan(self, program, weights, plans):
        """Group linear (and linear_rope) instructions by (input, fx, fy, weight type, K) and stack each group's
        matrices."""
        groups: dict[tuple, list] = {}
        for ins in program.instrs:
            if ins.op not in _STACKED or ins.inputs[0].kind != "local":
                continue
            w = weights[ins.inputs[1].name]
            key = (ins.inputs[0].name, ins.p("fx"), ins.p("fy"), w.qm.ggml_type, w.shape[1])
            groups.setdefault(key, []).append(ins)
        for key, members in groups.items():
            if len(members) < 2:
                continue
            ws = [weights[i.inputs[1].name] for i in members]
            raw = _joined([w.raw for w in ws])
            qm = vec.decode_matrix(raw, key[3], sum(w.shape[0] for w in ws), key[4])
            g = _Group([i.name for i in members], ws, vec.prepare(qm), int(key[1]), int(key[2]))
            for i, w in zip(members, ws):
                plans[("linear", i.name)] = g
                w.prep = None  # the group's stacked form is the one used

    def run(self, ins, args, ctx: Ctx):
        x, w = args
        return vec.saturate(_rows(ins, x, w, ctx), int(ins.p("width")))

    def run_many(self, ins, args, ctx: Ctx):
        x, w = args
        return self.run(ins, [_x2(x, ctx), w], ctx)

    def element(self, ins, args, ctx, j):
        x, w = args
        y = ref.qlinear_row([int(v) for v in x], w.qm, j, int(ins.p("fx")), int(ins.p("fy")))
        return ref.saturate(y, int(ins.p("width")))

    def fan_in(self, ins, args, ctx, j):
        x, w = args
        rb = w.row_bytes
        return [(0, 0, len(x)), (1, j * rb, (j + 1) * rb)]


def _rows(ins, x, w, ctx: Ctx):
    """qlinear(x, W, fx, fy) of a linear or linear_rope instruction (unsaturated): from its group's stacked call
    (made by the group's first member, the others' parts left in ctx.scratch), or its own matrix."""
    w.check_type(ins)
    g = ctx.plans.get(("linear", ins.name))
    if g is None:
        return vec.qlinear(x, w.prep, int(ins.p("fx")), int(ins.p("fy")))
    key = ("linear", ins.name)
    y = ctx.scratch.pop(key, None)
    if y is None:
        ys = vec.qlinear(x, g.prep, g.fx, g.fy)
        for k, name in enumerate(g.names):
            ctx.scratch[("linear", name)] = ys[..., g.rows[k] : g.rows[k + 1]]
        y = ctx.scratch.pop(key)
    return y


def _tables_ok(cos, sin, ctx: Ctx) -> bool:
    """The RoPE tables the compiled rotation reads: int64 C arrays with |entries| <= 2^30 (checked once per table;
    Q30 tables are, and then a*c - b*s of i32 values is at most 2^62 + 2^29: no int64 wrap). Past it the checked
    path raises where rope's does (at |c| = 2^31, a*c - b*s reaches 2^63)."""
    key = ("rope_tables", id(cos.data), id(sin.data))
    ok = ctx.plans.get(key)
    if ok is None:
        ok = all(
            isinstance(t, np.ndarray)
            and t.dtype == np.int64
            and t.ndim == 2
            and t.flags.c_contiguous
            and (not t.size or int(np.abs(t).max()) <= 1 << 30)
            for t in (cos.data, sin.data)
        )
        ctx.plans[key] = ok
    return ok


def _row_fan_in(m: int, w, j: int) -> tuple[int, int, int]:
    """Operand m's bytes of row j of the raw weight w."""
    rb = w.row_bytes
    return (m, j * rb, (j + 1) * rb)


class _Stacked:
    """A linear_swiglu's gate|up matrices stacked into one prepared matrix (one kernel call, as the unfused
    template's gate|up _Group): rows [0, n) are W_gate's, [n, 2n) W_up's."""

    def __init__(self, prep, n: int):
        self.prep, self.n = prep, n


@register
class LinearSwiGLU(Op):
    name = "linear_swiglu"
    opcode = 0x11
    family = "linear"
    params = (shift("fh"), shift("fx"), shift("fy"), width(), ggml_type("wtype_gate"), ggml_type("wtype_up"))
    operands = (operand("x"), operand("W_gate", "weight"), operand("W_up", "weight"))
    solidity = "LinearFamily"

    def _shift(self, ins):
        return 16 + int(ins.p("fh")) - int(ins.p("fy"))

    def shape(self, ins, in_shapes, ctx):
        (k,), (n, kg), (nu, ku) = in_shapes
        if not (k == kg == ku and n == nu):
            raise ValueError(f"{ins.name}: x has {k} elements, W_gate is {n}x{kg}, W_up is {nu}x{ku}")
        if not 0 <= self._shift(ins) <= 62:
            raise ValueError(f"{ins.name}: linear_swiglu needs 0 <= 16 + fh - fy <= 62")
        return (n,)

    def plan(self, program, weights, plans):
        """Stack each instruction's W_gate|W_up (same type and K) into one prepared matrix."""
        uses: dict[str, int] = {}
        for ins in program.instrs:
            for r in ins.inputs:
                if r.kind == "weight":
                    uses[r.name] = uses.get(r.name, 0) + 1
        for ins in program.instrs:
            if ins.op != self.name:
                continue
            wg, wu = weights[ins.inputs[1].name], weights[ins.inputs[2].name]
            if wg.qm.ggml_type != wu.qm.ggml_type or wg.shape[1] != wu.shape[1]:
                continue
            raw = _joined([wg.raw, wu.raw])
            qm = vec.decode_matrix(raw, wg.qm.ggml_type, wg.shape[0] + wu.shape[0], wg.shape[1])
            plans[(self.name, ins.name)] = _Stacked(vec.prepare(qm), wg.shape[0])
            for i, w in ((1, wg), (2, wu)):
                if uses[ins.inputs[i].name] == 1:
                    w.prep = None  # the stacked form is the one used

    def run(self, ins, args, ctx: Ctx):
        x, wg, wu = args
        wg.check_type(ins, "wtype_gate")
        wu.check_type(ins, "wtype_up")
        fx, fh, width = int(ins.p("fx")), int(ins.p("fh")), int(ins.p("width"))
        st = ctx.plans.get((self.name, ins.name))
        if st is None:
            g, u = vec.qlinear(x, wg.prep, fx, fh), vec.qlinear(x, wu.prep, fx, fh)
        else:
            y = vec.qlinear(x, st.prep, fx, fh)
            if width <= 32:  # silu(g) * u of i32 values fits int64: the compiled tail
                y2 = y.reshape(-1, 2 * st.n)
                out = np.empty((y2.shape[0], st.n), np.int64)
                layers.swiglu_rows(y2, st.n, self._shift(ins), *_bounds(width), out)
                return out.reshape(y.shape[:-1] + (st.n,))
            g, u = y[..., : st.n], y[..., st.n :]
        g, u = vec.saturate(g, width), vec.saturate(u, width)
        return vec.saturate(vec.mul_round_shift(vec.silu(g), u, self._shift(ins)), width)

    def run_many(self, ins, args, ctx: Ctx):
        x, wg, wu = args
        return self.run(ins, [_x2(x, ctx), wg, wu], ctx)

    def element(self, ins, args, ctx, j):
        x, wg, wu = args
        xs = [int(v) for v in x]
        fx, fh, width = int(ins.p("fx")), int(ins.p("fh")), int(ins.p("width"))
        g = ref.saturate(ref.qlinear_row(xs, wg.qm, j, fx, fh), width)
        u = ref.saturate(ref.qlinear_row(xs, wu.qm, j, fx, fh), width)
        return ref.saturate(ref.mul_round_shift(ref.silu(g), u, self._shift(ins)), width)

    def fan_in(self, ins, args, ctx, j):
        x, wg, wu = args
        return [(0, 0, len(x)), _row_fan_in(1, wg, j), _row_fan_in(2, wu, j)]


@register
class LinearAdd(Op):
    name = "linear_add"
    opcode = 0x12
    family = "linear"
    params = (shift("fx"), shift("fy"), width(), ggml_type())
    operands = (operand("x"), operand("W", "weight"), operand("h"))
    solidity = "LinearFamily"

    def shape(self, ins, in_shapes, ctx):
        (k,), (n, k2), hs = in_shapes
        if k != k2 or hs != (n,):
            raise ValueError(f"{ins.name}: x has {k} elements, W is {n}x{k2}, h has shape {hs}")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, w, h = args
        w.check_type(ins)
        width = int(ins.p("width"))
        y = vec.qlinear(x, w.prep, int(ins.p("fx")), int(ins.p("fy")))
        h = np.asarray(h)
        if h.dtype == np.int64 and h.shape == y.shape:
            out = np.empty(y.shape, np.int64)
            if layers.add_sat_rows(
                h.reshape(-1, y.shape[-1]), y.reshape(-1, y.shape[-1]), *_bounds(width), out.reshape(-1, y.shape[-1])
            ):
                return out
        return vec.saturate(vec.checked_add(h, vec.saturate(y, width)), width)

    def run_many(self, ins, args, ctx: Ctx):
        x, w, h = args
        return self.run(ins, [_x2(x, ctx), w, _x2(h, ctx)], ctx)

    def element(self, ins, args, ctx, j):
        x, w, h = args
        width = int(ins.p("width"))
        y = ref.saturate(ref.qlinear_row([int(v) for v in x], w.qm, j, int(ins.p("fx")), int(ins.p("fy"))), width)
        return ref.saturate(ref.checked_add(int(h[j]), y), width)

    def fan_in(self, ins, args, ctx, j):
        x, w, _ = args
        return [(0, 0, len(x)), _row_fan_in(1, w, j), (2, j, j + 1)]


@register
class LinearRope(Op):
    name = "linear_rope"
    opcode = 0x13
    family = "linear"
    params = (shift("fx"), shift("fy"), size("head_dim"), size("n_heads"), width(), ggml_type())
    operands = (operand("x"), operand("W", "weight"), operand("cos", "weight"), operand("sin", "weight"))
    solidity = "LinearFamily"

    def shape(self, ins, in_shapes, ctx):
        (k,), (n, k2), _, _ = in_shapes
        if k != k2 or n != int(ins.p("n_heads")) * int(ins.p("head_dim")):
            raise ValueError(f"{ins.name}: x has {k} elements, W is {n}x{k2}: not K or not n_heads*head_dim rows")
        if not 1 <= int(ins.p("width")) <= 32:
            raise ValueError(f"{ins.name}: linear_rope needs width <= 32 (rope's products of i32 values fit int64)")
        return (n,)

    def run(self, ins, args, ctx: Ctx):
        x, w, cos, sin = args
        z = _rows(ins, x, w, ctx)  # (N,) unsaturated (maybe a view of a stacked call)
        return self._rope(ins, z.reshape(1, -1), cos, sin, ctx)[0]

    def run_many(self, ins, args, ctx: Ctx):
        x, w, cos, sin = args
        return self._rope(ins, _rows(ins, _x2(x, ctx), w, ctx), cos, sin, ctx)

    def _rope(self, ins, z, cos, sin, ctx: Ctx):
        """rope(saturate(z[t])) at position ctx.position + t for each row t of z (T, N)."""
        width, hd = int(ins.p("width")), int(ins.p("head_dim"))
        pos = _positions(ctx)
        if _tables_ok(cos, sin, ctx):
            out = np.empty(z.shape, np.int64)
            layers.rope_rows(z, 0, z.shape[1], cos.data, sin.data, pos, hd, *_bounds(width), out)
            return out
        z = vec.saturate(z, width)
        return np.stack([rotate(z[t], cos.data[p], sin.data[p], hd, width) for t, p in enumerate(pos.tolist())])

    def element(self, ins, args, ctx, j):
        x, w, cos, sin = args
        xs = [int(v) for v in x]
        fx, fy, width, hd = int(ins.p("fx")), int(ins.p("fy")), int(ins.p("width")), int(ins.p("head_dim"))
        base, i = j - (j % 2), (j % hd) // 2
        a = ref.saturate(ref.qlinear_row(xs, w.qm, base, fx, fy), width)
        b = ref.saturate(ref.qlinear_row(xs, w.qm, base + 1, fx, fy), width)
        c, s = int(cos.data[ctx.position][i]), int(sin.data[ctx.position][i])
        return rotate_element(a, b, c, s, j % 2 == 1, width)

    def fan_in(self, ins, args, ctx, j):
        x, w, cos, _ = args
        base, rb = j - (j % 2), w.row_bytes
        return [(0, 0, len(x)), (1, base * rb, (base + 2) * rb)] + table_fan_in(
            2, cos, ctx.position, int(ins.p("head_dim")), j
        )
