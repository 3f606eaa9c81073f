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

from dataclasses import dataclass
from typing import Any

import numpy as np

from fixedpoint import ref, vec

from ..config import ConfigJSON, _is_int, f32_bits, f32_from_bits
from ..errors import ModelLoadError
from ..program import RUN, TOKEN, Instr, L, Program, S, W, instr
from ..weights import TWeight, qweight, vweight

ARCHITECTURE = "llama"
CHAT_FALLBACK = "chatml"  # the chat template of llama files without tokenizer.chat_template


@dataclass(frozen=True)
class LlamaConfig(ConfigJSON):
    """Hyper-parameters of a llama-architecture decoder (RMSNorm, RoPE on adjacent pairs, GQA, SiLU-gated FFN).

    Shapes (row-major, rows = outputs): attn_q (n_heads*head_dim, dim), attn_k / attn_v
    (n_kv_heads*head_dim, dim), attn_output (dim, n_heads*head_dim), ffn_gate / ffn_up (ffn_dim, dim),
    ffn_down (dim, ffn_dim), token_embd (vocab_size, dim); output head = token_embd if ``tied_output``.
    Query head h reads KV head h // (n_heads // n_kv_heads).

    ``special_ids`` are the ids of control tokens (never produced by BPE; registered as special tokens).
    ``stop_ids`` is the model's stop set, sorted: generation ends at the first of these tokens (llama.cpp's
    end-of-generation ids plus the chat template's end-of-turn token, engine.loaders.gguf.stop_ids); () means
    (eos_id,). Raises ValueError on inconsistent values.
    """

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
    rms_eps_bits: int
    tied_output: bool
    eos_id: int
    bos_id: int | None = None
    special_ids: tuple[int, ...] = ()
    architecture: str = "llama"
    stop_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"config name must be a string, got {self.name!r}")
        if self.architecture != "llama":
            raise ValueError(f"unsupported architecture {self.architecture!r} (only 'llama')")
        for f in ("n_layers", "dim", "ffn_dim", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "context_length"):
            v = getattr(self, f)
            if not _is_int(v) or v < 1:
                raise ValueError(f"config {f} must be a positive integer, got {v!r}")
        for f in ("rope_base_bits", "rms_eps_bits"):
            v = getattr(self, f)
            if not _is_int(v) or not 0 <= v < 1 << 32:
                raise ValueError(f"config {f} must be a float32 bit pattern in [0, 2^32), got {v!r}")
        if not isinstance(self.tied_output, bool):
            raise ValueError(f"config tied_output must be a bool, got {self.tied_output!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if not self.rope_base > 1.0 or self.rope_base == float("inf"):
            raise ValueError(f"RoPE base must be a finite float > 1, got {self.rope_base!r}")
        if not 0.0 < self.rms_eps < float("inf"):
            raise ValueError(f"RMSNorm epsilon must be a finite float > 0, got {self.rms_eps!r}")
        self._check_token_ids()

    # derived sizes
    @property
    def q_dim(self) -> int:
        """n_heads * head_dim: the width of the concatenated query heads."""
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """n_kv_heads * head_dim: the width of one position's keys (and of its values)."""
        return self.n_kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    # float views: for the float reference only, never on a committed path
    @property
    def rope_base(self) -> float:
        return f32_from_bits(self.rope_base_bits)

    @property
    def rms_eps(self) -> float:
        return f32_from_bits(self.rms_eps_bits)


def float_reference(loaded):
    """The float32 numpy forward pass of this architecture (measurement only: scripts/bench_accuracy.py)."""
    from engine.reference import FloatLlama

    return FloatLlama(loaded)


def config_from_dict(d: Any) -> LlamaConfig:
    """The config of a native-format manifest (``LlamaConfig.to_dict`` output)."""
    return LlamaConfig.from_dict(d)


def config_from_gguf(meta, get, tok, tensors, where: str, name: str) -> LlamaConfig:
    """The config from a llama GGUF file's ``llama.*`` keys (``get``: the loader's checked getter); ModelLoadError
    on a variant the template does not run (partial rotary, RoPE scaling, experts, value length != key length)."""
    n_heads = get("llama.attention.head_count", int)
    dim = get("llama.embedding_length", int)
    if n_heads < 1:
        raise ModelLoadError(f"{where}: attention head count {n_heads} must be positive")
    if dim % n_heads and "llama.attention.key_length" not in meta:
        raise ModelLoadError(f"{where}: embedding length {dim} is not a multiple of head count {n_heads}")
    head_dim = get("llama.attention.key_length", int, dim // n_heads)
    if get("llama.attention.value_length", int, head_dim) != head_dim:
        raise ModelLoadError(f"{where}: attention value length differs from key length: not supported")
    if get("llama.rope.dimension_count", int, head_dim) != head_dim:
        raise ModelLoadError(f"{where}: partial rotary embeddings (rope.dimension_count != head dim) are not supported")
    scaling = get("llama.rope.scaling.type", str, "none")
    if scaling != "none":
        raise ModelLoadError(f"{where}: RoPE scaling {scaling!r} is not supported")
    if get("llama.expert_count", int, 0):
        raise ModelLoadError(f"{where}: mixture-of-experts llama models are not supported")
    vocab_size = get("llama.vocab_size", int, len(tok.tokens))
    if vocab_size != len(tok.tokens):
        raise ModelLoadError(f"{where}: llama.vocab_size {vocab_size} but the tokenizer has {len(tok.tokens)} tokens")
    from engine.tokenizer import stop_ids as chat_stop_ids  # the stop set follows the chat template

    try:
        return LlamaConfig(
            name=get("general.name", str, name),
            n_layers=get("llama.block_count", int),
            dim=dim,
            ffn_dim=get("llama.feed_forward_length", int),
            n_heads=n_heads,
            n_kv_heads=get("llama.attention.head_count_kv", int, n_heads),
            head_dim=head_dim,
            vocab_size=vocab_size,
            context_length=get("llama.context_length", int),
            rope_base_bits=f32_bits(get("llama.rope.freq_base", float, 10000.0)),
            rms_eps_bits=f32_bits(get("llama.attention.layer_norm_rms_epsilon", float)),
            tied_output="output.weight" not in tensors,
            eos_id=tok.eos_id,
            bos_id=tok.bos_id,
            special_ids=tok.special_ids,
            stop_ids=chat_stop_ids(tok, ARCHITECTURE),
        )
    except ValueError as e:
        raise ModelLoadError(f"{where}: {e}") from None


def expected_tensor_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a llama model of ``cfg`` must have, with its row-major shape, in canonical order
    (token_embd, per-block tensors, output_norm, then output unless tied)."""
    d, f = cfg.dim, cfg.ffn_dim
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (cfg.vocab_size, d)}
    for i in range(cfg.n_layers):
        b = f"blk.{i}."
        shapes.update(
            {
                b + "attn_norm.weight": (d,),
                b + "attn_q.weight": (cfg.q_dim, d),
                b + "attn_k.weight": (cfg.kv_dim, d),
                b + "attn_v.weight": (cfg.kv_dim, d),
                b + "attn_output.weight": (d, cfg.q_dim),
                b + "ffn_norm.weight": (d,),
                b + "ffn_gate.weight": (f, d),
                b + "ffn_up.weight": (f, d),
                b + "ffn_down.weight": (d, f),
            }
        )
    shapes["output_norm.weight"] = (d,)
    if not cfg.tied_output:
        shapes["output.weight"] = (cfg.vocab_size, d)
    return shapes


INSPECT_KEYS = (
    "block_count",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "context_length",
    "attention.layer_norm_rms_epsilon",
)


def inspect_blockers(meta, get, shapes, n_tokens: int | None, blockers: list[dict[str, str]]) -> None:
    """Missing keys, unsupported llama variants, and the tensor set (names, shapes, norm types)."""
    from engine.errors import FIX_TYPE

    missing = [f"llama.{k}" for k in INSPECT_KEYS if f"llama.{k}" not in meta]
    for k in missing:
        blockers.append({"what": f"missing metadata key {k!r}", "fix": "re-convert the model with a current llama.cpp"})
    variants = [
        ("llama.rope.scaling.type", lambda v: v not in (None, "none"), "RoPE scaling", "scaled RoPE tables"),
        ("llama.expert_count", lambda v: bool(v), "mixture of experts", "a routed-FFN program template"),
    ]
    for key, bad, what, fix in variants:
        if bad(meta.get(key)):
            blockers.append({"what": f"{what} ({key} = {meta.get(key)!r})", "fix": f"{fix} in engine/models/llama.py"})
    if missing or n_tokens is None:
        return
    try:
        n_heads, dim = meta["llama.attention.head_count"], meta["llama.embedding_length"]
        head_dim = get("llama.attention.key_length", int, dim // max(n_heads, 1))
        cfg = LlamaConfig(
            name="inspect",
            n_layers=meta["llama.block_count"],
            dim=dim,
            ffn_dim=meta["llama.feed_forward_length"],
            n_heads=n_heads,
            n_kv_heads=get("llama.attention.head_count_kv", int, n_heads),
            head_dim=head_dim,
            vocab_size=n_tokens,
            context_length=meta["llama.context_length"],
            rope_base_bits=f32_bits(get("llama.rope.freq_base", float, 10000.0)),
            rms_eps_bits=f32_bits(float(meta["llama.attention.layer_norm_rms_epsilon"])),
            tied_output=all(n != "output.weight" for n, _, _ in shapes),
            eos_id=0,
        )
    except (ValueError, TypeError, ModelLoadError) as e:
        blockers.append({"what": f"hyper-parameters: {e}", "fix": "a consistent llama configuration in the file"})
        return
    want = expected_tensor_shapes(cfg)
    have = {n: (s, t) for n, s, t in shapes}
    gone = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if gone:
        blockers.append({"what": f"{len(gone)} tensors missing (first {gone[0]})", "fix": "a complete llama file"})
    if extra:
        blockers.append(
            {
                "what": f"{len(extra)} tensors this llama variant does not use (first {extra[0]})",
                "fix": "support for that variant in engine/models/llama.py",
            }
        )
    bad_shape = [n for n, s in want.items() if n in have and tuple(have[n][0]) != s]
    if bad_shape:
        blockers.append({"what": f"tensor {bad_shape[0]} has an unexpected shape", "fix": "a consistent llama file"})
    norms = sorted({have[n][1] for n, s in want.items() if len(s) == 1 and n in have and have[n][1] != "F32"})
    if norms:
        blockers.append(
            {"what": f"norm vectors in {', '.join(norms)} (only F32 is imported)", "fix": f"norm gains in {FIX_TYPE}"}
        )


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
    ]
    P += sample_head("logits", cfg.vocab_size)
    return Program(name=f"llama/{cfg.name}", instrs=tuple(P), context=ctx, output="sample")


def sample_head(logits: str, vocab_size: int) -> list[Instr]:
    """Sampling from a logits row: top-k of each CHUNK logits, a GROUP-ary merge tree down to one list, then sample
    (so no one-step reads more than CHUNK logits or GROUP lists, whatever the vocabulary)."""
    out = [instr("topk", "topk_chunk", [L(logits)], chunk=CHUNK, k=TOPK)]
    last, n_lists, level = "topk", -(-vocab_size // CHUNK), 0
    while n_lists > 1:
        name = f"topk_merge{level}"
        out.append(instr(name, "topk_merge", [L(last)], group=GROUP, k=TOPK))
        last, n_lists, level = name, -(-n_lists // GROUP), level + 1
    out.append(instr("sample", "sample", [L(last), RUN]))
    return out


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
