"""`obrain serve --submit`: every answer's claim posted with a bond and defended, on a thread of its own.

The request path only queues the receipt (``put``); this thread posts it with the existing ``Agent.submit``
(which replays the run first and never posts what it could not defend) and writes the chain fields into the
receipt file (so `GET /v1/receipts/{id}` shows the claim id), then calls ``Agent.defend_once`` on every
claim still pending, each poll, until it is final or slashed. A failing call is logged and retried at the
next poll; it never stops the server or the other claims.
"""

from __future__ import annotations

import queue
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

    def put(self, rid: str, receipt_path: Path) -> None:
        """Queue an answer's receipt for posting (called from the engine thread; returns at once)."""
        self.inbox.put((rid, Path(receipt_path)))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                rid, path = self.inbox.get(timeout=self.poll)
            except queue.Empty:
                rid = None
            if rid is not None:
                self._submit(rid, path)
            self._defend()

    def _submit(self, rid: str, path: Path) -> None:
        from ..receipt import ChainInfo, Receipt

        try:
            r = Receipt.load(path)
            cid = self.agent.submit(r)
        except Exception as e:  # logged; the server goes on
            self.log(f"receipt {rid}: not posted: {type(e).__name__}: {e}")
            return
        info = ChainInfo(
            chain_id=self.gc.chain.chain_id, registry=self.gc.address, claim_id=cid, tx_hash="", bond_wei=self.bond
        )
        r.model_copy(update={"chain": info}).save(path)
        self.open[cid], self.claims[rid] = rid, cid
        self.log(f"receipt {rid}: claim {cid} posted (bond {self.bond / 1e18} ETH)")

    def _defend(self) -> None:

        for cid in sorted(self.open):
            try:
                self.agent.defend_once(cid)
                st = self.gc.claim(cid).status
            except Exception as e:
                self.log(f"claim {cid}: defend failed, retrying next poll: {type(e).__name__}: {e}")
                continue
            if not st.unsettled:
                self.log(f"claim {cid}: {st.name}")
                del self.open[cid]
