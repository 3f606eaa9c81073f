"""The Quorum contract from Python: deployment beside a registry, registration, certificates, slashing.

    gc, qc = deploy_with_quorum(chain, registry=dict(claim_bond=.., ..., one_step=addr), stake=10**16,
                                threshold_bps=6667, withdrawal_delay=3600, slash_tail=600)
    idx = qc.register(AttesterKey(b"seed"), sender=1)            # pays `stake`, proves possession
    sig = AttesterKey(b"seed").sign(claim_hash)                   # off chain, by each attester
    cert = qc.certificate(claim_hash, {idx: (sig, key.pk2)})      # aggregates; non-signers from the chain
    qc.certify(cert, sender=any)                                  # the claim is Attested at once

Transactions go through the registry client (GameClient._tx): a refusal raises Refused naming the custom error,
and TxResult.events holds the Quorum's events beside the registry's and the game's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

import rlp  # type: ignore[import-untyped]
from eth_utils import keccak, to_checksum_address

from ..chain.client import Chain, Reverted
from ..chain.registry import GameClient, TxResult
from . import bls


SLASH_BATCH = 100  # attesters slashed a transaction


class AttesterStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    EXITED = 2
    WITHDRAWN = 3
    SLASHED = 4


@dataclass(frozen=True)
class Attester:
    index: int
    key: tuple[int, int]  # G1 (x, y)
    owner: str
    join_epoch: int
    exit_epoch: int  # 0: still in the set
    status: AttesterStatus
    unlock_at: int

    def in_set(self, epoch: int) -> bool:
        """Whether the attester was in the active set at this epoch."""
        return self.join_epoch <= epoch and (self.exit_epoch == 0 or epoch < self.exit_epoch)


@dataclass(frozen=True)
class Certificate:
    claim_hash: bytes
    sig: tuple[int, int]  # aggregate signature, G1 words
    apk2: tuple[int, int, int, int]  # the signers' aggregate key, G2 words (x_im, x_re, y_im, y_re)
    non_signers: tuple[int, ...]  # active indices that did not sign, ascending
    non_signer_keys: tuple[tuple[int, int], ...]  # their G1 keys (words), in the same order
    hints: tuple[int, ...] = ()  # bls.hash_to_g1_hints of the claim hash (computed if left empty)

    def args(self) -> tuple:
        """(claimHash, Quorum.Certificate tuple) as certify and verifyCertificate take them."""
        hints = self.hints or tuple(bls.hash_to_g1_hints(bls.SIG_DOMAIN, self.claim_hash))
        ks = [list(k) for k in self.non_signer_keys]
        return (self.claim_hash, (list(self.sig), list(self.apk2), pack_indices(self.non_signers), ks, list(hints)))


def _attester(index: int, r) -> Attester:
    key, (owner, join, exit_, status, unlock) = r
    return Attester(index, tuple(key), owner, join, exit_, AttesterStatus(status), unlock)


class AttesterKey:
    """An attester's BLS key from a seed (bls.keygen), with its G1 and G2 public keys."""

    def __init__(self, seed: bytes | None = None, *, sk: int | None = None):
        if sk is None and seed is None:
            raise ValueError("an attester key needs a seed or a secret")
        self.sk = bls.keygen(seed) if seed is not None else int(sk or 0) % bls.R
        if self.sk == 0:
            raise ValueError("secret key 0")

    @cached_property
    def pk1(self):
        return bls.pk_g1(self.sk)

    @cached_property
    def pk2(self):
        return bls.pk_g2(self.sk)

    def sign(self, claim_hash: bytes):
        return bls.sign(self.sk, claim_hash)


def pack_indices(ix) -> bytes:
    """Attester indices as the contract takes them: 2 bytes each, big-endian (indices < Quorum.MAX_ATTESTERS)."""
    return b"".join(int(i).to_bytes(2, "big") for i in ix)


def unpack_indices(b: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b), 2))


def create_address(sender: str, nonce: int) -> str:
    """The address CREATE gives the contract `sender` deploys with this nonce: keccak(rlp([sender, nonce]))[12:]."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def deploy_with_quorum(
    chain: Chain,
    *,
    registry: Mapping[str, Any],
    stake: int,
    threshold_bps: int,
    withdrawal_delay: int,
    slash_tail: int,
    sender=None,
    quorum_contract: str = "Quorum",
) -> tuple[GameClient, QuorumClient]:
    """Deploy a Quorum bound to the address the registry will get (the sender's next nonce but one), then the
    ClaimRegistry (GameClient.deploy kwargs `registry`) naming it; each checks the other. Another transaction from
    the sender in between makes the registry's constructor refuse (BadParams)."""
    who = to_checksum_address(chain.address(sender))
    nonce = chain.w3.eth.get_transaction_count(who, "pending")
    reg_addr = create_address(who, nonce + 1)
    q = chain.deploy(quorum_contract, reg_addr, stake, threshold_bps, withdrawal_delay, slash_tail, sender=sender)
    gc = GameClient.deploy(chain, **registry, quorum=q.address, sender=sender)
    if gc.address != reg_addr:
        raise RuntimeError(f"registry deployed at {gc.address}, the Quorum expects {reg_addr}")
    qc = QuorumClient(gc, q.address, contract=quorum_contract)
    qc.deploy_gas = int(q.deploy_receipt["gasUsed"])  # type: ignore[attr-defined]  # set by Chain.deploy
    return gc, qc


class QuorumClient:
    """A Quorum beside its registry's GameClient: every function, typed."""

    deploy_gas = 0  # set by deploy_with_quorum

    def __init__(self, gc: GameClient, address: str | None = None, *, contract: str = "Quorum"):
        self.gc, self.chain = gc, gc.chain
        if address is None:
            address = gc.quorum_address()
            if address is None:
                raise ValueError(f"the registry {gc.address} has no Quorum")
        self.q = self.chain.at(contract, address)
        abi: list[Any] = list(self.q.abi)
        for e in abi:
            if e.get("type") == "event":
                gc._events[(self.q.address, e["name"])] = getattr(self.q.events, e["name"])
        self.stake = self.chain.call(self.q, "stake")
        self.threshold_bps = self.chain.call(self.q, "thresholdBps")
        self.withdrawal_delay = self.chain.call(self.q, "withdrawalDelay")
        self.slash_tail = self.chain.call(self.q, "slashTail")

    @property
    def address(self) -> str:
        return self.q.address

    def _tx(self, fn: str, *args, sender=None, value: int = 0, gas=None) -> TxResult:
        return self.gc._tx(self.q, fn, *args, sender=sender, value=value, gas=gas)

    # -- the set -----------------------------------------------------------------------------------
    def register(self, key: AttesterKey, *, sender=None, stake: int | None = None, pop=None) -> TxResult:
        """register(pk1, pk2, proof of possession) paying `stake`; `pop` overrides the proof (tests)."""
        owner = self.chain.address(sender)
        if pop is None:
            pop = bls.prove_possession(key.sk, self.chain.chain_id, self.address, owner)
        return self.register_raw(
            bls.g1_words(key.pk1), bls.g2_words(key.pk2), bls.g1_words(pop), sender=sender, stake=stake
        )

    def register_raw(self, pk1, pk2, pop, *, sender=None, stake: int | None = None) -> TxResult:
        value = self.stake if stake is None else stake
        return self._tx("register", list(pk1), list(pk2), list(pop), sender=sender, value=value)

    def exit(self, index: int, sender=None) -> TxResult:
        return self._tx("exit", index, sender=sender)

    def withdraw_stake(self, index: int, sender=None) -> TxResult:
        return self._tx("withdrawStake", index, sender=sender)

    def withdraw(self, sender=None) -> TxResult:
        return self._tx("withdraw", sender=sender)

    def credit(self, who) -> int:
        return self.chain.call(self.q, "credit", self.chain.address(who))

    def count(self) -> int:
        return self.chain.call(self.q, "attesterCount")

    def set_state(self) -> tuple[int, int, int]:
        """(epoch, active attesters, slashableUntil)."""
        return tuple(self.chain.call(self.q, "setState"))

    def attesters(self) -> list[Attester]:
        """Every attester ever registered, by index (batched eth_calls)."""
        n = self.count()
        return [
            _attester(i, r) for i, r in enumerate(self.chain.call_many([(self.q, "attester", (i,)) for i in range(n)]))
        ]

    def attester(self, index: int) -> Attester:
        return _attester(index, self.chain.call(self.q, "attester", index))

    def aggregate_key(self) -> tuple[int, int]:
        return tuple(self.chain.call(self.q, "aggregateKey"))

    # -- certificates ------------------------------------------------------------------------------
    def certificate(self, claim_hash: bytes, sigs: Mapping[int, tuple[Any, Any]]) -> Certificate:
        """The certificate of these signatures {attester index: (signature G1, its G2 key)}: the aggregate
        signature, the aggregate G2 key and every active attester without a signature as a non-signer. Signatures
        of attesters not active now are left out."""
        active = {a.index: a.key for a in self.attesters() if a.status == AttesterStatus.ACTIVE}
        use = {i: v for i, v in sigs.items() if i in active}
        sig = bls.aggregate(s for s, _ in use.values())
        apk2 = bls.aggregate(k for _, k in use.values()) if use else bls.bn.Z2
        non = tuple(sorted(set(active) - set(use)))
        keys = tuple(active[i] for i in non)
        return Certificate(bytes(claim_hash), bls.g1_words(sig), bls.g2_words(apk2), non, keys)

    def verify_certificate(self, cert: Certificate) -> str | None:
        """Quorum.verifyCertificate (an eth_call: the chain's check, no transaction): None if it verifies, else the
        custom error's name."""
        try:
            self.chain.call(self.q, "verifyCertificate", *cert.args())
        except Reverted as e:
            return self.gc.decode_error(e.data)[0] or "reverted"
        return None

    def certify(self, cert: Certificate, sender=None, gas=None) -> TxResult:
        return self._tx("certify", *cert.args(), sender=sender, gas=gas)

    def certified(self, claim_id: int) -> tuple[int, tuple[int, ...]] | None:
        """(epoch, non-signers) of the claim's certificate, from its Certified event; None if never certified."""
        evs = self.gc.events("Certified", claimId=claim_id)
        evs = [e for e in evs if e.address == self.address]
        if not evs:
            return None
        a = evs[-1].args
        return int(a["epoch"]), unpack_indices(bytes(a["nonSigners"]))

    # -- slashing ----------------------------------------------------------------------------------
    def signers_of(self, claim_id: int) -> tuple[int, tuple[int, ...], list[int]]:
        """(epoch, non-signers, every attester that signed the claim's certificate and still holds its stake)."""
        got = self.certified(claim_id)
        if got is None:
            raise ValueError(f"claim {claim_id} has no certificate")
        epoch, ns = got
        skip = set(ns)
        held = (AttesterStatus.ACTIVE, AttesterStatus.EXITED)
        signed = [a.index for a in self.attesters() if a.in_set(epoch) and a.index not in skip and a.status in held]
        return epoch, ns, signed

    def slash_signers(
        self, claim_id: int, sender=None, attesters: Sequence[int] | None = None, batch: int = SLASH_BATCH
    ) -> list[TxResult]:
        """slashSigners for a slashed claim: every signer still holding stake (or `attesters`), `batch` a
        transaction (each slash rewrites a few slots and the aggregate key: ~1,000 in one would pass the 2^24 gas
        cap). The transactions, in order."""
        epoch, ns, signed = self.signers_of(claim_id)
        who = sorted(signed if attesters is None else attesters)
        parts = [who[i : i + batch] for i in range(0, len(who), batch)] or [[]]
        return [self._tx("slashSigners", claim_id, epoch, pack_indices(ns), p, sender=sender) for p in parts]

    def slash_double_sign(self, index: int, a: Sequence, b: Sequence, sig_a, sig_b, pk2, sender=None) -> TxResult:
        """slashDoubleSign: a, b = (claimId, modelRoot, inputHash, outputHash, stepCount, traceRoot)."""
        return self._tx(
            "slashDoubleSign",
            index,
            tuple(a),
            tuple(b),
            list(bls.g1_words(sig_a)),
            list(bls.g1_words(sig_b)),
            list(bls.g2_words(pk2)),
            sender=sender,
        )
