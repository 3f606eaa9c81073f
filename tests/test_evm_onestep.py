"""OneStep.sol == engine/ops element() on anvil, for every op family, on real traces.

For each family, several (step, j) from a seeded RNG plus the edges (first and last element, first and last
position, KV rows at, before and after the position): EVM element == Python element == the traced output.
A dishonest trace (one corrupted element, propagated) and random extreme operand values check the same on
unusual states (and that the one-step never reverts where Python has no value). Corrupted
witnesses (leaf byte, sibling, header, missing leaf, order, counts) revert with the named error; outShape and
the empty KV state match Python; elements past the output are 0. SmolLM2: one check per family with its gas
(marked slow).
"""

from __future__ import annotations

import random
from dataclasses import replace

import fusekit
from coverage_kit import all_examples_ok
import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ops
from engine.generate import GenSettings
from engine.models import llama
from engine.ops import Ctx
from engine.values import Rows
from engine.program import TOKEN, L, Program, S, instr
from engine.runtime import IntegerLM
from prover.chain import Reverted
from prover.chain.deploy import deploy_one_step
from prover.commit import merkle
from prover.commit.model import commit_value, instr_bytes, model_commitment
from prover.commit.trace import Corruption
from prover.commit.witness import (
    build_witness,
    multiproof,
    open_operand,
    to_call_args,
    verify_multiproof,
    witness_for,
)
from prover.commit.merkle import tree_depth
from prover.commit.values import element_of as output_value
from prover.commit.values import operand_source
from prover.runner import Replayer, traced_generate

pytestmark = pytest.mark.chain

PROMPT = [5, 17, 99, 120]
CHUNK = 16  # RPC batch size: witnesses of a few KB each


def sel(sig: str) -> bytes:
    return keccak(text=sig)[:4]


BAD_HEADER, BAD_PROOF, MISSING = sel("BadHeader(uint256)"), sel("BadProof(uint256)"), sel("MissingLeaf(uint256)")


class Model:
    """A traced run and what witnesses need."""

    def __init__(self, lm, settings: GenSettings, corrupt: Corruption | None = None, prompt: list[int] = PROMPT):
        self.lm, self.mc = lm, model_commitment(lm)
        self.run = traced_generate(lm, prompt, settings, corrupt=corrupt)
        self.rp = Replayer(lm, self.run)
        self.S = lm.program.steps_per_token
        self.T = self.run.tracer.step_count // self.S
        self.widx = {n: i for i, n in enumerate(self.mc.weight_names)}

    def step_of(self, t: int, k: int) -> int:
        return t * self.S + k

    def witness(self, step: int, j: int):
        return build_witness(self.lm, self.rp, self.mc, step, j)


@pytest.fixture(scope="module")
def tiny() -> Model:
    return Model(IntegerLM.load("tiny"), GenSettings(max_new_tokens=3))


@pytest.fixture(scope="module")
def tiny_tree() -> Model:
    """tiny with 64-logit chunks merged in pairs (so topk_merge runs, with a short last group), attention mix
    partials of 2 positions (up to 3 per row, the last one partial at odd positions counts), sampling at a
    temperature over the top 8 (the non-greedy path of `sample`) and the unfused template (q, k, o, gate, up,
    down linear; rope; swiglu; add), whose ops other models may use."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(llama, "CHUNK", 64)
        mp.setattr(llama, "GROUP", 2)
        mp.setattr(llama, "MIX_CHUNK", 2)
        mp.setattr(llama, "FUSE", False)
        lm = IntegerLM.load("tiny")
    assert any(i.op == "topk_merge" for i in lm.program.instrs)
    assert {"add", "swiglu", "rope"} <= {i.op for i in lm.program.instrs}
    assert all(i.p("chunk") == 2 for i in lm.program.instrs if i.op == "attn_mix_partial")
    return Model(lm, GenSettings(max_new_tokens=3, temperature_q16=64 << 16, top_k=8, seed=2))


@pytest.fixture(scope="module")
def onestep(chain):
    return deploy_one_step(chain)


def cases(m: Model, rng: random.Random, per_step: int = 2) -> list[tuple[int, int]]:
    """(step, j) for every instruction at the first, a middle and the last position: j = 0, the last element,
    random ones; KV caches also at the row of the position, the row before it, row 0 and the row after."""
    out = []
    for k, ins in enumerate(m.lm.program.instrs):
        for t in sorted({0, rng.randrange(m.T), m.T - 1}):
            step = m.step_of(t, k)
            _, _, y = m.rp.step(step)
            n = y.size
            js = {0, n - 1} | {rng.randrange(n) for _ in range(per_step)}
            if ins.op == "kv_append":
                w = y.shape[1]
                js |= {r * w + rng.randrange(w) for r in (t, t - 1, 0, t + 1) if 0 <= r < y.shape[0]}
            out += [(step, j) for j in sorted(js)]
    return out


def check_elements(chain, onestep, m: Model, picks):
    ws = [m.witness(s, j) for s, j in picks]
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=CHUNK, strict=False)
    bad = []
    for w, g in zip(ws, got):
        _, _, y = m.rp.step(w.step)
        traced = output_value(y, w.j)
        if not (g == w.expected == traced):
            bad.append((w.step, w.meta["instr"], w.j, w.expected, traced, g))
    assert not bad, f"{len(bad)} of {len(ws)} differ, first: {bad[:5]}"
    return ws


def test_every_family_matches_python_and_trace(chain, onestep, tiny, tiny_tree):
    rng = random.Random(20240611)
    seen = set()
    for m in (tiny, tiny_tree):
        ws = check_elements(chain, onestep, m, cases(m, rng))
        seen |= {w.op for w in ws}
    # every op with examples (plugins, ops no bundled template runs) is checked on them too
    with_examples = {n for n, op in ops.all_ops().items() if op.examples(np.random.default_rng(0))}
    seen |= set(all_examples_ok(chain, onestep, sorted(with_examples)))
    assert seen == set(ops.all_ops()), f"ops not covered on chain: {set(ops.all_ops()) - seen}"


def test_sampling_path_draws(tiny_tree):
    """The sampling fixture really samples (temperature > 0, top_k > 1) and its tokens differ from greedy."""
    run = tiny_tree.run
    assert run.settings.temperature_q16 > 0 and run.settings.top_k > 1
    greedy = traced_generate(tiny_tree.lm, PROMPT, GenSettings(max_new_tokens=3))
    assert run.result.tokens != greedy.result.tokens


def test_dishonest_trace_values(chain, onestep):
    """A trace with one element pushed far out (propagated downstream, saturating on the way): OneStep equals
    Python on every later step of that token, and returns a value (no revert) wherever Python does."""
    lm = IntegerLM.load("tiny")
    k = lm.program.index["L0.q_rope"]
    S = lm.program.steps_per_token
    bad_step = 2 * S + k
    m = Model(lm, GenSettings(max_new_tokens=3), corrupt=Corruption(bad_step, 5, 1 << 30))
    # at the corrupted element itself the one-step gives the honest value: the lie is caught
    w = m.witness(bad_step, 5)
    _, _, y = m.rp.step(bad_step)
    assert chain.call(onestep, "element", *to_call_args(w)) == w.expected == int(y[5]) - (1 << 30)
    rng = random.Random(7)
    picks = []
    for step in range(bad_step + 1, 3 * S):
        _, _, y = m.rp.step(step)
        picks += [(step, j) for j in {0, 5 % y.size, y.size - 1, rng.randrange(y.size)}]
    check_elements(chain, onestep, m, picks)


def test_out_shape_matches_python(chain, onestep, tiny, tiny_tree):
    calls, want = [], []
    for m in (tiny, tiny_tree):
        for k, ins in enumerate(m.lm.program.instrs):
            for t in (0, m.T - 1):
                step = m.step_of(t, k)
                w = m.witness(step, 0)
                _, _, y = m.rp.step(step)
                assert w.out_shape == tuple(y.shape), ins.name
                calls.append((onestep, "outShape", (w.instr_bytes, t, [list(o.shape) for o in w.operands])))
                want.append(list(w.out_shape))
    assert [list(s) for s in chain.call_many(calls, chunk=CHUNK)] == want


def test_elements_past_the_output_are_zero(chain, onestep, tiny):
    """j in the zero padding of the last leaf (or anywhere past numel) gives 0, what the padding holds."""
    k = tiny.lm.program.index["L1.scores"]
    step = tiny.step_of(tiny.T - 1, k)
    _, _, y = tiny.rp.step(step)
    w = tiny.witness(step, y.size - 1)
    for j in (y.size, y.size + 1, 2**255):
        assert chain.call(onestep, "element", *to_call_args(replace(w, j=j))) == 0


def test_empty_state(chain, onestep, tiny):
    prog = tiny.lm.program
    for k, ins in enumerate(prog.instrs[:12]):
        ib = instr_bytes(prog, k, tiny.widx)
        root = chain.call(onestep, "emptyStateRoot", ib, prog.context)
        if ins.op == "kv_append":
            empty = ops.get(ins.op).empty_state(ins, Ctx(prog, 0))
            assert root == commit_value(empty)
            # the trace's state operand at position 0 is this root
            user = next(
                i for i, x in enumerate(prog.instrs) if any(r.kind == "state" and r.name == ins.name for r in x.inputs)
            )
            assert tiny.witness(user, 0).operand_roots[0] == root
        else:
            assert root == bytes(32)


# -- states a trace rarely holds ------------------------------------------------------------------------

I32 = (-(1 << 31), (1 << 31) - 1)
EDGES = [I32[0], I32[0] + 1, -(1 << 30), -65536, -1, 0, 1, 65536, 1 << 30, I32[1] - 1, I32[1]]


def _perturb(rng: random.Random, kind: str, ins, a, vocab: int):
    """An operand value like a (same shape, i32 range) with extreme, tied or random entries."""
    if kind == "weight":
        return a
    if kind == "token":
        return np.array([rng.choice([-1, 0, vocab - 1, vocab, vocab + 7, I32[0], I32[1], rng.randrange(vocab)])])
    if kind == "run":
        return np.array(
            [
                rng.choice([-5, 0, 1, 1 << 16, 7 << 16, 1 << 40]),
                rng.choice([0, 1, 2, 8, 32, 100, 1 << 40]),
                rng.choice([0, -1, -(1 << 63), (1 << 63) - 1, rng.randrange(1 << 62)]),
                3,
            ]
        )
    if isinstance(a, Rows):
        buf = a.buf.copy()
        n = a.n
        for _ in range(rng.randrange(1, 6) if n else 0):
            buf[rng.randrange(n), rng.randrange(buf.shape[1])] = rng.choice(EDGES)
        return Rows(buf, n, a.capacity)
    y = np.array(a, dtype=np.int64, copy=True)
    flat = y.reshape(-1)
    mode = rng.randrange(4)
    if mode == 0:  # a few extremes
        for _ in range(rng.randrange(1, 8)):
            flat[rng.randrange(flat.size)] = rng.choice(EDGES)
    elif mode == 1:  # everything extreme
        flat[:] = [rng.choice(EDGES) for _ in range(flat.size)]
    elif mode == 2:  # many ties
        flat[:] = [rng.choice([-3, 0, 5]) for _ in range(flat.size)]
    else:  # uniform i32
        flat[:] = [rng.randint(*I32) for _ in range(flat.size)]
    if ins.op in ("topk_merge", "sample") and rng.random() < 0.5:  # candidate lists: sorted, some padding
        pairs = sorted(((int(v), int(t)) for v, t in flat.reshape(-1, 2)), key=lambda p: (-p[0], p[1]))
        pairs = [(v, t) if rng.random() < 0.8 else (I32[0], -1) for v, t in pairs]
        flat[:] = np.array(pairs).reshape(-1)
    return y


def test_extreme_states_match_python_and_never_revert(chain, onestep, tiny, tiny_tree):
    """Random operand values (extremes, ties, saturating sums, out-of-range tokens, odd run settings), weights as
    committed: EVM == Python wherever Python defines the element, and a value (never a revert) elsewhere."""
    rng = random.Random(4242)
    ws = []
    for m in (tiny, tiny_tree):
        prog = m.lm.program
        for k, ins in enumerate(prog.instrs):
            if m is tiny_tree and ins.op not in (
                "topk_chunk",
                "topk_merge",
                "sample",
                "attn_mix_partial",
                "attn_mix",
                "add",
                "swiglu",
                "rope",
            ):
                continue
            for _ in range(12 if ins.op in ("embed", "sample", "topk_chunk", "topk_merge") else 3):
                t = rng.randrange(m.T)
                _, args, y = m.rp.step(m.step_of(t, k))
                new = [_perturb(rng, r.kind, ins, a, m.lm.config.vocab_size) for r, a in zip(ins.inputs, args)]
                for j in {0, rng.randrange(y.size), y.size - 1}:
                    ws.append(witness_for(prog, m.mc.weight_names, k, t, new, j, strict=False))
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=CHUNK, strict=False)
    reverted = [(w.meta["instr"], w.j) for w, g in zip(ws, got) if isinstance(g, Reverted)]
    assert not reverted, reverted[:10]
    wrong = [
        (w.meta["instr"], w.j, w.expected, g) for w, g in zip(ws, got) if w.expected is not None and g != w.expected
    ]
    assert not wrong, wrong[:10]
    assert sum(w.expected is not None for w in ws) > 0.8 * len(ws)


# -- attention mix in chunks, on synthetic inputs ---------------------------------------------------------


def _mix_program(H: int, Hkv: int, hd: int, chunk: int, context: int) -> Program:
    """The template's two mix instructions with the llama formats, alone (operand values are given directly)."""
    return Program(
        "mix",
        (
            instr("v_cache", "kv_append", [S("v_cache"), TOKEN], width_elems=Hkv * hd),
            instr("probs", "softmax", [TOKEN]),
            instr(
                "part",
                "attn_mix_partial",
                [L("probs"), L("v_cache")],
                chunk=chunk,
                fp=llama.F_P,
                fv=llama.F_H,
                head_dim=hd,
                n_heads=H,
                n_kv_heads=Hkv,
                width=llama.WIDTH,
            ),
            instr("mix", "attn_mix", [L("part")], fp=llama.F_P, fy=llama.F_X, width=llama.WIDTH),
        ),
        context=context,
        output="mix",
    )


def _i32(rng: np.random.Generator, shape, mode: str) -> np.ndarray:
    if mode == "extreme":
        return rng.choice(np.array(EDGES, dtype=np.int64), size=shape)
    return rng.integers(I32[0], I32[1] + 1, size=shape, dtype=np.int64)


@settings(max_examples=100, deadline=None)
@given(
    chunk=st.integers(1, 9),
    n=st.integers(1, 40),
    heads=st.sampled_from([(2, 1, 4), (4, 2, 8), (3, 3, 4)]),
    mode=st.sampled_from(["softmax", "softmax", "extreme", "uniform"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_mix_chunks_match_python(chain, onestep, chunk, n, heads, mode, seed):
    """attn_mix_partial and attn_mix on hypothesis-drawn shapes (many chunks, a partial last chunk) and values
    (softmax rows with V in the Q16 range of real runs, or i32 extremes): EVM == Python wherever Python defines
    the element, and never a revert."""
    H, Hkv, hd = heads
    rng = np.random.default_rng(seed)
    prog = _mix_program(H, Hkv, hd, chunk, context=48)
    ctx = Ctx(prog, n - 1)
    if mode == "softmax":
        scores = rng.integers(-(8 << 16), (8 << 16) + 1, (H, n))
        p = ops.get("softmax").run(prog.instrs[1], [scores], ctx)
        vrows = rng.integers(-(1 << 20), (1 << 20) + 1, (n, Hkv * hd))
    else:
        p, vrows = _i32(rng, (H, n), mode), _i32(rng, (n, Hkv * hd), mode)
    V = Rows.empty(prog.context, Hkv * hd)
    for r in range(n):
        V = V.appended(vrows[r], r)
    C = -(-n // chunk)
    part = (
        ops.get("attn_mix_partial").run(prog.instrs[2], [p, V], ctx)
        if mode == "softmax"
        else _i32(rng, (C, H * hd), mode)
    )
    ws = []
    for k, args, size in ((2, [p, V], C * H * hd), (3, [part], H * hd)):
        for j in sorted({0, size - 1, int(rng.integers(size)), int(rng.integers(size))}):
            ws.append(witness_for(prog, [], k, n - 1, args, j, strict=False))
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=CHUNK, strict=False)
    bad = [
        (w.op, w.j, w.expected, g)
        for w, g in zip(ws, got)
        if isinstance(g, Reverted) or (w.expected is not None and g != w.expected)
    ]
    assert not bad, bad
    if mode == "softmax":
        assert all(w.expected is not None for w in ws)


# -- fused linear ops, on synthetic inputs -----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(c=fusekit.cases(), seed=st.integers(0, 2**32 - 1))
def test_fused_linear_ops_match_python(chain, onestep, c, seed):
    """linear_swiglu, linear_add and linear_rope (and the unfused linear, swiglu, add, rope they equal) on
    hypothesis-drawn matrices of every type, i32-extreme activations and rope tables, formats and positions:
    EVM == Python bit for bit wherever Python defines the element (a saturated linear output or result included),
    and never a revert."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    n, nq = c.wg.shape[0], c.wq.shape[0]
    args = {
        0: [c.x, c.wg, c.wu],
        1: [c.x, c.wo, c.h],
        2: [c.x, c.wg],
        3: [c.x, c.wu],
        4: [fusekit.random_i32(nrng, n, "mixed"), c.h],
        5: [c.x, c.wo],
        6: [c.h, fusekit.random_i32(nrng, n, "edges")],
        7: [c.x, c.wq, c.cos, c.sin],
        8: [c.x, c.wq],
        9: [fusekit.random_i32(nrng, nq, "mixed"), c.cos, c.sin],
    }
    ws = []
    if int(c.program.instrs[7].p("width")) > 32:
        del args[7]  # linear_rope needs width <= 32 (its shape() refuses more: no template has it)
    for k, a in args.items():
        size = nq if k >= 7 else n
        for j in sorted({0, size - 1, rng.randrange(size), rng.randrange(size)}):
            ws.append(witness_for(c.program, c.weight_names, k, c.position, a, j, strict=False))
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=CHUNK, strict=False)
    bad = [
        (w.op, w.j, w.expected, g)
        for w, g in zip(ws, got)
        if isinstance(g, Reverted) or (w.expected is not None and g != w.expected)
    ]
    assert not bad, bad


def test_fused_linear_ops_saturate_like_python(chain, onestep):
    """i32 extremes everywhere: the gate/up/o rows and the results saturate at 32 bits; EVM == Python."""
    c = fusekit.case(11, ("Q4_1", "Q4_1", "Q8_0"), 3, 2, 12, 16, 12, 32, "edges", "edges")
    ctx = Ctx(c.program, 0)
    act = ops.get("linear_swiglu").run(c.program.instrs[0], [c.x, c.wg, c.wu], ctx)
    hs = ops.get("linear_add").run(c.program.instrs[1], [c.x, c.wo, c.h], ctx)
    o = ops.get("linear").run(c.program.instrs[5], [c.x, c.wo], ctx)
    assert (np.abs(o) >= (1 << 31) - 1).any() and (np.abs(hs) >= (1 << 31) - 1).any(), (o, hs)  # saturated
    ws = [
        witness_for(c.program, c.weight_names, k, 0, a, j)
        for k, a in ((0, [c.x, c.wg, c.wu]), (1, [c.x, c.wo, c.h]))
        for j in range(3)
    ]
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws])
    assert list(got) == [w.expected for w in ws] == act.tolist() + hs.tolist()


# -- bad witnesses ----------------------------------------------------------------------------------


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1 :]


def _with_operand(w, m: int, **changes):
    ops_ = list(w.operands)
    ops_[m] = replace(ops_[m], **changes)
    return replace(w, operands=ops_)


def bad_witnesses(model: Model, w):
    """(name, witness, expected revert selector or None for any revert) for one good witness."""
    out = []
    ins, args, _ = model.rp.step(w.step)
    for m, o in enumerate(w.operands):
        if o.indices:
            out.append((f"op{m} leaf byte", _with_operand(w, m, leaves=_flip(o.leaves, len(o.leaves) // 2)), BAD_PROOF))
            # the leaf set without one leaf, with a valid multiproof: the proof passes, the read does not
            src = operand_source(ins.inputs[m].kind, args[m])
            drop = o.indices[len(o.indices) // 2]
            less = open_operand(src, [i for i in o.indices if i != drop])
            out.append(
                (
                    f"op{m} missing leaf",
                    _with_operand(w, m, indices=less.indices, leaves=less.leaves, proof=less.proof),
                    MISSING,
                )
            )
        if o.proof:
            p = list(o.proof)
            p[0] = _flip(p[0], 7)
            out.append((f"op{m} sibling", _with_operand(w, m, proof=p), BAD_PROOF))
            out.append((f"op{m} extra sibling", _with_operand(w, m, proof=list(o.proof) + [bytes(32)]), BAD_PROOF))
        if len(o.indices) >= 2:
            a, b = o.leaves[:256], o.leaves[256:512]
            out.append(
                (
                    f"op{m} unsorted",
                    _with_operand(
                        w, m, indices=[o.indices[1], o.indices[0]] + o.indices[2:], leaves=b + a + o.leaves[512:]
                    ),
                    BAD_PROOF,
                )
            )
        out.append((f"op{m} shape", _with_operand(w, m, shape=o.shape[:-1] + (o.shape[-1] + 1,)), BAD_HEADER))
        out.append((f"op{m} dtype", _with_operand(w, m, dtype=(o.dtype + 1) % 5), BAD_HEADER))
        out.append((f"op{m} root", _with_operand(w, m, merkle_root=_flip(o.merkle_root, 0)), BAD_HEADER))
        roots = list(w.operand_roots)
        roots[m] = _flip(roots[m], 31)
        out.append((f"op{m} operand root", replace(w, operand_roots=roots), BAD_HEADER))
    out.append(("operand dropped", replace(w, operands=w.operands[:-1]), sel("OperandCount(uint256,uint256,uint256)")))
    out.append(
        ("root dropped", replace(w, operand_roots=w.operand_roots[:-1]), sel("OperandCount(uint256,uint256,uint256)"))
    )
    return out


def test_bad_witnesses_revert(chain, onestep, tiny, tiny_tree):
    rng = random.Random(99)
    cases_, per_op = [], {}
    for m in (tiny, tiny_tree):
        for k, ins in enumerate(m.lm.program.instrs):
            if ins.op in per_op:
                continue
            t = m.T - 1
            step = m.step_of(t, k)
            _, _, y = m.rp.step(step)
            j = rng.randrange(y.size)
            if ins.op == "kv_append":
                j = (t - 1) * y.shape[1] + 3  # reads the previous cache
            w = m.witness(step, j)
            per_op[ins.op] = w
            cases_ += [(ins.op, name, bw, want) for name, bw, want in bad_witnesses(m, w)]
    got = chain.call_many([(onestep, "element", to_call_args(bw)) for _, _, bw, _ in cases_], chunk=CHUNK, strict=False)
    wrong = []
    for (op, name, _, want), g in zip(cases_, got):
        if not isinstance(g, Reverted) or (want is not None and g.data[:4] != want):
            wrong.append((op, name, g if not isinstance(g, Reverted) else g.data[:4].hex()))
    assert not wrong, wrong
    # and the good ones still pass
    good = chain.call_many([(onestep, "element", to_call_args(w)) for w in per_op.values()], chunk=CHUNK)
    assert good == [w.expected for w in per_op.values()]


def test_unknown_opcode_and_position(chain, onestep, tiny):
    w = tiny.witness(tiny.step_of(1, tiny.lm.program.index["L0.h"]), 3)
    from eth_abi import decode, encode

    opcode, kinds, params = decode(["uint256", "uint256[]", "int256[]"], w.instr_bytes)
    bad = encode(["uint256", "uint256[]", "int256[]"], [0x77, kinds, params])
    for ww, want in (
        (replace(w, instr_bytes=bad), sel("UnknownOpcode(uint256)")),
        (replace(w, position=2**64), sel("BadPosition(uint256)")),
    ):
        with pytest.raises(Reverted) as e:
            chain.call(onestep, "element", *to_call_args(ww))
        assert e.value.data[:4] == want


# -- multiproofs in Python ----------------------------------------------------------------------------


def test_multiproof_python_twin():
    rng = random.Random(3)
    for n_leaves in (1, 2, 3, 5, 8, 13, 64, 100):
        packed = bytes(rng.randrange(256) for _ in range(n_leaves * 256))
        levels = merkle.tree_levels(merkle.leaf_hashes(packed))
        root, depth = levels[-1][0], tree_depth(len(packed))
        node = lambda h, i, levels=levels: levels[h][i] if i < len(levels[h]) else merkle.ZERO[h]  # noqa: E731
        for _ in range(5):
            ids = sorted(rng.sample(range(n_leaves), rng.randint(1, n_leaves)))
            leaves = b"".join(merkle.leaf_bytes(packed, i) for i in ids)
            proof = multiproof(node, depth, ids)
            assert verify_multiproof(root, depth, ids, leaves, proof)
            if len(ids) == n_leaves == 1 << depth:
                assert proof == []  # everything opened: nothing to prove
            assert not verify_multiproof(root, depth, ids, _flip(leaves, 3), proof)
            if proof:
                assert not verify_multiproof(root, depth, ids, leaves, proof[:-1])
                assert not verify_multiproof(root, depth, ids, leaves, proof + [bytes(32)])
            if depth:
                assert not verify_multiproof(root, depth - 1, ids, leaves, proof)
    # a padding leaf past the data proves as the empty leaf
    packed = bytes(range(256)) * 3
    levels = merkle.tree_levels(merkle.leaf_hashes(packed))
    proof = multiproof(lambda h, i: levels[h][i] if i < len(levels[h]) else merkle.ZERO[h], 2, [3])
    assert verify_multiproof(levels[-1][0], 2, [3], bytes(256), proof)


# -- gas ------------------------------------------------------------------------------------------------


def family_gas(chain, onestep, m: Model, t: int) -> dict[str, tuple[int, str, int]]:
    """Worst estimate_gas per op over its instructions at position t and j in {0, middle, last} (and the last
    candidate of the first list for the top-k ops)."""
    best: dict[str, tuple[int, str, int]] = {}
    for k, ins in enumerate(m.lm.program.instrs):
        step = m.step_of(t, k)
        _, _, y = m.rp.step(step)
        js = {0, y.size // 2, y.size - 1}
        if ins.op.startswith("topk"):
            js.add(2 * y.shape[1] - 1)
        for j in js:
            w = m.witness(step, j)
            g = chain.estimate_gas(onestep, "element", *to_call_args(w))
            if g > best.get(ins.op, (0,))[0]:
                best[ins.op] = (g, ins.name, j)
    return best


def test_gas_tiny(chain, onestep, tiny, tiny_tree):
    gas = family_gas(chain, onestep, tiny, tiny.T - 1)
    gas.update({k: v for k, v in family_gas(chain, onestep, tiny_tree, tiny_tree.T - 1).items() if k not in gas})
    print("\ntiny one-step gas (estimate, per op): " + ", ".join(f"{k} {v[0]}" for k, v in sorted(gas.items())))
    untraced = {n for n, op in ops.all_ops().items() if not op.examples(np.random.default_rng(0))} - set(gas)
    assert not untraced, f"ops with neither a bundled template nor examples: {untraced}"
    assert max(g for g, _, _ in gas.values()) < 500_000, gas
    assert sorted(g for g, _, _ in gas.values())[len(gas) // 2] < 150_000, gas


@pytest.mark.slow
def test_smollm2_every_family(chain, onestep):
    """SmolLM2, a short prompt and two generated tokens: per family, elements at the last position agree with
    Python and the trace, with gas under the targets (worst < 3M, median family < 500k)."""
    lm = IntegerLM.load("smollm2")
    m = Model(lm, GenSettings(max_new_tokens=2), prompt=lm.tokenizer.encode("The capital of France is"))
    rng = random.Random(5)
    picks, seen = [], set()
    for k, ins in enumerate(lm.program.instrs):
        if ins.layer not in (-1, lm.config.n_layers - 1) and ins.op in seen:
            continue
        seen.add(ins.op)
        step = m.step_of(m.T - 1, k)
        _, _, y = m.rp.step(step)
        picks += [(step, j) for j in {0, y.size - 1, rng.randrange(y.size)}]
    ws = check_elements(chain, onestep, m, picks)
    gas: dict[str, int] = {}
    for w in ws:
        gas[w.op] = max(gas.get(w.op, 0), chain.estimate_gas(onestep, "element", *to_call_args(w)))
    print("\nSmolLM2 one-step gas (estimate, per op): " + ", ".join(f"{k} {v}" for k, v in sorted(gas.items())))
    assert set(gas) == {i.op for i in lm.program.instrs}
    assert max(gas.values()) < 3_000_000, gas
    assert sorted(gas.values())[len(gas) // 2] < 500_000, gas
