#!/usr/bin/env python3
"""llama.cpp (one thread) against the integer engine on the same SmolLM2 file, in turns: decode CPU ms a token at
given positions and prompt (prefill) tok/s. Optional and never a dependency: needs ../shared/peers/llamacpp and a
venv for it (its README).

    scripts/bench_peer.py [--positions 16,1000] [--window 8] [--prefill 64] [--rounds 2] [--json]
        [--peer DIR] [--peer-python /tmp/llvenv/bin/python]

The peer's package stores its shared-library symlinks as small text files; they are recreated as links in a
temporary copy. Each round runs llama.cpp, then our traced and untraced engines (alternating who goes first).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import _common
from _common import emit
from bench_engine import TEXT, IntEngine


def _default_peer() -> str:
    """shared/peers/llamacpp beside the checkout or beside the nearest parent that has one (a worktree in wt/)."""
    d = os.path.dirname(_common.ROOT)
    while not os.path.isdir(os.path.join(d, "shared", "peers", "llamacpp")) and os.path.dirname(d) != d:
        d = os.path.dirname(d)
    found = os.path.join(d, "shared", "peers", "llamacpp")
    return found if os.path.isdir(found) else os.path.join(os.path.dirname(_common.ROOT), "shared", "peers", "llamacpp")


PEER = _default_peer()


def _peer_pkg(peer: str) -> str:
    """A copy of the peer's llpkg whose .so symlinks are real links."""
    dst = tempfile.mkdtemp(prefix="llpkg-")
    shutil.copytree(os.path.join(peer, "llpkg"), dst, dirs_exist_ok=True)
    lib = os.path.join(dst, "llama_cpp", "lib")
    for f in os.listdir(lib):
        p = os.path.join(lib, f)
        if os.path.getsize(p) < 64 and not os.path.islink(p):
            with open(p) as fh:
                target = fh.read().strip()
            os.chmod(p, 0o644)
            os.remove(p)
            os.symlink(target, p)
    return dst


class Peer:
    def __init__(self, peer: str, python: str, gguf: str):
        pkg = _peer_pkg(peer)
        env = dict(os.environ, LLAMA_CPP_LIB_PATH=os.path.join(pkg, "llama_cpp", "lib"), PYTHONPATH=pkg)
        self.p = subprocess.Popen(
            [python, os.path.join(peer, "llama_worker.py"), gguf],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ask({"cmd": "load", "threads": 1})

    def ask(self, req: dict) -> dict:
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self) -> None:
        self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.p.stdin.close()
        self.p.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", default="16,1000")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--prefill", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--peer", default=PEER)
    ap.add_argument("--peer-python", default="/tmp/llvenv/bin/python")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.runtime import IntegerLM

    lm = IntegerLM.load("smollm2")
    peer = Peer(a.peer, a.peer_python, str(lm.loaded.source.path))
    base = lm.tokenizer.encode(TEXT)
    toks = (base * (lm.program.context // len(base) + 1))[: lm.program.context]
    res: dict = {}

    def add(key, v):
        res.setdefault(key, []).append(v)

    for r in range(a.rounds):
        for p in (int(x) for x in a.positions.split(",")):
            d = peer.ask({"cmd": "decode", "threads": 1, "ids": toks[:p], "n": a.window})
            add(("decode", p, "llama.cpp"), d["decode_cpu_s"] / a.window)
            for name in ("traced", "untraced") if r % 2 == 0 else ("untraced", "traced"):
                e = IntEngine(lm, name == "traced")
                e.block(toks[:p])
                c = time.process_time()
                for k in range(a.window):
                    e.step(toks[p + k])
                add(("decode", p, name), (time.process_time() - c) / a.window)
        d = peer.ask({"cmd": "decode", "threads": 1, "ids": toks[: a.prefill], "n": 1})
        add(("prefill", a.prefill, "llama.cpp (wall)"), d["prompt_s"] / a.prefill)
        for name in ("traced", "untraced"):
            e = IntEngine(lm, name == "traced")
            c = time.process_time()
            e.block(toks[: a.prefill])
            add(("prefill", a.prefill, name), (time.process_time() - c) / a.prefill)
    peer.close()
    rows = [
        {"what": f"{k[0]} @{k[1]}", "engine": k[2], "cpu_ms": 1000 * min(v), "tok_s": 1 / min(v)}
        for k, v in res.items()
    ]
    best = {k: min(v) for k, v in res.items()}
    summary = {}
    for p in (int(x) for x in a.positions.split(",")):
        summary[f"decode{p}_traced_vs_llamacpp"] = round(
            best[("decode", p, "llama.cpp")] / best[("decode", p, "traced")], 3
        )
    pk = ("prefill", a.prefill)
    summary["prefill_traced_vs_llamacpp"] = round(best[(*pk, "llama.cpp (wall)")] / best[(*pk, "traced")], 3)
    emit("llama.cpp vs the integer engine, SmolLM2", rows, summary, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
