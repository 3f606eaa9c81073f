"""The tiny test model: a small llama written as a real GGUF file from a fixed seed, byte-for-byte stable.

Shape: dim 64, 2 blocks, 4 query heads, 2 KV heads, head dim 16, FFN 128, RoPE base 10000,
RMSNorm eps 1e-5, context 256, vocabulary 300, output tied to ``token_embd``.

Weights are drawn as integers (``numpy.random.default_rng(0)``, integer draws only, so no libm is
involved) and packed straight into ggml blocks whose fp16 scales are exactly representable:

* ``token_embd``: Q8_0, w = d*q, d = k*2^-12 (k in 48..79), q in [-127, 127]: |w| up to ~2.5;
* matrices: Q4_1, w = d*q + m, d = k*2^-11 with k around 2048*s/4.6 for a target std s =
  1/sqrt(fan_in) (halved for attn_output and ffn_down), m ~ -7.5d; ``blk.1.ffn_down`` is Q4_0
  (w = d*(q-8), d of random sign) to exercise that type;
* norms: F32, 1 + j/256 with j in [-64, 64].

A few blocks are edge cases for exact weight import: blk.0.attn_q row 0 has a block with subnormal
fp16 d and m and a block with d = 0 (constant m); blk.1.ffn_down row 0 block 0 has d = -0.0;
token 0's first embedding block has a subnormal d.

The tokenizer is byte-level BPE (model "gpt2", pre "smollm"): ids 0-2 are the control tokens
<|endoftext|>, <|im_start|>, <|im_end|> (eos), 3-258 the 256 byte tokens in byte order, 259-299 the
results of ``MERGES`` in rank order.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

TINY_NAME = "openbrains-tiny-v1"
TINY_FILE = "tiny-v1.gguf"
# sha256 of the file build_tiny_gguf writes; a change to the model (or to the pinned gguf/numpy) shows here
TINY_SHA256 = "1495e159982c1d4b0780ac7326134879914aab9e39d36bb4002d3a01238d96ee"

DIM, N_LAYERS, N_HEADS, N_KV_HEADS, HEAD_DIM, FFN_DIM, CONTEXT = 64, 2, 4, 2, 16, 128, 256
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MERGES = (
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
    "e s",
    "Ġ w",
    "a n",
    "in g",
    "Ġ Ġ",
    "Ġ f",
    "Ġ p",
    "Ġ b",
    "e d",
    "o u",
    "Ġ m",
    "a l",
    "Ġ d",
    "i t",
    "Ġa n",
    "Ġan d",
    "Ġo f",
    "Ġi s",
    "Ġc a",
    "Ġca p",
    "P a",
    "Pa r",
    "Par is",
    "Ċ Ċ",
    "Ġ T",
)
CHAT_TEMPLATE_JINJA = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_vocab() -> tuple[list[str], list[int]]:
    """(tokens, token types) of the tiny vocabulary, in id order."""
    from engine.tokenizer import BYTE_TO_UNICODE

    tokens = list(SPECIAL_TOKENS) + [BYTE_TO_UNICODE[b] for b in range(256)]
    tokens += [m.replace(" ", "") for m in MERGES]
    return tokens, [3] * len(SPECIAL_TOKENS) + [1] * (len(tokens) - len(SPECIAL_TOKENS))


def _f16_bytes(x: np.ndarray) -> np.ndarray:
    h = x.astype("<f2")
    assert np.array_equal(h.astype(np.float64), x), "fp16 scale not exactly representable"
    return h.view(np.uint8).reshape(len(x), 2)


def _nibbles(q: np.ndarray) -> np.ndarray:
    # ggml layout: byte j holds element j (low nibble) and element j+16 (high nibble)
    q = q.astype(np.uint8)
    return q[:, :16] | (q[:, 16:] << 4)


def _q8_0(rng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nb = rows * cols // 32
    return rng.integers(48, 80, size=nb) * 2.0**-12, rng.integers(-127, 128, size=(nb, 32)), np.zeros(0)


def _q4(rng: np.random.Generator, rows: int, cols: int, std: float, signed_d: bool):
    nb = rows * cols // 32
    kc = max(4, round(2048 * std / 4.61))  # uniform q in 0..15 has std 4.61: d = std/4.61
    k = rng.integers(kc * 3 // 4, kc * 5 // 4 + 1, size=nb)
    q = rng.integers(0, 16, size=(nb, 32))
    if signed_d:
        return k * rng.choice([-1.0, 1.0], size=nb) * 2.0**-11, q, np.zeros(0)
    m = -(k * 15 + rng.integers(-16, 17, size=nb)) * 2.0**-12  # about -7.5 d: centred weights
    return k * 2.0**-11, q, m


def _pack(ggml_type: str, d: np.ndarray, q: np.ndarray, m: np.ndarray, rows: int) -> np.ndarray:
    if ggml_type == "Q8_0":
        blocks = np.concatenate([_f16_bytes(d), q.astype(np.int8).view(np.uint8)], axis=1)
    elif ggml_type == "Q4_1":
        blocks = np.concatenate([_f16_bytes(d), _f16_bytes(m), _nibbles(q)], axis=1)
    else:
        blocks = np.concatenate([_f16_bytes(d), _nibbles(q)], axis=1)
    return np.ascontiguousarray(blocks.reshape(rows, -1))


def tiny_tokenizer_kv() -> dict[str, tuple[Any, Any, Any]]:
    """The tiny model's ``tokenizer.*`` metadata entries, in file order."""
    from gguf import GGUFValueType as T

    tokens, types = tiny_vocab()
    return {
        "tokenizer.ggml.model": ("gpt2", T.STRING, None),
        "tokenizer.ggml.pre": ("smollm", T.STRING, None),
        "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
        "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
        "tokenizer.ggml.merges": (list(MERGES), T.ARRAY, T.STRING),
        "tokenizer.ggml.bos_token_id": (1, T.UINT32, None),
        "tokenizer.ggml.eos_token_id": (2, T.UINT32, None),
        "tokenizer.ggml.unknown_token_id": (0, T.UINT32, None),
        "tokenizer.ggml.padding_token_id": (2, T.UINT32, None),
        "tokenizer.ggml.add_bos_token": (False, T.BOOL, None),
        "tokenizer.chat_template": (CHAT_TEMPLATE_JINJA, T.STRING, None),
    }


def tiny_spec(
    name: str = TINY_NAME, tokenizer_kv: dict[str, tuple[Any, Any, Any]] | None = None
) -> tuple[dict[str, tuple[Any, Any, Any]], dict[str, tuple[np.ndarray, str]]]:
    """The tiny model's content, before serialisation: (metadata, tensors). With ``tokenizer_kv`` (the
    ``tokenizer.*`` entries of another vocabulary, engine.models.tiny_vocabs) the same model with that
    vocabulary: its embedding has one row per token, drawn from the same seed.

    metadata: key -> (value, GGUFValueType, array item type or None), in file order.
    tensors: name -> (array, ggml type name), in file order; quantized tensors are uint8
    (rows, bytes per row) arrays of ggml blocks, F32 ones float32 (n,). Tests mutate copies of
    these to write broken variants with ``write_gguf``."""
    from gguf import GGUFValueType as T

    from engine.models.llama import LlamaConfig
    from engine.loaders import expected_tensor_shapes

    tok_kv = tiny_tokenizer_kv() if tokenizer_kv is None else tokenizer_kv
    n_tokens = len(tok_kv["tokenizer.ggml.tokens"][0])
    kv: dict[str, tuple[Any, Any, Any]] = {
        "general.architecture": ("llama", T.STRING, None),
        "general.name": (name, T.STRING, None),
        "general.quantization_version": (2, T.UINT32, None),
        "llama.block_count": (N_LAYERS, T.UINT32, None),
        "llama.context_length": (CONTEXT, T.UINT32, None),
        "llama.embedding_length": (DIM, T.UINT32, None),
        "llama.feed_forward_length": (FFN_DIM, T.UINT32, None),
        "llama.attention.head_count": (N_HEADS, T.UINT32, None),
        "llama.attention.head_count_kv": (N_KV_HEADS, T.UINT32, None),
        "llama.rope.freq_base": (10000.0, T.FLOAT32, None),
        "llama.attention.layer_norm_rms_epsilon": (1e-5, T.FLOAT32, None),
        "llama.rope.dimension_count": (HEAD_DIM, T.UINT32, None),
        "llama.vocab_size": (n_tokens, T.UINT32, None),
        **tok_kv,
    }
    cfg = LlamaConfig(
        name=name,
        n_layers=N_LAYERS,
        dim=DIM,
        ffn_dim=FFN_DIM,
        n_heads=N_HEADS,
        n_kv_heads=N_KV_HEADS,
        head_dim=HEAD_DIM,
        vocab_size=n_tokens,
        context_length=CONTEXT,
        rope_base_bits=0x461C4000,
        rms_eps_bits=0x3727C5AC,
        tied_output=True,
        eos_id=0,
    )
    rng = np.random.default_rng(0)
    tensors: dict[str, tuple[np.ndarray, str]] = {}
    for name, shape in expected_tensor_shapes(cfg).items():
        if len(shape) == 1:
            tensors[name] = ((1.0 + rng.integers(-64, 65, size=shape[0]) / 256).astype(np.float32), "F32")
            continue
        rows, cols = shape
        if name == "token_embd.weight":
            typ, (d, q, m) = "Q8_0", _q8_0(rng, rows, cols)
            d[0] = 3 * 2.0**-24  # subnormal fp16 scale
        else:
            out_proj = name.endswith(("attn_output.weight", "ffn_down.weight"))
            typ = "Q4_0" if name == "blk.1.ffn_down.weight" else "Q4_1"
            d, q, m = _q4(rng, rows, cols, (0.5 if out_proj else 1.0) / np.sqrt(cols), typ == "Q4_0")
            if name == "blk.0.attn_q.weight":
                d[0], m[0] = 2.0**-24, -7 * 2.0**-24  # subnormal d and m
                d[1], m[1] = 0.0, 5 * 2.0**-8  # a constant block
            if typ == "Q4_0":
                d[0] = -0.0
        tensors[name] = (_pack(typ, d, q, m, rows), typ)
    return kv, tensors


def write_gguf(
    path: str | os.PathLike[str], kv: dict[str, tuple[Any, Any, Any]], tensors: dict[str, tuple[np.ndarray, str]]
) -> None:
    """Write a GGUF file with ``gguf.GGUFWriter`` from a ``tiny_spec``-shaped description."""
    from gguf import GGMLQuantizationType, GGUFWriter

    arch = kv.get("general.architecture", ("llama",))[0]
    w = GGUFWriter(os.fspath(path), arch=arch)
    if "general.architecture" not in kv:
        w.kv_data[0].clear()
    for key, (val, vtype, sub) in kv.items():
        if key != "general.architecture":
            w.add_key_value(key, val, vtype, sub_type=sub)
    for name, (arr, typ) in tensors.items():
        if typ in ("F32", "F16"):
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=GGMLQuantizationType[typ])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build_tiny_gguf(path: str | os.PathLike[str], spec=None) -> Path:
    """Write the tiny model (or ``spec``, a ``tiny_spec`` result) to ``path`` (atomically: a temporary file
    in the same directory, then renamed). Deterministic: the bytes are the same on every run and machine
    (see ``TINY_SHA256``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_gguf(tmp, *(spec or tiny_spec()))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def cache_dir() -> Path:
    """$OBRAIN_CACHE if set, else ~/.cache/openbrains."""
    env = os.environ.get("OBRAIN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "openbrains"


def tiny_path() -> Path:
    """Path of the tiny model's GGUF in the cache, (re)built if missing or not byte-identical to
    ``TINY_SHA256``. ModelLoadError if the cache is unwritable or a fresh build differs from the pin."""
    return cached_build(TINY_FILE, TINY_SHA256, tiny_spec)


def cached_build(file: str, sha256: str, spec) -> Path:
    """``cache_dir()/file``, (re)built from ``spec()`` unless it is there with the pinned ``sha256``."""
    from engine.errors import ModelLoadError

    p = cache_dir() / file
    if p.is_file() and _sha256(p) == sha256:
        return p
    try:
        build_tiny_gguf(p, spec())
    except OSError as e:
        raise ModelLoadError(
            f"cannot write the tiny model to {p}: {e.strerror or e} (set OBRAIN_CACHE to a writable directory)"
        ) from None
    got = _sha256(p)
    if got != sha256:
        raise ModelLoadError(
            f"{p}: the tiny model built here has sha256 {got}, not the pinned {sha256}; "
            "are gguf and numpy the pinned versions?"
        )
    return p


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()
