#!/usr/bin/env python3
"""PROTOTYPE (phase A study, not the engine): Gemma 3 270M in pure integers, composed of fixedpoint.vec functions.

    .venv/bin/python scripts/proto_gemma3_int.py ranges [--json]            float activation ranges per tensor kind
    .venv/bin/python scripts/proto_gemma3_int.py run [--limit N] [--json]   integer vs float top-1 agreement

``ranges`` runs the float reference (engine/reference_gemma3.py) over the prompt set (the prompts and llama.cpp's
greedy continuations of tests/vectors/gemma3_llamacpp.json, chat and qa formats) and prints max |x| and the
99.9th percentile per tensor kind. ``run`` decodes each prompt greedily with the float reference, then runs the
integer forward pass teacher-forced on that sequence (one batched pass per prompt) and compares top-1 tokens at
every generated position (the metric of scripts/bench_accuracy.py); then it decodes the France prompt greedily
in integers. It also reports, per tensor, the largest raw |value| and how many values saturated to i32.

Formats (value = raw * 2^-F, everything saturated to i32; docs/gemma3.md says why):
  residual h, embed, post-norm outputs  F10     attn_norm, out_norm (matmul inputs)  F10   ffn_norm  F12
  q, k, v, o, gate, up, down, logits    F16     q, k after per-head norm and RoPE    F14
  scores F16, probabilities Q30, attention mix F12, GELU(gate) * up F12 (matmul inputs)

Weights: token_embd and the Q8_0 attn_v are the file's blocks imported exactly (fixedpoint.vec.decode_matrix);
Q5_0 blocks are repacked losslessly into Q8_0 blocks (the same fp16 d, q - 16 as int8: the file's numbers bit
for bit) and run on the exact Q8_0 kernel. PROTOTYPE ONLY: Q4_K and Q6_K (attn_output, ffn_down) are taken as
the file's numbers through a float64 dequantization (exact: d*sc*q - dmin*m of fp16 scales and small ints),
held as per-row integers at a common exponent and multiplied with vec.matmul_exact. The exact block import of
those types is the block-types work; with it, these layers become vec.qlinear like the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixedpoint import ref, vec  # noqa: E402

ORACLE = ROOT / "tests" / "vectors" / "gemma3_llamacpp.json"
F_H, F_AN, F_FN, F_ON = 10, 10, 12, 10  # residual; attn_norm, ffn_norm, out_norm outputs
F_LIN, F_QK, F_S, F_MIX, F_ACT = 16, 14, 16, 12, 12  # linear outputs; q/k roped; scores; mix; gelu*up
WIDTH = 32
MASKED = -(1 << 62)  # a masked score: exp_neg of (it - max) is exactly 0, so softmax is the valid row's
PARIS = 9079


# ------------------------------------------------------------------------------------------- weights


def q5_0_as_q8_0(raw: np.ndarray) -> np.ndarray:
    """Q5_0 blocks (fp16 d, 4 bytes qh, 16 bytes nibbles; w = d (q - 16)) as Q8_0 blocks (fp16 d, 32 int8
    q - 16): the same numbers, bit for bit."""
    b = raw.reshape(-1, 22)
    qh = b[:, 2:6].copy().view("<u4")[:, 0].astype(np.uint32)
    qs = b[:, 6:22]
    lo = (qs & 15).astype(np.int16) | (((qh[:, None] >> np.arange(16, dtype=np.uint32)) & 1) << 4).astype(np.int16)
    hi = (qs >> 4).astype(np.int16) | (((qh[:, None] >> np.arange(16, 32, dtype=np.uint32)) & 1) << 4).astype(np.int16)
    q = (np.concatenate([lo, hi], axis=1) - 16).astype(np.int8)
    return np.concatenate([b[:, :2], q.view(np.uint8)], axis=1).reshape(-1)


def q4_k_float64(raw: np.ndarray) -> np.ndarray:
    """Q4_K blocks as float64, exactly (gguf's formula d*sc*q - dmin*m, in float64 where float32 may round)."""
    from gguf.quants import Q4_K

    b = raw.reshape(-1, 144)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float64)
    dmin = b[:, 2:4].copy().view(np.float16).astype(np.float64)
    sc, m = Q4_K.get_scale_min(b[:, 4:16])
    qs = b[:, 16:].reshape(-1, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    qs = (qs & 15).reshape(-1, 8, 32).astype(np.float64)
    return (d * sc.astype(np.float64)).reshape(-1, 8, 1) * qs - (dmin * m.astype(np.float64)).reshape(-1, 8, 1)


class IntRows:
    """PROTOTYPE: a matrix of exact dyadic floats held as W = I[n] * 2^-E[n] (per-row integers)."""

    def __init__(self, w: np.ndarray):
        w = np.asarray(w, np.float64)
        m, e = np.frexp(w)  # w = m 2^e, |m| in [0.5, 1): m * 2^53 is an integer
        M = (m * 2.0**53).astype(np.int64)
        tz = np.where(M == 0, 64, _trailing_zeros(M))
        lsb = np.where(M == 0, 10**6, e - 53 + tz)
        self.E = -lsb.min(axis=1)  # (N,)
        self.I = np.ldexp(w, self.E[:, None]).astype(np.int64)
        assert (np.ldexp(self.I.astype(np.float64), -self.E[:, None]) == w).all()
        assert int(np.abs(self.I).max()) < 2**52

    def linear(self, x: np.ndarray, fx: int, fy: int) -> np.ndarray:
        """round_half_up(2^fy sum_k w[n,k] x[.., k] 2^-fx) per row, exactly (x: (T, K)) -> (T, N)."""
        s = vec.matmul_exact(x, self.I.T)  # (T, N) exact int64
        return vec.rescale(s, np.broadcast_to(self.E + fx - fy, s.shape))


def _trailing_zeros(a: np.ndarray) -> np.ndarray:
    a = np.abs(a)
    tz = np.zeros(a.shape, np.int64)
    for k in (32, 16, 8, 4, 2, 1):
        low = (a & ((1 << k) - 1)) == 0
        tz += np.where(low, k, 0)
        a = np.where(low, a >> k, a)
    return tz


class Linear:
    def __init__(self, t):
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        Q8 = GGMLQuantizationType.Q8_0
        name, raw = t.tensor_type.name, np.asarray(t.data).reshape(-1)
        n, k = int(t.shape[1]), int(t.shape[0])
        self.kind = name
        if name in ("Q8_0", "Q5_0"):
            self.prep = vec.prepare(vec.decode_matrix(raw if name == "Q8_0" else q5_0_as_q8_0(raw), "Q8_0", n, k))
            if name == "Q5_0":  # the repack is lossless: the same numbers as gguf's dequantization
                assert np.array_equal(
                    np.asarray(dequantize(raw.reshape(n, -1), t.tensor_type), np.float64).reshape(n, k),
                    np.asarray(dequantize(q5_0_as_q8_0(raw).reshape(n, -1), Q8), np.float64).reshape(n, k),
                )
        elif name == "Q4_K":
            self.rows = IntRows(q4_k_float64(raw).reshape(n, k))
        elif name == "Q6_K":  # gguf's float32 dequantization of Q6_K is exact (d*sc*q < 2^24 ulps)
            self.rows = IntRows(np.asarray(dequantize(raw.reshape(n, -1), t.tensor_type), np.float64).reshape(n, k))
        else:
            raise ValueError(f"prototype: no linear for {name}")

    def __call__(self, x: np.ndarray, fx: int, fy: int) -> np.ndarray:
        y = vec.qlinear(x, self.prep, fx, fy) if hasattr(self, "prep") else self.rows.linear(x, fx, fy)
        return y


class Gain:
    """An F32 norm gain as exact (mant, exp) pairs (fixedpoint.vec.fp32_decode)."""

    def __init__(self, t):
        bits = np.asarray(t.data, np.float32).view(np.uint32)
        self.mant, self.exp = (np.asarray(a, np.int64) for a in vec.fp32_decode(bits))


# ------------------------------------------------------------------------------------------- the forward


class Stats:
    def __init__(self):
        self.max: dict[str, int] = {}
        self.sat: dict[str, int] = {}
        self.n: dict[str, int] = {}

    def sat32(self, kind: str, y: np.ndarray) -> np.ndarray:
        """saturate to i32, recording the largest |raw| before it and how many values it clipped."""
        a = int(np.abs(y).max()) if y.size else 0
        self.max[kind] = max(self.max.get(kind, 0), a)
        lim = 1 << (WIDTH - 1)
        self.sat[kind] = self.sat.get(kind, 0) + int(((y >= lim) | (y < -lim)).sum())
        self.n[kind] = self.n.get(kind, 0) + y.size
        return vec.saturate(y, WIDTH)


def eps_q(eps: float, f: int) -> int:
    """round_half_up(eps * 2^f) of the float32 eps, in integers (as engine/models/llama.py)."""
    bits = int(np.array(eps, np.float32).view(np.uint32))
    m, e = ref.fp32_decode(bits)
    return ref.rescale(m, -(e + f)) if m else 0


def rmsnorm(x: np.ndarray, g: Gain, fx: int, fy: int, eps: int) -> np.ndarray:
    """engine/ops/norm.py's rmsnorm over the last axis (a vector per row, or per head): v = max(floor(sum x^2 /
    n) + eps, 1), r = rsqrt_floor(v, 2fx, 30), y = rescale(round_shift(x r, fx) * gm, 30 - ge - fy)."""
    rows = x.reshape(-1, x.shape[-1])
    n = rows.shape[1]
    ss = np.array([sum(int(v) * int(v) for v in r) for r in rows.tolist()], dtype=object)  # exact
    v = np.array([max(int(s) // n + eps, 1) for s in ss], dtype=np.int64)
    r = vec.rsqrt_floor(v, 2 * fx, 30)
    nrm = vec.mul_round_shift(rows, r[:, None], fx)
    y = vec.rescale(vec.checked_mul(nrm, g.mant[None, :]), np.minimum(30 - g.exp - fy, 62)[None, :])
    return y.reshape(x.shape)


def rope_neox(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate pairs (i, i + hd/2) of every head: x (T, H, hd), cos/sin (T, hd/2) Q30 -> same format as x."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([vec.round_shift(a * c - b * s, 30), vec.round_shift(a * s + b * c, 30)], axis=-1)


class IntGemma3:
    def __init__(self, cfg, T, n_pos: int = 1024):
        self.c = cfg
        self.embd = vec.prepare(
            vec.decode_matrix(np.asarray(T["token_embd.weight"].data).reshape(-1), "Q8_0", cfg.vocab_size, cfg.dim)
        )
        self.eps32 = eps_q(cfg.rms_eps, 2 * F_LIN)
        self.eps = {f: eps_q(cfg.rms_eps, 2 * f) for f in (F_H, F_LIN)}
        self.out_norm = Gain(T["output_norm.weight"])
        self.layers = []
        for l in range(cfg.n_layers):
            b = f"blk.{l}."
            L = {k: Linear(T[b + k + ".weight"]) for k in ("attn_q", "attn_k", "attn_v", "attn_output")}
            L.update({k: Linear(T[b + k + ".weight"]) for k in ("ffn_gate", "ffn_up", "ffn_down")})
            for k in ("attn_norm", "attn_q_norm", "attn_k_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
                L[k] = Gain(T[b + k + ".weight"])
            L["local"] = cfg.is_local(l)
            self.layers.append(L)
        self.tables = {}
        for local, base in ((True, cfg.rope_base_local), (False, cfg.rope_base_global)):
            m, e = ref.fp32_decode(int(np.array(base, np.float32).view(np.uint32)))
            self.tables[local] = vec.rope_table(n_pos, vec.rope_inv_freq(m, e, cfg.head_dim, 40))
        self.stats = Stats()

    def embed(self, ids: list[int]) -> np.ndarray:
        """h = floor(w * sqrt(dim) * 2^F_H + 1/2) exactly for every element of each token's Q8_0 row."""
        out = []
        for t in ids:
            m, e = vec.dequant_exact_row(self.embd, t)  # w = m 2^e exactly
            sh = e + F_H
            m2 = vec.shift_left(m, np.maximum(sh, 0))
            out.append(vec.mul_sqrt_round_shift(m2, self.c.dim, np.maximum(-sh, 0)))
        return np.stack(out)

    def forward(self, ids: list[int]) -> np.ndarray:
        """Integer logits (T, vocab) at F16 for the whole sequence (positions 0 .. T-1), one batched pass."""
        c, S = self.c, self.stats
        n, H, hd = len(ids), c.n_heads, c.head_dim
        qpos, kpos = np.arange(n)[:, None], np.arange(n)[None, :]
        causal = kpos <= qpos
        window = causal & (qpos - kpos < c.sliding_window)
        h = S.sat32("embed", self.embed(ids))  # (T, dim) F10
        for L in self.layers:
            cos, sin = (t[:n] for t in self.tables[L["local"]])
            x = S.sat32("attn_norm", rmsnorm(h, L["attn_norm"], F_H, F_AN, self.eps[F_H]))
            q = S.sat32("q", L["attn_q"](x, F_AN, F_LIN)).reshape(n, H, hd)
            k = S.sat32("k", L["attn_k"](x, F_AN, F_LIN)).reshape(n, 1, hd)
            v = S.sat32("v", L["attn_v"](x, F_AN, F_LIN))  # (T, hd): one KV head
            q = S.sat32("q_rope", rope_neox(rmsnorm(q, L["attn_q_norm"], F_LIN, F_QK, self.eps32), cos, sin))
            k = S.sat32("k_rope", rope_neox(rmsnorm(k, L["attn_k_norm"], F_LIN, F_QK, self.eps32), cos, sin))
            # scores = q k / sqrt(256) = q k / 16 exactly: shift 14 + 14 + 4 - 16
            dots = vec.matmul_exact(q.reshape(n * H, hd), k.reshape(n, hd).T).reshape(n, H, n)
            s = S.sat32("scores", vec.round_shift(dots, 2 * F_QK + 4 - F_S))
            mask = (window if L["local"] else causal)[:, None, :]
            p = vec.softmax(np.where(mask, s, MASKED))  # (T, H, T) Q30
            mix = vec.round_shift(vec.matmul_exact(p.reshape(n * H, n), v), 30 + F_LIN - F_MIX)
            mix = S.sat32("mix", mix.reshape(n, H * hd))
            o = S.sat32("o", L["attn_output"](mix, F_MIX, F_LIN))
            po = S.sat32("post_attn", rmsnorm(o, L["post_attention_norm"], F_LIN, F_H, self.eps32))
            h = S.sat32("h", h + po)
            x = S.sat32("ffn_norm", rmsnorm(h, L["ffn_norm"], F_H, F_FN, self.eps[F_H]))
            g = S.sat32("gate", L["ffn_gate"](x, F_FN, F_LIN))
            u = S.sat32("up", L["ffn_up"](x, F_FN, F_LIN))
            a = S.sat32("act", vec.mul_round_shift(vec.gelu_tanh(g), u, 2 * F_LIN - F_ACT))
            d = S.sat32("down", L["ffn_down"](a, F_ACT, F_LIN))
            pd = S.sat32("post_ffw", rmsnorm(d, L["post_ffw_norm"], F_LIN, F_H, self.eps32))
            h = S.sat32("h", h + pd)
        x = S.sat32("out_norm", rmsnorm(h, self.out_norm, F_H, F_ON, self.eps[F_H]))
        return S.sat32("logits", vec.qlinear(x, self.embd, F_ON, F_LIN))


# ------------------------------------------------------------------------------------------- commands


def detok(pieces: list[str], toks: list[int]) -> str:
    out = []
    for t in toks:
        p = pieces[t]
        if p.startswith("<0x") and p.endswith(">") and len(p) == 6:
            out.append(chr(int(p[3:5], 16)))
        else:
            out.append(p.replace("\u2581", " "))
    return "".join(out)


def cmd_ranges(cases, as_json: bool) -> int:
    from engine.reference_gemma3 import FloatGemma3

    fm = FloatGemma3()
    st: dict[str, list] = {}

    def probe(kind, layer, v):
        a = np.abs(np.asarray(v, np.float64)).ravel()
        s = st.setdefault(kind, [0.0, 0.0])
        s[0], s[1] = max(s[0], float(a.max())), max(s[1], float(np.percentile(a, 99.9)))

    fm.probe = probe
    for c in cases:
        fm.reset()
        fm.forward_batch(c["ids"] + c["tokens"][:-1], 0)
    rows = [{"kind": k, "max_abs": round(v[0], 4), "p99_9": round(v[1], 4)} for k, v in st.items()]
    _emit("float activation ranges", rows, {"cases": len(cases)}, as_json)
    return 0


def cmd_run(cases, as_json: bool) -> int:
    from gguf import GGUFReader

    from engine.reference_gemma3 import FloatGemma3, gemma3_path, read_gemma3

    t0 = time.perf_counter()
    fm = FloatGemma3()
    cfg, T = read_gemma3()
    im = IntGemma3(cfg, T)
    tf = GGUFReader(str(gemma3_path())).fields["tokenizer.ggml.tokens"]
    pieces = [bytes(tf.parts[i]).decode("utf-8") for i in tf.data]
    print(f"loaded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows, agree, total, equal = [], 0, 0, 0
    for c in cases:
        ids = c["ids"]
        ftoks = fm.generate(ids, 32, stop_ids=(106, 1))
        seq = ids + ftoks
        il = im.forward(seq[:-1] if ftoks else seq)
        fm.reset()
        fl = fm.forward_batch(seq[:-1] if ftoks else seq, 0)
        ia, fa = il[len(ids) - 1 :].argmax(-1), fl[len(ids) - 1 :].argmax(-1)
        ok = int((ia == fa).sum())
        agree, total, equal = agree + ok, total + len(fa), equal + (ok == len(fa))
        rows.append({"template": c["template"], "prompt": c["prompt"][:34], "agree": f"{ok}/{len(fa)}"})
        print(f"  {c['template']:4s} {c['prompt'][:34]:34s} {ok}/{len(fa)}", file=sys.stderr)
    # the France prompt, greedily in integers (no float involved)
    france = {}
    for c in cases:
        if "France" in c["prompt"]:
            seq = list(c["ids"])
            for _ in range(8):
                seq.append(int(im.forward(seq)[-1].argmax()))
            france[c["template"]] = detok(pieces, seq[len(c["ids"]) :])
    S = im.stats
    sat = {k: {"max_raw_bits": round(float(np.log2(max(S.max[k], 1))), 2), "saturated": S.sat[k]} for k in S.max}
    summary = {
        "top1_agreement": round(agree / max(total, 1), 4),
        "positions": total,
        "prompts_all_agree": f"{equal}/{len(cases)}",
        "france": france,
        "france_paris_first": {k: v.strip().startswith("Paris") for k, v in france.items()},
        "seconds": round(time.perf_counter() - t0),
    }
    _emit("integer prototype vs float reference", rows, {**summary, "tensors": sat}, as_json)
    return 0


def _emit(title, rows, summary, as_json):
    if as_json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=1, ensure_ascii=False))
        return
    print(title)
    for r in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    for k, v in summary.items():
        print(f"{k}: {v}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("ranges", "run"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases")
    ap.add_argument("--template", choices=("chat", "qa", "both"), default="both")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cases = json.loads(ORACLE.read_text(encoding="utf-8"))["cases"]
    if a.template != "both":
        cases = [c for c in cases if c["template"] == a.template]
    if a.limit:
        cases = cases[: a.limit]
    return cmd_ranges(cases, a.json) if a.command == "ranges" else cmd_run(cases, a.json)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
