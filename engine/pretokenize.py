"""llama.cpp's BPE pre-tokenizers by ``tokenizer.ggml.pre`` name: the regexes it applies in sequence, whether
the family adds BOS by default, and whether a word found whole in the vocabulary skips the merges.

Each regex splits every piece of the previous pass into its matches and the gaps between them
(llama.cpp's ``unicode_regex_split``; HF ``tokenizers``' Split with behaviour "isolated"). The regexes are
llama.cpp's own (src/llama-vocab.cpp, ``llm_tokenizer_bpe``), so a file that runs in llama.cpp is split the
same here; the oracle vectors check it.
"""

from __future__ import annotations

from typing import NamedTuple


class Pre(NamedTuple):
    regexes: tuple[str, ...]
    add_bos: bool = False  # llama.cpp's default when the file has no tokenizer.ggml.add_bos_token
    ignore_merges: bool = False  # a pre-tokenized word that is itself a token is emitted whole


_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

_FAMILIES: dict[Pre, tuple[str, ...]] = {
    # GPT-2's regex alone ("gpt2" is our historical alias of llama.cpp's "gpt-2")
    Pre((GPT2,)): ("gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "exaone4", "a.x-4.0", "mellum"),
    # every digit its own piece, then GPT-2's regex
    Pre((r"\p{N}", GPT2)): ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"),
    # Llama 3: up to three digits a piece
    Pre((LLAMA3,), add_bos=True, ignore_merges=True): (
        "llama-bpe",
        "llama3",
        "llama-v3",
        "falcon3",
        "falcon-h1",
        "pixtral",
        "midm-2.0",
        "lfm2",
    ),
    Pre((LLAMA3,)): ("dbrx", "smaug-bpe"),
    # Qwen2: single digits
    Pre((QWEN2,)): ("qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"),
    # llama.cpp's fallback for BPE files that name no pre-tokenizer family it knows
    Pre((r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")): ("default",),
}
PRETOKENIZERS: dict[str, Pre] = {name: pre for pre, names in _FAMILIES.items() for name in names}
