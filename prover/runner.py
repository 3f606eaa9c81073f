"""Traced runs, receipts, replay and verification: what ``obrain run --receipt`` and ``obrain verify`` do.

A run directory holds ``receipt.json``, ``steps.bin`` (the output root of every step, 32 bytes each, in
step order), ``records.bin`` (every step record, the leaves of the trace tree) and ``operator.json`` (the
operator's own notes: how to regenerate its run, including a dishonest-mode corruption when one was used, so the
operator can serve any leaf of its claimed trace).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelLoadError, PromptError
from engine.executor import Executor
from engine.generate import GenResult, GenSettings, generate
from engine.runtime import output_text
from fixedpoint import NUMERICS_VERSION

from .commit import merkle
from .commit.model import hex32, input_hash, model_commitment, output_hash
from .commit.trace import Corruption, Tracer
from .commit.values import packed_i32
from .dispute.lies import Lie
from .receipt import InputInfo, ModelInfo, OutputInfo, Receipt, ReceiptError, Settings, Timings, TraceInfo

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

    def on_position(self, position, token_id, outs):
        self.states.append(dict(self.executor.state))
        first = self.executor.program.instrs[0].inputs  # as on_step: the token if step 0 reads it
        self.tokens.append(int(token_id) if first and first[0].kind == "token" else -1)
        if self.inner is not None:
            self.inner.on_position(position, token_id, outs)


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


@dataclass
class ClaimReplay:
    """A claim replayed teacher-forced (``replay_claim``): its trace, and the model's own sample at each generated
    position (``samples[j]`` is what position len(prompt) - 1 + j samples: the honest output token j)."""

    trace_root: bytes
    records: list[bytes] = field(repr=False)
    out_roots: list[bytes] = field(repr=False)
    samples: list[int]
    run: TracedRun | None = field(repr=False)  # for Replayer / the dispute party: snapshots before every position
    seconds: float = 0.0


def replay_claim(
    lm, prompt, run, output, corrupt: Corruption | None = None, on_progress=None, block: int | None = None
) -> ClaimReplay:
    """Replay a claim (prompt, run = [temperature Q16, top_k, seed, max_new_tokens], output tokens) teacher-forced:
    the known tokens prompt + output[:-1] run as blocks (Executor.run_block, one weight pass per block) over
    exactly len(prompt) + len(output) - 1 positions, every step committed.

    Where the samples equal the output (an honest claim), the trace is the one ``traced_generate`` commits, step
    for step. Where output token j differs from samples[j], the claim is wrong there; the trace still equals the
    honest run's up to and including that sample step (the first position fed a claimed token is the next one),
    so the first differing step of any claimed trace is at or before it. ``corrupt``: the dishonest operator's
    edit (tests, demos). ValueError for an empty prompt or output, or more positions than the context.
    """
    from engine.generate import block_sizes, outputs_bytes

    prompt, output = [int(t) for t in prompt], [int(t) for t in output]
    if not prompt or not output:
        raise ValueError("a claim has at least one prompt token and one output token")
    temp, top_k, seed, max_new = (int(x) for x in np.asarray(run).reshape(-1))
    settings = GenSettings(max_new_tokens=max_new, temperature_q16=temp, top_k=top_k, seed=seed)
    tokens = prompt + output[:-1]
    if len(tokens) > lm.program.context:
        raise ValueError(f"the claim runs {len(tokens)} positions; the context is {lm.program.context}")
    mc = model_commitment(lm)
    tracer = Tracer(lm.program, mc, settings.run_tensor(), corrupt=corrupt)
    snaps = _Snapshots(tracer)
    ex = lm.executor(snaps)
    snaps.executor = ex
    t0 = time.perf_counter()
    name, n, samples, est = lm.program.output, len(prompt), [], {"bytes": 0}
    first = block or 16
    for a, b in block_sizes(0, len(tokens), first=first, per_position=None if block else lambda p: est["bytes"]):
        outs = ex.run_block(tokens[a:b], settings.run_tensor(), every=name)
        est["bytes"] = 2 * outputs_bytes({k: v for k, v in outs.items() if k != name})
        samples += [int(np.asarray(v).reshape(-1)[0]) for v in outs[name][max(0, n - 1 - a) :]]
        if on_progress:
            on_progress(b, len(tokens))
    res = GenResult(prompt=prompt, tokens=list(output), positions=len(tokens))
    tr = TracedRun(res, tracer, settings, snaps, time.perf_counter() - t0)
    return ClaimReplay(tracer.root(), tracer.records, tracer.out_roots, samples, tr, tr.seconds)


def stops(tokens: list[int], n_prompt: int, max_new: int, stop_ids, context: int) -> bool:
    """Whether ``generate`` stops after these output tokens (its rules, in its order): a stop token, max_new tokens
    (at least one), or the context full (n_prompt + len - 1 positions run)."""
    return bool(tokens) and (tokens[-1] in stop_ids or len(tokens) >= max_new or n_prompt + len(tokens) - 1 >= context)


def honest_tokens(samples: list[int], n_prompt: int, max_new: int, stop_ids, context: int) -> list[int]:
    """The output ``generate`` would produce from these samples: up to and including the first sample at which
    it stops (``stops``)."""
    out: list[int] = []
    for s in samples:
        out.append(s)
        if stops(out, n_prompt, max_new, stop_ids, context):
            break
    return out


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
    lm,
    model_id: str,
    prompt_text: str | None,
    chat: bool,
    prompt: list[int],
    run: TracedRun,
    load_s: float = 0.0,
    chat_input: dict | None = None,
) -> Receipt:
    """The receipt of ``run``. ``chat_input`` holds the chat prompt's ``system``, ``messages`` and resolved
    ``template`` name (InputInfo); ``model_id`` is recorded as a bundled name or a file name."""
    mc = model_commitment(lm)
    res = run.result
    text = output_text(lm, res.tokens)
    s = run.settings
    return Receipt(
        numerics_version=NUMERICS_VERSION,
        engine_version=ENGINE_VERSION,
        model=ModelInfo(
            id=model_label(model_id),
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
            **(chat_input or {}),
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
    notes (operator.json: a dishonest run's lie, prover.dispute.lies.Lie.to_json, so it can be replayed and
    defended)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "steps.bin").write_bytes(b"".join(run.tracer.out_roots))
    (path / "records.bin").write_bytes(b"".join(run.tracer.records))
    if lie is None:
        lie = Lie(corruption=run.tracer.corrupt)
    (path / "operator.json").write_text(json.dumps(lie.to_json(), indent=2) + "\n")
    receipt.save(path / "receipt.json")


def model_label(model_id: str) -> str:
    """What a receipt records as its model's id: a bundled name as is, else the file's or folder's name (a
    local path means nothing elsewhere: the model is named by file_sha256)."""
    from engine.store import BUNDLED, looks_like_sha256

    if model_id in BUNDLED or looks_like_sha256(model_id):
        return model_id
    return Path(model_id).name or model_id


def encode_input(lm, info) -> list[int]:
    """The prompt tokens a receipt's input text stands for (InputInfo: a plain prompt, or a chat prompt from
    prompt_text and system or from messages, with its template). PromptError if it cannot be encoded."""
    if not info.chat:
        return lm.tokenizer.encode_plain(info.prompt_text or "")  # as the run encoded it (engine.runtime)
    messages = None if info.messages is None else [m.model_dump() for m in info.messages]
    return lm.tokenizer.chat(
        None if messages is not None else info.prompt_text,
        system=info.system,
        messages=messages,
        template=info.template or "chatml",
    )


def _input_text_matches(lm, info, prompt: list[int]) -> bool:
    """True if the receipt carries no prompt text, or its text (chat input) encodes to ``prompt``."""
    if info.prompt_text is None and info.messages is None:
        return True
    try:
        return encode_input(lm, info) == prompt
    except (PromptError, ModelLoadError):
        return False


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


def _replay_output(lm, prompt, settings, claimed, on_token, on_prompt_progress) -> tuple[TracedRun, str]:
    """The honest replay of a receipt's run and, if its output is not what generate would produce, why."""
    ctx, stop = lm.program.context, lm.stop_ids
    fits = len(claimed) > 0 and len(prompt) + len(claimed) - 1 <= ctx
    mine = None
    if fits:  # teacher-forced and batched: the claim's tokens are known
        rp = replay_claim(lm, prompt, settings.run_tensor(), claimed, on_progress=on_prompt_progress)
        run, mine = rp.run, honest_tokens(rp.samples, len(prompt), settings.max_new_tokens, stop, ctx)
        for tok in rp.samples if on_token and mine == claimed else ():
            on_token(tok)
    if mine != claimed:
        # no output, more than fits, or a wrong one (then the teacher-forced trace left the honest run after the
        # first wrong token): what generate does, so the trace is compared with the honest run's
        run = traced_generate(lm, prompt, settings, on_token=on_token, on_prompt_progress=on_prompt_progress)
        mine = list(run.result.tokens)
    if mine != claimed:
        k = next((i for i, (a, b) in enumerate(zip(mine, claimed)) if a != b), min(len(mine), len(claimed)))
        return run, f"first difference at generated token {k}: replay {mine[k : k + 1]} vs receipt {claimed[k : k + 1]}"
    if fits and not stops(mine, len(prompt), settings.max_new_tokens, stop, ctx):
        return run, f"the receipt ends after {len(claimed)} tokens where the replay goes on"
    return run, ""


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
    if not _input_text_matches(lm, receipt.input, prompt):
        bad(Mismatch("input.prompt_tokens", "the prompt text does not encode to the receipt's prompt tokens"))
    ih = hex32(input_hash(prompt, settings.run_tensor()))
    if ih != receipt.input.input_hash:
        bad(Mismatch("input.input_hash", f"receipt {receipt.input.input_hash} != {ih} (prompt tokens + settings)"))
    if not prompt or any(not 0 <= t < lm.config.vocab_size for t in prompt):
        bad(Mismatch("input.prompt_tokens", "empty or out-of-vocabulary prompt tokens"))
        rep.seconds = time.perf_counter() - t0
        return rep
    run, why = _replay_output(lm, prompt, settings, list(receipt.output.tokens), on_token, on_prompt_progress)
    if why:
        bad(Mismatch("output.tokens", why))
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


def operator_notes(run_dir: Path) -> Lie:
    """The run directory's operator.json as a Lie (the empty Lie if absent); ReceiptError for anything unreadable
    or malformed (exit 2): the file sits beside an untrusted receipt."""
    p = Path(run_dir) / "operator.json"
    if not p.exists():
        return Lie()
    try:
        return Lie.from_json(json.loads(p.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise ReceiptError(f"{p}: {e}") from None


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
    # The claimant's leaves come from replaying its own run as its operator notes say (a step corruption: data
    # only). A model the notes name is never loaded (the run directory is untrusted): then no leaf is named.
    lie = operator_notes(run_dir)
    r = Receipt.load(run_dir / "receipt.json")
    their_lm = lm
    if lie.computed_with:  # a model lie: the claimant computed with another model
        from engine.runtime import IntegerLM
        from engine.store import BUNDLED, looks_like_sha256

        # the run directory is untrusted: a model it names is loaded only from the store (a bundled name or a
        # sha256), never from a path it gives
        if lie.computed_with not in BUNDLED and not looks_like_sha256(lie.computed_with):
            return {**info, "leaf": None, "why": "the claimant's model is not in the model store"}
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


# -- several claims at once ---------------------------------------------------------------------------------

_POOL_LM: dict = {}


def _pool_init(model_id: str, context: int | None) -> None:
    from engine.runtime import IntegerLM

    _POOL_LM["lm"] = IntegerLM.load(model_id, context)


def _pool_replay(claim) -> ClaimReplay:
    prompt, run, output = claim
    r = replay_claim(_POOL_LM["lm"], prompt, run, output)
    return ClaimReplay(r.trace_root, r.records, r.out_roots, r.samples, None, r.seconds)


def replay_claims(model_id: str, claims, processes: int = 2, context: int | None = None) -> list[ClaimReplay]:
    """``replay_claim`` of every (prompt, run, output) in ``claims``, in a pool of ``processes`` worker processes
    (each loads the model once; spawned, so no thread state is forked). Returns, in order, the replays without
    their snapshots (``run`` is None: use replay_claim in-process to serve a game from one)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    claims = [
        ([int(t) for t in p], [int(x) for x in np.asarray(r).reshape(-1)], [int(t) for t in o]) for p, r, o in claims
    ]
    if processes <= 1 or len(claims) <= 1:
        _pool_init(model_id, context)
        try:
            return [_pool_replay(c) for c in claims]
        finally:
            _POOL_LM.clear()
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(
        max_workers=min(processes, len(claims)), mp_context=ctx, initializer=_pool_init, initargs=(model_id, context)
    ) as ex:
        return list(ex.map(_pool_replay, claims))
