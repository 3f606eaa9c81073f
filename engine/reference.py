"""FloatLlama: a plain float32 numpy forward pass of the llama architecture, for measurement only.

It runs the model's weights dequantized to float32 (gguf.quants.dequantize) with ordinary float32
arithmetic. The integer engine is measured against it (greedy-token agreement, speed); it never
produces a committed value. It is a fair baseline: contiguous float32 matrices, one BLAS GEMV per
fused projection (q|k|v and gate|up), a KV cache, no per-head Python loops.

Conventions (those of llama.cpp on GGUF llama files):
* RoPE rotates adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/head_dim) (GGUF stores Q and K
  permuted for this);
* query head h attends with KV head h // (n_heads // n_kv_heads);
* RMSNorm: x / sqrt(mean(x^2) + eps) * w;  FFN: down(silu(gate(x)) * up(x)).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.errors import PromptError
from engine.loaders import LoadedModel


class _Layer:
    __slots__ = ("attn_norm", "wqkv", "wo", "ffn_norm", "w13", "w2")


def _stack(parts: Sequence) -> np.ndarray:
    """Dequantize row-blocks into one new contiguous float32 matrix, one part at a time."""
    rows = sum(p.shape[0] for p in parts)
    out = np.empty((rows, parts[0].shape[1]), dtype=np.float32)
    r = 0
    for p in parts:
        out[r : r + p.shape[0]] = p.to_float32()
        r += p.shape[0]
    return out


class FloatLlama:
    """Float32 reference model over a ``LoadedModel``. Keeps a KV cache: call ``forward`` with
    positions 0, 1, 2, ... (``reset`` or a smaller ``pos`` rewinds)."""

    def __init__(self, model: LoadedModel):
        c = self.config = model.config
        T = model.tensors
        self.tok_embd = T["token_embd.weight"].to_float32()  # (vocab, dim)
        self.output = self.tok_embd if c.tied_output else T["output.weight"].to_float32()
        self.output_norm = T["output_norm.weight"].to_float32()  # (dim,)
        self.layers: list[_Layer] = []
        for i in range(c.n_layers):
            b = f"blk.{i}."
            L = _Layer()
            L.attn_norm = T[b + "attn_norm.weight"].to_float32()  # (dim,)
            L.wqkv = _stack([T[b + "attn_q.weight"], T[b + "attn_k.weight"], T[b + "attn_v.weight"]])
            L.wo = T[b + "attn_output.weight"].to_float32()  # (dim, q_dim)
            L.ffn_norm = T[b + "ffn_norm.weight"].to_float32()  # (dim,)
            L.w13 = _stack([T[b + "ffn_gate.weight"], T[b + "ffn_up.weight"]])  # (2*ffn, dim)
            L.w2 = T[b + "ffn_down.weight"].to_float32()  # (dim, ffn)
            self.layers.append(L)
        half = c.head_dim // 2
        # theta_i = base^(-2i/head_dim), i < head_dim/2 (float64, rounded once per use to float32)
        self._inv_freq = float(c.rope_base) ** (-np.arange(half, dtype=np.float64) * 2.0 / c.head_dim)
        self._eps = np.float32(c.rms_eps)
        self._scale = np.float32(1.0 / np.sqrt(c.head_dim))
        self._cap = 0
        self.k_cache = self.v_cache = np.zeros((c.n_layers, c.n_kv_heads, 0, c.head_dim), np.float32)
        self.n_past = 0

    def reset(self) -> None:
        """Forget the KV cache: the next ``forward`` must be at position 0."""
        self.n_past = 0

    def _grow(self, need: int) -> None:
        # the cache doubles as needed, up to the context length (8192 positions would be ~190 MB)
        c = self.config
        cap = min(c.context_length, max(need, 2 * self._cap, 64))
        shape = (c.n_layers, c.n_kv_heads, cap, c.head_dim)
        k, v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        k[:, :, : self._cap], v[:, :, : self._cap] = self.k_cache, self.v_cache
        self.k_cache, self.v_cache, self._cap = k, v, cap

    def forward(self, token_id: int, pos: int) -> np.ndarray:
        """Logits (float32, shape (vocab,)) for ``token_id`` at position ``pos``, attending to the
        cached positions 0..pos-1 and then caching this one. ``pos`` must be in [0, n_past]
        (n_past = number of cached positions; a smaller pos overwrites from there) and below the
        context length; ``token_id`` in [0, vocab). ValueError otherwise."""
        c = self.config
        if not (isinstance(token_id, (int, np.integer)) and 0 <= token_id < c.vocab_size):
            raise ValueError(f"token id {token_id!r} is outside the vocabulary [0, {c.vocab_size})")
        if not (isinstance(pos, (int, np.integer)) and 0 <= pos <= self.n_past and pos < c.context_length):
            raise ValueError(f"position {pos!r} must be in [0, {min(self.n_past, c.context_length - 1)}]")
        if pos >= self._cap:
            self._grow(pos + 1)
        H, KV, hd, G = c.n_heads, c.n_kv_heads, c.head_dim, c.group_size
        qd, kvd = c.q_dim, c.kv_dim
        T = pos + 1
        ang = pos * self._inv_freq
        cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)  # (hd/2,)

        x = self.tok_embd[token_id].copy()  # (dim,)
        with np.errstate(over="ignore"):  # exp(-g) may overflow to inf: silu -> 0
            for li, L in enumerate(self.layers):
                # attention
                h = x * (1.0 / np.sqrt(np.mean(x * x) + self._eps)) * L.attn_norm  # (dim,)
                qkv = L.wqkv @ h  # (qd + 2*kvd,)
                q = qkv[:qd].reshape(H, hd // 2, 2)
                k = qkv[qd : qd + kvd].reshape(KV, hd // 2, 2)
                v = qkv[qd + kvd :].reshape(KV, hd)
                q = np.stack(
                    (q[..., 0] * cos - q[..., 1] * sin, q[..., 0] * sin + q[..., 1] * cos), axis=-1
                )  # (H, hd/2, 2): adjacent pairs
                k = np.stack(
                    (k[..., 0] * cos - k[..., 1] * sin, k[..., 0] * sin + k[..., 1] * cos), axis=-1
                )  # (KV, hd/2, 2)
                self.k_cache[li, :, pos] = k.reshape(KV, hd)
                self.v_cache[li, :, pos] = v
                K = self.k_cache[li, :, :T]  # (KV, T, hd)
                V = self.v_cache[li, :, :T]  # (KV, T, hd)
                qg = q.reshape(KV, G, hd)  # (KV, G, hd): heads grouped by KV head
                s = (qg @ K.transpose(0, 2, 1)) * self._scale  # (KV, G, T)
                s = np.exp(s - s.max(axis=-1, keepdims=True))
                s /= s.sum(axis=-1, keepdims=True)
                att = (s @ V).reshape(qd)  # (KV, G, hd) -> (qd,)
                x += L.wo @ att  # (dim,)
                # feed-forward
                h = x * (1.0 / np.sqrt(np.mean(x * x) + self._eps)) * L.ffn_norm  # (dim,)
                gu = L.w13 @ h  # (2*ffn,)
                g, u = gu[: c.ffn_dim], gu[c.ffn_dim :]
                x += L.w2 @ (g / (1.0 + np.exp(-g)) * u)  # (dim,)
        x = x * (1.0 / np.sqrt(np.mean(x * x) + self._eps)) * self.output_norm  # (dim,)
        self.n_past = T
        return self.output @ x  # (vocab,)

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, stop_ids: Iterable[int] = ()) -> list[int]:
        """Greedy decoding from a fresh cache: feed ``prompt_ids``, then repeatedly append the
        argmax token (lowest id on ties). Returns the generated ids only; stops after
        ``max_new_tokens``, after emitting a token in ``stop_ids`` (which is included), or when the
        context is full. PromptError if the prompt is empty or does not fit the context."""
        c = self.config
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise PromptError("prompt is empty")
        if len(prompt) >= c.context_length:
            raise PromptError(f"prompt has {len(prompt)} tokens; the context holds {c.context_length}")
        stops = {int(s) for s in stop_ids}
        self.reset()
        logits: np.ndarray | None = None
        for pos, t in enumerate(prompt):
            logits = self.forward(t, pos)
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
