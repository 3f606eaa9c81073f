"""prover.quorum.bls == contracts/src/BLS.sol on the shared vectors (tests/vectors/bls.json) and random messages:
hash to G1 (the counter, the even y), the gamma weight, the one-pairing check of a signature against a G1 and a G2
key, proofs of possession; and the G2 word order (x_im, x_re, y_im, y_re) the precompile needs, against its swap."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest
from eth_utils import keccak
from prover.chain.client import Reverted
from prover.quorum import bls

ROOT = Path(__file__).resolve().parents[1]
V = json.loads((ROOT / "tests" / "vectors" / "bls.json").read_text())
BN = bls.bn
_spec = importlib.util.spec_from_file_location("gen_vectors_bls", ROOT / "scripts" / "gen_vectors_bls.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def h2b(x: str) -> bytes:
    return bytes.fromhex(x[2:])


def ints(ws) -> list[int]:
    return [int(w) for w in ws]


@pytest.fixture(scope="module")
def bh(chain):
    return chain.deploy("BLSHarness")


def test_vectors_are_current():
    """The file is what scripts/gen_vectors_bls.py writes from prover/quorum/bls.py now."""
    assert gen.build() == V


def test_hash_to_g1_is_the_spec():
    """Each vector's point is the first counter whose x^3 + 3 is a square (every earlier one is not), y even."""
    for v in V["hash_to_g1"]:
        dom, msg = h2b(v["domain"]), h2b(v["msg"])
        x, y, ctr = int(v["x"]), int(v["y"]), v["ctr"]
        assert (x, y, ctr) == bls.hash_to_g1_trace(dom, msg)
        assert y % 2 == 0 and y * y % bls.P == (x**3 + 3) % bls.P
        for c in range(ctr + 1):
            xc = int.from_bytes(keccak(dom + msg + bls.u256(c)), "big") % bls.P
            f = (xc**3 + 3) % bls.P
            assert (pow(f, (bls.P - 1) // 2, bls.P) == 1) == (c == ctr)  # Euler's criterion
        assert c == ctr and xc == x


def test_python_sign_verify_aggregate():
    """Signatures verify under their key and no other message or domain; the aggregate verifies by the one-pairing
    check against the G1 aggregate, and not against a G1 key of another secret."""
    msg = h2b(V["message"])
    k0 = V["keys"][0]
    pk2 = bls.g2_from_words(ints(k0["pk2"]))
    s0 = bls.g1_from_words(ints(V["signatures"][0]))
    assert bls.verify(pk2, msg, s0)
    assert not bls.verify(pk2, keccak(b"other"), s0)
    assert not bls.verify(pk2, msg, s0, domain=bls.POP_DOMAIN)
    agg = V["aggregate"]
    apk1, apk2 = bls.g1_from_words(ints(agg["apk1"])), bls.g2_from_words(ints(agg["apk2"]))
    sig = bls.g1_from_words(ints(agg["sig"]))
    assert BN.eq(bls.aggregate([bls.g1_from_words(ints(k["pk1"])) for k in V["keys"]]), apk1)
    assert bls.verify_g1g2(msg, apk1, apk2, sig)
    assert not bls.verify_g1g2(msg, BN.add(apk1, BN.G1), apk2, sig)  # G1 key with another discrete log


def test_g2_words_round_trip_and_refuse_the_swap():
    """g2_words is (x_im, x_re, y_im, y_re); the (re, im) swap of a generator multiple is not on the twist."""
    pk2 = bls.pk_g2(12345)
    w = bls.g2_words(pk2)
    x, y = BN.normalize(pk2)
    assert w == (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0])
    assert BN.eq(bls.g2_from_words(w), pk2)
    with pytest.raises(ValueError):
        bls.g2_from_words((w[1], w[0], w[3], w[2]))
    with pytest.raises(ValueError):
        bls.g1_from_words((1, 3))


def test_hash_to_g1_on_evm(chain, bh):
    rng = random.Random(17)
    cases = [(h2b(v["domain"]), h2b(v["msg"])) for v in V["hash_to_g1"]]
    cases += [(bls.SIG_DOMAIN, rng.randbytes(32)) for _ in range(24)]
    got = chain.call_many([(bh, "hashToG1", (d, m)) for d, m in cases])
    assert [tuple(g) for g in got] == [bls.hash_to_g1_trace(d, m)[:2] for d, m in cases]


def test_group_ops_on_evm(chain, bh):
    rng = random.Random(5)
    pts = [bls.pk_g1(rng.randrange(1, bls.R)) for _ in range(3)]
    w = [list(bls.g1_words(p)) for p in pts]
    s = rng.randrange(bls.R)
    calls = [(bh, "add", (w[0], w[1])), (bh, "add", (w[2], [0, 0])), (bh, "mul", (w[0], s))]
    calls += [(bh, "isG1", tuple(w[1])), (bh, "isG1", (w[1][0], w[1][1] + 1)), (bh, "isG1", (0, 0))]
    got = chain.call_many(calls)
    assert tuple(got[0]) == bls.g1_words(BN.add(pts[0], pts[1]))
    assert tuple(got[1]) == tuple(w[2])
    assert tuple(got[2]) == bls.g1_words(BN.multiply(pts[0], s))
    assert got[3:] == [True, False, False]
    with pytest.raises(Reverted) as ei:
        chain.call(bh, "add", [1, 3], w[0])  # (1, 3) is not on the curve
    assert ei.value.data[:4] == keccak(b"BadPoint()")[:4]


def test_signature_check_on_evm(chain, bh):
    """The vectors' aggregate and every proof of possession pass BLS.verifyG1G2 with Python's gamma; a tampered
    signature, another message, a mismatched G1 key fail; the G2 key with its F_p^2 halves swapped is refused."""
    msg = h2b(V["message"])
    agg = V["aggregate"]
    apk1, apk2, sig = ints(agg["apk1"]), ints(agg["apk2"]), ints(agg["sig"])
    bad_sig = list(bls.g1_words(BN.add(bls.g1_from_words(sig), BN.G1)))
    bad_apk1 = list(bls.g1_words(BN.add(bls.g1_from_words(apk1), BN.G1)))
    d = h2b(V["sig_domain"])
    calls = [
        (bh, "gamma", (msg, apk1, apk2, sig)),
        (bh, "verifyG1G2", (d, msg, apk1, apk2, sig)),
        (bh, "verifyG1G2", (d, msg, apk1, apk2, bad_sig)),
        (bh, "verifyG1G2", (d, keccak(b"x"), apk1, apk2, sig)),
        (bh, "verifyG1G2", (d, msg, bad_apk1, apk2, sig)),
        (bh, "verifyG1G2", (h2b(V["pop_domain"]), msg, apk1, apk2, sig)),
    ]
    p = V["pop"]
    for k in V["keys"]:
        pk1 = bls.g1_from_words(ints(k["pk1"]))
        m = bls.pop_message(p["chain_id"], p["quorum"], p["owner"], pk1)
        calls.append((bh, "verifyG1G2", (bls.POP_DOMAIN, m, ints(k["pk1"]), ints(k["pk2"]), ints(k["pop"]))))
    got = chain.call_many(calls)
    assert got[0] == int(agg["gamma"])
    assert got[1:6] == [True, False, False, False, False]
    assert got[6:] == [True] * len(V["keys"])
    swapped = [apk2[1], apk2[0], apk2[3], apk2[2]]
    with pytest.raises(Reverted) as ei:
        chain.call(bh, "verifyG1G2", d, msg, apk1, swapped, sig)
    assert ei.value.data[:4] == keccak(b"BadPoint()")[:4]


def test_pairing_on_evm_matches_python(chain, bh):
    """e(a, -G2) * e(b, q) == 1 on the precompile exactly when Python's pairing product says so."""
    q = bls.pk_g2(7)
    a = bls.pk_g1(7 * 11)
    b_ok, b_bad = bls.pk_g1(11), bls.pk_g1(12)
    qw = list(bls.g2_words(q))
    got = chain.call_many([(bh, "pairing2", (list(bls.g1_words(a)), list(bls.g1_words(b)), qw)) for b in (b_ok, b_bad)])
    want = [bls.pairing_product_is_one([(BN.neg(BN.G2), a), (q, b)]) for b in (b_ok, b_bad)]
    assert got == want == [True, False]


def test_hinted_hash_to_g1_on_evm(chain, bh):
    """hashToG1Hinted accepts exactly hashToG1's point: the hints of every vector give it; an odd y (p - y), a
    skipped counter (a later point claimed while an earlier x is on the curve), a wrong non-square proof, a wrong y
    or no hints are refused (BadHint)."""
    cases = [(h2b(v["domain"]), h2b(v["msg"])) for v in V["hash_to_g1"]]
    hints = [bls.hash_to_g1_hints(d, m) for d, m in cases]
    got = chain.call_many([(bh, "hashToG1Hinted", (d, m, hs)) for (d, m), hs in zip(cases, hints)])
    assert [tuple(g) for g in got] == [bls.hash_to_g1_trace(d, m)[:2] for d, m in cases]
    (dd, mm), good = next((c, h) for c, h in zip(cases, hints) if len(h) >= 2)
    d0 = next(c for c, h in zip(cases, hints) if len(h) == 1)
    x1 = int.from_bytes(keccak(d0[0] + d0[1] + bls.u256(1)), "big") % bls.P
    f1 = (x1**3 + 3) % bls.P
    y1 = pow(f1, bls.SQRT_EXP, bls.P)
    bad = [
        (dd, mm, good[:-1] + [bls.P - good[-1]]),  # the odd root
        (dd, mm, [good[0] + 1] + good[1:]),  # not a root of p - f
        (dd, mm, good[:-1] + [good[-1] + 2]),  # not a root of f
        (dd, mm, good[-1:]),  # the earlier counters skipped
        (dd, mm, []),
    ]
    if y1 * y1 % bls.P == f1:  # ctr 1 is on the curve too: claiming it needs a non-square proof for ctr 0
        bad.append((*d0, [0, y1 if y1 % 2 == 0 else bls.P - y1]))
    for dom, msg, h in bad:
        with pytest.raises(Reverted) as ei:
            chain.call(bh, "hashToG1Hinted", dom, msg, h)
        assert ei.value.data[:4] == keccak(b"BadHint()")[:4], h
