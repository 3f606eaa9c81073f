"""The engine behind `obrain serve`: one model, loaded once, run on one worker thread, with a bounded queue.

    eng = Engine(lm, "tiny", Path("runs/serve"), queue=8)
    ids = eng.encode(job)                      # PromptError: a 400
    ok = eng.admit()                           # False: busy (the caller answers 429 with eng.retry_after())
    rid = eng.new_id()
    fut = eng.submit(rid, job, ids, on_piece)  # concurrent.futures.Future of an Answer; on_piece(text) per token
    a = fut.result(); a.receipt, a.text
    eng.cancel(rid, fut)                       # its client went away: a queued job never starts, a running one
                                               # stops at its next token (the future raises Cancelled)

Admission: one request runs, at most ``queue`` wait behind it; the next is refused (busy) until one finishes.
``admit``/``release`` are called from the event loop only; the worker thread never touches the counter.
Every answer is a traced run: its run directory ``runs_dir/<rid>/`` holds receipt.json, steps.bin,
records.bin and operator.json (prover.runner.write_run_dir), so a verifier can fetch and check it. The pieces
streamed to ``on_piece`` are the committed output's text (a dishonest server's too: its claimed tokens are what
it streams), checked before the answer is written: a stream never shows one text and commits another.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..dispute.lies import Lie, apply_to_receipt
from ..receipt import Receipt
from .openai_api import Job

RUN_FILES = ("receipt.json", "steps.bin", "records.bin")


class Cancelled(Exception):
    """A request's run stopped because its client went away (no receipt, no claim)."""


@dataclass
class Answer:
    rid: str
    receipt: Receipt
    text: str
    tokens: list[int]  # as claimed by the receipt
    finish_reason: str  # "stop" (the model's stop token) or "length" (max tokens or the context)
    prompt_tokens: int
    seconds: float


class Engine:
    """One loaded model served on one worker thread: admission, traced runs, run directories."""

    def __init__(
        self,
        lm,
        model_id: str,
        runs_dir: Path,
        queue: int = 8,
        lie: Lie | None = None,
        on_answer: Callable[[Answer, Path, object], None] | None = None,
    ):
        """on_answer(answer, receipt path, traced run) is called on the worker thread once an answer is written
        (`--submit` takes the run from there: it is never run again)."""
        self.lm, self.model_id, self.runs_dir = lm, model_id, Path(runs_dir)
        self.queue = queue
        self.lie = lie or Lie()
        self.on_answer = on_answer
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self.admitted = 0  # running + waiting; touched by the event loop only
        self._mean_s = 0.0  # moving mean of a request's seconds (for Retry-After)
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}  # rid -> set when its client has gone
        self.cancelled = 0  # runs stopped (or never started) because their client went away

    # -- admission (event loop) ------------------------------------------------------------------
    def admit(self) -> bool:
        """Take a place (True), or refuse: one running and ``queue`` waiting already (False)."""
        if self.admitted >= 1 + self.queue:
            return False
        self.admitted += 1
        return True

    def release(self) -> None:
        self.admitted -= 1

    def retry_after(self) -> int:
        """Whole seconds until a place is likely free: the queue ahead times the mean request time, at least 1."""
        with self._lock:
            mean = self._mean_s
        return max(1, min(3600, math.ceil(mean * max(self.admitted, 1))))

    # -- the work (worker thread) ----------------------------------------------------------------
    def encode(self, job: Job) -> list[int]:
        """The job's prompt tokens (PromptError if empty or too long for the context with its max tokens)."""
        return self.lm.encode_prompt(
            job.prompt_text, chat=job.chat, max_new_tokens=job.settings.max_new_tokens, messages=job.messages
        )

    @staticmethod
    def new_id() -> str:
        """A fresh receipt id: 24 random hex digits (also the answer's id, `chatcmpl-<id>`)."""
        return secrets.token_hex(12)

    def submit(self, rid: str, job: Job, ids: list[int], on_piece: Callable[[str], None] | None = None) -> Future:
        """Run the job on the worker thread; a Future of its Answer. on_piece(text) is called there per token."""
        stop = self._cancel[rid] = threading.Event()
        fut = self.pool.submit(self._run, rid, job, ids, on_piece, stop)
        fut.add_done_callback(lambda _f: self._cancel.pop(rid, None))
        return fut

    def cancel(self, rid: str, fut: Future) -> None:
        """Stop rid's run (its client went away): a queued one never starts, a running one stops at its next
        token or prompt block; its future then raises Cancelled (or is cancelled). No-op once it is done."""
        if fut.done():
            return
        ev = self._cancel.get(rid)
        if ev is not None:
            ev.set()
        fut.cancel()
        with self._lock:
            self.cancelled += 1

    def _run(self, rid: str, job: Job, ids: list[int], on_piece, stop: threading.Event) -> Answer:
        from engine.tokenizer import StreamDecoder

        from ..runner import make_receipt, traced_generate, write_run_dir

        def check(*_a) -> None:
            if stop.is_set():
                raise Cancelled(f"request {rid}: the client went away")

        check()
        t0 = time.perf_counter()
        stops = set(self.lm.stop_ids)
        vocab = self.lm.config.vocab_size
        stream = StreamDecoder(self.lm.tokenizer, skip_special=False)  # the pieces add up to the receipt's text
        lied = self.lie.output  # (index, token): the token this server claims at that index instead of its own
        shown: list[str] = []
        n = [0]

        def show(piece: str) -> None:
            if piece:
                shown.append(piece)
                on_piece(piece)

        def on_token(tok: int) -> None:
            check()
            if lied is not None and n[0] == lied[0]:
                tok = lied[1]  # stream what the receipt will commit, not what was computed
            n[0] += 1
            if on_piece is not None and tok not in stops:
                show(stream.push(tok) if 0 <= tok < vocab else stream.flush() + "\ufffd")

        traced = traced_generate(
            self.lm, ids, job.settings, corrupt=self.lie.corruption, on_token=on_token, on_prompt_progress=check
        )
        if on_piece is not None:
            show(stream.flush())
        chat_input = {"system": None, "messages": job.messages, "template": self.lm.chat_template(None)}
        receipt = make_receipt(
            self.lm, self.model_id, job.prompt_text, job.chat, ids, traced, chat_input=chat_input if job.chat else None
        )
        lie = Lie(corruption=traced.tracer.corrupt, output=self.lie.output)
        try:
            receipt = apply_to_receipt(receipt, lie, self.lm, None) if not lie.honest else receipt
        except ValueError:  # an output lie this answer cannot carry (too short, or already that token)
            lie = Lie(corruption=traced.tracer.corrupt)
        if on_piece is not None and "".join(shown) != receipt.output.text:  # never commit what was not shown
            raise RuntimeError(f"request {rid}: the streamed text is not the committed output's; no receipt written")
        run_dir = self.runs_dir / rid
        write_run_dir(run_dir, receipt, traced, lie)
        dt = time.perf_counter() - t0
        with self._lock:
            self._mean_s = dt if self._mean_s == 0 else 0.8 * self._mean_s + 0.2 * dt
        ans = Answer(
            rid=rid,
            receipt=receipt,
            text=receipt.output.text,
            tokens=list(receipt.output.tokens),
            finish_reason="stop" if traced.result.stopped == "eos" else "length",
            prompt_tokens=len(ids),
            seconds=dt,
        )
        if self.on_answer is not None:
            self.on_answer(ans, run_dir / "receipt.json", traced)
        return ans

    def run_dir(self, rid: str) -> Path | None:
        """The run directory of receipt id rid (24 hex digits) if it exists; None for any other string."""
        if len(rid) != 24 or any(c not in "0123456789abcdef" for c in rid):
            return None
        p = self.runs_dir / rid
        return p if (p / "receipt.json").is_file() else None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
