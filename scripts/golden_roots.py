#!/usr/bin/env python3
"""Recompute the golden trace roots of the bundled models and write (or --check) tests/data/golden_roots.json.

A changed root means the numerics changed: that must be deliberate (bump fixedpoint.NUMERICS_VERSION).

    scripts/golden_roots.py [--check] [--only tiny|smollm2|tiny-gemma3|gemma3]
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.generate import GenSettings
from engine.runtime import IntegerLM
from fixedpoint import NUMERICS_VERSION
from prover.commit.model import hex32, model_commitment
from prover.runner import traced_generate

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "golden_roots.json")

CASES = {
    "tiny": dict(model="tiny", prompt_ids=[5, 17, 99, 120], chat=None, max_new_tokens=3),
    "smollm2": dict(model="smollm2", prompt_ids=None, chat="What is the capital of France?", max_new_tokens=12),
    "tiny-gemma3": dict(model="tiny-gemma3", prompt_ids=[1, 365, 359, 275, 278, 272], chat=None, max_new_tokens=3),
    # the base Gemma 3 270M answers in the plain question/answer form (docs/gemma3.md), with BOS
    "gemma3": dict(model="gemma3", prompt_ids=None, plain="Question: What is the capital of France?\nAnswer:",
                   max_new_tokens=3),
}  # fmt: skip


def compute(name: str) -> dict:
    c = CASES[name]
    lm = IntegerLM.load(c["model"])
    if c["prompt_ids"]:
        ids = c["prompt_ids"]
    elif c.get("plain"):
        ids = lm.encode_prompt(c["plain"])
    else:
        ids = lm.encode_prompt(c["chat"], chat=True, template="chatml")
    run = traced_generate(lm, ids, GenSettings(max_new_tokens=c["max_new_tokens"]))
    return {
        "numerics_version": NUMERICS_VERSION,
        "model_root": hex32(model_commitment(lm).model_root),
        "prompt_ids": ids,
        "max_new_tokens": c["max_new_tokens"],
        "tokens": run.result.tokens,
        "text": lm.tokenizer.decode([t for t in run.result.tokens if t != lm.config.eos_id]),
        "step_count": run.tracer.step_count,
        "trace_root": hex32(run.tracer.root()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the checked-in file; exit 1 on change")
    ap.add_argument("--only", choices=sorted(CASES))
    a = ap.parse_args()
    old = json.loads(Path(PATH).read_text()) if os.path.exists(PATH) else {}
    new = dict(old)
    for name in [a.only] if a.only else CASES:
        new[name] = compute(name)
        print(f"{name}: {new[name]['trace_root']}  {new[name]['text']!r}")
    if a.check:
        bad = [n for n in new if old.get(n) != new[n]]
        if bad:
            print(f"golden roots changed: {bad}")
            return 1
        return 0
    with open(PATH, "w") as f:
        json.dump(new, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
