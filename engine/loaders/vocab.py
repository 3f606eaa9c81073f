"""Tokenizer metadata from GGUF ``tokenizer.ggml.*`` keys, with llama.cpp's defaults and derived token sets.

Two vocabulary kinds are supported, as llama.cpp names them in ``tokenizer.ggml.model``:

* ``"gpt2"``: byte-level BPE (SmolLM2, Llama 3, Qwen2, GPT-2): ``tokens`` in GPT-2's byte-to-unicode
  alphabet, ``merges`` in rank order, a pre-tokenizer named by ``tokenizer.ggml.pre``;
* ``"llama"``: SentencePiece-style (TinyLlama, Llama 2, Mistral, Gemma): ``tokens`` with U+2581 for
  spaces, ``scores`` (higher merges first), BYTE tokens ``<0xXX>`` for byte fallback.

Where a key is absent the value is llama.cpp's default for that kind (``llama_vocab::impl::load``): SPM adds
BOS and a space prefix, BOS/EOS/UNK default to 1/2/0 (SPM) or 11/11/none (BPE); the ``llama-bpe`` family
adds BOS. ``attributes`` and ``eog_ids`` re-derive what llama.cpp derives from token texts (control-looking
tokens become control, the end-of-generation set), so our tokenizer and stop set equal llama.cpp's; the
oracle vectors (tests/vectors/tokenizer_*.json) check both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# GGUF token types (llama.cpp's llama_token_type)
TOKEN_UNDEFINED, TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = range(7)
# llama.cpp's llama_token_attr bits (what a type maps to, plus the text-based overrides below)
ATTR_UNKNOWN, ATTR_UNUSED, ATTR_NORMAL, ATTR_CONTROL, ATTR_USER_DEFINED, ATTR_BYTE = 1, 2, 4, 8, 16, 32
_TYPE_ATTR = {
    TOKEN_UNKNOWN: ATTR_UNKNOWN,
    TOKEN_UNUSED: ATTR_UNUSED,
    TOKEN_NORMAL: ATTR_NORMAL,
    TOKEN_CONTROL: ATTR_CONTROL,
    TOKEN_USER_DEFINED: ATTR_USER_DEFINED,
    TOKEN_BYTE: ATTR_BYTE,
}
MODELS = ("gpt2", "llama")

# llama.cpp's text lists: tokens it treats as end-of-turn / end-of-generation / FIM whatever their type
EOT_TEXTS = (
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
)
EOM_TEXTS = ("<|eom_id|>",)
EOG_TEXTS = (
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
)
FIM_TEXTS = {
    "fim_pre": (
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ),
    "fim_suf": (
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ),
    "fim_mid": (
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ),
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}
# gpt-oss's channel markers: llama.cpp always renders them (user-defined, whatever the file says)
USER_DEFINED_TEXTS = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")
# GGUF key suffix (tokenizer.ggml.<key>_token_id) of every special id we read
SPECIAL_KEYS = (
    "bos",
    "eos",
    "unk",
    "pad",
    "eot",
    "eom",
    "fim_pre",
    "fim_suf",
    "fim_mid",
    "fim_pad",
    "fim_rep",
    "fim_sep",
)


@dataclass(frozen=True)
class TokenizerMeta:
    """A vocabulary as stored in GGUF ``tokenizer.ggml.*`` (defaults resolved as llama.cpp resolves them).

    ``tokens[i]`` is token i's text, ``token_types[i]`` its GGUF type (1 normal, 2 unknown, 3 control,
    4 user-defined, 5 unused, 6 byte), ``scores[i]`` its SentencePiece score (float32 values; () for BPE
    vocabularies without scores), ``merges`` the BPE merges in rank order as "left right" (() for SPM),
    ``pre`` the pre-tokenizer name ("" for SPM). ``special`` maps a key of ``SPECIAL_KEYS`` to the id the
    file names for it (only keys present in the file, except bos/eos/unk, which carry llama.cpp's defaults).
    """

    model: str
    pre: str
    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    eos_id: int
    bos_id: int | None = None
    unk_id: int | None = None
    pad_id: int | None = None
    add_bos: bool = False
    chat_template: str | None = None
    scores: tuple[float, ...] = ()
    add_eos: bool = False
    add_space_prefix: bool = False
    special: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("tokens", "token_types", "merges", "scores"):
            d[k] = list(d[k])
        d["special"] = dict(self.special)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> TokenizerMeta:
        """Inverse of ``to_dict``; ValueError on malformed input. Keys added after format version 1
        (scores, add_eos, add_space_prefix, special) may be absent: they take the version-1 meaning."""
        if not isinstance(d, dict):
            raise ValueError("tokenizer metadata must be a JSON object")
        keys = {f.name for f in fields(cls)}
        optional = {"scores", "add_eos", "add_space_prefix", "special"}
        if set(d) - keys or keys - optional - set(d):
            raise ValueError(
                f"tokenizer metadata keys differ: missing {sorted(keys - optional - set(d))}, "
                f"unknown {sorted(set(d) - keys)}"
            )
        _check_dict_values(d)
        meta = cls(
            **{
                **d,
                "tokens": tuple(d["tokens"]),
                "token_types": tuple(d["token_types"]),
                "merges": tuple(d["merges"]),
                "scores": tuple(float(s) for s in d.get("scores", [])),
                "special": dict(d.get("special", {})),
            }
        )
        meta.validate()
        return meta

    def problems(self) -> list[str]:
        """Every reason this vocabulary cannot be tokenized exactly, each saying what would fix it ([] if
        none). ``validate`` raises the first; ``obrain inspect`` lists them all."""
        from engine.pretokenize import PRETOKENIZERS

        out: list[str] = []
        if self.model not in MODELS:
            out.append(
                f"tokenizer model {self.model!r} is not supported (supported: 'gpt2' byte-level BPE and 'llama' "
                f"SentencePiece); it needs a tokenizer for that model in engine/tokenizer.py"
            )
        if self.model == "gpt2" and self.pre not in PRETOKENIZERS:
            out.append(
                f"pre-tokenizer {self.pre!r} is not supported (supported: {', '.join(sorted(PRETOKENIZERS))}); "
                "it needs llama.cpp's regexes for it in engine/pretokenize.py"
            )
        n = len(self.tokens)
        if n == 0:
            out.append("the vocabulary is empty (tokenizer.ggml.tokens has no entries)")
        if len(self.token_types) != n:
            out.append(f"{n} tokens but {len(self.token_types)} token types")
        if self.scores and len(self.scores) != n:
            out.append(f"{n} tokens but {len(self.scores)} scores")
        for k in ("eos_id", "bos_id", "unk_id", "pad_id"):
            v = getattr(self, k)
            if v is not None and not 0 <= v < n:
                out.append(f"tokenizer {k} {v} is outside the vocabulary (size {n})")
        for k, v in self.special.items():
            if not 0 <= v < n:
                out.append(f"tokenizer.ggml.{k}_token_id {v} is outside the vocabulary (size {n})")
        if self.add_bos and self.bos_id is None:
            out.append("add_bos_token is set but the file names no BOS token")
        out += self._table_problems()
        return out

    def _table_problems(self) -> list[str]:
        """Token types, duplicates and merges."""
        out: list[str] = []
        bad = next((i for i, t in enumerate(self.token_types) if t not in _TYPE_ATTR), None)
        if bad is not None:
            out.append(f"token {bad} has unknown token type {self.token_types[bad]}")
        seen: set[str] = set()
        for i, t in enumerate(self.tokens):
            if not t or t in seen:
                out.append(f"token {i} {t!r} is empty or a duplicate")
                break
            seen.add(t)
        if self.model == "llama" and self.merges:
            out.append("a SentencePiece ('llama') vocabulary has merges: the file is inconsistent")
        if self.model == "gpt2":
            for r, m in enumerate(self.merges):
                parts = m.split(" ")
                if len(parts) != 2 or not parts[0] or not parts[1]:
                    out.append(f"merge {r} {m!r} is not of the form 'left right'")
                    break
                if parts[0] not in seen or parts[1] not in seen or parts[0] + parts[1] not in seen:
                    out.append(f"merge {r} {m!r} refers to a token missing from the vocabulary")
                    break
        return out

    def validate(self) -> None:
        """ValueError (the first of ``problems``) unless we can tokenize this vocabulary exactly."""
        p = self.problems()
        if p:
            raise ValueError(p[0])

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of control (and unknown) tokens by the file's types: matched whole in text, never produced
        by merges."""
        return tuple(i for i, t in enumerate(self.token_types) if t in (TOKEN_CONTROL, TOKEN_UNKNOWN))

    def _found(self, key: str, ids: dict[str, int]) -> int | None:
        """The id llama.cpp uses for ``key`` (eot, eom, fim_*): the file's key, else the first listed text."""
        if key in self.special:
            return self.special[key]
        texts = {"eot": EOT_TEXTS, "eom": EOM_TEXTS}.get(key) or FIM_TEXTS[key]
        return next((ids[s] for s in texts if s in ids), None)

    def attributes(self) -> list[int]:
        """llama.cpp's attribute bits per token: the type's attribute; CONTROL added to the text-found
        EOT/EOM/FIM tokens and every ``EOG_TEXTS`` token; UNUSED added to control tokens whose text contains
        "unused"; ``USER_DEFINED_TEXTS`` made user-defined; the o200k "<|end|>" and "</s>" workarounds."""
        attrs = [_TYPE_ATTR.get(t, 0) for t in self.token_types]
        ids = self._text_ids()
        for key in ("eot", "eom", *FIM_TEXTS):
            if key not in self.special:
                v = self._found(key, ids)
                if v is not None:
                    attrs[v] |= ATTR_CONTROL
        for i, t in enumerate(self.tokens):
            if attrs[i] & ATTR_CONTROL and "unused" in t:
                attrs[i] |= ATTR_UNUSED
        for s in EOG_TEXTS:
            if s in ids:
                attrs[ids[s]] |= ATTR_CONTROL
        for s in USER_DEFINED_TEXTS:
            if s in ids:
                attrs[ids[s]] = ATTR_USER_DEFINED
        eog = self._eog(ids)
        for s, attr in (("<|end|>", ATTR_USER_DEFINED), ("</s>", ATTR_NORMAL)):
            if s in ids and ids[s] not in eog and ids[s] in self._eog(ids, workarounds=False):
                attrs[ids[s]] = attr
        return attrs

    def eog_ids(self) -> tuple[int, ...]:
        """llama.cpp's end-of-generation set, sorted: FIM pad/repo/file-separator, every ``EOG_TEXTS`` token,
        EOS, EOT and EOM (the file's keys, else found by text), less "<|end|>" in o200k-harmony-like
        vocabularies and "</s>" next to "<|tool_response>" (llama.cpp's workarounds)."""
        return tuple(sorted(self._eog(self._text_ids())))

    def _eog(self, ids: dict[str, int], workarounds: bool = True) -> set[int]:
        eog = {v for k in ("fim_pad", "fim_rep", "fim_sep") if (v := self._found(k, ids)) is not None}
        eog |= {ids[s] for s in EOG_TEXTS if s in ids}
        eog |= {v for v in (self.eos_id, self._found("eot", ids), self._found("eom", ids)) if v is not None}
        if workarounds:
            texts = {self.tokens[i] for i in eog}
            has_call = bool({"<|call|>", "<|calls|>"} & texts)
            if "<|end|>" in texts and has_call and ("<|return|>" in texts or "<|flush|>" in texts):
                eog.discard(ids["<|end|>"])
            if "<|tool_response>" in texts and "</s>" in texts:
                eog.discard(ids["</s>"])
        return eog

    def _text_ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}


def _check_dict_values(d: dict[str, Any]) -> None:
    """ValueError unless every value of a ``TokenizerMeta.to_dict`` dict has its type."""
    for k in ("tokens", "merges"):
        if not isinstance(d[k], list) or not all(isinstance(t, str) for t in d[k]):
            raise ValueError(f"tokenizer {k} must be a list of strings")
    if not isinstance(d["token_types"], list) or not all(_is_int(t) for t in d["token_types"]):
        raise ValueError("tokenizer token_types must be a list of integers")
    sc = d.get("scores", [])
    if not isinstance(sc, list) or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in sc):
        raise ValueError("tokenizer scores must be a list of numbers")
    _check_dict_scalars(d)


def _check_dict_scalars(d: dict[str, Any]) -> None:
    for k in ("model", "pre"):
        if not isinstance(d[k], str):
            raise ValueError(f"tokenizer {k} must be a string")
    for k in ("eos_id", "bos_id", "unk_id", "pad_id"):
        if not (_is_int(d[k]) or (d[k] is None and k != "eos_id")):
            raise ValueError(f"tokenizer {k} must be an integer")
    for k in ("add_bos", "add_eos", "add_space_prefix"):
        if not isinstance(d.get(k, False), bool):
            raise ValueError(f"tokenizer {k} must be a bool")
    if not isinstance(d["chat_template"], (str, type(None))):
        raise ValueError("tokenizer chat_template must be a string or null")
    sp = d.get("special", {})
    if not isinstance(sp, dict) or not all(k in SPECIAL_KEYS and _is_int(v) for k, v in sp.items()):
        raise ValueError(f"tokenizer special must map names in {SPECIAL_KEYS} to token ids")


def tokenizer_meta_from_gguf(meta: dict[str, Any], get) -> TokenizerMeta:
    """TokenizerMeta from a GGUF file's metadata (``get(key, kind, default)`` checks types and raises
    ModelLoadError for a missing required key). ValueError (with what is wrong and what it would take)
    for a vocabulary we cannot tokenize."""
    model = get("tokenizer.ggml.model", str)
    if model not in MODELS:
        raise ValueError(
            f"tokenizer model {model!r} is not supported (supported: 'gpt2' byte-level BPE and 'llama' SentencePiece)"
        )
    tokens = get("tokenizer.ggml.tokens", list)
    n = len(tokens)
    spm = model == "llama"
    pre = get("tokenizer.ggml.pre", str, "default" if spm else None)
    if pre is None:
        raise ValueError(
            "byte-level BPE vocabulary without tokenizer.ggml.pre: llama.cpp would fall back to its 'default' "
            "pre-tokenizer (and warn that quality degrades); re-convert the model with a current llama.cpp"
        )
    if not spm and "tokenizer.ggml.merges" not in meta:
        raise ValueError("byte-level BPE ('gpt2') vocabulary without tokenizer.ggml.merges")
    merges = get("tokenizer.ggml.merges", list, [])
    scores = get("tokenizer.ggml.scores", list, [])
    types = get("tokenizer.ggml.token_type", list, [TOKEN_NORMAL] * n)
    if not all(isinstance(t, str) for t in tokens) or not all(isinstance(m, str) for m in merges):
        raise ValueError("tokenizer.ggml.tokens and tokenizer.ggml.merges must be string arrays")
    if not all(_is_int(t) for t in types):
        raise ValueError("tokenizer.ggml.token_type must be an integer array")
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
        raise ValueError("tokenizer.ggml.scores must be a number array")
    if scores and len(scores) < n or len(types) < n:
        raise ValueError(f"tokenizer.ggml.scores/token_type have fewer entries than the {n} tokens")

    from engine.pretokenize import PRETOKENIZERS

    # llama.cpp's defaults by kind, then the file's keys
    defaults = {"bos": 1, "eos": 2, "unk": 0} if spm else {"bos": 11, "eos": 11}
    special = {k: v for k, v in defaults.items() if v < n}
    for k in SPECIAL_KEYS:
        v = get(f"tokenizer.ggml.{k}_token_id", int, None)
        if v is not None:
            if not 0 <= v < n:
                raise ValueError(f"tokenizer.ggml.{k}_token_id {v} is outside the vocabulary (size {n})")
            special[k] = v
    add_bos_default = spm or PRETOKENIZERS.get(pre, (None, False))[1]
    if "eos" not in special:
        raise ValueError("the vocabulary names no EOS token (tokenizer.ggml.eos_token_id) and has no default one")
    tm = TokenizerMeta(
        model=model,
        pre="" if spm else pre,
        tokens=tuple(tokens),
        token_types=tuple(types[:n]),
        merges=tuple(merges),
        eos_id=special["eos"],
        bos_id=special.get("bos"),
        unk_id=special.get("unk"),
        pad_id=special.get("pad"),
        add_bos=get("tokenizer.ggml.add_bos_token", bool, add_bos_default),
        chat_template=get("tokenizer.chat_template", str, None),
        scores=tuple(float(s) for s in scores[:n]),
        add_eos=get("tokenizer.ggml.add_eos_token", bool, False),
        add_space_prefix=get("tokenizer.ggml.add_space_prefix", bool, spm),
        special={k: v for k, v in special.items() if k not in ("bos", "eos", "unk", "pad")},
    )
    tm.validate()
    return tm


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
