"""The llama architecture as an integer per-token template (SmolLM2, tiny, any llama GGUF).

Formats (value = raw * 2^-F, every activation saturated to 32 bits):
  residual stream h, q/k/v, scores, gate/up, logits   F = 16
  matmul inputs (norm outputs, attention mix, SwiGLU)  F = 12  (bulk |x| < 8 fits 15 bits: one-limb fast path)
  softmax probabilities                                Q30
  attention mix partials (one per MIX_CHUNK positions) F = 20
One forward pass per token, top to bottom (shapes for SmolLM2: dim 576, 9 heads x 64, 3 KV heads, ffn 1536,
vocabulary 49152, 1024 positions; n = the position + 1):
  embed                                    token -> h (576,)                                    F16
  30 x [ attn_norm   rmsnorm               h -> (576,)                                          F12
         q_rope      linear_rope           rope(q(x)): (576,)                                   F16
         k_rope      linear_rope           rope(k(x)): (192,)                                   F16
         v           linear                (192,)                                               F16
         k_cache, v_cache  kv_append       (1024, 192) each, row p set                          F16
         scores      attn_scores           (9, n)                                               F16
         probs       softmax               (9, n)                                               Q30
         mix_part    attn_mix_partial      (ceil(n/64), 576)                                    F20
         mix         attn_mix              (576,)                                               F12
         h_attn      linear_add            h + o(mix): (576,)                                   F16
         ffn_norm    rmsnorm               (576,)                                               F12
         act         linear_swiglu         swiglu(gate(x), up(x)): (1536,)                      F12
         h           linear_add            h_attn + down(act): (576,)                           F16 ]
  out_norm rmsnorm (576,) F12 -> logits linear (49152,) F16 -> topk_chunk (48, 64) -> topk_merge tree
  (6, 64), (1, 64) -> sample (1, 2)
q_rope, k_rope and v run as one stacked q|k|v kernel call, act as one stacked gate|up call. The fused instructions
(q_rope, k_rope, h_attn, act, h) equal the unfused composition bit for bit (FUSE = False builds it: q, k linear,
q_rope, k_rope rope, o linear, h_attn add, gate, up linear, act swiglu, down linear, h add); fusing only saves
committing the linear outputs that exactly one later op reads.
"""

from __future__ import annotations

import numpy as np

from fixedpoint import ref, vec

from ..program import RUN, TOKEN, Instr, L, Program, S, W, instr
from ..weights import TWeight, qweight, vweight

ARCHITECTURE = "llama"

F_H = 16  # residual stream and matmul outputs
F_X = 12  # matmul inputs
F_P = 20  # attention mix partial sums (8 fractional bits more than F_X: their rounding is negligible)
WIDTH = 32
TOPK = 32  # candidates kept for sampling (top_k <= TOPK)
# Every claim must stay challengeable within the one-step gas target (3M). The attention mix is split into
# partials of MIX_CHUNK positions (one V leaf each, ~0.8M gas at any position) and their sum (one partial per
# chunk, ~0.17M at 1024 positions); what still grows with the position is softmax, whose one-step reads a whole
# score row: ~1.0M gas at 1024 positions with every term live, ~0.9k gas more per position (scripts/bench_gas.py
# measures all of them at position MAX_CONTEXT - 1). So 1024 positions keep every one-step under 1.5M gas.
MAX_CONTEXT = 1024
CHUNK = 1024  # logits per top-k chunk (fan-in bound)
MIX_CHUNK = 64  # positions per attention mix partial (fan-in bound: a partial opens one V leaf per position)
GROUP = 8  # candidate lists per merge
FUSE = True  # fuse q/k into rope, o/down into their residual add, gate/up into swiglu (False: the unfused ops)


def _eps_q(bits: int, f: int) -> int:
    """round_half_up(eps * 2^f) for the float32 eps with bit pattern ``bits`` (exact, integers only)."""
    m, e = ref.fp32_decode(bits)
    return ref.rescale(m, -(e + f)) if m else 0


def _norm(name: str, x: str, gain: str, layer: int, eps: int, wt: dict[str, int]) -> Instr:
    """RMSNorm of L(x) by the gain vector W(gain): ``rmsnorm`` for an F32 gain (the instruction every existing
    template holds, unchanged), ``rmsnorm_typed`` with param gtype (the GGML type id) for F16 / BF16 gains."""
    g = wt.get(gain, 0)
    kw = dict(fx=F_H, fy=F_X, eps=eps, width=WIDTH)
    if g == 0:
        return instr(name, "rmsnorm", [L(x), W(gain)], layer, **kw)
    return instr(name, "rmsnorm_typed", [L(x), W(gain)], layer, gtype=g, **kw)


def build_program(cfg, context: int | None = None, wtypes: dict[str, int] | None = None) -> Program:
    """The per-token template of a llama config (``context`` caps the model's context length).

    ``wtypes`` maps weight names to GGML type ids; linear/embed instructions carry their weight's type as
    the param ``wtype`` so a verifier knows how to decode the raw bytes it opens (the template commits it).
    """
    wt = wtypes or {}
    ctx = min(cfg.context_length, MAX_CONTEXT, context or MAX_CONTEXT)
    H, Hkv, hd, _dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.dim
    eps = _eps_q(cfg.rms_eps_bits, 2 * F_H)
    P: list[Instr] = [
        instr(
            "embed", "embed", [TOKEN, W("token_embd.weight")], f=F_H, width=WIDTH, wtype=wt.get("token_embd.weight", 8)
        )
    ]
    h = "embed"
    for l in range(cfg.n_layers):
        b, n = f"blk.{l}.", f"L{l}."
        att = dict(n_heads=H, n_kv_heads=Hkv, head_dim=hd, width=WIDTH)
        P += [_norm(n + "attn_norm", h, b + "attn_norm.weight", l, eps, wt)]
        wq, wk, wv = (b + s for s in ("attn_q.weight", "attn_k.weight", "attn_v.weight"))
        rope = [W("rope.cos"), W("rope.sin")]
        if FUSE:
            P += [
                instr(
                    n + "q_rope",
                    "linear_rope",
                    [L(n + "attn_norm"), W(wq)] + rope,
                    l,
                    fx=F_X,
                    fy=F_H,
                    head_dim=hd,
                    n_heads=H,
                    width=WIDTH,
                    wtype=wt.get(wq, 3),
                ),
                instr(
                    n + "k_rope",
                    "linear_rope",
                    [L(n + "attn_norm"), W(wk)] + rope,
                    l,
                    fx=F_X,
                    fy=F_H,
                    head_dim=hd,
                    n_heads=Hkv,
                    width=WIDTH,
                    wtype=wt.get(wk, 3),
                ),
                instr(
                    n + "v", "linear", [L(n + "attn_norm"), W(wv)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wv, 3)
                ),
            ]
        else:
            P += [
                instr(
                    n + "q", "linear", [L(n + "attn_norm"), W(wq)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wq, 3)
                ),
                instr(
                    n + "k", "linear", [L(n + "attn_norm"), W(wk)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wk, 3)
                ),
                instr(
                    n + "v", "linear", [L(n + "attn_norm"), W(wv)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wv, 3)
                ),
                instr(n + "q_rope", "rope", [L(n + "q")] + rope, l, n_heads=H, head_dim=hd, width=WIDTH),
                instr(n + "k_rope", "rope", [L(n + "k")] + rope, l, n_heads=Hkv, head_dim=hd, width=WIDTH),
            ]
        P += [
            instr(n + "k_cache", "kv_append", [S(n + "k_cache"), L(n + "k_rope")], l, width_elems=Hkv * hd),
            instr(n + "v_cache", "kv_append", [S(n + "v_cache"), L(n + "v")], l, width_elems=Hkv * hd),
            instr(n + "scores", "attn_scores", [L(n + "q_rope"), L(n + "k_cache")], l, fq=F_H, fk=F_H, fy=16, **att),
            instr(n + "probs", "softmax", [L(n + "scores")], l),
            instr(
                n + "mix_part",
                "attn_mix_partial",
                [L(n + "probs"), L(n + "v_cache")],
                l,
                chunk=MIX_CHUNK,
                fp=F_P,
                fv=F_H,
                **att,
            ),
            instr(n + "mix", "attn_mix", [L(n + "mix_part")], l, fp=F_P, fy=F_X, width=WIDTH),
        ]
        wo, wg, wu, wd = (b + s for s in ("attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"))
        if FUSE:
            P += [
                instr(
                    n + "h_attn",
                    "linear_add",
                    [L(n + "mix"), W(wo), L(h)],
                    l,
                    fx=F_X,
                    fy=F_H,
                    width=WIDTH,
                    wtype=wt.get(wo, 3),
                ),
                _norm(n + "ffn_norm", n + "h_attn", b + "ffn_norm.weight", l, eps, wt),
                instr(
                    n + "act",
                    "linear_swiglu",
                    [L(n + "ffn_norm"), W(wg), W(wu)],
                    l,
                    fh=F_H,
                    fx=F_X,
                    fy=F_X,
                    width=WIDTH,
                    wtype_gate=wt.get(wg, 3),
                    wtype_up=wt.get(wu, 3),
                ),
                instr(
                    n + "h",
                    "linear_add",
                    [L(n + "act"), W(wd), L(n + "h_attn")],
                    l,
                    fx=F_X,
                    fy=F_H,
                    width=WIDTH,
                    wtype=wt.get(wd, 3),
                ),
            ]
        else:
            P += [
                instr(n + "o", "linear", [L(n + "mix"), W(wo)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wo, 3)),
                instr(n + "h_attn", "add", [L(h), L(n + "o")], l, width=WIDTH),
                _norm(n + "ffn_norm", n + "h_attn", b + "ffn_norm.weight", l, eps, wt),
                instr(
                    n + "gate",
                    "linear",
                    [L(n + "ffn_norm"), W(wg)],
                    l,
                    fx=F_X,
                    fy=F_H,
                    width=WIDTH,
                    wtype=wt.get(wg, 3),
                ),
                instr(
                    n + "up", "linear", [L(n + "ffn_norm"), W(wu)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wu, 3)
                ),
                instr(n + "act", "swiglu", [L(n + "gate"), L(n + "up")], l, fu=F_H, fy=F_X, width=WIDTH),
                instr(n + "down", "linear", [L(n + "act"), W(wd)], l, fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(wd, 3)),
                instr(n + "h", "add", [L(n + "h_attn"), L(n + "down")], l, width=WIDTH),
            ]
        h = n + "h"
    head = "output.weight" if not cfg.tied_output else "token_embd.weight"
    P += [
        _norm("out_norm", h, "output_norm.weight", -1, eps, wt),
        instr("logits", "linear", [L("out_norm"), W(head)], fx=F_X, fy=F_H, width=WIDTH, wtype=wt.get(head, 8)),
        instr("topk", "topk_chunk", [L("logits")], chunk=CHUNK, k=TOPK),
    ]
    last, n_lists, level = "topk", -(-cfg.vocab_size // CHUNK), 0
    while n_lists > 1:
        name = f"topk_merge{level}"
        P.append(instr(name, "topk_merge", [L(last)], group=GROUP, k=TOPK))
        last, n_lists, level = name, -(-n_lists // GROUP), level + 1
    P.append(instr("sample", "sample", [L(last), RUN]))
    return Program(name=f"llama/{cfg.name}", instrs=tuple(P), context=ctx, output="sample")


def rope_tables(cfg, context: int) -> tuple[TWeight, TWeight]:
    """Integer cos/sin tables (context, head_dim/2) in Q30 from the exact float32 RoPE base."""
    m, e = ref.fp32_decode(cfg.rope_base_bits)
    inv = vec.rope_inv_freq(m, e, cfg.head_dim, 40)
    cos, sin = vec.rope_table(context, inv)
    return TWeight("rope.cos", np.asarray(cos, np.int64)), TWeight("rope.sin", np.asarray(sin, np.int64))


def build_weights(loaded, program: Program, progress=None) -> dict:
    """Every weight the program references, imported exactly from the loaded file (plus derived tables)."""
    names = sorted({r.name for i in program.instrs for r in i.inputs if r.kind == "weight"})
    out: dict = {}
    cos, sin = rope_tables(loaded.config, program.context)
    out["rope.cos"], out["rope.sin"] = cos, sin
    file_names = [n for n in names if n not in out]
    for k, name in enumerate(file_names):
        t = loaded.tensors[name]
        if len(t.shape) == 1:
            out[name] = vweight(name, t.data, t.ggml_type)
        else:
            out[name] = qweight(name, t.data, t.ggml_type, t.shape[0], t.shape[1])
        if progress:
            progress(k + 1, len(file_names))
    return out
