"""A claim's honest replay, kept on disk: what a watcher decides by and plays a game from.

    d = replay_claim(lm, prompt, run, positions, path)   # exactly `positions` positions, the honest trace
    verdict(d, claim_trace_root, claimed_output)         # ("right",) | ("output", j) | ("trace",)
    run = load_run(path)                                 # a TracedRun stand-in: EngineParty(lm, run) serves a game

The digest directory holds the step records and output roots (32 bytes a step), the input token of every position,
the honest samples, and the carried state after the last position (the KV caches). Carried state is append-only
(engine.values.Rows: the cache before position t is the first t rows of the final one), so any position's inputs
are re-derived from the final state alone: one position's work, whatever the claim's length. A watcher keeps only
these files between polls (memory stays bounded however many claims it has seen) and reloads one on demand.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.generate import GenSettings
from engine.values import Rows

from ..commit.trace import Corruption
from ..runner import replay_claim as teacher_forced
from ..runner import traced_generate

FORMAT = 1


def settings_of_run(run) -> GenSettings:
    """GenSettings from a claim's run tensor [temperature Q16, top_k, seed, max_new_tokens] (any int64s)."""
    temp, top_k, seed, max_new = (int(x) for x in run)
    return GenSettings(max_new_tokens=max_new, temperature_q16=temp, top_k=top_k, seed=seed)


def replay_claim(lm, prompt, run, output, path: Path) -> dict:
    """Replay the honest run of (prompt, run) over the claim's len(prompt) + len(output) - 1 positions on lm and
    write its digest to `path` (atomically: a directory renamed into place). Returns the digest's summary (also in
    path/summary.json). Teacher-forced on the claimed output first (one batched pass, prover.runner.replay_claim):
    where the samples equal the output that trace is the honest one; else the honest run is replayed free-running
    (its samples, not the claim's tokens, feed the positions after the first wrong one)."""
    prompt, output = [int(t) for t in prompt], [int(t) for t in output]
    positions = len(prompt) + len(output) - 1
    fast = teacher_forced(lm, prompt, run, output)
    if fast.samples == output:
        tr = fast.run
    else:
        tr = traced_generate(lm, prompt, settings_of_run(run), positions=positions)
    samples = fast.samples if fast.samples == output else tr.result.tokens
    return write_digest(tr, prompt, run, samples, path)


def write_digest(tr, prompt, run, samples, path: Path, corrupt=None) -> dict:
    """Write a finished traced run of (prompt, run) with its samples as a digest at `path` (atomically: a directory
    renamed into place); `corrupt`: the Corruption the run was made with (a liar's own digest: its steps are
    regenerated with the same edit). Returns the summary (also in path/summary.json). No engine work."""
    states = tr.snapshots.executor.state
    for name, v in states.items():
        if not isinstance(v, Rows):
            raise TypeError(f"carried state {name} is {type(v).__name__}, not append-only Rows: cannot digest it")
    summary = {
        "format": FORMAT,
        "prompt": [int(t) for t in prompt],
        "run": [int(x) for x in run],
        "positions": len(tr.snapshots.tokens),
        "steps": tr.tracer.step_count,
        "trace_root": "0x" + tr.tracer.root().hex(),
        "samples": [int(t) for t in samples],
        "tokens": [int(t) for t in tr.snapshots.tokens],
        "state_rows": {name: int(v.n) for name, v in states.items()},
        "corruption": None if corrupt is None else vars(corrupt),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=path.name + ".tmp"))
    try:
        (tmp / "records.bin").write_bytes(b"".join(tr.tracer.records))
        (tmp / "out_roots.bin").write_bytes(b"".join(tr.tracer.out_roots))
        np.savez(tmp / "state.npz", **{name: v.buf[: v.n] for name, v in states.items()})
        (tmp / "summary.json").write_text(json.dumps(summary))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def read_summary(path: Path) -> dict:
    return json.loads((Path(path) / "summary.json").read_text())


def verdict(summary: dict, trace_root: bytes, output) -> tuple:
    """How the claim (its trace root, its output tokens) compares with the honest replay of its positions:
    ("right",), ("output", j) — the trace is the honest one but claimed output token j is not its sample, proven by
    proveWrongOutputToken — or ("trace",) — the trace differs, won by bisection (docs/dispute.md, the judging rule)."""
    honest = bytes.fromhex(summary["trace_root"][2:])
    out = [int(t) for t in output]
    samples = summary["samples"]
    if honest != trace_root:
        return ("trace",)
    j = next((i for i, (a, b) in enumerate(zip(out, samples)) if a != b), None)
    if j is None and len(out) == len(samples):
        return ("right",)
    return ("output", j if j is not None else min(len(out), len(samples)))


# -- a digest as a TracedRun (prover.runner) for EngineParty / Replayer ------------------------------------------


@dataclass
class _Result:
    prompt: list[int]
    tokens: list[int]


@dataclass(frozen=True)
class _Edit:
    """A Tracer's transform for a liar's digest (a callable object, not a function: observers carry it as a class
    attribute, where a function would bind)."""

    corrupt: Corruption

    def __call__(self, step: int, position: int, out):
        return self.corrupt.apply(out, position) if step == self.corrupt.step else out


@dataclass
class _Tracer:
    out_roots: list[bytes]
    records: list[bytes]
    trace_root: bytes  # the replay's; EngineParty.trace_tree checks the records hash to it
    transform: Any = None
    corrupt: Any = None

    @property
    def step_count(self) -> int:
        return len(self.records)

    def root(self) -> bytes:
        return self.trace_root


@dataclass
class _Snapshots:
    tokens: list[int]
    final: dict[str, np.ndarray]
    capacity: int
    _cache: dict = field(default_factory=dict)

    @property
    def states(self) -> _States:
        return _States(self)


class _States:
    """states[t]: the carried state before position t (each cache's first t rows), built on demand."""

    def __init__(self, snaps: _Snapshots):
        self.snaps = snaps

    def __getitem__(self, t: int) -> dict:
        if t == 0:
            return {}
        return {name: Rows(buf, t, self.snaps.capacity) for name, buf in self.snaps.final.items()}

    def __len__(self) -> int:
        return len(self.snaps.tokens)


@dataclass
class DigestRun:
    """A TracedRun stand-in read from a digest (what EngineParty and Replayer use of a run)."""

    result: _Result
    tracer: _Tracer
    settings: GenSettings
    snapshots: _Snapshots


def load_run(path: Path, context: int) -> DigestRun:
    """The digest at `path` as a run a party can serve; `context` is the model's (the caches' capacity)."""
    path = Path(path)
    s = read_summary(path)
    rec, outs = (path / "records.bin").read_bytes(), (path / "out_roots.bin").read_bytes()
    records = [rec[i : i + 32] for i in range(0, len(rec), 32)]
    out_roots = [outs[i : i + 32] for i in range(0, len(outs), 32)]
    with np.load(path / "state.npz") as z:
        final = {}
        for name in z.files:
            rows = z[name]
            buf = np.zeros((context, rows.shape[1]), dtype=rows.dtype)  # a cache's buffer holds `context` rows
            buf[: rows.shape[0]] = rows
            final[name] = buf
    c = s.get("corruption")
    corrupt = None if c is None else Corruption(int(c["step"]), int(c["element"]), int(c["delta"]))
    transform = None if corrupt is None else _Edit(corrupt)  # a liar's digest: its step is edited again when replayed
    return DigestRun(
        _Result(list(s["prompt"]), list(s["samples"])),
        _Tracer(out_roots, records, bytes.fromhex(s["trace_root"][2:]), transform, corrupt),
        settings_of_run(s["run"]),
        _Snapshots(list(s["tokens"]), final, context),
    )
