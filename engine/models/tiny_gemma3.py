"""``tiny-gemma3``: a small Gemma-3-shaped model written as a real GGUF file from a fixed seed (as engine.models.tiny),
byte-for-byte stable (sha256 pinned): the CI-cheap stand-in for Gemma 3 270M in dispute and EVM tests.

Shape: dim 64, 6 blocks (layer 5 global, 0-4 local: the real file's pattern of 6), 2 query heads and 1 KV head of
128 (q is 256 wide on a 64-wide model, as 1024 on 640), FFN 256, sliding window 4 (so the mask bites within a few
tokens), RoPE bases 1e6 (global) and 10000 (local), RMSNorm eps 1e-6, context 64, the tiny SentencePiece vocabulary
(engine.models.tiny_vocabs, BYTE tokens, add_bos), output tied to the Q8_0 embedding. Tensor types as the real
file's: token_embd and attn_v Q8_0, attn_q / attn_k / ffn_gate / ffn_up Q5_0, attn_output Q4_K, ffn_down Q6_K,
norm gains F32 -- the post-norm gains large (8 to 24) like Gemma's, so the residual stream grows as it does there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import tiny
from .tiny_types import _matrix

NAME = "openbrains-tiny-gemma3-v1"
FILE = "tiny-gemma3-v1.gguf"
SHA256 = "f03539e0f17f60595166766927e3b32e4671d7fd2a12bfff1895f2d491d4bfd7"  # of the file spec() writes
DIM, N_LAYERS, N_HEADS, N_KV_HEADS, HEAD_DIM, FFN_DIM, CONTEXT, WINDOW = 64, 6, 2, 1, 128, 256, 64, 4
SEED = 270
TYPES = {
    "attn_q": "Q5_0",
    "attn_k": "Q5_0",
    "attn_v": "Q8_0",
    "attn_output": "Q4_K",
    "ffn_gate": "Q5_0",
    "ffn_up": "Q5_0",
    "ffn_down": "Q6_K",
}


def spec() -> tuple[dict[str, tuple[Any, Any, Any]], dict[str, tuple[np.ndarray, str]]]:
    """(metadata, tensors) of tiny-gemma3, as ``tiny.tiny_spec`` describes them."""
    from gguf import GGUFValueType as T

    from .gemma3 import BLOCK_TENSORS
    from .tiny_vocabs import _spm_kv

    tok = _spm_kv()
    tok["tokenizer.ggml.add_bos_token"] = (True, T.BOOL, None)
    del tok["tokenizer.chat_template"]  # as the real (base) file: the architecture's fallback (Gemma turns)
    a = "gemma3"
    kv: dict[str, tuple[Any, Any, Any]] = {
        "general.architecture": (a, T.STRING, None),
        "general.name": (NAME, T.STRING, None),
        "general.quantization_version": (2, T.UINT32, None),
        f"{a}.context_length": (CONTEXT, T.UINT32, None),
        f"{a}.embedding_length": (DIM, T.UINT32, None),
        f"{a}.block_count": (N_LAYERS, T.UINT32, None),
        f"{a}.feed_forward_length": (FFN_DIM, T.UINT32, None),
        f"{a}.attention.head_count": (N_HEADS, T.UINT32, None),
        f"{a}.attention.layer_norm_rms_epsilon": (1e-6, T.FLOAT32, None),
        f"{a}.attention.key_length": (HEAD_DIM, T.UINT32, None),
        f"{a}.attention.value_length": (HEAD_DIM, T.UINT32, None),
        f"{a}.rope.freq_base": (1e6, T.FLOAT32, None),
        f"{a}.attention.sliding_window": (WINDOW, T.UINT32, None),
        f"{a}.attention.head_count_kv": (N_KV_HEADS, T.UINT32, None),
        **tok,
    }
    n_vocab = len(tok["tokenizer.ggml.tokens"][0])
    rng = np.random.default_rng(SEED)
    tensors: dict[str, tuple[np.ndarray, str]] = {}
    tensors["token_embd.weight"] = _matrix("Q8_0", rng, n_vocab, DIM, 1.0)
    qd, kvd = N_HEADS * HEAD_DIM, N_KV_HEADS * HEAD_DIM
    shapes = {
        "attn_q": (qd, DIM),
        "attn_k": (kvd, DIM),
        "attn_v": (kvd, DIM),
        "attn_output": (DIM, qd),
        "ffn_gate": (FFN_DIM, DIM),
        "ffn_up": (FFN_DIM, DIM),
        "ffn_down": (DIM, FFN_DIM),
    }
    for layer in range(N_LAYERS):
        for k in BLOCK_TENSORS:
            name = f"blk.{layer}.{k}.weight"
            if k in shapes:
                rows, cols = shapes[k]
                tensors[name] = _matrix(TYPES[k], rng, rows, cols, float(1.0 / np.sqrt(cols)))
                continue
            n = HEAD_DIM if k in ("attn_q_norm", "attn_k_norm") else DIM
            lo, hi = (32, 96) if k.startswith("post_") else (8, 24)  # gains j/4: 8..24 for post-norms, 2..6 else
            tensors[name] = ((rng.integers(lo, hi + 1, size=n) / 4).astype(np.float32), "F32")
    tensors["output_norm.weight"] = ((rng.integers(8, 25, size=DIM) / 4).astype(np.float32), "F32")
    return kv, tensors


def tiny_gemma3_path() -> Path:
    """The cached GGUF of tiny-gemma3, (re)built if missing or not the pinned bytes (ModelLoadError otherwise)."""
    return tiny.cached_build(FILE, SHA256, spec)
