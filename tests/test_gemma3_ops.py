"""Gemma's op families (geglu, head_rmsnorm, rope_neox, swa_mask; the embedding's scale): run == element exactly on a
tiny-gemma3 trace, each op within its stated error bound of the real function (mpmath), and the EVM mirrors equal
Python element by element on the trace (marked chain)."""

from __future__ import annotations

import random

import mpmath as mp
import numpy as np
import pytest

from engine import ops
from engine.generate import GenSettings
from engine.models import gemma3
from engine.ops import Ctx
from engine.ops.window import MASKED
from engine.program import L, W, instr
from engine.runtime import IntegerLM
from engine.weights import TWeight, vweight
from fixedpoint import ref, vec
from prover.commit.model import model_commitment
from prover.commit.values import element_of
from prover.commit.witness import build_witness, to_call_args
from prover.runner import Replayer, traced_generate

mp.mp.prec = 120
PROMPT = [1, 365, 359, 275, 278, 272]  # 6 tokens + 3 new: 8 positions, past the window of 4
NEW_OPS = ("geglu", "head_rmsnorm", "rope_neox", "swa_mask", "scale")


@pytest.fixture(scope="module")
def traced():
    lm = IntegerLM.load("tiny-gemma3")
    run = traced_generate(lm, PROMPT, GenSettings(max_new_tokens=3))
    return lm, run, Replayer(lm, run)


def _ctx(lm, t):
    return Ctx(lm.program, t)


def test_run_equals_element_on_the_trace(traced):
    """Every element of every new-op step at positions 0, 3 (window edge), 4 and 7 equals the op's element()."""
    lm, run, rp = traced
    S = lm.program.steps_per_token
    checked = dict.fromkeys(NEW_OPS, 0)
    for k, ins in enumerate(lm.program.instrs):
        if ins.op not in NEW_OPS:
            continue
        op = ops.get(ins.op)
        for t in (0, 3, 4, 7):
            _, args, y = rp.step(t * S + k)
            y = np.asarray(y).reshape(-1)
            assert [op.element(ins, args, _ctx(lm, t), j) for j in range(y.size)] == y.tolist(), (ins.name, t)
            checked[ins.op] += y.size
    assert all(checked.values()), checked


def test_window_masks_exactly_the_keys_outside(traced):
    """At position 7 with window 4 a local layer's probabilities are exactly 0 at keys 0..3 and equal the softmax of
    the scores of keys 4..7 alone; the global layer attends to every key."""
    lm, run, rp = traced
    S, idx = lm.program.steps_per_token, lm.program.index
    _, _, scores = rp.step(7 * S + idx["L0.scores"])
    _, _, probs = rp.step(7 * S + idx["L0.probs"])
    for h in range(scores.shape[0]):
        assert probs[h, :4].tolist() == [0, 0, 0, 0]
        assert probs[h, 4:].tolist() == ref.softmax([int(v) for v in scores[h, 4:]])
    _, _, gscores = rp.step(7 * S + idx["L5.scores"])
    _, _, gprobs = rp.step(7 * S + idx["L5.probs"])
    assert gprobs.tolist() == [ref.softmax([int(v) for v in row]) for row in gscores]  # no mask
    assert (gprobs[:, :4] > 0).any()
    assert ops.get("swa_mask").element(lm.program.instrs[idx["L0.masked"]], [scores], _ctx(lm, 7), 3) == MASKED


def test_template_layers():
    """Gemma 3 270M's shape: layers 5, 11, 17 global (no mask, the 1M table), the rest local (window 512, 10k)."""
    cfg = gemma3.Gemma3Config(
        name="g", n_layers=18, dim=640, ffn_dim=2048, n_heads=4, n_kv_heads=1, head_dim=256, vocab_size=262144,
        context_length=32768, rope_base_bits=0x49742400, rope_local_base_bits=0x461C4000, rms_eps_bits=0x358637BD,
        sliding_window=512, swa_pattern=6, eos_id=1, bos_id=2,
    )  # fmt: skip
    P = gemma3.build_program(cfg)
    names = {i.name: i for i in P.instrs}
    assert [n for n in range(18) if f"L{n}.masked" not in names] == [5, 11, 17]
    assert all(names[f"L{n}.masked"].p("window") == 512 for n in range(18) if n not in (5, 11, 17))
    assert {names[f"L{n}.k_rope"].inputs[1].name for n in (5, 11, 17)} == {"rope_global.cos"}
    assert names["embed"].p("c") == ref.isqrt(640 << 52) and names["embed"].p("s") == 40
    assert names["L0.scores"].p("fq") == 14 and P.context == 1024
    assert gemma3.Gemma3Config.from_dict(cfg.to_dict()) == cfg
    merges = [i for i in P.instrs if i.op == "topk_merge"]
    assert names["topk"].p("chunk") == 1024 and len(merges) == 3  # 256 lists -> 32 -> 4 -> 1


# ------------------------------------------------------------------ error bounds against mpmath


def test_geglu_error_bound():
    """|y - gelu(g) u 2^fy| <= |u| 2^(fy - 16 - fu) + 1/2 at Gemma's formats (gate, up F16; act F12)."""
    rng = np.random.default_rng(1)
    g = rng.integers(-(40 << 16), 40 << 16, 3000)
    u = rng.integers(-(24 << 16), 24 << 16, 3000)
    g[:4], u[:4] = [0, 1 << 20, -(1 << 20), 12345], [1 << 16, 7, -9, 0]
    ins = instr("y", "geglu", [L("g"), L("u")], fu=16, fy=12, width=32)
    y = ops.get("geglu").run(ins, [g, u], None)
    worst = 0.0
    for gi, ui, yi in zip(g.tolist(), u.tolist(), y.tolist()):
        x = mp.mpf(gi) / 2**16
        real = mp.mpf("0.5") * x * (1 + mp.tanh(mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x**3)))
        err = abs(yi - real * (mp.mpf(ui) / 2**16) * 2**12)
        bound = abs(ui) * 2.0 ** (12 - 32) + 0.5
        assert err <= bound, (gi, ui, yi, err, bound)
        worst = max(worst, float(err / bound))
    assert worst > 0.3  # the bound is not vacuous


def test_head_rmsnorm_error_bound():
    """Each head normalized on its own: |y - x_h / rms(x_h) g 2^fy| <= 1/2 + |g| 2^(fy - 30) + |y| ((rms + 1) 2^-30
    + 1/v) (F16 in, F14 out, head_dim 256; the Q30 inverse rms is a floor: 1 LSB of Q30; the mean square v, raw at
    2 fx, is a floor too), with the heads' scales far apart."""
    rng = np.random.default_rng(2)
    hd, H = 256, 4
    x = rng.integers(-(1 << 24), 1 << 24, H * hd)
    x[hd : 2 * hd] //= 1 << 12  # a head 4096 times smaller: normalized on its own
    gain = (rng.integers(-64, 65, hd) / 8).astype(np.float32)
    eps = gemma3._eps_q(0x358637BD, 32)
    ins = instr("y", "head_rmsnorm", [L("x"), W("g")], eps=eps, fx=16, fy=14, head_dim=hd, width=32)
    y = ops.get("head_rmsnorm").run(ins, [x, vweight("g", gain.view(np.uint8))], Ctx(None, 0))
    for h in range(H):
        xs = [mp.mpf(int(v)) / 2**16 for v in x[h * hd : (h + 1) * hd]]
        rms = mp.sqrt(sum(v * v for v in xs) / hd + mp.mpf(1e-6))
        v = sum(int(a) ** 2 for a in x[h * hd : (h + 1) * hd]) // hd + eps
        for d in range(hd):
            real = xs[d] / rms * mp.mpf(float(gain[d])) * 2**14
            yi = int(y[h * hd + d])
            bound = 0.5 + abs(float(gain[d])) * 2.0 ** (14 - 30) + abs(yi) * ((float(rms) + 1) * 2.0**-30 + 1 / v)
            assert abs(yi - real) <= bound, (h, d)


def test_rope_neox_error_bound():
    """|y - rotation(a, b; p theta_i) 2^f| <= 1/2 + (|a| + |b|) 2^-28 for both bases, every pair, positions up to 1023
    (head_dim 256; the pairs are (i, i + 128))."""
    rng = np.random.default_rng(3)
    hd = 256
    for bits in (0x461C4000, 0x49742400):  # 10000, 1e6
        m, e = ref.fp32_decode(bits)
        base = mp.mpf(m) * mp.mpf(2) ** e
        c, s = vec.rope_table(1024, vec.rope_inv_freq(m, e, hd, 40))
        tabs = [TWeight("cos", np.asarray(c, np.int64)), TWeight("sin", np.asarray(s, np.int64))]
        ins = instr("y", "rope_neox", [L("x"), W("cos"), W("sin")], head_dim=hd, n_heads=1, width=32)
        for p in (0, 1, 511, 1023):
            x = rng.integers(-(1 << 21), 1 << 21, hd)
            y = ops.get("rope_neox").run(ins, [x, *tabs], Ctx(None, p))
            for i in range(0, hd // 2, 7):
                ang = p * base ** (-mp.mpf(2 * i) / hd)
                a, b = int(x[i]), int(x[i + hd // 2])
                for yi, real in (
                    (y[i], a * mp.cos(ang) - b * mp.sin(ang)),
                    (y[i + 128], a * mp.sin(ang) + b * mp.cos(ang)),
                ):
                    assert abs(int(yi) - real) <= 0.5 + (abs(a) + abs(b)) * 2.0**-28, (bits, p, i)


def test_embedding_scale_error_bound(traced):
    """embed (F24) then scale: within 0.51 LSB of F10 of the exact w sqrt(dim) for every element of 40 rows of
    tiny-gemma3's Q8_0 embedding, and within 1 of fixedpoint's exactly rounded mul_sqrt_round_shift."""
    lm, _, _ = traced
    S, idx = lm.program.steps_per_token, lm.program.index
    w = lm.weights["token_embd.weight"]
    e_ins, s_ins = lm.program.instrs[idx["embed_raw"]], lm.program.instrs[idx["embed"]]
    dim = lm.config.dim
    for tok in range(0, w.shape[0], w.shape[0] // 40):
        raw = ops.get("embed").run(e_ins, [np.array([tok]), w], Ctx(lm.program, 0))
        y = ops.get("scale").run(s_ins, [raw], Ctx(lm.program, 0))
        qm = w.qm
        for k in range(0, dim, 3):
            b = k // qm.block
            wv = mp.mpf(int(qm.q[tok][k])) * int(qm.d_mant[tok][b]) * mp.mpf(2) ** int(qm.d_exp[tok][b])
            real = wv * mp.sqrt(dim) * 2**10
            assert abs(int(y[k]) - real) <= 0.51, (tok, k)
    assert S > 0


# ------------------------------------------------------------------ EVM differential (chain)


@pytest.fixture(scope="module")
def onestep(chain):
    from prover.chain.deploy import deploy_one_step

    return deploy_one_step(chain)


@pytest.mark.chain
def test_evm_equals_python_on_the_gemma_trace(chain, onestep, traced):
    """OneStep.element == Python element == the traced value for every new op's instructions at positions 0, 3, 4,
    7: both ends, the head / half / window boundaries and random elements."""
    lm, run, rp = traced
    mc = model_commitment(lm)
    S = lm.program.steps_per_token
    rnd = random.Random(14)
    picks = []
    for k, ins in enumerate(lm.program.instrs):
        if ins.op not in NEW_OPS and not ins.name.startswith(("L0.", "L5.")):
            continue  # the new ops everywhere; every op of one local and the global layer
        for t in (0, 3, 4, 7):
            _, _, y = rp.step(t * S + k)
            n = int(np.asarray(y).size) if not hasattr(y, "shape") else int(np.prod(y.shape))
            js = {0, n - 1, n // 2, n // 2 - 1} | {rnd.randrange(n) for _ in range(3)}
            if ins.op == "swa_mask":
                js |= set(range(n))  # every key, masked or not
            picks += [(t * S + k, j) for j in sorted(js) if 0 <= j < n]
    ws = [build_witness(lm, rp, mc, s, j) for s, j in picks]
    got = chain.call_many([(onestep, "element", to_call_args(w)) for w in ws], chunk=16, strict=False)
    bad = []
    for w, g in zip(ws, got):
        traced_v = element_of(rp.step(w.step)[2], w.j)
        if not (g == w.expected == traced_v):
            bad.append((w.step, w.meta["instr"], w.j, w.expected, traced_v, g))
    assert not bad, f"{len(bad)} of {len(ws)} differ, first: {bad[:5]}"
    assert {lm.program.instrs[w.step % S].op for w in ws} >= set(NEW_OPS)


@pytest.mark.chain
def test_new_ops_one_step_gas_is_far_below_the_target(chain, onestep, traced):
    """Every new op's one-step at the last position stays under 3M gas (scripts/bench_gas.py measures the real
    Gemma 3 270M: at most 0.14M)."""
    lm, run, rp = traced
    mc = model_commitment(lm)
    S = lm.program.steps_per_token
    worst: dict[str, int] = {}
    for k, ins in enumerate(lm.program.instrs):
        if ins.op in NEW_OPS and (ins.layer in (-1, 4, 5)):
            _, _, y = rp.step(7 * S + k)
            n = int(np.prod(np.shape(y)))
            for j in {0, n // 2, n - 1}:
                w = build_witness(lm, rp, mc, 7 * S + k, j)
                g = chain.estimate_gas(onestep, "element", *to_call_args(w))
                worst[ins.op] = max(worst.get(ins.op, 0), g)
    assert set(worst) == set(NEW_OPS) and max(worst.values()) < 3_000_000, worst
