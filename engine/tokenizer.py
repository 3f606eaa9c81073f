"""Byte-level BPE tokenizer built from GGUF metadata with HF ``tokenizers``, matching llama.cpp.

* Pre-tokenizer: llama.cpp's regexes for the file's ``tokenizer.ggml.pre``. "smollm" first isolates
  every number character (``\\p{N}``: digits are never merged), then applies GPT-2's regex; "gpt2" is
  GPT-2's regex alone. Then bytes are mapped to GPT-2's printable byte-to-unicode alphabet.
* Control tokens (``<|im_start|>``, ``<|im_end|>``, ...) are registered as special tokens: in text
  passed to ``encode`` they are matched whole, to one id each, before pre-tokenization.
* ``decode`` maps ids back to bytes and decodes UTF-8 (invalid sequences become U+FFFD), so
  ``decode(encode(s)) == s`` for every string ``s``.
* ``chat(prompt)`` applies the one chat template we run: ``CHAT_TEMPLATE`` (no system turn).
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterable

from engine.errors import ModelLoadError, PromptError

CHAT_TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"

_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# pre-tokenizer name -> the regexes llama.cpp applies in sequence (each splits every piece of the last)
PRETOKENIZERS: dict[str, tuple[str, ...]] = {
    "smollm": (r"\p{N}", _GPT2_REGEX),
    "gpt2": (_GPT2_REGEX,),
}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map: printable Latin-1 bytes map to themselves,
    the other 68 bytes to U+0100.. in byte order (so space 0x20 is 'Ġ', newline 0x0A is 'Ċ')."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


BYTE_TO_UNICODE: dict[int, str] = _bytes_to_unicode()
UNICODE_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_UNICODE.items()}


class Tokenizer:
    """Encode/decode for one model. Build with ``from_meta`` (or ``from_model``)."""

    def __init__(self, meta, context_length: int | None = None):
        from tokenizers import AddedToken, Regex
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        from engine.loaders import TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_USER_DEFINED

        try:
            meta.validate()
        except ValueError as e:
            raise ModelLoadError(f"tokenizer: {e}") from None
        self.meta = meta
        self.context_length = context_length
        self.eos_id: int = meta.eos_id
        self.bos_id: int | None = meta.bos_id
        self.vocab_size = len(meta.tokens)
        self._id = {t: i for i, t in enumerate(meta.tokens)}
        special = [i for i, t in enumerate(meta.token_types) if t in (TOKEN_CONTROL, TOKEN_UNKNOWN)]
        user = [i for i, t in enumerate(meta.token_types) if t == TOKEN_USER_DEFINED]
        self.special_ids = frozenset(special)

        bpe = models.BPE(
            vocab=self._id, merges=[tuple(m.split(" ")) for m in meta.merges], fuse_unk=False, byte_fallback=False
        )
        tok = HFTokenizer(bpe)
        # llama.cpp's regexes in order, each splitting every piece of the previous; then bytes -> alphabet
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in PRETOKENIZERS[meta.pre]]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(meta.tokens[i], special=True, normalized=False) for i in special])
        tok.add_tokens([AddedToken(meta.tokens[i], special=False, normalized=False) for i in user])
        for i in special + user:
            if tok.token_to_id(meta.tokens[i]) != i:
                raise ModelLoadError(f"tokenizer: added token {meta.tokens[i]!r} did not keep id {i}")
        self._tok = tok
        # bytes with no token (SmolLM2 lacks 0x04, 0x06, ... and bytes that never occur in UTF-8):
        # BPE would silently drop them, so text containing them is refused instead
        self._missing = bytes(b for b, c in BYTE_TO_UNICODE.items() if c not in self._id)
        self._lock = threading.Lock()  # encode_special_tokens is shared state: one encode at a time

        # id -> bytes: byte-level tokens through the inverse alphabet, added tokens as their UTF-8 text
        self._bytes: list[bytes] = []
        for i, t in enumerate(meta.tokens):
            if i in self.special_ids or meta.token_types[i] == TOKEN_USER_DEFINED:
                self._bytes.append(t.encode("utf-8"))
            else:
                self._bytes.append(
                    b"".join(bytes([UNICODE_TO_BYTE[c]]) if c in UNICODE_TO_BYTE else c.encode("utf-8") for c in t)
                )

    @classmethod
    def from_meta(cls, meta, context_length: int | None = None) -> Tokenizer:
        """Build from ``TokenizerMeta``. With ``context_length``, ``chat`` rejects prompts that leave no
        room to generate. ModelLoadError if the metadata is not a vocabulary we support."""
        return cls(meta, context_length)

    @classmethod
    def from_model(cls, model) -> Tokenizer:
        """Build from a ``LoadedModel`` (its tokenizer metadata and context length)."""
        return cls(model.tokenizer_meta, model.config.context_length)

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of ``text`` (no BOS, no template). With ``special`` (default), control-token text
        such as ``<|im_end|>`` becomes its single id; without, it is tokenized as ordinary text.
        PromptError if ``text`` is not valid Unicode (e.g. lone surrogates from undecodable argv)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        _check_unicode(text)
        if not text:
            return []
        self._check_representable(text)
        with self._lock:
            self._tok.encode_special_tokens = not special
            try:
                return self._tok.encode(text, add_special_tokens=False).ids
            finally:
                self._tok.encode_special_tokens = False

    def _check_representable(self, text: str) -> None:
        if self._missing:
            data = text.encode("utf-8")
            if len(data.translate(None, self._missing)) != len(data):
                ch = next(c for c in text if set(c.encode("utf-8")) & set(self._missing))
                raise PromptError(
                    f"text contains character {ch!r} (U+{ord(ch):04X}), which this model's vocabulary cannot represent"
                )

    def token_bytes(self, token_id: int) -> bytes:
        """The exact bytes token ``token_id`` stands for. ValueError if the id is out of range."""
        if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id!r} is outside the vocabulary [0, {self.vocab_size})")
        return self._bytes[token_id]

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """The text of ``ids``: their bytes concatenated and decoded as UTF-8 (invalid sequences ->
        U+FFFD). With ``skip_special``, control tokens are left out."""
        b = b"".join(self.token_bytes(int(i)) for i in ids if not (skip_special and int(i) in self.special_ids))
        return b.decode("utf-8", errors="replace")

    def chat(self, prompt: str) -> list[int]:
        """Token ids of ``CHAT_TEMPLATE`` around ``prompt`` (BOS first only if the model asks for it).
        The prompt is user text: control-token text inside it is tokenized literally, so a prompt
        cannot forge a turn. Equals ``encode(CHAT_TEMPLATE.format(prompt=prompt))`` for prompts that
        contain no control-token text. PromptError if the prompt is empty or blank, not valid Unicode,
        or (with a context length) leaves no room to generate."""
        if not isinstance(prompt, str):
            raise PromptError(f"prompt must be text, got {type(prompt).__name__}")
        _check_unicode(prompt)
        if not prompt.strip():
            raise PromptError("prompt is empty")
        start, end = self._id.get(IM_START), self._id.get(IM_END)
        if start not in self.special_ids or end not in self.special_ids:
            raise ModelLoadError(f"model has no {IM_START}/{IM_END} control tokens: it cannot use the chat template")
        ids = [self.bos_id] if self.meta.add_bos and self.bos_id is not None else []
        ids += [
            start,
            *self.encode("user\n" + prompt, special=False),
            end,
            *self.encode("\n", special=False),
            start,
            *self.encode("assistant\n", special=False),
        ]
        if self.context_length is not None and len(ids) >= self.context_length:
            raise PromptError(
                f"prompt is too long: {len(ids)} tokens with the chat template, but the model's "
                f"context holds {self.context_length} (at most {self.context_length - 1} "
                "leave room for an answer)"
            )
        return ids

    def stream(self, *, skip_special: bool = True) -> StreamDecoder:
        """A fresh ``StreamDecoder`` over this vocabulary."""
        return StreamDecoder(self, skip_special=skip_special)


class StreamDecoder:
    """Incremental detokenizer: ``push(id)`` returns the new text that became complete (possibly "",
    when a multi-byte UTF-8 character is split across tokens), ``flush()`` the rest at the end
    (an incomplete trailing sequence becomes U+FFFD). The concatenation of all returned pieces
    equals ``tokenizer.decode(ids, skip_special=skip_special)``."""

    def __init__(self, tokenizer: Tokenizer, *, skip_special: bool = True):
        self._tok = tokenizer
        self._skip = skip_special
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        b = self._tok.token_bytes(int(token_id))
        if self._skip and int(token_id) in self._tok.special_ids:
            return ""
        return self._dec.decode(b)

    def flush(self) -> str:
        out = self._dec.decode(b"", final=True)
        self._dec.reset()
        return out


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PromptError(
            f"text is not valid Unicode (unpaired surrogate at character {e.start}); "
            "was it passed in an encoding other than UTF-8?"
        ) from None
