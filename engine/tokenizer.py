"""Tokenizers built from GGUF metadata, matching llama.cpp's token for token (``llama_vocab::impl::tokenize``).

Encoding, in llama.cpp's order:

1. Special-token partition (``tokenizer_st_partition``): every control, unknown and user-defined token, the
   longest first, splits the text fragments it occurs in into (left text, token, right text). Without
   ``special`` only user-defined tokens are matched, so control-token text is ordinary text. Segments given
   with ``special=False`` (chat message contents) are never searched for control tokens: a message cannot
   forge a turn marker.
2. Each remaining text fragment is tokenized by the vocabulary's kind:

   * byte-level BPE (``model "gpt2"``): llama.cpp's pre-tokenizer regexes for ``pre`` (engine.pretokenize),
     bytes mapped to GPT-2's printable alphabet, then BPE merges by rank -- HF ``tokenizers`` does these
     (``Split`` + ``ByteLevel`` + ``BPE``, ``ignore_merges`` for the Llama 3 family);
   * SentencePiece (``model "llama"``): a space prepended to a fragment that starts the text or follows a
     special token (if ``add_space_prefix``), spaces replaced by U+2581, then llama.cpp's SPM merge loop
     (``spm_merge``): repeatedly join the adjacent pair whose concatenation is the highest-scoring token
     (ties: the leftmost); characters that are no token become their ``<0xXX>`` BYTE tokens. HF's BPE model
     cannot express this rule (it ranks pairs, not the tokens they form, so equal scores and merges into
     control tokens would differ), so it is written out here.

A byte the vocabulary cannot represent (a byte-level vocabulary missing that byte's token; an SPM vocabulary
with neither the character nor its BYTE tokens) raises PromptError: llama.cpp would drop it silently.

Decoding concatenates each token's bytes, llama.cpp's ``token_to_piece`` with ``special=True``: normal
tokens their text (BPE: through the inverse byte alphabet; SPM: U+2581 -> space), BYTE tokens their byte,
control/unknown/user-defined tokens their text, unused ones nothing; then UTF-8 (invalid -> U+FFFD). With
``skip_special`` control and unknown tokens give nothing. ``decode(encode(s)) == s`` for every
representable ``s`` of a BPE vocabulary (SPM: with the prefixed spaces).
"""

from __future__ import annotations

import codecs
import heapq
from collections.abc import Iterable, Sequence

from engine.errors import ModelLoadError, PromptError
from engine.loaders.vocab import ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED
from engine.pretokenize import PRETOKENIZERS

SPACE = "\u2581"  # SentencePiece's meta-space


class UnrepresentableText(PromptError):
    """The text holds a character the vocabulary has no token or byte tokens for (``char``)."""

    def __init__(self, char: str):
        self.char = char
        super().__init__(
            f"text contains character {char!r} (U+{ord(char):04X}), which this model's vocabulary cannot represent"
        )


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


def spm_merge(text: str, token_id: dict[str, int], scores: Sequence[float]) -> list[str]:
    """llama.cpp's SPM merge loop (``llm_tokenizer_spm_session::tokenize``) on ``text`` (already escaped):
    start from single characters; while some adjacent pair's concatenation is a token, join the pair whose
    token has the highest score, the leftmost among equal scores. Returns the final pieces in order (each a
    token's text, or a single character that is no token)."""
    n = len(text)
    start = list(range(n))  # piece i covers text[start[i] : start[i] + size[i]]; size 0 = absorbed
    size = [1] * n
    nxt = [i + 1 if i + 1 < n else -1 for i in range(n)]
    prv = [i - 1 for i in range(n)]
    heap: list[tuple[float, int, int, int]] = []  # (-score, left, right, joined length)

    def push(left: int, right: int) -> None:
        if left < 0 or right < 0:
            return
        joined = text[start[left] : start[right] + size[right]]
        t = token_id.get(joined)
        if t is not None:
            heapq.heappush(heap, (-scores[t], left, right, len(joined)))

    for i in range(1, n):
        push(i - 1, i)
    while heap:
        _, left, right, length = heapq.heappop(heap)
        if size[left] == 0 or size[right] == 0 or size[left] + size[right] != length:
            continue  # one side was merged since: stale
        size[left] += size[right]
        size[right] = 0
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prv[nxt[right]] = left
        push(prv[left], left)
        push(left, nxt[left])
    out, i = [], 0 if n else -1
    while i >= 0:
        out.append(text[start[i] : start[i] + size[i]])
        i = nxt[i]
    return out


class Tokenizer:
    """Encode/decode for one vocabulary (a ``TokenizerMeta``). Build with ``from_meta`` or ``from_model``."""

    def __init__(self, meta, context_length: int | None = None):
        try:
            meta.validate()
        except ValueError as e:
            raise ModelLoadError(f"tokenizer: {e}") from None
        self.meta = meta
        self.context_length = context_length
        self.kind = "spm" if meta.model == "llama" else "bpe"
        self.eos_id: int = meta.eos_id
        self.bos_id: int | None = meta.bos_id
        self.vocab_size = len(meta.tokens)
        self.attrs = meta.attributes()
        self.eog_ids: tuple[int, ...] = meta.eog_ids()
        self._id = {t: i for i, t in enumerate(meta.tokens)}
        self._id_plain: dict[str, int] | None = None  # without control tokens: guarded SPM merges
        # control and unknown tokens: matched in text only with special=True, decoded to nothing when skipped
        self.special_ids = frozenset(i for i, a in enumerate(self.attrs) if a & (ATTR_CONTROL | ATTR_UNKNOWN))
        # the partition order: longest text first (ties by id, so the order is total)
        part = [i for i, a in enumerate(self.attrs) if a & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)]
        self._partition = sorted(part, key=lambda i: (-len(meta.tokens[i].encode("utf-8")), i))
        self._bytes = [self._piece(i) for i in range(self.vocab_size)]
        if self.kind == "bpe":
            self._hf = self._build_bpe(meta)
            # bytes with no token (SmolLM2 lacks 0x04, 0x06, ...): BPE would drop them silently
            self._missing = bytes(b for b, c in BYTE_TO_UNICODE.items() if c not in self._id)
        else:
            self._scores = meta.scores or (0.0,) * self.vocab_size  # llama.cpp: score 0 without scores
            self._byte_tok = {}
            for b in range(256):
                t = self._id.get(f"<0x{b:02X}>")
                if t is None and b < 0x80:
                    t = self._id.get(chr(b))  # llama.cpp's fallback: the byte as a one-character token
                if t is not None:
                    self._byte_tok[b] = t

    @staticmethod
    def _build_bpe(meta):
        from tokenizers import Regex
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        pre = PRETOKENIZERS[meta.pre]
        vocab = {t: i for i, t in enumerate(meta.tokens)}
        bpe = models.BPE(
            vocab=vocab,
            merges=[tuple(m.split(" ")) for m in meta.merges],
            fuse_unk=False,
            byte_fallback=False,
            ignore_merges=pre.ignore_merges,
        )
        tok = HFTokenizer(bpe)
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in pre.regexes]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        tok.decoder = decoders.ByteLevel()
        return tok

    def _piece(self, i: int) -> bytes:
        """llama.cpp's token_to_piece(i, special=True) as bytes."""
        a, text = self.attrs[i], self.meta.tokens[i]
        if a & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED):
            return text.encode("utf-8")
        if a & ATTR_NORMAL:
            if self.kind == "spm":
                return text.replace(SPACE, " ").encode("utf-8")
            out = bytearray()
            for c in text:
                if c in UNICODE_TO_BYTE:
                    out.append(UNICODE_TO_BYTE[c])
                else:  # llama.cpp's llama_decode_text marker for a character outside the alphabet
                    out += b"[UNK_BYTE_0x" + c.encode("utf-8").hex().encode() + text.encode("utf-8") + b"]"
            return bytes(out)
        if a & ATTR_BYTE:
            return bytes([int(text[3:5], 16)])
        return b""

    @classmethod
    def from_meta(cls, meta, context_length: int | None = None) -> Tokenizer:
        """Build from ``TokenizerMeta``. With ``context_length``, ``chat`` rejects prompts that leave no
        room to generate. ModelLoadError if the metadata is not a vocabulary we support."""
        return cls(meta, context_length)

    @classmethod
    def from_model(cls, model) -> Tokenizer:
        """Build from a ``LoadedModel`` (its tokenizer metadata and context length)."""
        return cls(model.tokenizer_meta, model.config.context_length)

    # -- encoding ---------------------------------------------------------------------------------------

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of ``text`` (no BOS, no template). With ``special`` (default), control-token text
        such as ``<|im_end|>`` becomes its single id; without, it is tokenized as ordinary text
        (llama.cpp's ``parse_special``). PromptError if ``text`` is not valid Unicode or holds a
        character the vocabulary cannot represent."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self.encode_segments([(text, special)])

    def encode_plain(self, text: str) -> list[int]:
        """Token ids of a plain prompt (no template): ``encode(text)`` with BOS first when the vocabulary adds BOS
        (``add_bos``), as llama.cpp tokenizes a prompt; what a run and a receipt's replay both use."""
        ids = self.encode(text)
        bos = self.meta.bos_id
        if self.meta.add_bos and bos is not None and ids and ids[0] != bos:
            ids = [bos, *ids]
        return ids

    def encode_segments(self, segments: Iterable[tuple[str, bool]], *, guard: bool = False) -> list[int]:
        """Token ids of the concatenated texts of ``segments``, each ``(text, special)``: control tokens are
        matched only inside segments with ``special``; otherwise the result equals ``encode`` of the
        concatenation (text on both sides of a segment boundary is tokenized together). With ``guard`` (chat
        prompts), text that holds a ``special=False`` segment never merges into a control token either
        (llama.cpp's SPM loop would join plain "</s>" into EOS when the vocabulary has the pieces)."""
        frags: list[tuple[str, bool] | int] = []  # text fragments (with their special flag) and token ids
        for text, special in segments:
            _check_unicode(text)
            if text:
                if self.kind == "bpe":
                    self._check_representable(text)
                frags.append((text, bool(special)))
        frags = self._partition_specials(frags)
        ids: list[int] = []
        pending: list[tuple[str, bool]] = []  # adjacent text fragments: tokenized as one
        prev_special = True
        for f in [*frags, -1]:
            if isinstance(f, tuple):
                pending.append(f)
                continue
            if pending:
                guarded = guard and not all(sp for _, sp in pending)
                ids += self._tokenize_text("".join(t for t, _ in pending), prev_special, guarded)
                pending, prev_special = [], False
            if f >= 0:
                ids.append(f)
                prev_special = True
        return ids

    def _partition_specials(self, frags: list) -> list:
        """llama.cpp's tokenizer_st_partition over text fragments ``(text, special)``: each special token, the
        longest first, splits the fragments it may match (control/unknown only where ``special``) around its
        occurrences, leaving its id between the parts."""
        full = "".join(f[0] for f in frags if isinstance(f, tuple))
        for tid in self._partition:
            tt = self.meta.tokens[tid]
            if tt not in full:
                continue
            user_only = not self.attrs[tid] & (ATTR_CONTROL | ATTR_UNKNOWN)
            out: list[tuple[str, bool] | int] = []
            for f in frags:
                if isinstance(f, int) or not (f[1] or user_only) or tt not in f[0]:
                    out.append(f)
                    continue
                text, sp = f
                parts = text.split(tt)
                for k, p in enumerate(parts):
                    if k:
                        out.append(tid)
                    if p:
                        out.append((p, sp))
            frags = out
        return frags

    def _tokenize_text(self, text: str, after_special: bool, guarded: bool = False) -> list[int]:
        if self.kind == "bpe":
            ids = self._hf.encode(text, add_special_tokens=False).ids
            if guarded and any(i in self.special_ids for i in ids):  # only a vocabulary with merges into them
                raise PromptError("message text would merge into a control token with this vocabulary")
            return ids
        if self.meta.add_space_prefix and after_special:
            text = " " + text
        vocab = self._id
        if guarded:
            if self._id_plain is None:
                self._id_plain = {t: i for t, i in self._id.items() if i not in self.special_ids}
            vocab = self._id_plain
        ids: list[int] = []
        for piece in spm_merge(text.replace(" ", SPACE), vocab, self._scores):
            t = vocab.get(piece)
            if t is not None:
                ids.append(t)
                continue
            for b in piece.encode("utf-8"):
                if b not in self._byte_tok:
                    raise UnrepresentableText(piece)
                ids.append(self._byte_tok[b])
        return ids

    def unrepresentable(self, text: str) -> str | None:
        """The first character of ``text`` this vocabulary cannot represent exactly, or None."""
        if self.kind == "bpe":
            if self._missing:
                for c in text:
                    if set(c.encode("utf-8")) & set(self._missing):
                        return c
            return None
        try:
            self.encode(text)
        except UnrepresentableText as e:
            return e.char
        return None

    def _check_representable(self, text: str) -> None:
        ch = self.unrepresentable(text)
        if ch is not None:
            raise UnrepresentableText(ch)

    # -- decoding ---------------------------------------------------------------------------------------

    def token_bytes(self, token_id: int) -> bytes:
        """The exact bytes token ``token_id`` stands for. ValueError if the id is out of range."""
        if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id!r} is outside the vocabulary [0, {self.vocab_size})")
        return self._bytes[token_id]

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """The text of ``ids``: their bytes concatenated and decoded as UTF-8 (invalid sequences ->
        U+FFFD). With ``skip_special``, control and unknown tokens are left out."""
        b = b"".join(self.token_bytes(int(i)) for i in ids if not (skip_special and int(i) in self.special_ids))
        return b.decode("utf-8", errors="replace")

    def token_id(self, text: str) -> int | None:
        """The id of the token whose text is exactly ``text``, or None."""
        return self._id.get(text)

    def chat(self, prompt: str | None = None, **kw) -> list[int]:
        """Token ids of a chat prompt: see ``engine.chat.chat_ids`` (``prompt`` is the user's message)."""
        from engine.chat import chat_ids

        return chat_ids(self, prompt, **kw)

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


def stop_ids(tok, architecture: str = "llama") -> tuple[int, ...]:
    """The model's stop set, sorted: llama.cpp's end-of-generation ids plus the end-of-turn token of the chat
    template the model uses (its file's, else the architecture's fallback). ModelLoadError if the file's
    template does not compile."""
    from engine.chat import end_of_turn_ids, template_source

    t = Tokenizer(tok)
    t.architecture = architecture
    try:
        _, src = template_source(t)
    except ModelLoadError:
        return tok.eog_ids()
    return tuple(sorted({*tok.eog_ids(), *end_of_turn_ids(t, src)}))
