"""Engine work off the watcher's loop: claim replays (verdicts) and game queries, each in its own process pool.

    w = Workers({"0xmodelroot..": "smollm2"}, replay_workers=1)     # inline=True: in this process (tests, demos)
    fut = w.replay(model_root, prompt, run, positions, path)        # a Future of the digest's summary
    party = w.party(model_root, path)                               # a Party whose step queries run in the game pool

Two pools so that a long replay never delays a move: replays queue in one, the game pool answers step queries
(one position's work each). Every worker process loads a model once (by id) and keeps a few parties (LRU).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .replay import load_run, read_summary, replay_claim
from .trees import HashTree

QUERY_TIMEOUT_S = 600.0  # one query is one position's replay plus a witness; a stuck worker is replaced
_MODELS: dict[str, Any] = {}
_PARTIES: OrderedDict = OrderedDict()
_MAX_PARTIES = 4


def _lm(model_id: str):
    lm = _MODELS.get(model_id)
    if lm is None:
        from engine.runtime import IntegerLM

        lm = _MODELS[model_id] = IntegerLM.load(model_id)
    return lm


def _job_replay(model_id: str, prompt, run, output, path: str) -> dict:
    return replay_claim(_lm(model_id), prompt, run, output, Path(path))


def _party(model_id: str, path: str, k: int):
    from .party import EngineParty

    key = (model_id, path, k)
    p = _PARTIES.get(key)
    if p is None:
        lm = _lm(model_id)
        run = load_run(Path(path), lm.program.context)
        p = EngineParty(lm, run, k=k, prompt=run.result.prompt)
        _PARTIES[key] = p
        while len(_PARTIES) > _MAX_PARTIES:
            _PARTIES.popitem(last=False)
    _PARTIES.move_to_end(key)
    return p


def _job_query(model_id: str, path: str, k: int, method: str, args: tuple):
    return getattr(_party(model_id, path, k), method)(*args)


def _die_with_watcher(watcher_pid: int) -> None:
    """A worker's initializer: the kernel kills it when its watcher process ends, however it ends (SIGKILL too):
    orphaned workers each kept a loaded model, and a watcher restarted a few hundred times filled 24 GB."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != watcher_pid:  # the watcher died before prctl took effect
        os._exit(0)


def _pool(n: int) -> cf.ProcessPoolExecutor:
    # spawn: no forked numba/BLAS state
    return cf.ProcessPoolExecutor(
        n, mp_context=mp.get_context("spawn"), initializer=_die_with_watcher, initargs=(os.getpid(),)
    )


def _stop(pool: Any) -> None:
    """Shut a pool down without waiting, and kill its workers (a stuck one would otherwise run on unowned)."""
    procs = list(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in procs:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class _Inline:
    """A stand-in pool that runs each job at submit (deterministic tests and the demo)."""

    def submit(self, fn, *args) -> cf.Future:
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # the caller sees it through the future, as with a process pool
            f.set_exception(e)
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class Workers:
    """The replay pool and the game pool of a watcher (see the module docstring)."""

    def __init__(self, models: dict[str, str], *, replay_workers: int = 1, inline: bool = False):
        self.models = dict(models)  # model root (0x hex) -> model id the workers load
        self.inline = inline
        self.replay_workers = max(1, replay_workers)
        if inline:
            self._replays: Any = _Inline()
            self._games: Any = _Inline()
        else:
            self._replays = _pool(self.replay_workers)
            self._games = _pool(1)

    def model_id(self, model_root: bytes) -> str | None:
        return self.models.get("0x" + model_root.hex())

    def replay(self, model_root: bytes, prompt, run, output, path: Path) -> cf.Future:
        mid = self.model_id(model_root)
        if mid is None:
            raise KeyError(f"no model with root 0x{model_root.hex()} is watched")
        return self._replays.submit(_job_replay, mid, list(prompt), list(run), list(output), str(path))

    def query(self, model_root: bytes, path: Path, k: int, method: str, *args):
        """A party method's result for the digest at path, computed in the game pool (bounded wait)."""
        mid = self.model_id(model_root)
        fut = self._games.submit(_job_query, mid, str(path), k, method, args)
        try:
            return fut.result(timeout=QUERY_TIMEOUT_S)
        except cf.TimeoutError:
            self._restart_games()
            raise TimeoutError(
                f"game query {method}{args} took over {QUERY_TIMEOUT_S} s; the game worker restarted"
            ) from None
        except cf.process.BrokenProcessPool:
            self._restart_games()
            raise

    def _restart_games(self) -> None:
        if self.inline:
            return
        _stop(self._games)
        self._games = _pool(1)

    def restart_replays(self) -> None:
        if self.inline:
            return
        _stop(self._replays)
        self._replays = _pool(self.replay_workers)

    def party(self, model_root: bytes, path: Path, k: int) -> RemoteParty:
        return RemoteParty(self, model_root, Path(path), k)

    def close(self) -> None:
        _stop(self._replays)
        _stop(self._games)


class RemoteParty:
    """A Party (prover.dispute.player) over a digest: the trace tree here (from the digest's records), every step
    query in the game pool, cached."""

    def __init__(self, workers: Workers, model_root: bytes, path: Path, k: int):
        self.w, self.model_root, self.path, self.k = workers, model_root, path, k
        s = read_summary(path)
        self.prompt = list(s["prompt"])
        self.output = list(s["samples"])
        self.step_count = int(s["steps"])
        self.steps_per_token = self.step_count // int(s["positions"])
        self.trace_root = bytes.fromhex(s["trace_root"][2:])
        self._tree: HashTree | None = None
        self._cache: dict = {}

    def trace_tree(self) -> HashTree:
        if self._tree is None:
            rec = (self.path / "records.bin").read_bytes()
            t = HashTree([rec[i : i + 32] for i in range(0, len(rec), 32)])
            if t.root != self.trace_root:
                raise AssertionError(f"{self.path}: the records do not hash to the replay's trace root")
            self._tree = t
        return self._tree

    def _q(self, method: str, *args):
        key = (method, args)
        if key not in self._cache:
            self._cache[key] = self.w.query(self.model_root, self.path, self.k, method, *args)
        return self._cache[key]

    def opening(self, i: int):
        return self._q("opening", i)

    def output_tree(self, i: int):
        return self._q("output_tree", i)

    def instr_bytes(self, idx: int) -> bytes:
        return self._q("instr_bytes", idx)

    def template_tree(self) -> HashTree:
        return self._q("template_tree")

    def weight_header(self, widx: int) -> tuple:
        return self._q("weight_header", widx)

    def weights_tree(self) -> HashTree:
        return self._q("weights_tree")

    def operand_headers(self, i: int) -> list[tuple]:
        return self._q("operand_headers", i)

    def one_step_operands(self, i: int, e: int) -> list[tuple]:
        return self._q("one_step_operands", i, e)
