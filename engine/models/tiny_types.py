"""Tiny llama models of every GGUF block type: ``tiny-q4_0`` .. ``tiny-q6_k``, ``tiny-f16``, ``tiny-bf16``,
``tiny-f32``, each a real GGUF file written in code from a fixed seed (like ``engine.models.tiny``), byte-for-byte
stable (sha256 pinned in ``TYPED_SHA256``).

Shape (every variant): dim 256, 2 blocks, 4 query heads and 2 KV heads of 64, FFN 512, RoPE base 10000, RMSNorm
eps 1e-5, context 256, the tiny model's vocabulary (300 tokens, byte-level BPE), output tied to ``token_embd``.
256 columns because a K-quant row is whole 256-element super-blocks. Every matrix, the embedding table included,
is of the variant's type; norm gains are F32 except in ``tiny-f16`` / ``tiny-bf16``, whose gains are of that type.
attn_output and ffn_down have a std of OUT_STD / sqrt(fan in), so that the layers and not the input token's own
embedding decide the next token (with the tied output a small update makes every model repeat its input).

Weights are integer draws (``numpy.random.default_rng(seed)``) made into blocks:
* F32 / F16 / BF16: w = k * 2^-e with |k| small enough that the value is exact in the type;
* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: gguf's own quantizer (``gguf.quants.quantize``) of those F32 values;
* K-quants: written field by field (this module's encoders, checked by decoding with ``fixedpoint``): uniform q,
  sub-scales drawn so that each sub-block is roughly centred (Q4_K: dmin = 8 d, mn = 15 sc / 16; Q5_K: dmin =
  16 d, mn = 31 sc / 32; Q2_K: dmin = 2 d, mn = 3 lo / 4), fp16 d sized for a target std of 1/sqrt(fan in).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import tiny

TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "F32")
TYPED_NAMES = {f"tiny-{t.lower()}": t for t in TYPES}
DIM, N_LAYERS, N_HEADS, N_KV_HEADS, HEAD_DIM, FFN_DIM, CONTEXT = 256, 2, 4, 2, 64, 512, 256
SEED = 13
OUT_STD = 4.0  # std * sqrt(fan in) of attn_output and ffn_down: the layers, not the embedding, decide the next token
# sha256 of the file typed_gguf writes per type; a change to a model (or to the pinned gguf/numpy) shows here
TYPED_SHA256: dict[str, str] = {
    "Q4_0": "6607f205aa5ba262edf1fef5c1326117d095c6d1e78799bc6fc76f60ddfc2b01",
    "Q4_1": "099cbd3bc2da39682b873d8fcf4b21c7f72e7341df6aa5bb7a9b4a6b27dca204",
    "Q5_0": "de45bde655cbca99406010eec0b53dec4af9c66fe39ae95672919d6442af3661",
    "Q5_1": "ed788e249be4265be61ba314659a4b5cee9642dbfece0fe44f73a520478d1702",
    "Q8_0": "48fee7c91d85216629588e6b0c64cc7ecb8372fa0fdd8b4ae7458ca9b3260825",
    "Q2_K": "d0e6a74cf0a91dc5331873ac857c21007411db5aa1d4193d1c011331861669b2",
    "Q3_K": "5a5bd884f82a6772e286e012c5ca0706a304f9b4c12840a470e60afcca851ad6",
    "Q4_K": "5158983e53935677a77c2f9b5d26e99e9592fd5e8d05735bf6d9747e6f8d52f1",
    "Q5_K": "ca8caab13bfe8fbbb88e4c9e64135b4d57bef1dd6805f30bdf0124056bf21904",
    "Q6_K": "9c9941f496b76a67bda6767542379e7e11cf1fb4be90e8f898cff41fd7a3a899",
    "F16": "502829d30f1821bb4088a6f1fa5e28d02cce44f079553b0cf5b1cd77c41085ed",
    "BF16": "7f0027af5e031e2b2fb86b79cc4c4b1d3244478069dfb3df98ca7e3f7b4c4060",
    "F32": "c3e56fae19b091292b98ec91c110043b4244008f3afd19e351c7bb900141f567",
}


def _f16(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).astype("<f2").view(np.uint8).reshape(*np.shape(x), 2)


def _pack_k(gtype: str, q: np.ndarray, d: np.ndarray, aux: dict) -> np.ndarray:
    """Blocks (nb, bytes) of a K-quant from q (nb, 256) in the type's range, fp16-exact d (nb,) and the sub-scales."""
    nb = q.shape[0]
    if gtype in ("Q2_K", "Q3_K"):
        low = (q + (4 if gtype == "Q3_K" else 0)).astype(np.uint8)
        qv = low & 3
        r = qv.reshape(nb, 2, 4, 32)  # e = 128h + 32j + i -> qs[32h + i] bits 2j
        qs = (r[:, :, 0] | r[:, :, 1] << 2 | r[:, :, 2] << 4 | r[:, :, 3] << 6).reshape(nb, 64)
        if gtype == "Q2_K":
            sc = (aux["lo"] | aux["hi"] << 4).astype(np.uint8)
            return np.concatenate([sc, qs, _f16(d), _f16(2 * d)], axis=1)
        hb = (low >> 2).reshape(nb, 8, 32)  # bit e // 32 of hmask[e % 32]
        hmask = np.zeros((nb, 32), np.uint8)
        for b in range(8):
            hmask |= hb[:, b] << b
        v = (aux["sc"] + 32).astype(np.uint8)  # 6 bits per sub-block
        scb = np.zeros((nb, 12), np.uint8)
        scb[:, :8] = (v[:, :8] & 15) | (v[:, 8:] & 15) << 4
        for m in range(4):
            for k in range(4):
                scb[:, 8 + m] |= ((v[:, m + 4 * k] >> 4) & 3) << (2 * k)
        return np.concatenate([hmask, qs, scb, _f16(d)], axis=1)
    if gtype in ("Q4_K", "Q5_K"):
        sc, mn = aux["sc"].astype(np.uint8), aux["mn"].astype(np.uint8)
        scb = np.zeros((nb, 12), np.uint8)
        scb[:, 0:4] = (sc[:, :4] & 63) | (sc[:, 4:] >> 4) << 6
        scb[:, 4:8] = (mn[:, :4] & 63) | (mn[:, 4:] >> 4) << 6
        scb[:, 8:12] = (sc[:, 4:] & 15) | (mn[:, 4:] & 15) << 4
        qq = q.astype(np.uint8).reshape(nb, 4, 2, 32)  # e = 64c + 32t + i
        qs = ((qq[:, :, 0] & 15) | (qq[:, :, 1] & 15) << 4).reshape(nb, 128)
        dmin = d * (8 if gtype == "Q4_K" else 16)
        head = [_f16(d), _f16(dmin), scb]
        if gtype == "Q5_K":
            qh = np.zeros((nb, 32), np.uint8)
            for c in range(4):
                qh |= ((qq[:, c, 0] >> 4) & 1) << (2 * c) | ((qq[:, c, 1] >> 4) & 1) << (2 * c + 1)
            head.append(qh)
        return np.concatenate(head + [qs], axis=1)
    # Q6_K: q + 32 in 0..63; e = 128h + 32j + i
    qv = (q + 32).astype(np.uint8).reshape(nb, 2, 4, 32)
    ql = np.concatenate(
        [(qv[:, :, 0] & 15) | (qv[:, :, 2] & 15) << 4, (qv[:, :, 1] & 15) | (qv[:, :, 3] & 15) << 4], axis=2
    ).reshape(nb, 128)
    qh = ((qv[:, :, 0] >> 4) | (qv[:, :, 1] >> 4) << 2 | (qv[:, :, 2] >> 4) << 4 | (qv[:, :, 3] >> 4) << 6).reshape(
        nb, 64
    )
    return np.concatenate([ql, qh, aux["sc"].astype(np.int8).view(np.uint8), _f16(d)], axis=1)


def _k_matrix(gtype: str, rng: np.random.Generator, rows: int, cols: int, std: float) -> np.ndarray:
    """A rows x cols K-quant matrix (uint8 (rows, bytes per row)) of roughly centred weights of about ``std``."""
    nb = rows * cols // 256
    spread = rng.integers(12, 21, nb) / 16  # per-super-block d varies by about +-25%
    if gtype == "Q2_K":
        q, lo = rng.integers(0, 4, (nb, 256)), rng.integers(8, 16, (nb, 16))
        aux, per = {"lo": lo, "hi": (3 * lo + 2) // 4}, 11.5 * 1.12
    elif gtype == "Q3_K":
        sc = rng.integers(12, 32, (nb, 16)) * rng.choice([-1, 1], (nb, 16))
        q, aux, per = rng.integers(-4, 4, (nb, 256)), {"sc": sc}, 22 * 2.29
    elif gtype in ("Q4_K", "Q5_K"):
        top = 16 if gtype == "Q4_K" else 32
        sc = rng.integers(40, 64, (nb, 8))
        mn = ((top - 1) * sc + top // 2) // top
        q, aux, per = rng.integers(0, top, (nb, 256)), {"sc": sc, "mn": mn}, 52 * (4.61 if top == 16 else 9.23)
    else:  # Q6_K
        sc = rng.integers(40, 128, (nb, 16)) * rng.choice([-1, 1], (nb, 16))
        q, aux, per = rng.integers(-32, 32, (nb, 256)), {"sc": sc}, 84 * 18.5
    d = np.asarray(std / per * spread, np.float32).astype(np.float16).astype(np.float32)
    return np.ascontiguousarray(_pack_k(gtype, q, d, aux).reshape(rows, -1))


def _float_values(rng: np.random.Generator, shape: tuple[int, ...], std: float, gtype: str) -> np.ndarray:
    """float32 w = k * 2^-e, k uniform with |k| < 2^7 (exact in F32, F16 and BF16), std about ``std``."""
    e = 0
    while 73 * 2.0**-e > std:  # uniform on [-127, 127] * 2^-e has std 73 * 2^-e
        e += 1
    return (rng.integers(-127, 128, shape) * 2.0**-e).astype(np.float32)


def _matrix(gtype: str, rng: np.random.Generator, rows: int, cols: int, std: float) -> tuple[np.ndarray, str]:
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    if gtype in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"):
        return _k_matrix(gtype, rng, rows, cols, std), gtype
    w = _float_values(rng, (rows, cols), std, gtype)
    if gtype == "F32":
        return w, "F32"
    if gtype == "F16":
        return w.astype(np.float16), "F16"
    raw = np.ascontiguousarray(quantize(w, GGMLQuantizationType[gtype])).view(np.uint8)
    return raw.reshape(rows, -1), gtype


def typed_spec(gtype: str) -> tuple[dict[str, tuple[Any, Any, Any]], dict[str, tuple[np.ndarray, str]]]:
    """The ``tiny-<gtype>`` model's content, before serialisation: (metadata, tensors) as ``tiny.tiny_spec``."""
    from engine.models.llama import LlamaConfig
    from engine.loaders import expected_tensor_shapes

    if gtype not in TYPES:
        raise ValueError(f"no tiny model of type {gtype!r} (types: {', '.join(TYPES)})")
    kv, _ = tiny.tiny_spec()
    name = f"openbrains-tiny-{gtype.lower()}-v1"
    dims = {
        "general.name": name,
        "llama.block_count": N_LAYERS,
        "llama.context_length": CONTEXT,
        "llama.embedding_length": DIM,
        "llama.feed_forward_length": FFN_DIM,
        "llama.attention.head_count": N_HEADS,
        "llama.attention.head_count_kv": N_KV_HEADS,
        "llama.rope.dimension_count": HEAD_DIM,
    }
    kv = {k: ((dims[k],) + v[1:] if k in dims else v) for k, v in kv.items()}
    tokens, _ = tiny.tiny_vocab()
    cfg = LlamaConfig(
        name=name,
        n_layers=N_LAYERS,
        dim=DIM,
        ffn_dim=FFN_DIM,
        n_heads=N_HEADS,
        n_kv_heads=N_KV_HEADS,
        head_dim=HEAD_DIM,
        vocab_size=len(tokens),
        context_length=CONTEXT,
        rope_base_bits=0x461C4000,
        rms_eps_bits=0x3727C5AC,
        tied_output=True,
        eos_id=2,
    )
    rng = np.random.default_rng(SEED + TYPES.index(gtype))
    tensors: dict[str, tuple[np.ndarray, str]] = {}
    for tname, shape in expected_tensor_shapes(cfg).items():
        if len(shape) == 1:
            if gtype == "BF16":  # 1 + j/128: exact in bf16's 7 fraction bits
                g = (1.0 + rng.integers(-32, 33, size=shape[0]) / 128).astype(np.float32)
                bits = (g.view(np.uint32) >> 16).astype("<u2")
                tensors[tname] = (bits.view(np.uint8), "BF16")
            else:
                g = (1.0 + rng.integers(-64, 65, size=shape[0]) / 256).astype(np.float32)
                tensors[tname] = (g.astype(np.float16), "F16") if gtype == "F16" else (g, "F32")
            continue
        rows, cols = shape
        out_proj = tname.endswith(("attn_output.weight", "ffn_down.weight"))
        std = 1.0 if tname == "token_embd.weight" else (OUT_STD if out_proj else 1.0) / np.sqrt(cols)
        tensors[tname] = _matrix(gtype, rng, rows, cols, float(std))
    return kv, tensors


def build_typed_gguf(gtype: str, path: str | os.PathLike[str]) -> Path:
    """Write ``tiny-<gtype>`` to ``path`` atomically (a temporary file in the same directory, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        tiny.write_gguf(tmp, *typed_spec(gtype))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def typed_path(name: str) -> Path:
    """Path of the ``tiny-<type>`` GGUF in the cache, (re)built if missing or not byte-identical to its pin.
    ModelLoadError if the cache is unwritable or a fresh build differs from the pin."""
    from engine.errors import ModelLoadError

    gtype = TYPED_NAMES[name]
    p = tiny.cache_dir() / f"{name}-v1.gguf"
    want = TYPED_SHA256.get(gtype)
    if p.is_file() and _sha256(p) == want:
        return p
    try:
        build_typed_gguf(gtype, p)
    except OSError as e:
        raise ModelLoadError(
            f"cannot write {name} to {p}: {e.strerror or e} (set OBRAIN_CACHE to a writable directory)"
        ) from None
    got = _sha256(p)
    if got != want:
        raise ModelLoadError(
            f"{p}: {name} built here has sha256 {got}, not the pinned {want}; are gguf and numpy the pinned versions?"
        )
    return p


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()
