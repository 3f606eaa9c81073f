"""The tiny model with other vocabularies, so tests run the same loader, tokenizer and chat code that real
files need: every file here is engine.models.tiny's model (same seed, same layers) with an embedding row per
token of its own vocabulary, and its own chat template.

* ``tiny-spm``: SentencePiece (``tokenizer.ggml.model "llama"``) as in TinyLlama / Llama 2: ``<unk>``, BOS
  ``<s>``, EOS ``</s>``, the 256 BYTE tokens ``<0x00>``..``<0xFF>``, single characters and pieces built by
  ``SPM_MERGES`` whose scores fall with the merge rank and tie in pairs (so llama.cpp's leftmost rule
  matters), a user-defined ``"\\n\\n"``; add_bos and the space prefix by llama.cpp's defaults (keys absent);
  a Llama 2 ``[INST]`` template with ``<<SYS>>``, ``bos_token``/``eos_token`` and ``raise_exception``.
* ``tiny-llama3``: byte-level BPE with pre-tokenizer ``llama-bpe`` (Llama 3): digits in groups of three,
  ``ignore_merges`` (``Ġhello`` is a token no merge builds), control tokens after the normal ones, EOS
  ``<|end_of_text|>`` and end of turn ``<|eot_id|>``; BOS added by llama.cpp's default for the family.
* ``tiny-qwen2``: byte-level BPE with pre-tokenizer ``qwen2`` (single digits), ChatML with Qwen2's default
  system prompt, EOS ``<|im_end|>``.

Each file's sha256 is pinned; ``tiny_vocab_path(name)`` builds it into the cache on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.models.tiny import cached_build, tiny_spec

SHA256 = {
    "tiny-spm": "e2443ac24cd4c155b5a9cf1fee1cf2af8b8bc5cef80d3717bb34b8983d61a70e",
    "tiny-llama3": "7bdc3800189a64caae3f9f8a3cc38595e15be4d684ad6ddd9f4a481177bae60f",
    "tiny-qwen2": "a00b99e5fab9f07bdf87c9666faa745a20e34387b356f52f5ca9bcf0a0390bea",
}

SPM_CHARS = list("▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;()[]/<>|*=+\"中文")
# (left, right) in rank order: each joins two existing pieces into a new one
SPM_MERGES = [
    ("▁", "t"),
    ("h", "e"),
    ("▁t", "he"),
    ("i", "n"),
    ("▁", "a"),
    ("a", "n"),
    ("e", "r"),
    ("o", "n"),
    ("▁", "s"),
    ("e", "n"),
    ("i", "s"),
    ("▁", "i"),
    ("▁", "c"),
    ("in", "g"),
    ("▁", "w"),
    ("▁", "h"),
    ("▁h", "i"),
    ("l", "l"),
    ("▁", "he"),
    ("ll", "o"),
    ("▁he", "llo"),
    ("▁", "["),
    ("I", "N"),
    ("S", "T"),
    ("IN", "ST"),
    ("▁[", "INST"),
    ("▁[INST", "]"),
    ("[", "/"),
    ("▁", "[/"),
    ("▁[/", "INST"),
    ("▁[/INST", "]"),
    ("<", "<"),
    (">", ">"),
    ("S", "Y"),
    ("SY", "S"),
    ("<<", "SYS"),
    ("<<SYS", ">>"),
    ("<", "/"),
    ("s", ">"),  # "</" + "s>" is "</s>": llama.cpp's SPM loop joins plain text into the control token
    ("▁", "o"),
    ("▁o", "f"),
    ("▁i", "s"),
    ("▁c", "a"),
    ("▁ca", "p"),
    ("P", "a"),
    ("Pa", "r"),
    ("Par", "is"),
    ("▁", "Paris"),
    ("▁", "▁"),
    ("▁▁", "▁▁"),
    ("1", "2"),
    ("12", "3"),
    ("中", "文"),
    ("'", "s"),
    ("o", "u"),
    ("▁", "y"),
    ("▁y", "ou"),
]
SPM_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set system = false %}{% set loop_messages = messages %}"
    "{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system %}{% set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content | trim + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

BPE_MERGES = [
    "Ġ t",
    "h e",
    "Ġt he",
    "i n",
    "Ġ a",
    "e r",
    "o n",
    "r e",
    "a t",
    "Ġ s",
    "e n",
    "o r",
    "i s",
    "Ġ o",
    "Ġ i",
    "Ġ c",
    "Ġ w",
    "a n",
    "in g",
    "Ġ Ġ",
    "ĠĠ ĠĠ",
    "Ġ h",
    "Ġh i",
    "l l",
    "Ġ f",
    "Ġo f",
    "Ġi s",
    "Ġc a",
    "Ġca p",
    "P a",
    "Pa r",
    "Par is",
    "Ġ Paris",
    "Ċ Ċ",
    "ĠĠ Ċ",
    "' s",
    "' ll",
    "1 2",
    "12 3",
    "4 5",
    "ä ¸",
    "ä¸ Ń",
    "Ġ T",
    "o u",
    "Ġ y",
    "Ġy ou",
    "u s",
    "s er",
    "u ser",
    "a s",
    "as s",
    "ass is",
    "assis t",
    "assist an",
    "assistan t",
]
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
LLAMA3_TEMPLATE = (
    "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _spm_kv() -> dict[str, tuple[Any, Any, Any]]:
    from gguf import GGUFValueType as T

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\n\n"]
    types = [2, 3, 3] + [6] * 256 + [4]
    scores = [0.0] * len(tokens)
    for i, c in enumerate(SPM_CHARS):
        tokens.append(c)
        types.append(1)
        scores.append(-1000.0 - i)
    for r, (a, b) in enumerate(SPM_MERGES):
        assert a in tokens and b in tokens and a + b not in tokens, (a, b)
        tokens.append(a + b)
        types.append(1)
        scores.append(-float(r // 2))  # ties in pairs: the leftmost pair wins
    return {
        "tokenizer.ggml.model": ("llama", T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.scores": (scores, T.ARRAY, T.FLOAT32),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.bos_token_id": (1, T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (2, T.UINT32, None),
        "tokenizer.ggml.unknown_token_id": (0, T.UINT32, None),
        "tokenizer.chat_template": (SPM_TEMPLATE, T.STRING, None),
    }


def _bpe_tokens(specials: list[str], extra: list[str]) -> tuple[list[str], list[int]]:
    from engine.tokenizer import BYTE_TO_UNICODE

    tokens = [BYTE_TO_UNICODE[b] for b in range(256)]
    for m in BPE_MERGES:
        a, b = m.split(" ")
        assert a in tokens and b in tokens and a + b not in tokens, m
        tokens.append(a + b)
    tokens += extra
    return tokens + specials, [1] * len(tokens) + [3] * len(specials)


def _llama3_kv() -> dict[str, tuple[Any, Any, Any]]:
    from gguf import GGUFValueType as T

    tokens, types = _bpe_tokens(LLAMA3_SPECIALS, ["Ġhello"])  # no merge builds "Ġhello": ignore_merges finds it
    sid = {t: tokens.index(t) for t in LLAMA3_SPECIALS}
    return {
        "tokenizer.ggml.model": ("gpt2", T.STRING, None),
        "tokenizer.ggml.pre": ("llama-bpe", T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.merges": (list(BPE_MERGES), T.ARRAY, T.STRING),
        "tokenizer.ggml.bos_token_id": (sid["<|begin_of_text|>"], T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (sid["<|end_of_text|>"], T.UINT32, None),
        "tokenizer.chat_template": (LLAMA3_TEMPLATE, T.STRING, None),
    }


def _qwen2_kv() -> dict[str, tuple[Any, Any, Any]]:
    from gguf import GGUFValueType as T

    tokens, types = _bpe_tokens(QWEN2_SPECIALS, [])
    sid = {t: tokens.index(t) for t in QWEN2_SPECIALS}
    return {
        "tokenizer.ggml.model": ("gpt2", T.STRING, None),
        "tokenizer.ggml.pre": ("qwen2", T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.merges": (list(BPE_MERGES), T.ARRAY, T.STRING),
        "tokenizer.ggml.bos_token_id": (sid["<|endoftext|>"], T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (sid["<|im_end|>"], T.UINT32, None),
        "tokenizer.ggml.padding_token_id": (sid["<|endoftext|>"], T.UINT32, None),
        "tokenizer.ggml.add_bos_token": (False, T.BOOL, None),
        "tokenizer.chat_template": (QWEN2_TEMPLATE, T.STRING, None),
    }


VOCABS = {"tiny-spm": _spm_kv, "tiny-llama3": _llama3_kv, "tiny-qwen2": _qwen2_kv}


def tiny_vocab_spec(name: str):
    """``tiny_spec`` with vocabulary ``name`` (a key of ``VOCABS``)."""
    return tiny_spec(name=f"openbrains-{name}-v1", tokenizer_kv=VOCABS[name]())


def tiny_vocab_path(name: str) -> Path:
    """Path of the cached GGUF of ``name``, (re)built if missing or not the pinned bytes."""
    from engine.errors import ModelLoadError

    if name not in VOCABS:
        raise ModelLoadError(f"no tiny model {name!r} (known: tiny, {', '.join(VOCABS)})")
    return cached_build(f"{name}-v1.gguf", SHA256[name], lambda: tiny_vocab_spec(name))
