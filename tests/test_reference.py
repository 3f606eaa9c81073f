"""FloatLlama, the float32 reference: SmolLM2 answers the France prompt; on the tiny model the cached,
fused implementation agrees with a naive full-sequence float64 one, and the API behaves as documented."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import PromptError
from engine.loaders import load_gguf
from engine.models import tiny
from engine.reference import FloatLlama
from engine.store import smollm2_path
from engine.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return load_gguf(tiny.build_tiny_gguf(tmp_path_factory.mktemp("t") / "tiny.gguf"))


@pytest.fixture(scope="module")
def tiny_ref(tiny_model):
    return FloatLlama(tiny_model)


def naive_logits(model, tokens: list[int]) -> np.ndarray:
    """Every position's logits by recomputing the whole sequence in float64: per-head loops, keys and
    values repeated per query head, RoPE as complex rotation of adjacent pairs, causal mask."""
    c, W = model.config, {n: t.to_float32().astype(np.float64) for n, t in model.tensors.items()}
    n, hd = len(tokens), c.head_dim

    def norm(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + c.rms_eps) * w

    def rope(x):  # x (n, heads, hd): pairs (2i, 2i+1) as complex numbers, rotated by pos * theta_i
        theta = c.rope_base ** (-np.arange(0, hd, 2) / hd)
        z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * np.outer(np.arange(n), theta))[:, None, :]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = z.real, z.imag
        return out

    x = W["token_embd.weight"][tokens]
    for i in range(c.n_layers):
        b = f"blk.{i}."
        h = norm(x, W[b + "attn_norm.weight"])
        q = rope((h @ W[b + "attn_q.weight"].T).reshape(n, c.n_heads, hd))
        k = rope((h @ W[b + "attn_k.weight"].T).reshape(n, c.n_kv_heads, hd))
        v = (h @ W[b + "attn_v.weight"].T).reshape(n, c.n_kv_heads, hd)
        heads = []
        for hh in range(c.n_heads):
            kv = hh // (c.n_heads // c.n_kv_heads)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(hd) + np.triu(np.full((n, n), -np.inf), 1)
            p = np.exp(s - s.max(-1, keepdims=True))
            heads.append((p / p.sum(-1, keepdims=True)) @ v[:, kv])
        x = x + np.concatenate(heads, axis=1) @ W[b + "attn_output.weight"].T
        h = norm(x, W[b + "ffn_norm.weight"])
        g, u = h @ W[b + "ffn_gate.weight"].T, h @ W[b + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[b + "ffn_down.weight"].T
    return norm(x, W["output_norm.weight"]) @ W["token_embd.weight"].T


TOKENS = [1, 120, 118, 264, 13, 90, 107, 267, 35, 271, 261, 294, 288, 286, 291, 35, 73, 117, 277, 102]


def test_tiny_matches_naive_float64_forward(tiny_model, tiny_ref):
    want = naive_logits(tiny_model, TOKENS)
    tiny_ref.reset()
    for pos, t in enumerate(TOKENS):
        got = tiny_ref.forward(t, pos)
        assert got.dtype == np.float32 and got.shape == (300,)
        np.testing.assert_allclose(got, want[pos], rtol=0, atol=2e-4 * np.abs(want[pos]).max())
        assert int(np.argmax(got)) == int(np.argmax(want[pos]))
    assert 1.0 < np.abs(want).max() < 100  # activations in a sane range: the comparison means something


def test_tiny_is_deterministic_and_rewindable(tiny_model, tiny_ref):
    tiny_ref.reset()
    a = [tiny_ref.forward(t, p) for p, t in enumerate(TOKENS[:8])]
    other = FloatLlama(tiny_model)
    b = [other.forward(t, p) for p, t in enumerate(TOKENS[:8])]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    tiny_ref.forward(7, 5)  # rewind: overwrite position 5 with another token ...
    tiny_ref.reset()  # ... then start again: same numbers as the first time
    assert all(np.array_equal(x, tiny_ref.forward(t, p)) for p, (t, x) in enumerate(zip(TOKENS[:8], a)))
    assert np.array_equal(tiny_ref.forward(TOKENS[5], 5), a[5])
    assert tiny_ref.generate(TOKENS, 10) == other.generate(TOKENS, 10)


def test_forward_rejects_bad_positions_and_tokens(tiny_ref):
    tiny_ref.reset()
    with pytest.raises(ValueError, match="position 1"):
        tiny_ref.forward(5, 1)  # gap: nothing cached at 0
    tiny_ref.forward(5, 0)
    for bad in (-1, 300, 10**9):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            tiny_ref.forward(bad, 1)


def test_generate_stops(tiny_ref):
    free = tiny_ref.generate(TOKENS, 5)
    assert len(free) == 5 and all(0 <= t < 300 for t in free)
    assert tiny_ref.generate(TOKENS, 5, stop_ids=[free[0]]) == free[:1]  # the stop token is included
    assert tiny_ref.generate(TOKENS, 0) == []
    long = [TOKENS[i % len(TOKENS)] for i in range(250)]
    out = tiny_ref.generate(long, 100)
    assert len(out) == 256 - 250 + 1  # positions 250..255 fed, plus the token predicted at 255
    with pytest.raises(PromptError):
        tiny_ref.generate([], 5)
    with pytest.raises(PromptError):
        tiny_ref.generate([5] * 256, 5)


@pytest.mark.slow
def test_smollm2_answers_france():
    model = load_gguf(smollm2_path())
    tok = Tokenizer.from_model(model)
    ref = FloatLlama(model)
    out = ref.generate(tok.chat("What is the capital of France?"), 32, stop_ids=[tok.eos_id])
    assert out[-1] == tok.eos_id
    assert tok.decode(out[:-1]) == "The capital of France is Paris."
