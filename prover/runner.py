"""Traced runs, receipts, replay and verification: what ``obrain run --receipt`` and ``obrain verify`` do.

A run directory holds ``receipt.json``, ``steps.bin`` (the output root of every step, 32 bytes each, in
step order), ``records.bin`` (every step record, the leaves of the trace tree) and ``operator.json`` (the operator's own notes: how to regenerate its run, including a
dishonest-mode corruption when one was used, so the operator can serve any leaf of its claimed trace).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.executor import Executor
from engine.generate import GenResult, GenSettings, generate
from engine.runtime import output_text
from fixedpoint import NUMERICS_VERSION

from .commit import merkle
from .commit.model import hex32, input_hash, model_commitment, output_hash
from .commit.trace import Corruption, Tracer
from .commit.values import packed_i32
from .dispute.lies import Lie
from .receipt import InputInfo, ModelInfo, OutputInfo, Receipt, Settings, Timings, TraceInfo

ENGINE_VERSION = "0.1.0"


def settings_of(r: Receipt) -> GenSettings:
    s = r.settings
    return GenSettings(max_new_tokens=s.max_new_tokens, temperature_q16=s.temperature_q16, top_k=s.top_k, seed=s.seed)


class _Snapshots:
    """Observer wrapper that also records the executor's carried state before every token (references only:
    KV caches are append-only, so a reference to the cache with t rows is a snapshot at token t)."""

    def __init__(self, inner=None):
        self.inner = inner
        self.transform = getattr(inner, "transform", None)
        self.states: list[dict] = []
        self.tokens: list[int] = []
        self.executor: Executor | None = None

    def on_step(self, step, token, index, ins, args, out):
        if index == 0:
            self.states.append(dict(self.executor.state))
            self.tokens.append(int(args[0][0]) if ins.inputs[0].kind == "token" else -1)
        if self.inner is not None:
            self.inner.on_step(step, token, index, ins, args, out)


@dataclass
class TracedRun:
    result: GenResult
    tracer: Tracer
    settings: GenSettings
    snapshots: _Snapshots
    seconds: float = 0.0
    prompt_seconds: float = 0.0


def traced_generate(
    lm,
    prompt: list[int],
    settings: GenSettings,
    corrupt: Corruption | None = None,
    on_token=None,
    on_prompt_progress=None,
    keep_values: bool = False,
    positions: int | None = None,
) -> TracedRun:
    """Generate with every step committed (and, if ``corrupt``, one element altered: dishonest mode); with
    ``positions``, exactly that many positions (engine.generate: a claim's honest replay)."""
    mc = model_commitment(lm)
    tracer = Tracer(lm.program, mc, settings.run_tensor(), corrupt=corrupt, keep_values=keep_values)
    snaps = _Snapshots(tracer)
    ex = lm.executor(snaps)
    snaps.executor = ex
    t0 = time.perf_counter()
    marks = {}

    def prog(done, total):
        if done == total:
            marks["prompt"] = time.perf_counter() - t0
        if on_prompt_progress:
            on_prompt_progress(done, total)

    res = generate(
        ex, prompt, settings, stop_ids=lm.stop_ids, on_token=on_token, on_prompt_progress=prog, positions=positions
    )
    return TracedRun(res, tracer, settings, snaps, time.perf_counter() - t0, marks.get("prompt", 0.0))


class Replayer:
    """Regenerates any step's operands and output from a finished traced run's snapshots: one token's work."""

    def __init__(self, lm, run: TracedRun):
        self.lm, self.run = lm, run
        self._cache: tuple[int, list] | None = None

    def token_steps(self, t: int) -> list[tuple[Any, list, Any]]:
        """[(instr, args, out)] for every instruction of position t, recomputed from the snapshot before t."""
        if self._cache and self._cache[0] == t:
            return self._cache[1]
        snaps = self.run.snapshots
        captured: list = []

        class Cap:
            transform = self.run.tracer.transform

            def on_step(_s, step, token, index, ins, args, out):
                captured.append((ins, args, out))

        ex = self.lm.executor(Cap())
        ex.state = dict(snaps.states[t])
        ex.next_token = t
        ex.step_token(snaps.tokens[t], self.run.settings.run_tensor())
        self._cache = (t, captured)
        return captured

    def step(self, i: int) -> tuple[Any, list, Any]:
        t, k = divmod(i, self.lm.program.steps_per_token)
        return self.token_steps(t)[k]

    def output_packed(self, i: int) -> bytes:
        _, _, out = self.step(i)
        return packed_i32(out)


def make_receipt(
    lm, model_id: str, prompt_text: str | None, chat: bool, prompt: list[int], run: TracedRun, load_s: float = 0.0
) -> Receipt:
    mc = model_commitment(lm)
    res = run.result
    text = output_text(lm, res.tokens)
    s = run.settings
    return Receipt(
        numerics_version=NUMERICS_VERSION,
        engine_version=ENGINE_VERSION,
        model=ModelInfo(
            id=model_id,
            name=lm.config.name,
            file_sha256=lm.loaded.source.sha256(),
            model_root=hex32(mc.model_root),
            steps_per_token=mc.steps_per_token,
            context=mc.context,
        ),
        input=InputInfo(
            prompt_text=prompt_text,
            chat=chat,
            prompt_tokens=list(prompt),
            input_hash=hex32(input_hash(prompt, s.run_tensor())),
        ),
        output=OutputInfo(
            tokens=list(res.tokens), text=text, output_hash=hex32(output_hash(res.tokens)), stopped=res.stopped
        ),
        trace=TraceInfo(trace_root=hex32(run.tracer.root()), step_count=run.tracer.step_count),
        settings=Settings(
            max_new_tokens=s.max_new_tokens, temperature_q16=s.temperature_q16, top_k=s.top_k, seed=s.seed
        ),
        timings=Timings(
            load_s=round(load_s, 3),
            prompt_s=round(run.prompt_seconds, 3),
            decode_s=round(run.seconds - run.prompt_seconds, 3),
        ),
    )


def write_run_dir(path: Path, receipt: Receipt, run: TracedRun, lie=None) -> None:
    """receipt.json, the run's step output roots (steps.bin) and records (records.bin), and the operator's
    notes (operator.json: a dishonest run's lie, prover.dispute.lies.Lie.to_json, so it can be replayed and defended)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "steps.bin").write_bytes(b"".join(run.tracer.out_roots))
    (path / "records.bin").write_bytes(b"".join(run.tracer.records))
    if lie is None:
        lie = Lie(corruption=run.tracer.corrupt)
    (path / "operator.json").write_text(json.dumps(lie.to_json(), indent=2) + "\n")
    receipt.save(path / "receipt.json")


# -- verification -----------------------------------------------------------------------------------


@dataclass
class Mismatch:
    field: str
    detail: str


@dataclass
class VerifyReport:
    mismatches: list[Mismatch] = field(default_factory=list)
    first_step: dict | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def describe_step(lm, i: int) -> dict:
    t, ins = lm.program.locate(i)
    return {"step": i, "token": t, "layer": ins.layer, "op": ins.op, "instr": ins.name}


def verify(
    receipt: Receipt,
    lm,
    model_id_check: bool = True,
    run_dir: Path | None = None,
    on_prompt_progress=None,
    on_token=None,
) -> VerifyReport:
    """Replay the receipt's run and compare every committed field; localize a trace difference if possible."""
    t0 = time.perf_counter()
    rep = VerifyReport()
    mc = model_commitment(lm)
    bad = rep.mismatches.append
    if receipt.model.model_root != hex32(mc.model_root):
        bad(
            Mismatch("model.model_root", f"receipt {receipt.model.model_root} != replayed model {hex32(mc.model_root)}")
        )
    if receipt.model.steps_per_token != mc.steps_per_token or receipt.model.context != mc.context:
        bad(
            Mismatch(
                "model.template",
                f"receipt has {receipt.model.steps_per_token} steps/token, context "
                f"{receipt.model.context}; the model has {mc.steps_per_token}, {mc.context}",
            )
        )
    settings = settings_of(receipt)
    prompt = list(receipt.input.prompt_tokens)
    if receipt.input.prompt_text is not None:
        enc = (
            lm.tokenizer.chat(receipt.input.prompt_text)
            if receipt.input.chat
            else lm.tokenizer.encode(receipt.input.prompt_text)
        )
        if enc != prompt:
            bad(Mismatch("input.prompt_tokens", "the prompt text does not encode to the receipt's prompt tokens"))
    ih = hex32(input_hash(prompt, settings.run_tensor()))
    if ih != receipt.input.input_hash:
        bad(Mismatch("input.input_hash", f"receipt {receipt.input.input_hash} != {ih} (prompt tokens + settings)"))
    if not prompt or any(not 0 <= t < lm.config.vocab_size for t in prompt):
        bad(Mismatch("input.prompt_tokens", "empty or out-of-vocabulary prompt tokens"))
        rep.seconds = time.perf_counter() - t0
        return rep
    run = traced_generate(lm, prompt, settings, on_token=on_token, on_prompt_progress=on_prompt_progress)
    res = run.result
    if res.tokens != list(receipt.output.tokens):
        k = next(
            (i for i, (a, b) in enumerate(zip(res.tokens, receipt.output.tokens)) if a != b),
            min(len(res.tokens), len(receipt.output.tokens)),
        )
        bad(
            Mismatch(
                "output.tokens",
                f"first difference at generated token {k}: replay "
                f"{res.tokens[k : k + 1]} vs receipt {list(receipt.output.tokens[k : k + 1])}",
            )
        )
    text = output_text(lm, receipt.output.tokens)
    if text != receipt.output.text:
        bad(Mismatch("output.text", "the text does not decode from the receipt's output tokens"))
    oh = hex32(output_hash(receipt.output.tokens))
    if oh != receipt.output.output_hash:
        bad(Mismatch("output.output_hash", f"receipt {receipt.output.output_hash} != hash of its tokens {oh}"))
    if run.tracer.step_count != receipt.trace.step_count:
        bad(
            Mismatch(
                "trace.step_count", f"replay has {run.tracer.step_count} steps, receipt {receipt.trace.step_count}"
            )
        )
    troot = hex32(run.tracer.root())
    if troot != receipt.trace.trace_root:
        bad(Mismatch("trace.trace_root", f"replay {troot} != receipt {receipt.trace.trace_root}"))
        if run_dir is not None:
            rep.first_step = localize(lm, run, run_dir)
    rep.seconds = time.perf_counter() - t0
    return rep


def localize(lm, honest: TracedRun, run_dir: Path) -> dict | None:
    """First step whose output root differs from the claimed run's, and the first differing leaf in it."""
    p = run_dir / "steps.bin"
    if not p.exists():
        return None
    data = p.read_bytes()
    claimed = [data[i : i + 32] for i in range(0, len(data), 32)]
    mine = honest.tracer.out_roots
    i = next((k for k, (a, b) in enumerate(zip(mine, claimed)) if a != b), None)
    if i is None:
        if len(mine) == len(claimed):
            return None
        i = min(len(mine), len(claimed))
        return {**describe_step(lm, i), "leaf": None, "why": "step counts differ"} if i < len(mine) else None
    info = describe_step(lm, i)
    # The claimant serves its leaves by replaying its own run (its operator notes say how).
    op = json.loads((run_dir / "operator.json").read_text()) if (run_dir / "operator.json").exists() else {}
    lie = Lie.from_json(op)
    r = Receipt.load(run_dir / "receipt.json")
    their_lm = lm
    if lie.computed_with:  # a model lie: the claimant computed with another model
        from engine.runtime import IntegerLM

        their_lm = IntegerLM.load(lie.computed_with, r.model.context)
    theirs = traced_generate(their_lm, list(r.input.prompt_tokens), settings_of(r), corrupt=lie.corruption)
    a = Replayer(lm, honest).output_packed(i)
    b = Replayer(their_lm, theirs).output_packed(i)
    la, lb = merkle.leaf_hashes(a), merkle.leaf_hashes(b)
    leaf = next((k for k, (x, y) in enumerate(zip(la, lb)) if x != y), None)
    info["leaf"] = leaf
    if leaf is not None:
        ea = np.frombuffer(a, dtype=">i4").astype(np.int64)
        eb = np.frombuffer(b, dtype=">i4").astype(np.int64)
        diff = np.nonzero(ea != eb)[0]
        info["element"] = int(diff[0]) if diff.size else None
    return info
