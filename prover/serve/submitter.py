"""`obrain serve --submit`: every answer's claim posted with a bond and defended, on a thread of its own.

The engine thread hands over each answer's run (``put``): its digest is written into the run directory (the
records, output roots and final caches: prover.dispute.replay.write_digest, no engine work) and only paths are
queued. This thread posts it with ``Agent.submit`` from that digest (checked against the receipt: it never
posts what it could not defend, and never runs the engine a second time) and writes the chain fields into the
receipt file (so `GET /v1/receipts/{id}` shows the claim id), then calls ``Agent.defend_once`` on every claim
still pending, each poll, until it is final or slashed (the agent keeps a few runs loaded and the rest on disk,
and deletes a settled claim's digest). A failing call is logged and retried at the next poll; it never stops
the server or the other claims.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path


class Submitter:
    def __init__(self, gc, lm, sender, *, lie=None, poll: float = 1.0, log: Callable[[str], None] = print):
        from ..dispute.agent import Agent

        self.gc, self.poll, self.log = gc, poll, log
        self.bond = gc.claim_bond  # the registry's one claim bond
        self.agent = Agent(gc, lm, sender, lie=lie, log=log, from_block=getattr(gc, "first_block", 0))
        self.inbox: queue.Queue = queue.Queue()
        self.open: dict[int, str] = {}  # claim id -> receipt id, until settled
        self.claims: dict[str, int] = {}  # receipt id -> claim id
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="submitter", daemon=True)

    def start(self) -> Submitter:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.thread.join(timeout)

    def put(self, rid: str, receipt_path: Path, run=None) -> None:
        """Queue an answer's receipt for posting (called from the engine thread). ``run``: the answer's traced run,
        written as a digest beside the receipt so the claim is posted and defended without running it again."""
        digest = None
        if run is not None:
            import numpy as np

            from ..dispute.replay import write_digest

            digest = Path(receipt_path).parent / "digest"
            run_tensor = [int(x) for x in np.asarray(run.settings.run_tensor()).reshape(-1)]
            write_digest(run, run.result.prompt, run_tensor, run.result.tokens, digest, run.tracer.corrupt)
        self.inbox.put((rid, Path(receipt_path), digest))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step(self.poll)

    def step(self, wait: float = 0.0) -> int:
        """One pass: post the next queued answer (waiting up to ``wait`` s for one), then defend every open claim;
        the number of transactions sent."""
        try:
            rid, path, digest = self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
        except queue.Empty:
            rid = None
        sent = 0
        if rid is not None:
            sent += self._submit(rid, path, digest)
        return sent + self._defend()

    def _submit(self, rid: str, path: Path, digest: Path | None = None) -> int:
        from ..receipt import ChainInfo, Receipt

        try:
            r = Receipt.load(path)
            cid = self.agent.submit(r, digest=digest)
        except Exception as e:  # logged; the server goes on
            self.log(f"receipt {rid}: not posted: {type(e).__name__}: {e}")
            if digest is not None:
                shutil.rmtree(digest, ignore_errors=True)
            return 0
        info = ChainInfo(
            chain_id=self.gc.chain.chain_id, registry=self.gc.address, claim_id=cid, tx_hash="", bond_wei=self.bond
        )
        r.model_copy(update={"chain": info}).save(path)
        self.open[cid], self.claims[rid] = rid, cid
        self.log(f"receipt {rid}: claim {cid} posted (bond {self.bond / 1e18} ETH)")
        return 1

    def _defend(self) -> int:

        sent = 0
        for cid in sorted(self.open):
            try:
                sent += self.agent.defend_once(cid)
                st = self.gc.claim(cid).status
            except Exception as e:
                self.log(f"claim {cid}: defend failed, retrying next poll: {type(e).__name__}: {e}")
                continue
            if not st.unsettled:
                self.log(f"claim {cid}: {st.name}")
                del self.open[cid]
        return sent
