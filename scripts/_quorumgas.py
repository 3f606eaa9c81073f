"""Gas of a quorum certificate (contracts/src/Quorum.sol) for n attesters with a share of non-signers, on anvil:
the rows bench_gas.py prints with --quorum (and in its full run).

Keys are sk_i = base + i, so every public key is the one before plus G1 (one point addition each) and a signer
set's aggregate key and signature are one scalar multiplication of the summed secret: 1,000 attesters cost
seconds, not 1,000 signatures. The set is filled through QuorumBench.registerUnchecked (no proofs of possession:
a registration's cost is not what is measured); the certificate is the real one, verified by the same code.
Each row: `verify` = eth_estimateGas of verifyCertificate (a transaction's 21,000 + calldata + the check: the
non-signers' keys subtracted, hash to G1 from hints, two ecMul, one two-pair ecPairing), `certify` = gasUsed of
the certify transaction (the check, the registry marking the claim Attested, the certificate's commitment stored).
"""

from __future__ import annotations

from prover.chain.client import Chain
from prover.commit.model import model_root
from prover.dispute.protocol import keccak
from prover.quorum import bls
from prover.quorum.client import Certificate, deploy_with_quorum

SIZES = (10, 100, 1000)
NON_SIGNER_SHARES = (0.0, 0.1)
TARGET = 250_000  # 100 attesters, 10% non-signers (issue 17)
STAKE = 10**9
BASE = bls.keygen(b"bench_gas quorum")
CHUNK = 100  # keys per registerUnchecked transaction (four new slots each: under the 2^24 gas cap)


def keys(n: int) -> list[tuple[int, int]]:
    """G1 words of sk_i * G1 for sk_i = BASE + i, i < n: each the one before plus G1."""
    out, p = [], bls.pk_g1(BASE)
    for _ in range(n):
        out.append(bls.g1_words(p))
        p = bls.bn.add(p, bls.bn.G1)
    return out


def _claim(chain: Chain, gc) -> bytes:
    """A minimal claim (a model of arbitrary roots, 3 prompt tokens, 1 output token): its claim hash."""
    S, tpl, wts, stops = 5, keccak(b"template"), keccak(b"weights"), (7,)
    root = model_root(1, S, 64, tpl, wts, stops)
    gc.register_model_raw(root, 1, S, 64, tpl, wts, stops, "bench://")
    cid = gc.post_claim(root, [1, 2, 3], [0, 1, 0, 1], [7], keccak(b"trace"), 3 * S, bond=gc.claim_bond).claim_id
    return gc.claim(cid).claim_hash


def measure(chain: Chain, mock: str, n: int, share: float, pks: list) -> dict:
    """One row: n attesters, round(share * n) non-signers (every k-th index), both gas figures."""
    gc, qc = deploy_with_quorum(
        chain,
        registry=dict(
            claim_bond=10**9,
            challenge_bond=10**9,
            challenge_window=10**6,
            replay_micros=1,
            move_window=10**4,
            k=2,
            one_step=mock,
        ),
        stake=STAKE,
        threshold_bps=6667,
        withdrawal_delay=10**7,
        slash_tail=10**5,
        quorum_contract="QuorumBench",
    )
    for i in range(0, n, CHUNK):
        part = [list(k) for k in pks[i : min(i + CHUNK, n)]]
        gc._tx(qc.q, "registerUnchecked", part, value=STAKE * len(part))
    h = _claim(chain, gc)
    m = round(share * n)
    non = sorted({(j * n) // m for j in range(m)}) if m else []
    signers = sorted(set(range(n)) - set(non))
    sk = sum(BASE + i for i in signers) % bls.R
    cert = Certificate(
        h,
        bls.g1_words(bls.sign(sk, h)),
        bls.g2_words(bls.pk_g2(sk)),
        tuple(non),
        tuple(pks[i] for i in non),
        tuple(bls.hash_to_g1_hints(bls.SIG_DOMAIN, h)),
    )
    err = qc.verify_certificate(cert)
    if err is not None:
        raise SystemExit(f"the benchmark's certificate for {n} attesters does not verify: {err}")
    verify = chain.estimate_gas(qc.q, "verifyCertificate", *cert.args())
    r = qc.certify(cert)
    calldata = len(chain.calldata(qc.q, "certify", *cert.args()))
    return {
        "attesters": n,
        "non_signers": len(non),
        "verify_gas": verify,
        "certify_gas": r.gas,
        "calldata": calldata,
        "hints": len(cert.hints),
    }


def quorum_rows(chain: Chain) -> list[dict]:
    """Every (size, share) row, the keys built once for the largest size."""
    mock = chain.deploy("MockOneStep").address
    pks = keys(max(SIZES))
    return [measure(chain, mock, n, s, pks) for n in SIZES for s in NON_SIGNER_SHARES]


def quorum_summary(rows: list[dict]) -> dict:
    """Headline figures: the gas at 100 attesters and 10% non-signers against the target."""
    at = next(r for r in rows if r["attesters"] == 100 and r["non_signers"] == 10)
    return {
        "quorum_verify_gas_100_10pct": at["verify_gas"],
        "quorum_certify_gas_100_10pct": at["certify_gas"],
        "quorum_target_gas": TARGET,
        "quorum_meets_target": at["certify_gas"] < TARGET,
        "quorum_gas": {f"{r['attesters']}/{r['non_signers']}": [r["verify_gas"], r["certify_gas"]] for r in rows},
    }
