"""Fast finality by a quorum of BLS attesters on anvil (contracts/src/Quorum.sol, docs/quorum.md), with synthetic
claims (tests/doubles.py) and games against MockOneStep:

* an honest claim certified by 3 of 4 attesters is Attested at once, long before its window closes, and its bond
  is released by finalize() after the window as before;
* a lie signed by a quorum is Attested, then the honest challenger wins the game: the claim is slashed and so is
  every attester that signed it (not the one that did not), and none of them can have withdrawn in between;
* forged, replayed (another chain id, another registry and its Quorum) and under-quorum certificates are refused
  with named errors and move no wei; malformed non-signer lists too;
* rogue keys (a key minus another's, a victim's G1 key with one's own G2 key, a proof for another owner) are
  refused at registration;
* an attester that signs two different outputs for one input is slashed on the two signatures.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from doubles import SyntheticRun
from doubles import SynthLie as Lie
from eth_utils import keccak

from prover.chain.registry import Refused
from prover.dispute.player import HonestPlayer, play
from prover.dispute.protocol import ClaimStatus, Result
from prover.quorum import bls
from prover.quorum.client import AttesterKey, AttesterStatus, Certificate, deploy_with_quorum

pytestmark = pytest.mark.chain

BOND = 10**15
STAKE = 10**16
WINDOW = 10**5
MOVE = 1000
DELAY = 2 * WINDOW
TAIL = 40 * MOVE
OP, CH, SUBMIT, SLASHER, ATTACKER = 1, 2, 7, 8, 9
OWNERS = (3, 4, 5, 6)
BN = bls.bn


@pytest.fixture(scope="module")
def mock(chain):
    return chain.deploy("MockOneStep")


@pytest.fixture(scope="module")
def keys():
    return [AttesterKey(f"quorum test {i}".encode()) for i in range(len(OWNERS))]


def deploy(chain, mock, keys, register=True):
    gc, qc = deploy_with_quorum(
        chain,
        registry=dict(
            claim_bond=BOND,
            challenge_bond=BOND,
            challenge_window=WINDOW,
            replay_micros=1,
            move_window=MOVE,
            k=2,
            one_step=mock.address,
        ),
        stake=STAKE,
        threshold_bps=6667,
        withdrawal_delay=DELAY,
        slash_tail=TAIL,
    )
    if register:
        for k, owner in zip(keys, OWNERS):
            qc.register(k, sender=owner)
    return gc, qc


@pytest.fixture()
def setup(chain, mock, keys):
    gc, qc = deploy(chain, mock, keys)
    honest = SyntheticRun([7, 8, 9], [0, 1, 42, 2], 2)
    honest.register(gc)
    return gc, qc, honest


def cert_for(qc, keys, claim_hash: bytes, signers) -> Certificate:
    return qc.certificate(claim_hash, {i: (keys[i].sign(claim_hash), keys[i].pk2) for i in signers})


def with_non_signers(qc, cert: Certificate, non: tuple) -> Certificate:
    """The certificate with another non-signer list (their registered keys beside it)."""
    ks = {a.index: a.key for a in qc.attesters()}
    return replace(cert, non_signers=tuple(non), non_signer_keys=tuple(ks[i] for i in non))


def wei(chain, gc, qc) -> tuple:
    """Every balance and credit a refused certificate must leave alone."""
    who = [chain.address(w) for w in (OP, CH, SUBMIT, SLASHER, *OWNERS)]
    return (
        chain.w3.eth.get_balance(gc.address),
        chain.w3.eth.get_balance(qc.address),
        tuple(chain.call(gc.registry, "credit", a) for a in who),
        tuple(qc.credit(a) for a in who),
    )


def refused(fn, error: str):
    with pytest.raises(Refused) as ei:
        fn()
    assert ei.value.error == error, ei.value
    return ei.value


def test_honest_claim_final_at_once(chain, setup, keys):
    gc, qc, honest = setup
    cid = honest.post(gc, bond=BOND, sender=OP).claim_id
    c = gc.claim(cid)
    cert = cert_for(qc, keys, c.claim_hash, [0, 1, 3])
    assert cert.non_signers == (2,) and qc.verify_certificate(cert) is None
    r = qc.certify(cert, sender=SUBMIT)
    assert r.event("ClaimAttested").args["claimId"] == cid
    assert r.event("Certified").args["signers"] == 3
    assert gc.claim(cid).status == gc.status_of(cid) == ClaimStatus.ATTESTED
    assert gc.quorum_address() == qc.address
    assert chain.timestamp() < c.window_end  # final now, not after the window
    print(f"\ncertify gas, 4 attesters, 1 non-signer: {r.gas}")
    refused(lambda: qc.certify(cert, sender=SUBMIT), "ClaimNotPending")  # once only
    refused(lambda: gc.finalize(cid), "WindowOpen")  # the bond stays locked while a game may still slash it
    chain.increase_time(WINDOW + 10)
    gc.finalize(cid, sender=SUBMIT)
    assert gc.claim(cid).status == ClaimStatus.FINAL
    assert chain.call(gc.registry, "credit", chain.address(OP)) == BOND


def test_quorum_that_signed_a_lie_is_slashed(chain, setup, keys):
    gc, qc, honest = setup
    liar = honest.with_lie(Lie(7))
    cid = liar.post(gc, bond=BOND, sender=OP).claim_id
    h = gc.claim(cid).claim_hash
    qc.certify(cert_for(qc, keys, h, [0, 1, 2]), sender=SUBMIT)
    assert gc.claim(cid).status == ClaimStatus.ATTESTED
    # a signer tries to leave before the game: its stake stays locked past the claim's window + the slash tail
    r = qc.exit(1, sender=OWNERS[1])
    unlock = r.event("Exited").args["unlockAt"]
    assert unlock >= gc.claim(cid).window_end + TAIL
    refused(lambda: qc.withdraw_stake(1, sender=OWNERS[1]), "StakeLocked")
    refused(lambda: qc.slash_signers(cid, sender=SLASHER), "ClaimNotSlashed")  # the game has not spoken
    late = AttesterKey(b"joined after the certificate")
    qc.register(late, sender=SLASHER)  # index 4: not in the certificate's set
    gid = gc.challenge(cid, bond=BOND, sender=CH).game_id
    g = play(gc, gid, [HonestPlayer(gc, liar, OP), HonestPlayer(gc, honest, CH)])
    assert g.result == Result.CHALLENGER_WON
    assert gc.claim(cid).status == ClaimStatus.SLASHED
    before = chain.w3.eth.get_balance(qc.address)
    (r,) = qc.slash_signers(cid, sender=SLASHER)
    assert sorted(e.args["index"] for e in r.events if e.name == "AttesterSlashed") == [0, 1, 2]
    st = {a.index: a.status for a in qc.attesters()}
    assert st == {i: AttesterStatus.SLASHED for i in (0, 1, 2)} | {i: AttesterStatus.ACTIVE for i in (3, 4)}
    assert qc.credit(SLASHER) == 3 * (STAKE // 2) and qc.credit("0x" + "00" * 20) == 3 * (STAKE - STAKE // 2)
    assert chain.w3.eth.get_balance(qc.address) == before == STAKE * 5  # credits, not transfers
    assert qc.aggregate_key() == bls.g1_words(BN.add(keys[3].pk1, late.pk1))  # the non-signer and the late joiner
    assert qc.set_state()[1] == 2
    refused(lambda: qc.slash_signers(cid, sender=SLASHER, attesters=[3]), "DidNotSign")  # a non-signer
    refused(lambda: qc.slash_signers(cid, sender=SLASHER, attesters=[4]), "DidNotSign")  # joined later
    refused(lambda: qc.slash_signers(cid, sender=SLASHER, attesters=[0]), "NothingToSlash")
    chain.increase_time(DELAY + TAIL + WINDOW)
    refused(lambda: qc.withdraw_stake(1, sender=OWNERS[1]), "NotExited")  # slashed, nothing left to withdraw
    qc.withdraw(sender=SLASHER)
    assert chain.w3.eth.get_balance(qc.address) == 2 * STAKE + 3 * (STAKE - STAKE // 2)


def test_refused_certificates_move_nothing(chain, mock, setup, keys):
    gc, qc, honest = setup
    cid = honest.post(gc, bond=BOND, sender=OP).claim_id
    c = gc.claim(cid)
    h = c.claim_hash
    before = wei(chain, gc, qc)
    good = cert_for(qc, keys, h, [0, 1, 2])
    # forged: a signature of another hash, a signer listed as non-signer, a non-signer hidden, a wrong G2 key
    other = cert_for(qc, keys, keccak(b"another claim"), [0, 1, 2])
    refused(lambda: qc.certify(replace(other, claim_hash=h), sender=SUBMIT), "BadSignature")
    refused(lambda: qc.certify(with_non_signers(qc, good, (2, 3)), sender=SUBMIT), "BelowQuorum")
    three = cert_for(qc, keys, h, [0, 1, 2, 3])
    refused(lambda: qc.certify(with_non_signers(qc, good, ()), sender=SUBMIT), "BadSignature")
    refused(lambda: qc.certify(replace(good, apk2=three.apk2), sender=SUBMIT), "BadSignature")
    tampered = bls.g1_words(BN.add(bls.g1_from_words(good.sig), BN.G1))
    refused(lambda: qc.certify(replace(good, sig=tampered), sender=SUBMIT), "BadSignature")
    # the precompile's G2 order matters: the aggregate key with its halves swapped is no point at all
    ax = good.apk2
    refused(lambda: qc.certify(replace(good, apk2=(ax[1], ax[0], ax[3], ax[2])), sender=SUBMIT), "BadPoint")
    # replayed: the same claim's hash on another chain id, or for another registry, is not this registry's claim
    args = (cid, c.model_root, c.input_hash, c.output_hash, c.step_count, c.trace_root)
    for chain_id, reg in ((1, gc.address), (chain.chain_id, chain.address(ATTACKER))):
        h2 = claim_hash_of(chain_id, reg, *args)
        refused(lambda h2=h2: qc.certify(cert_for(qc, keys, h2, [0, 1, 2, 3]), sender=SUBMIT), "UnknownClaimHash")
    gc2, qc2 = deploy(chain, mock, keys)  # the same attesters on another registry: its certificate is no good here
    honest.register(gc2)
    cid2 = honest.post(gc2, bond=BOND, sender=OP).claim_id
    h_other = gc2.claim(cid2).claim_hash
    assert h_other != h
    refused(lambda: qc.certify(cert_for(qc, keys, h_other, [0, 1, 2, 3]), sender=SUBMIT), "UnknownClaimHash")
    # under quorum: 2 of 4 signers is 50% < 66.67%
    e = refused(lambda: qc.certify(cert_for(qc, keys, h, [0, 1]), sender=SUBMIT), "BelowQuorum")
    assert e.error_args == (2, 4)
    # malformed non-signer lists
    refused(lambda: qc.certify(with_non_signers(qc, good, (3, 3)), sender=SUBMIT), "NonSignersUnsorted")
    refused(lambda: qc.certify(replace(good, non_signers=(9,)), sender=SUBMIT), "BadNonSigner")
    refused(
        lambda: qc.certify(replace(good, non_signer_keys=(bls.g1_words(keys[3].pk1),) * 2), sender=SUBMIT),
        "BadNonSigner",
    )
    wrong_key = (bls.g1_words(keys[2].pk1),)  # another attester's key under index 3
    refused(lambda: qc.certify(replace(good, non_signer_keys=wrong_key), sender=SUBMIT), "BadNonSigner")
    refused(lambda: qc.certify(replace(good, hints=(good.args()[1][4][-1] + 2,)), sender=SUBMIT), "BadHint")
    # only the Quorum may attest
    refused(lambda: gc._tx(gc.registry, "attest", h, sender=SUBMIT), "NotQuorum")
    assert gc.claim(cid).status == ClaimStatus.PENDING
    assert wei(chain, gc, qc) == before
    qc.certify(good, sender=SUBMIT)  # and the good one still passes
    assert gc.claim(cid).status == ClaimStatus.ATTESTED


def claim_hash_of(chain_id, registry, cid, model_root, input_hash, output_hash, step_count, trace_root) -> bytes:
    """ClaimRegistry.claimHashOf as another chain or registry would compute it."""
    return keccak(
        b"claim"
        + chain_id.to_bytes(32, "big")
        + bytes.fromhex(registry[2:])
        + cid.to_bytes(32, "big")
        + model_root
        + input_hash
        + output_hash
        + step_count.to_bytes(8, "big")
        + trace_root
    )


def test_claim_hash_of_mirror(chain, setup):
    gc, _, honest = setup
    cid = honest.post(gc, bond=BOND, sender=OP).claim_id
    c = gc.claim(cid)
    args = (cid, c.model_root, c.input_hash, c.output_hash, c.step_count, c.trace_root)
    assert claim_hash_of(chain.chain_id, gc.address, *args) == c.claim_hash


def test_rogue_keys_refused(chain, mock, keys):
    gc, qc = deploy(chain, mock, keys, register=False)
    victim, attacker = keys[0], AttesterKey(b"attacker")
    # (before the victim registers) the victim's G1 key with the attacker's G2 key and a valid proof for that G2 key
    m = bls.pop_message(chain.chain_id, qc.address, chain.address(ATTACKER), victim.pk1)
    pop = bls.sign(attacker.sk, m, bls.POP_DOMAIN)
    refused(
        lambda: qc.register_raw(
            bls.g1_words(victim.pk1), bls.g2_words(attacker.pk2), bls.g1_words(pop), sender=ATTACKER
        ),
        "BadPossession",
    )
    qc.register(victim, sender=OWNERS[0])
    before = wei(chain, gc, qc)
    # the rogue key pk_a - pk_victim: the aggregate of {victim, rogue} would be the attacker's own key
    rogue1 = BN.add(attacker.pk1, BN.neg(victim.pk1))
    rogue2 = BN.add(attacker.pk2, BN.neg(victim.pk2))
    m = bls.pop_message(chain.chain_id, qc.address, chain.address(ATTACKER), rogue1)
    fake_pop = bls.sign(attacker.sk, m, bls.POP_DOMAIN)  # the best it can sign: with the key it knows
    pk1, pk2 = bls.g1_words(rogue1), bls.g2_words(rogue2)
    refused(lambda: qc.register_raw(pk1, pk2, bls.g1_words(fake_pop), sender=ATTACKER), "BadPossession")
    # a proof of possession made for another owner (a front-run registration) or another Quorum
    k1 = keys[1]
    pop_other = bls.prove_possession(k1.sk, chain.chain_id, qc.address, chain.address(OWNERS[1]))
    refused(lambda: qc.register(k1, sender=ATTACKER, pop=pop_other), "BadPossession")
    pop_elsewhere = bls.prove_possession(k1.sk, chain.chain_id, gc.address, chain.address(ATTACKER))
    refused(lambda: qc.register(k1, sender=ATTACKER, pop=pop_elsewhere), "BadPossession")
    # a signature of a claim hash is no proof of possession (separate domains)
    refused(lambda: qc.register(k1, sender=ATTACKER, pop=k1.sign(m)), "BadPossession")
    refused(lambda: qc.register(victim, sender=OWNERS[0]), "KeyExists")
    refused(lambda: qc.register(k1, sender=OWNERS[1], stake=STAKE - 1), "WrongStake")
    refused(lambda: qc.register_raw((1, 3), bls.g2_words(k1.pk2), (0, 0), sender=OWNERS[1]), "BadPoint")
    assert wei(chain, gc, qc) == before and qc.count() == 1
    assert qc.aggregate_key() == bls.g1_words(victim.pk1)


def test_double_sign_slashed(chain, setup, keys):
    gc, qc, honest = setup
    ca_id = honest.post(gc, bond=BOND, sender=OP).claim_id
    ca = gc.claim(ca_id)
    wrong_out = [honest.output[0], honest.output[1] + 1]
    cb_id = honest.post(gc, bond=BOND, sender=OP, output=wrong_out).claim_id
    cb = gc.claim(cb_id)
    assert ca.input_hash == cb.input_hash and ca.output_hash != cb.output_hash
    ref = [
        (cid, c.model_root, c.input_hash, c.output_hash, c.step_count, c.trace_root)
        for cid, c in ((ca_id, ca), (cb_id, cb))
    ]
    k = keys[2]
    sa, sb = k.sign(ca.claim_hash), k.sign(cb.claim_hash)
    refused(lambda: qc.slash_double_sign(2, ref[0], ref[0], sa, sa, k.pk2, sender=SLASHER), "NotConflicting")
    refused(lambda: qc.slash_double_sign(2, ref[0], ref[1], sa, sa, k.pk2, sender=SLASHER), "BadSignature")
    refused(lambda: qc.slash_double_sign(1, ref[0], ref[1], sa, sb, k.pk2, sender=SLASHER), "BadSignature")
    r = qc.slash_double_sign(2, ref[0], ref[1], sa, sb, k.pk2, sender=SLASHER)
    assert r.event("AttesterSlashed").args["index"] == 2
    assert qc.attesters()[2].status == AttesterStatus.SLASHED
    assert qc.credit(SLASHER) == STAKE // 2
    assert qc.set_state()[1] == 3
    want = bls.aggregate([keys[i].pk1 for i in (0, 1, 3)])
    assert qc.aggregate_key() == bls.g1_words(want)
    refused(lambda: qc.slash_double_sign(2, ref[0], ref[1], sa, sb, k.pk2, sender=SLASHER), "NothingToSlash")


def test_exit_then_withdraw(chain, setup, keys):
    gc, qc, _ = setup
    refused(lambda: qc.exit(0, sender=OWNERS[1]), "NotOwner")
    r = qc.exit(0, sender=OWNERS[0])
    unlock = r.event("Exited").args["unlockAt"]
    assert unlock == chain.timestamp() + DELAY  # nothing certified yet: the delay alone
    refused(lambda: qc.exit(0, sender=OWNERS[0]), "NotActive")
    refused(lambda: qc.withdraw_stake(0, sender=OWNERS[0]), "StakeLocked")
    chain.increase_time(DELAY)
    qc.withdraw_stake(0, sender=OWNERS[0])
    assert qc.credit(OWNERS[0]) == STAKE
    bal = chain.w3.eth.get_balance(chain.address(OWNERS[0]))
    r = qc.withdraw(sender=OWNERS[0])
    cost = r.gas * int(r.receipt["effectiveGasPrice"])
    assert chain.w3.eth.get_balance(chain.address(OWNERS[0])) == bal + STAKE - cost
    assert chain.w3.eth.get_balance(qc.address) == 3 * STAKE


def test_certificate_gas_100_attesters_10pct(chain, mock):
    """The issue's target, measured as bench_gas.py --quorum measures it: 100 attesters, 10 non-signers, the
    certify transaction under 250k gas."""
    import importlib.util
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        spec = importlib.util.spec_from_file_location("_quorumgas", scripts / "_quorumgas.py")
        qg = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(qg)
    finally:
        sys.path.remove(str(scripts))
    row = qg.measure(chain, mock.address, 100, 0.1, qg.keys(100))
    print(f"\n100 attesters, 10 non-signers: verify {row['verify_gas']}, certify {row['certify_gas']} gas")
    assert row["non_signers"] == 10 and row["certify_gas"] < qg.TARGET


def test_registry_and_quorum_bind_each_other(chain, mock, keys):
    """A registry refuses a Quorum bound to another address (BadParams); a Quorum needs a registry, a stake of at
    least 2 wei, a threshold in (0, 10000] and a withdrawal delay."""
    from prover.chain.client import Reverted
    from prover.quorum.client import create_address

    other = chain.deploy("Quorum", chain.address(ATTACKER), STAKE, 6667, DELAY, TAIL)
    me = chain.address(None)
    reg = (BOND, BOND, WINDOW, 1, MOVE, 2, mock.address, other.address)
    with pytest.raises(Reverted) as ei:
        chain.deploy("ClaimRegistry", *reg)
    assert ei.value.data[:4] == keccak(b"BadParams()")[:4]
    zero = "0x" + "00" * 20
    bad = [(zero, STAKE, 6667, DELAY, TAIL), (me, 1, 6667, DELAY, TAIL), (me, STAKE, 0, DELAY, TAIL)]
    bad += [(me, STAKE, 10_001, DELAY, TAIL), (me, STAKE, 6667, 0, TAIL)]
    for args in bad:
        with pytest.raises(Reverted) as ei:
            chain.deploy("Quorum", *args)
        assert ei.value.data[:4] == keccak(b"BadParams()")[:4], args
    nonce = chain.w3.eth.get_transaction_count(me, "pending")
    assert chain.deploy("Quorum", me, STAKE, 6667, DELAY, TAIL).address == create_address(me, nonce)
