#!/usr/bin/env python3
"""Fidelity of the integer engine to the float32 reference of its architecture on a prompt set.

    scripts/bench_accuracy.py [--prompts tests/data/prompts.txt] [--max-new-tokens 32] [--model smollm2|gemma3]
                              [--format chat|qa] [--json]

Prompt format: ``chat`` (the model's chat template) by default for files with a chat template; ``qa``
("Question: <prompt>\nAnswer:", as a plain prompt) for files without one, e.g. the base Gemma 3 270M, which
repeats the question in Gemma's turn format (docs/gemma3.md). The float reference is the architecture module's
``float_reference`` (engine.models).
Per prompt: both engines decode greedily (up to N tokens or a stop token); then both are teacher-forced on
the float reference's sequence and, at every generated position, their top-1 tokens are compared and
the KL divergence KL(p_float || p_int) of the softmaxed logits is taken (float math: measurement only).
Summary keys: top1_agreement, greedy_text_equal (fraction of prompts), mean_kl; rows: per prompt its
integer and float greedy texts.
"""

import argparse
import sys
import time

import _common  # noqa: F401
import numpy as np
from _common import emit


def softmax64(z):
    z = z.astype(np.float64) - z.max()
    e = np.exp(z)
    return e / e.sum()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", default="tests/data/prompts.txt", help="file with one prompt per line")
    ap.add_argument("--format", choices=["chat", "qa"], default=None, help="default: chat if the file has a template")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N prompts")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from engine.generate import GenSettings
    from engine.runtime import IntegerLM

    with open(a.prompts, encoding="utf-8") as f:
        prompts = [p.strip() for p in f if p.strip()]
    if a.limit:
        prompts = prompts[: a.limit]
    lm = IntegerLM.load(a.model)
    fm = lm.arch.float_reference(lm.loaded)
    fmt = a.format or ("chat" if lm.tokenizer.meta.chat_template else "qa")
    stops = set(lm.stop_ids)
    run = GenSettings(max_new_tokens=a.max_new_tokens).run_tensor()
    rows, agree, total, kls, equal = [], 0, 0, [], 0
    t0 = time.perf_counter()
    for prompt in prompts:
        if fmt == "chat":
            ids = lm.encode_prompt(prompt, chat=True, max_new_tokens=a.max_new_tokens)
        else:
            ids = lm.encode_prompt(f"Question: {prompt}\nAnswer:", max_new_tokens=a.max_new_tokens)
        ftoks = fm.generate(ids, a.max_new_tokens, stop_ids=tuple(stops))
        # teacher-forced integer pass over the float sequence (logits at each generated position)
        ex = lm.executor()
        fm.reset()
        seq = ids + ftoks
        int_greedy, diverged = [], False
        for p, t in enumerate(seq[:-1] if ftoks else seq):
            outs = ex.step_token(t, run)
            flog = fm.forward(t, p)
            if p >= len(ids) - 1:
                ilog = np.asarray(outs["logits"], dtype=np.float64) / 65536.0
                it, ft = int(np.argmax(ilog)), int(np.argmax(flog))
                agree += it == ft
                total += 1
                pf, pi = softmax64(flog), softmax64(ilog)
                kls.append(float(np.sum(pf * (np.log(pf + 1e-300) - np.log(pi + 1e-300)))))
                if not diverged:
                    int_greedy.append(int(outs["sample"][0]))
                    diverged = int_greedy[-1] != seq[p + 1] if p + 1 < len(seq) else True
        if diverged and int_greedy and int_greedy[-1] not in stops and len(int_greedy) < a.max_new_tokens:
            # continue the integer engine greedily from its own first different token
            prefix = ids + int_greedy
            res = lm.generate(prefix, GenSettings(max_new_tokens=a.max_new_tokens - len(int_greedy)))
            int_greedy += res.tokens
        itext = lm.tokenizer.decode([t for t in int_greedy if t not in stops])
        ftext = lm.tokenizer.decode([t for t in ftoks if t not in stops])
        equal += itext == ftext
        rows.append({"prompt": prompt, "int_text": itext, "float_text": ftext, "equal": itext == ftext})
    summary = {
        "model": a.model,
        "format": fmt,
        "prompts": len(prompts),
        "positions": total,
        "top1_agreement": round(agree / max(total, 1), 4),
        "greedy_text_equal": round(equal / max(len(prompts), 1), 4),
        "mean_kl": float(np.mean(kls)) if kls else 0.0,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    emit(
        "integer vs float greedy text",
        rows if a.json else [{k: r[k] for k in ("prompt", "equal", "int_text")} for r in rows],
        summary,
        a.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
