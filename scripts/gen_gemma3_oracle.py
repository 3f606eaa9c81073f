#!/usr/bin/env python3
"""Write llama.cpp's greedy tokens for Gemma 3 270M on the prompt set: tests/vectors/gemma3_llamacpp.json.

    .venv/bin/python scripts/gen_gemma3_oracle.py [--llamacpp DIR] [--venv-python PY] [--max-new-tokens 32]

The oracle is llama.cpp itself (llama-cpp-python 0.3.36 from ../shared/peers/llamacpp, run in its own venv as
a child process: never a dependency of the project). For every prompt of tests/data/prompts.txt, in Gemma's
chat turn format ``<start_of_turn>user\\n{prompt}<end_of_turn>\\n<start_of_turn>model\\n`` and in the plain
format ``Question: {prompt}\\nAnswer:`` (the file is the base model: see TEMPLATES), BOS first, llama.cpp
tokenizes (special tokens parsed) and decodes greedily (argmax of its logits, lowest id on ties) until
``<end_of_turn>`` (106), ``<eos>`` (1) or N new tokens. The file records per case the prompt ids, the greedy
tokens, and llama.cpp's logit margin top1 - top2 at each generated position (a small margin explains
a float reference that picks the runner-up). tests/test_reference_gemma3.py checks the float reference
against it.

Needs the llama venv (README in DIR): numpy, typing-extensions, diskcache, jinja2 and DIR/llpkg on
PYTHONPATH. Exit codes: 0 written, 2 bad input (no prompts, no GGUF), 3 llama.cpp failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "tests" / "vectors" / "gemma3_llamacpp.json"
PROMPTS = ROOT / "tests" / "data" / "prompts.txt"
# The package holds the pretrained (base) Gemma 3 270M, not the instruction-tuned one: the file has no chat
# template, and in the chat turn format llama.cpp itself repeats the question instead of answering. The plain
# question/answer format is what the base model answers ("Answer: Paris"). Both are recorded.
TEMPLATES = {
    "chat": "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n",
    "qa": "Question: {}\nAnswer:",
}
STOP = (106, 1)  # <end_of_turn>, <eos>

# Runs in the llama venv: JSON on stdin {"model", "prompts", "n", "stop"} -> JSON on stdout.
CHILD = r"""
import json, sys
import numpy as np
import llama_cpp
from llama_cpp import Llama
req = json.load(sys.stdin)
llm = Llama(model_path=req["model"], n_ctx=2048, n_threads=1, n_threads_batch=1, n_batch=512, verbose=False)
out = []
for text in req["prompts"]:
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    llm.reset()
    llm.eval(ids)
    toks, margins = [], []
    for _ in range(req["n"]):
        lp = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        z = np.ctypeslib.as_array(lp, shape=(llm.n_vocab(),)).astype(np.float64)
        t = int(np.argmax(z))
        top2 = np.partition(z, -2)[-2:]
        toks.append(t)
        margins.append(round(float(top2[1] - top2[0]), 4))
        if t in req["stop"]:
            break
        llm.eval([t])
    out.append({"ids": [int(i) for i in ids], "tokens": toks, "margins": margins,
                "text": llm.detokenize([t for t in toks if t not in req["stop"]]).decode("utf-8", "replace")})
json.dump({"llama_cpp": llama_cpp.__version__, "results": out}, sys.stdout)
"""


def default_llamacpp() -> Path:
    for base in (ROOT.parent, ROOT.parent.parent, Path("/work")):
        d = base / "shared" / "peers" / "llamacpp"
        if d.is_dir():
            return d
    return ROOT.parent / "shared" / "peers" / "llamacpp"


def usable_pkg(pkg: Path, tmp: Path) -> Path:
    """pkg itself, or a copy in tmp whose library symlinks are restored (a copy of the shared folder can
    hold each symlink as a small text file naming its target)."""
    lib = pkg / "llama_cpp" / "lib"
    links = [p for p in lib.iterdir() if p.is_file() and p.stat().st_size < 256 and ".so" in p.name]
    if not links:
        return pkg
    dst = tmp / "llpkg"
    shutil.copytree(pkg, dst, symlinks=True)
    for p in links:
        target = p.read_text().strip()
        q = dst / "llama_cpp" / "lib" / p.name
        q.unlink()
        q.symlink_to(target)
    return dst


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llamacpp", type=Path, default=default_llamacpp(), help="the llama.cpp peer folder")
    ap.add_argument("--venv-python", default="/tmp/llvenv/bin/python", help="python of the llama venv")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--prompts", type=Path, default=PROMPTS)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    try:
        prompts = [p.strip() for p in a.prompts.read_text(encoding="utf-8").splitlines() if p.strip()]
        from engine.reference_gemma3 import gemma3_path

        model = gemma3_path()
    except Exception as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not prompts or a.max_new_tokens < 1:
        print("error: no prompts, or --max-new-tokens < 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        try:
            pkg = usable_pkg(a.llamacpp / "llpkg", Path(tmp))
        except OSError as e:
            print(f"error: llama.cpp package at {a.llamacpp}: {e}", file=sys.stderr)
            return 2
        env = dict(os.environ, PYTHONPATH=str(pkg), LLAMA_CPP_LIB_PATH=str(pkg / "llama_cpp" / "lib"))
        texts = [(name, p, t.format(p)) for name, t in TEMPLATES.items() for p in prompts]
        req = {"model": str(model), "prompts": [t for _, _, t in texts], "n": a.max_new_tokens}
        req["stop"] = list(STOP)
        try:
            r = subprocess.run(
                [a.venv_python, "-c", CHILD], input=json.dumps(req), capture_output=True, text=True, env=env
            )
        except OSError as e:
            print(f"error: cannot run {a.venv_python}: {e}", file=sys.stderr)
            return 3
        if r.returncode:
            print(f"error: llama.cpp failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 3
        res = json.loads(r.stdout)
    doc = {
        "generator": "scripts/gen_gemma3_oracle.py",
        "model": model.name,
        "llama_cpp": res["llama_cpp"],
        "templates": TEMPLATES,
        "max_new_tokens": a.max_new_tokens,
        "stop": list(STOP),
        "cases": [{"template": n, "prompt": p, **c} for (n, p, _), c in zip(texts, res["results"])],
    }
    head = {k: v for k, v in doc.items() if k != "cases"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]  # one case a line: diffable
    text += ',\n "cases": [\n' + ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in doc["cases"])
    a.out.write_text(text + "\n ]\n}\n", encoding="utf-8")
    print(f"wrote {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}: {len(texts)} cases")
    for c in doc["cases"]:
        print(f"  {c['template']:4s} {c['prompt'][:36]:36s} -> {c['text'][:64]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
