"""The gemma3 architecture as an integer per-token template (Gemma 3 270M, the tiny seeded tiny-gemma3).

What differs from llama (docs/gemma3.md has the facts and where each comes from): head_dim 256 on a 640-wide model,
per-head q and k RMSNorm before RoPE, NEOX rotate-half RoPE with two bases (10k on local layers, the file's 1M on
global ones), sliding-window attention on local layers (window from the file, every SWA_PATTERN-th layer global),
post-attention and post-FFN norms, a GELU(tanh)-gated FFN, embeddings scaled by sqrt(dim), the output head tied to
the Q8_0 embedding. The file's norm gains are Gemma's (1 + w) already (llama.cpp multiplies by them as stored).

Formats (value = raw * 2^-F, every activation saturated to 32 bits; docs/gemma3.md's range study, 64 passes):
  residual stream h, embed, post_attn, post_ffw      F = 10  (max |h| ~1.04e5 -> 2^26.7 raw: ~20x headroom)
  attn_norm, out_norm (matmul inputs)                 F = 10  (max 330, 480)
  ffn_norm, mix, act (matmul inputs)                  F = 12  (max 32, 99, 167)
  q/k after head norm and RoPE                        F = 14  (max 91; the 256-term score dot products < 2^53)
  linear outputs q, k, v, o, gate, up, down, logits   F = 16
  scores F16 (the 1/sqrt(256) = 1/16 scale is exact), probabilities Q30, mix partials F20
One forward pass per token (shapes for Gemma 3 270M: dim 640, 4 heads x 256, 1 KV head, ffn 2048, vocabulary
262144; n = the position + 1):
  embed_raw   embed          token -> its Q8_0 row (640,)                                  F24
  embed       scale          * sqrt(640) (c = isqrt(640 * 2^52), shift 40)                 F10
  18 x [ attn_norm   rmsnorm        (640,)                                                 F10
         q, k, v     linear         (1024,), (256,), (256,)                                F16
         q_norm, k_norm  head_rmsnorm  per 256-wide head                                   F14
         q_rope, k_rope  rope_neox  pairs (i, i + 128), the layer's base table             F14
         k_cache, v_cache  kv_append  (context, 256) each                                  F14 / F16
         scores      attn_scores    (4, n)                                                 F16
         masked      swa_mask       local layers only: keys p - j >= window -> -2^31       F16
         probs       softmax        (4, n)                                                 Q30
         mix_part, mix  attn_mix_partial, attn_mix  (ceil(n/64), 1024), (1024,)            F20, F12
         o           linear         (640,)                                                 F16
         post_attn   rmsnorm        post_attention_norm                                    F10
         h_attn      add            h + post_attn                                          F10
         ffn_norm    rmsnorm        (640,)                                                 F12
         gate, up    linear         (2048,) each                                           F16
         act         geglu          gelu_tanh(gate) * up                                   F12
         down        linear         (640,)                                                 F16
         post_ffw    rmsnorm        post_ffw_norm                                          F10
         h           add            h_attn + post_ffw                                      F10 ]
  out_norm rmsnorm (640,) F10 -> logits linear over token_embd (262144,) F16 -> topk_chunk (256, 32) -> topk_merge
  tree (32, 32), (4, 32), (1, 32) -> sample (1, 2)
The embedding's two roundings (F24, then the product) are within 0.51 LSB of F10 of the exact w sqrt(640): the
F24 rounding is 2^-25 before the scale (2^-20.3 after), c is sqrt(640) 2^26 to 1 part in 2^30.6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fixedpoint import ref, vec

from ..config import ConfigJSON, _is_int, f32_bits, f32_from_bits
from ..errors import ModelLoadError
from ..program import TOKEN, Instr, L, Program, S, W, instr
from ..weights import TWeight, qweight, vweight
from .llama import MIX_CHUNK, WIDTH, _eps_q, sample_head

ARCHITECTURE = "gemma3"
CHAT_FALLBACK = "gemma"  # Gemma's turn format (<start_of_turn>user ... <end_of_turn>); the 270M file is the base model
SWA_PATTERN = 6  # llama.cpp's set_swa_pattern(6) for gemma3: layers 5, 11, 17, ... global (no key in the file)
ROPE_LOCAL_BASE = 10000.0  # llama.cpp's rope_freq_base_train_swa for gemma3 (no key in the file)
MAX_CONTEXT = 1024  # as llama: every one-step (softmax reads a whole score row) stays far below 3M gas

F_H = 10  # residual stream, embed, post-norm outputs
F_AN = 10  # attn_norm and out_norm outputs (matmul inputs)
F_FN = 12  # ffn_norm output
F_LIN = 16  # linear outputs
F_QK = 14  # q, k after the head norm and RoPE (the K cache)
F_S = 16  # scores (softmax input)
F_MIX = 12  # attention mix (attn_output input)
F_P = 20  # attention mix partials
F_ACT = 12  # gelu_tanh(gate) * up (ffn_down input)
F_E = 24  # the embedding row before its sqrt(dim) scale
SCALE_SHIFT = 26  # sqrt(dim) as an integer c = floor(sqrt(dim) 2^26) (fewer bits for dim > 2048: c stays in i32)


@dataclass(frozen=True)
class Gemma3Config(ConfigJSON):
    """Hyper-parameters of a gemma3 decoder. Shapes as LlamaConfig's (rows = outputs) plus attn_q_norm / attn_k_norm
    (head_dim,), post_attention_norm / post_ffw_norm (dim,); the output head is token_embd. Layer l is global iff
    (l + 1) % swa_pattern == 0, else local: a sliding window of ``sliding_window`` keys and RoPE base
    ``rope_local_base_bits``. Float hyper-parameters are float32 bit patterns. ValueError on inconsistent values."""

    name: str
    n_layers: int
    dim: int
    ffn_dim: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    rope_base_bits: int
    rope_local_base_bits: int
    rms_eps_bits: int
    sliding_window: int
    swa_pattern: int
    eos_id: int
    bos_id: int | None = None
    special_ids: tuple[int, ...] = ()
    stop_ids: tuple[int, ...] = ()
    architecture: str = ARCHITECTURE

    def __post_init__(self) -> None:
        if self.architecture != ARCHITECTURE or not isinstance(self.name, str):
            raise ValueError(f"not a gemma3 config: architecture {self.architecture!r}, name {self.name!r}")
        ints = ("n_layers", "dim", "ffn_dim", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "context_length")
        for f in (*ints, "sliding_window", "swa_pattern"):
            v = getattr(self, f)
            if not _is_int(v) or v < 1:
                raise ValueError(f"config {f} must be a positive integer, got {v!r}")
        for f in ("rope_base_bits", "rope_local_base_bits", "rms_eps_bits"):
            v = getattr(self, f)
            if not _is_int(v) or not 0 <= v < 1 << 32:
                raise ValueError(f"config {f} must be a float32 bit pattern in [0, 2^32), got {v!r}")
        if self.n_heads % self.n_kv_heads or self.head_dim % 2:
            raise ValueError(f"heads {self.n_heads}/{self.n_kv_heads} (head_dim {self.head_dim}) do not group")
        for f in ("rope_base_bits", "rope_local_base_bits"):
            b = f32_from_bits(getattr(self, f))
            if not 1.0 < b < float("inf"):
                raise ValueError(f"RoPE base must be a finite float > 1, got {b!r}")
        if not 0.0 < f32_from_bits(self.rms_eps_bits) < float("inf"):
            raise ValueError("RMSNorm epsilon must be a finite float > 0")
        if self.dim > 1 << 32:
            raise ValueError("dim must be at most 2^32 (the embedding scale's sqrt)")
        self._check_token_ids()

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def is_global(self, layer: int) -> bool:
        """Full causal attention and the file's RoPE base (else: sliding window and the local base)."""
        return (layer + 1) % self.swa_pattern == 0


def float_reference(loaded):
    """The float32 numpy forward pass of Gemma 3 over the same GGUF file (engine/reference_gemma3.py, checked against
    llama.cpp; measurement only: scripts/bench_accuracy.py)."""
    from engine.reference_gemma3 import FloatGemma3

    return FloatGemma3(loaded.source.path)


def config_from_dict(d: Any) -> Gemma3Config:
    return Gemma3Config.from_dict(d)


def config_from_gguf(meta, get, tok, tensors, where: str, name: str) -> Gemma3Config:
    """The config from a gemma3 GGUF file's ``gemma3.*`` keys; ModelLoadError on a variant the template does not run
    (logit softcapping, RoPE scaling, value length != key length, partial rotary, an output head of its own)."""
    a = ARCHITECTURE
    for key in (f"{a}.attn_logit_softcapping", f"{a}.final_logit_softcapping"):
        if get(key, float, 0.0):
            raise ModelLoadError(f"{where}: {key} is not supported (this template has no softcap)")
    if get(f"{a}.rope.scaling.type", str, "none") != "none":
        raise ModelLoadError(f"{where}: RoPE scaling is not supported")
    n_heads, dim = get(f"{a}.attention.head_count", int), get(f"{a}.embedding_length", int)
    head_dim = get(f"{a}.attention.key_length", int, dim // max(n_heads, 1))
    if get(f"{a}.attention.value_length", int, head_dim) != head_dim:
        raise ModelLoadError(f"{where}: attention value length differs from key length: not supported")
    if get(f"{a}.rope.dimension_count", int, head_dim) != head_dim:
        raise ModelLoadError(f"{where}: partial rotary embeddings are not supported")
    if "output.weight" in tensors:
        raise ModelLoadError(f"{where}: an untied output head is not supported for gemma3")
    from engine.tokenizer import stop_ids as chat_stop_ids

    try:
        return Gemma3Config(
            name=get("general.name", str, name),
            n_layers=get(f"{a}.block_count", int),
            dim=dim,
            ffn_dim=get(f"{a}.feed_forward_length", int),
            n_heads=n_heads,
            n_kv_heads=get(f"{a}.attention.head_count_kv", int, n_heads),
            head_dim=head_dim,
            vocab_size=len(tok.tokens),
            context_length=get(f"{a}.context_length", int),
            rope_base_bits=f32_bits(get(f"{a}.rope.freq_base", float, 1e6)),
            rope_local_base_bits=f32_bits(ROPE_LOCAL_BASE),
            rms_eps_bits=f32_bits(get(f"{a}.attention.layer_norm_rms_epsilon", float)),
            sliding_window=get(f"{a}.attention.sliding_window", int),
            swa_pattern=SWA_PATTERN,
            eos_id=tok.eos_id,
            bos_id=tok.bos_id,
            special_ids=tok.special_ids,
            stop_ids=chat_stop_ids(tok, ARCHITECTURE),
        )
    except ValueError as e:
        raise ModelLoadError(f"{where}: {e}") from None


BLOCK_TENSORS = (
    "attn_norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_q_norm",
    "attn_k_norm",
    "attn_output",
    "post_attention_norm",
    "ffn_norm",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
    "post_ffw_norm",
)


def expected_tensor_shapes(cfg: Gemma3Config) -> dict[str, tuple[int, ...]]:
    """Every tensor of a gemma3 model of ``cfg`` (row-major): token_embd (also the output head), the per-block
    tensors, output_norm."""
    d, f, hd = cfg.dim, cfg.ffn_dim, cfg.head_dim
    per = {
        "attn_norm": (d,),
        "attn_q": (cfg.q_dim, d),
        "attn_k": (cfg.kv_dim, d),
        "attn_v": (cfg.kv_dim, d),
        "attn_q_norm": (hd,),
        "attn_k_norm": (hd,),
        "attn_output": (d, cfg.q_dim),
        "post_attention_norm": (d,),
        "ffn_norm": (d,),
        "ffn_gate": (f, d),
        "ffn_up": (f, d),
        "ffn_down": (d, f),
        "post_ffw_norm": (d,),
    }
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (cfg.vocab_size, d)}
    for i in range(cfg.n_layers):
        shapes.update({f"blk.{i}.{k}.weight": per[k] for k in BLOCK_TENSORS})
    shapes["output_norm.weight"] = (d,)
    return shapes


def embed_scale(dim: int) -> tuple[int, int]:
    """(c, s): c = floor(sqrt(dim) 2^s) < 2^31, s = SCALE_SHIFT or fewer (the scale op's int32 constant)."""
    s = SCALE_SHIFT
    while ref.isqrt(dim << 2 * s) >= 1 << 31:
        s -= 1
    return ref.isqrt(dim << 2 * s), s


def build_program(cfg: Gemma3Config, context: int | None = None, wtypes: dict[str, int] | None = None) -> Program:
    """The per-token template of a gemma3 config (``context`` caps the model's context length); ``wtypes``: GGML
    type ids of the weights, carried by linear/embed instructions as ``wtype`` (the template commits them)."""
    wt = wtypes or {}
    ctx = min(cfg.context_length, MAX_CONTEXT, context or MAX_CONTEXT)
    H, Hkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    eps = {f: _eps_q(cfg.rms_eps_bits, 2 * f) for f in (F_H, F_LIN)}

    def norm(name: str, x: str, gain: str, layer: int, fx: int, fy: int) -> Instr:
        return instr(name, "rmsnorm", [L(x), W(gain)], layer, fx=fx, fy=fy, eps=eps[fx], width=WIDTH)

    def linear(name: str, x: str, w: str, layer: int, fx: int) -> Instr:
        return instr(name, "linear", [L(x), W(w)], layer, fx=fx, fy=F_LIN, width=WIDTH, wtype=wt.get(w, 8))

    emb = "token_embd.weight"
    c, cs = embed_scale(cfg.dim)
    P: list[Instr] = [
        instr("embed_raw", "embed", [TOKEN, W(emb)], f=F_E, width=WIDTH, wtype=wt.get(emb, 8)),
        instr("embed", "scale", [L("embed_raw")], c=c, s=cs + F_E - F_H, width=WIDTH),
    ]
    h = "embed"
    att = dict(n_heads=H, n_kv_heads=Hkv, head_dim=hd, width=WIDTH)
    for l in range(cfg.n_layers):
        b, n = f"blk.{l}.", f"L{l}."
        rope = [W("rope_global.cos"), W("rope_global.sin")] if cfg.is_global(l) else [W("rope.cos"), W("rope.sin")]
        P += [
            norm(n + "attn_norm", h, b + "attn_norm.weight", l, F_H, F_AN),
            linear(n + "q", n + "attn_norm", b + "attn_q.weight", l, F_AN),
            linear(n + "k", n + "attn_norm", b + "attn_k.weight", l, F_AN),
            linear(n + "v", n + "attn_norm", b + "attn_v.weight", l, F_AN),
        ]
        for x, heads in (("q", H), ("k", Hkv)):
            P += [
                instr(n + f"{x}_norm", "head_rmsnorm", [L(n + x), W(b + f"attn_{x}_norm.weight")], l, fx=F_LIN,
                      fy=F_QK, eps=eps[F_LIN], head_dim=hd, width=WIDTH),
                instr(n + f"{x}_rope", "rope_neox", [L(n + f"{x}_norm"), *rope], l, n_heads=heads, head_dim=hd,
                      width=WIDTH),
            ]  # fmt: skip
        scores = n + "scores"
        P += [
            instr(n + "k_cache", "kv_append", [S(n + "k_cache"), L(n + "k_rope")], l, width_elems=Hkv * hd),
            instr(n + "v_cache", "kv_append", [S(n + "v_cache"), L(n + "v")], l, width_elems=Hkv * hd),
            instr(scores, "attn_scores", [L(n + "q_rope"), L(n + "k_cache")], l, fq=F_QK, fk=F_QK, fy=F_S, **att),
        ]
        if not cfg.is_global(l):
            P.append(instr(n + "masked", "swa_mask", [L(scores)], l, window=cfg.sliding_window))
            scores = n + "masked"
        P += [
            instr(n + "probs", "softmax", [L(scores)], l),
            instr(n + "mix_part", "attn_mix_partial", [L(n + "probs"), L(n + "v_cache")], l, chunk=MIX_CHUNK, fp=F_P,
                  fv=F_LIN, **att),
            instr(n + "mix", "attn_mix", [L(n + "mix_part")], l, fp=F_P, fy=F_MIX, width=WIDTH),
            linear(n + "o", n + "mix", b + "attn_output.weight", l, F_MIX),
            norm(n + "post_attn", n + "o", b + "post_attention_norm.weight", l, F_LIN, F_H),
            instr(n + "h_attn", "add", [L(h), L(n + "post_attn")], l, width=WIDTH),
            norm(n + "ffn_norm", n + "h_attn", b + "ffn_norm.weight", l, F_H, F_FN),
            linear(n + "gate", n + "ffn_norm", b + "ffn_gate.weight", l, F_FN),
            linear(n + "up", n + "ffn_norm", b + "ffn_up.weight", l, F_FN),
            instr(n + "act", "geglu", [L(n + "gate"), L(n + "up")], l, fu=F_LIN, fy=F_ACT, width=WIDTH),
            linear(n + "down", n + "act", b + "ffn_down.weight", l, F_ACT),
            norm(n + "post_ffw", n + "down", b + "post_ffw_norm.weight", l, F_LIN, F_H),
            instr(n + "h", "add", [L(n + "h_attn"), L(n + "post_ffw")], l, width=WIDTH),
        ]  # fmt: skip
        h = n + "h"
    P += [
        norm("out_norm", h, "output_norm.weight", -1, F_H, F_AN),
        instr("logits", "linear", [L("out_norm"), W(emb)], fx=F_AN, fy=F_LIN, width=WIDTH, wtype=wt.get(emb, 8)),
    ]
    P += sample_head("logits", cfg.vocab_size)
    return Program(name=f"gemma3/{cfg.name}", instrs=tuple(P), context=ctx, output="sample")


def rope_tables(bits: int, head_dim: int, context: int, prefix: str) -> tuple[TWeight, TWeight]:
    """Integer cos/sin tables (context, head_dim/2) in Q30 of the float32 RoPE base with bit pattern ``bits``."""
    m, e = ref.fp32_decode(bits)
    cos, sin = vec.rope_table(context, vec.rope_inv_freq(m, e, head_dim, 40))
    return TWeight(prefix + ".cos", np.asarray(cos, np.int64)), TWeight(prefix + ".sin", np.asarray(sin, np.int64))


def build_weights(loaded, program: Program, progress=None) -> dict:
    """Every weight the program references, imported exactly from the loaded file, plus the two RoPE tables."""
    cfg = loaded.config
    names = sorted({r.name for i in program.instrs for r in i.inputs if r.kind == "weight"})
    out: dict = {}
    for bits, prefix in ((cfg.rope_local_base_bits, "rope"), (cfg.rope_base_bits, "rope_global")):
        if prefix + ".cos" in names:
            out[prefix + ".cos"], out[prefix + ".sin"] = rope_tables(bits, cfg.head_dim, program.context, prefix)
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
