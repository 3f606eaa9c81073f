"""An attester: a watcher (prover.dispute.watcher) that also signs the hash of every claim its replay found right,
and the files those signatures travel in (docs/quorum.md).

    a = Attester(watcher, qc, key, out_dir)       # the watcher replays (and challenges wrong claims, within budget)
    while True: a.tick()                          # `obrain attest run`: sign what was replayed right
    cert = collect(qc, claim_id, [out_dir, ...])  # `obrain attest aggregate`: every valid signature, aggregated

A signature file (``claim-<id>-attester-<index>.json``) names the chain, registry, Quorum, claim id and hash, the
attester's index and G2 key, and its signature (G1 words, decimal strings). It is only ever written for a claim
the attester replayed itself and found right, and never for a second output of an input it already signed (the
double-sign rule slashes that; a disagreement of replays would be a numerics bug, and is logged instead).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from . import bls
from .client import AttesterKey, AttesterStatus, Certificate, QuorumClient

FORMAT = 1


def signature_path(out_dir: Path, claim_id: int, index: int) -> Path:
    return Path(out_dir) / f"claim-{claim_id}-attester-{index}.json"


class Attester:
    """Signs the right claims of a Watcher's replays with one registered BLS key."""

    def __init__(self, watcher, qc: QuorumClient, key: AttesterKey, out_dir: Path):
        self.w, self.qc, self.key = watcher, qc, key
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        pk1 = bls.g1_words(key.pk1)
        mine = [a for a in qc.attesters() if a.key == pk1]
        if not mine:
            raise ValueError("this BLS key is not registered in the Quorum (obrain attest register)")
        self.index = mine[-1].index
        self.log_path = self.out_dir / f"signed-{self.index}.json"
        self.signed: dict[str, str] = json.loads(self.log_path.read_text()) if self.log_path.exists() else {}

    def tick(self) -> int:
        """One watcher tick, then a signature for every claim found right and not signed yet; returns how many."""
        self.w.tick()
        return self.sign_right()

    def sign_right(self) -> int:
        """A signature for every claim the watcher found right and this key has not signed yet (the watcher may be
        ticked elsewhere, e.g. shared by several keys); returns how many."""
        if self.qc.attester(self.index).status != AttesterStatus.ACTIVE:
            return 0
        n = 0
        for c in sorted(self.w.claims.values(), key=lambda c: c.claim_id):
            if c.state == "right" and not signature_path(self.out_dir, c.claim_id, self.index).exists():
                n += self.sign(c)
        return n

    def sign(self, c) -> int:
        """Sign claim entry c (found right) unless its input already has another signed output; 1 if signed."""
        claim_hash = bytes.fromhex(c.claim_hash[2:])
        onchain = self.qc.gc.claim(c.claim_id)
        if onchain.claim_hash != claim_hash:  # the event and the registry disagree: sign neither
            self.w.emit({"event": "error", "claim": c.claim_id, "why": "claim hash differs from the registry's"})
            return 0
        seen = f"{c.model_root}:{onchain.input_hash.hex()}"
        out = "0x" + onchain.output_hash.hex()
        if self.signed.get(seen, out) != out:
            self.w.emit({"event": "error", "claim": c.claim_id, "why": "another output of this input was signed"})
            return 0
        sig = self.key.sign(claim_hash)
        doc = {
            "format": FORMAT,
            "chain_id": self.qc.chain.chain_id,
            "registry": self.qc.gc.address,
            "quorum": self.qc.address,
            "claim_id": c.claim_id,
            "claim_hash": c.claim_hash,
            "attester": self.index,
            "pk2": [str(w) for w in bls.g2_words(self.key.pk2)],
            "sig": [str(w) for w in bls.g1_words(sig)],
        }
        self.signed[seen] = out
        _write_json(self.log_path, self.signed)  # the promise first: a crash never leaves a conflicting signature
        _write_json(signature_path(self.out_dir, c.claim_id, self.index), doc)
        self.w.emit({"event": "attested", "claim": c.claim_id, "attester": self.index})
        return 1


def _write_json(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def read_signatures(qc: QuorumClient, claim_id: int, dirs: Iterable[Path]) -> dict[int, tuple]:
    """{attester index: (signature, G2 key)} from the signature files in dirs for this claim on this chain, registry
    and Quorum (files for anything else, or unreadable ones, are skipped)."""
    want = qc.gc.claim(claim_id).claim_hash
    out: dict[int, tuple] = {}
    for d in dirs:
        for p in sorted(Path(d).glob(f"claim-{claim_id}-attester-*.json")):
            try:
                doc = json.loads(p.read_text())
                ok = (
                    doc["format"] == FORMAT
                    and doc["chain_id"] == qc.chain.chain_id
                    and doc["registry"].lower() == qc.gc.address.lower()
                    and doc["quorum"].lower() == qc.address.lower()
                    and bytes.fromhex(doc["claim_hash"][2:]) == want
                )
                if ok:
                    out[int(doc["attester"])] = (bls.g1_from_words(doc["sig"]), bls.g2_from_words(doc["pk2"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return out


def collect(qc: QuorumClient, claim_id: int, dirs: Iterable[Path]) -> tuple[Certificate | None, list[int]]:
    """The certificate of every valid signature for the claim, and the attesters whose files were dropped. The
    aggregate is checked by the chain (verifyCertificate, an eth_call); only if it fails is each signature checked
    here (a pairing each) and the bad ones dropped. None if no valid signature remains."""
    claim_hash = qc.gc.claim(claim_id).claim_hash
    sigs = read_signatures(qc, claim_id, dirs)
    cert = qc.certificate(claim_hash, sigs)
    if sigs and qc.verify_certificate(cert) in (None, "BelowQuorum"):
        return cert, []
    keys = {a.index: bls.g1_from_words(a.key) for a in qc.attesters()}
    bad = [i for i, (s, k2) in sigs.items() if i not in keys or not bls.verify_g1g2(claim_hash, keys[i], k2, s)]
    good = {i: v for i, v in sigs.items() if i not in bad}
    return (qc.certificate(claim_hash, good) if good else None), bad
