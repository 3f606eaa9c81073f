#!/usr/bin/env python3
"""Write tests/vectors/tokenizer_<model>.json: llama.cpp's own token ids for a few hundred strings per bundled
vocabulary (the oracle for engine.tokenizer).

    .venv/bin/python scripts/gen_tokenizer_vectors.py [--only NAME ...] [--check]
        [--llama-python /tmp/llvenv/bin/python] [--llama-pkg ../shared/peers/llamacpp/llpkg]

llama.cpp is never a dependency of the project: this script runs llama-cpp-python (vocab_only=True) from its
own venv (../shared/peers/llamacpp/README.md says how to make one) in a child process, in "worker" mode of
this same file, which imports nothing of ours. Per model the vector file holds the GGUF's sha256, the
vocabulary size, BOS/EOS, whether llama.cpp adds BOS, its end-of-generation set (``llama_vocab_is_eog`` over
every id), the sha256 of every token's piece (``llama_token_to_piece`` with and without special), and for
each string its ids with special-token parsing (``parse_special=True``: what ``Tokenizer.encode`` does) and
without (``encode(special=False)``); never with BOS added (``add_special=False``).

Strings: a fixed list (Unicode, CJK, emoji, code, whitespace runs, numbers, leading spaces, contractions),
the model's own control-token texts in context, and seeded random mixtures of tricky fragments. Strings
holding a byte the vocabulary has no token for are left out (llama.cpp drops such bytes silently; we refuse
them, see docs/models.md) and counted in the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "vectors"
SEED = 20261201
N_RANDOM = 200


def _worker(model_path: str) -> None:
    """Child process (llama-cpp-python's venv): JSON {"texts": [...]} on stdin -> the oracle's answers."""
    import ctypes

    import llama_cpp

    req = json.loads(sys.stdin.read())
    llm = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n = llama_cpp.llama_vocab_n_tokens(vocab)

    def piece(t: int, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(256)
        k = llama_cpp.llama_token_to_piece(vocab, t, buf, 256, 0, special)
        if k < 0:
            buf = ctypes.create_string_buffer(-k)
            k = llama_cpp.llama_token_to_piece(vocab, t, buf, -k, 0, special)
        return buf.raw[:k]

    def tok(text: str, special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = 2 * len(data) + 16
        arr = (llama_cpp.llama_token * cap)()
        k = llama_cpp.llama_tokenize(vocab, data, len(data), arr, cap, False, special)
        assert k >= 0, k
        return list(arr[:k])

    def digest(special: bool) -> str:
        h = hashlib.sha256()
        for t in range(n):
            p = piece(t, special)
            h.update(len(p).to_bytes(4, "little") + p)
        return h.hexdigest()

    out = {
        "n_vocab": n,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "eog": [t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)],
        "pieces_sha256": digest(True),
        "pieces_plain_sha256": digest(False),
        "cases": [{"text": s, "ids": tok(s, True), "ids_plain": tok(s, False)} for s in req["texts"]],
    }
    print(json.dumps(out))


FIXED = [
    "Hello world",
    "What is the capital of France?",
    "hello",
    " hello",
    "  hello",
    "hello ",
    "hello  ",
    " ",
    "  ",
    "   ",
    "\n",
    "\n\n",
    "\n\n\n",
    "\t",
    " \n ",
    "a\nb",
    "a \nb",
    "a\n\nb",
    "a  b   c    d     e",
    "   leading and trailing   ",
    "tabs\tand\nnewlines\n\n\n  x\r\n",
    "\r\n\r\n",
    "line1\nline2\n",
    "In 2024, 1234567 people paid $3.50 each (or 3,50 €).",
    "a1b2c3 x99y 0.000001",
    " 1 22  333 4444 55555",
    "1234567890",
    "3.14159265358979",
    "-42 +7 1e-5 0x1F 0b1010",
    "don't you're I'll we've THEY'RE she's I'm he'd",
    "DON'T YOU'RE I'LL",
    "'s 't 're 've 'm 'll 'd",
    "emoji 🤗🤗 and a family 👩‍👩‍👧 and flags 🇫🇷",
    "🤗",
    "👍🏽",
    "Ünïcödé façade naïve — “quotes” ‘single’",
    "中文字符 日本語 한국어 and ١٢٣ arabic-indic digits",
    "中文",
    "東京は日本の首都です。",
    "Привет, мир!",
    "Γειά σου Κόσμε",
    "שלום עולם",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "½ ² Ⅻ ⅷ",
    "x = y+z; // comment\n\tif (a<=b) { return a->c; }",
    "def f(x):\n    return x ** 2\n",
    "for (int i = 0; i < n; ++i) {\n        sum += a[i];\n}",
    '<html><body class="x">hi</body></html>',
    "SELECT * FROM users WHERE id = 1;",
    "...!!!???   ---",
    "!!!",
    "a.b,c;d:e",
    "\u00a0non-breaking\u2009thin\u3000ideographic",
    "zero\u200bwidth",
    "combining e\u0301 and \U0001d54f math",
    "Ａｂｃ ｆｕｌｌｗｉｄｔｈ",
    "ŉ ǅ ﬁ ß",
    "The quick brown fox jumps over the lazy dog.",
    "the the the the",
    "Paris",
    " Paris",
    "▁already▁escaped",
    "<0x41>",
    "[INST] hi [/INST]",
    "<s>",
    "</s>",
    "<unk>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|begin_of_text|>",
    "<|im_start|>user\nhi<|im_end|>\n",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|im_start|><|im_end|>",
    "x<|im_end|>y",
    " <|im_end|> ",
    "<|im_end",
    "<<|im_end|>>",
    "a" * 40,
    "ab" * 25,
    " " * 17,
    "\n" * 9,
    "ÿþ",
    "ctrl-d \x04 and del \x7f and nul \x00",
    "bell\x07 escape\x1b[0m",
]
FRAGMENTS = [
    "a",
    "b",
    "e",
    "t",
    "h",
    "the",
    "he",
    "in",
    "ing",
    "er",
    " ",
    "  ",
    "\n",
    "\t",
    "1",
    "23",
    "456",
    "7890",
    ".",
    ",",
    "'",
    "'s",
    "'ll",
    "!",
    "?",
    "é",
    "€",
    "🤗",
    "中",
    "文",
    "Ⅻ",
    "\u0301",
    "\u00a0",
    "\u3000",
    "<",
    ">",
    "|",
    "[",
    "]",
    "/",
    "_",
    "▁",
    "Paris",
    " France",
    "<|im_end|>",
    "<end_of_turn>",
    "</s>",
    "<s>",
]


def texts_for(specials: list[str]) -> list[str]:
    """FIXED, the model's control-token texts in context, and N_RANDOM seeded mixtures (all distinct)."""
    out = list(FIXED)
    for s in specials[:12]:
        out += [s, f"hi{s}there", f" {s} ", f"{s}\n{s}"]
    rng = random.Random(SEED)
    for _ in range(N_RANDOM):
        out.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14))))
    return list(dict.fromkeys(out))


def models() -> dict[str, Path]:
    from engine.store import bundled_path

    return {name: bundled_path(name) for name in ("tiny", "tiny-spm", "tiny-llama3", "tiny-qwen2", "smollm2", "gemma3")}


def _lib_dir(pkg: Path) -> Path:
    """The package's lib/ if its .so links are real; else a temporary dir of proper symlinks (a copy that
    stored symlinks as small text files naming their targets)."""
    lib = pkg / "llama_cpp" / "lib"
    if (lib / "libllama.so").stat().st_size > 1024:
        return lib
    tmp = Path(tempfile.mkdtemp(prefix="llamalib-"))
    real = {p.name: p for p in lib.iterdir() if p.stat().st_size > 1024}
    for p in lib.iterdir():
        target = p
        while target.name not in real:
            target = lib / target.read_text().strip()
        (tmp / p.name).symlink_to(real[target.name])
    return tmp


def oracle(path: Path, texts: list[str], py: str, pkg: Path) -> dict:
    lib = _lib_dir(pkg)
    env = {
        **os.environ,
        "PYTHONPATH": str(pkg),
        "LLAMA_CPP_LIB_PATH": str(lib),
        "LD_LIBRARY_PATH": str(lib),
    }
    r = subprocess.run(
        [py, __file__, "--worker", str(path)],
        input=json.dumps({"texts": texts}),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if r.returncode:
        sys.exit(f"llama.cpp worker failed on {path}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout)


def build(name: str, path: Path, py: str, pkg: Path) -> dict:
    from engine.loaders import load_vocab
    from engine.tokenizer import Tokenizer

    meta = load_vocab(path)  # any architecture: only the vocabulary is read
    tok = Tokenizer.from_meta(meta)
    specials = [meta.tokens[i] for i in tok.special_ids if i < len(meta.tokens)]
    specials = sorted(specials, key=lambda s: ("unused" in s, len(s)))
    texts, dropped = [], 0
    for s in texts_for(specials):
        if tok.unrepresentable(s):
            dropped += 1
        else:
            texts.append(s)
    o = oracle(path, texts, py, pkg)
    return {
        "model": name,
        "file": path.name,
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "oracle": "llama-cpp-python 0.3.36, vocab_only=True",
        "dropped_unrepresentable": dropped,
        **o,
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
        return 0
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="model names (default: every bundled vocabulary)")
    ap.add_argument("--check", action="store_true", help="compare with the committed files; exit 1 on change")
    ap.add_argument("--llama-python", default=os.environ.get("LLAMA_PYTHON", "/tmp/llvenv/bin/python"))
    peers = [d / "shared" / "peers" / "llamacpp" / "llpkg" for d in (ROOT.parent, ROOT.parent.parent)]
    ap.add_argument("--llama-pkg", default=str(next((p for p in peers if p.is_dir()), peers[0])))
    a = ap.parse_args()
    todo = models()
    changed = []
    for name in a.only or list(todo):
        vec = build(name, todo[name], a.llama_python, Path(a.llama_pkg))
        p = OUT / f"tokenizer_{name}.json"
        text = json.dumps(vec, indent=1, ensure_ascii=False) + "\n"
        if a.check:
            if not p.exists() or p.read_text() != text:
                changed.append(name)
        else:
            p.write_text(text)
        print(f"{name}: {len(vec['cases'])} strings, eog {vec['eog']}, dropped {vec['dropped_unrepresentable']}")
    if changed:
        print(f"changed: {changed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
