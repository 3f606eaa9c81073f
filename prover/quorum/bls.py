"""BLS signatures over BN254 (alt_bn128, the curve of the EVM's precompiles 0x06-0x08), exactly as
contracts/src/BLS.sol checks them (docs/quorum.md).

    sk = keygen(seed)                            # an integer in [1, r)
    pk1, pk2 = pk_g1(sk), pk_g2(sk)              # the same key in G1 (aggregated on chain) and in G2 (pairings)
    sig = sign(sk, claim_hash)                   # sk * H(SIG_DOMAIN, claim_hash), a G1 point
    verify(pk2, claim_hash, sig)                 # e(sig, G2) == e(H(m), pk2)
    pop = prove_possession(sk, chain_id, quorum, owner)   # sk * H(POP_DOMAIN, pop_message(...)): a registration's

Points are py_ecc.optimized_bn128 projective triples inside; to the EVM a G1 point is (x, y) and a G2 point is
(x_im, x_re, y_im, y_re) (EIP-197 orders each F_p^2 coordinate imaginary part first; py_ecc's FQ2 coeffs are
(re, im)): ``g1_words`` / ``g2_words`` and their inverses are the only place that order lives.

Hash to G1 (try-and-increment, defined here once, mirrored by BLS.hashToG1):
    for ctr = 0, 1, 2, ...:  x = uint256(keccak256(domain || msg || uint256(ctr))) mod p,  f = x^3 + 3 mod p,
                             y = f^((p+1)/4) mod p;  if y^2 == f mod p: return (x, y if y is even else p - y).
(p = 3 mod 4, so (p+1)/4 gives a square root of every square; f != 0 since G1 has prime order and no point with
y = 0; about half the x are on the curve, so ctr rarely passes 2.) `domain` and `msg` are 32 bytes each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from eth_utils import keccak
from py_ecc import optimized_bn128 as bn

P = bn.field_modulus
R = bn.curve_order
SIG_DOMAIN = keccak(b"obrain.quorum.v1.attest")  # what attesters sign: a claim hash
POP_DOMAIN = keccak(b"obrain.quorum.v1.possession")  # a proof of possession: never a valid attestation
SQRT_EXP = (P + 1) // 4

G1Point = tuple  # py_ecc projective (FQ, FQ, FQ)
G2Point = tuple  # py_ecc projective (FQ2, FQ2, FQ2)


def u256(x: int) -> bytes:
    return int(x).to_bytes(32, "big")


# -- keys ----------------------------------------------------------------------------------------------


def keygen(seed: bytes) -> int:
    """sk = uint256(keccak256("obrain.quorum.v1.key" || seed)) mod (r - 1) + 1, in [1, r)."""
    return int.from_bytes(keccak(b"obrain.quorum.v1.key" + bytes(seed)), "big") % (R - 1) + 1


def pk_g1(sk: int) -> G1Point:
    """sk * G1."""
    return bn.multiply(bn.G1, sk % R)


def pk_g2(sk: int) -> G2Point:
    """sk * G2."""
    return bn.multiply(bn.G2, sk % R)


# -- encodings (the EVM's word order) ------------------------------------------------------------------


def g1_words(p: G1Point) -> tuple[int, int]:
    """(x, y) of an affine G1 point; (0, 0) for the point at infinity (the precompiles' encoding)."""
    if bn.is_inf(p):
        return (0, 0)
    x, y = bn.normalize(p)
    return (int(x), int(y))


def g1_from_words(w: Sequence[int]) -> G1Point:
    """The G1 point (x, y); ValueError if it is not on the curve ((0, 0) is the point at infinity)."""
    x, y = (int(v) for v in w)
    if (x, y) == (0, 0):
        return bn.Z1
    pt = (bn.FQ(x), bn.FQ(y), bn.FQ.one())
    if not (x < P and y < P and bn.is_on_curve(pt, bn.b)):
        raise ValueError("not a G1 point")
    return pt


def g2_words(p: G2Point) -> tuple[int, int, int, int]:
    """(x_im, x_re, y_im, y_re) of an affine G2 point: EIP-197's order, imaginary part first."""
    if bn.is_inf(p):
        return (0, 0, 0, 0)
    x, y = (cast(bn.FQ2, c) for c in bn.normalize(p))  # py_ecc types normalize's result as a generic field
    return (int(x.coeffs[1]), int(x.coeffs[0]), int(y.coeffs[1]), int(y.coeffs[0]))


def g2_from_words(w: Sequence[int]) -> G2Point:
    """The G2 point from (x_im, x_re, y_im, y_re); ValueError if it is not on the twist or not of order r."""
    xi, xr, yi, yr = (int(v) for v in w)
    if (xi, xr, yi, yr) == (0, 0, 0, 0):
        return bn.Z2
    pt = (bn.FQ2([xr, xi]), bn.FQ2([yr, yi]), bn.FQ2.one())
    if not (max(xi, xr, yi, yr) < P and bn.is_on_curve(pt, bn.b2)) or not bn.is_inf(bn.multiply(pt, R)):
        raise ValueError("not a G2 point of order r")
    return pt


# -- hash to G1 ----------------------------------------------------------------------------------------


def hash_to_g1_trace(domain: bytes, msg: bytes) -> tuple[int, int, int]:
    """(x, y, ctr) of hash_to_g1(domain, msg) (module docstring), with the counter that found it."""
    if len(domain) != 32 or len(msg) != 32:
        raise ValueError("domain and msg are 32 bytes each")
    for ctr in range(256):
        x = int.from_bytes(keccak(domain + msg + u256(ctr)), "big") % P
        f = (x * x * x + 3) % P
        y = pow(f, SQRT_EXP, P)
        if y * y % P == f:
            return x, (y if y % 2 == 0 else P - y), ctr
    raise ValueError("no point in 256 tries")  # probability 2^-256


def hash_to_g1_hints(domain: bytes, msg: bytes) -> list[int]:
    """What BLS.hashToG1Hinted checks instead of computing: for each counter before the point's, sqrt(p - f(x))
    (proving f(x) is no square, -1 being none mod p); then the point's y."""
    x, y, ctr = hash_to_g1_trace(domain, msg)
    hints = []
    for c in range(ctr):
        xc = int.from_bytes(keccak(domain + msg + u256(c)), "big") % P
        hints.append(pow((P - (xc * xc * xc + 3)) % P, SQRT_EXP, P))
    return [*hints, y]


def hash_to_g1(domain: bytes, msg: bytes) -> G1Point:
    """H(domain, msg) in G1 (module docstring)."""
    x, y, _ = hash_to_g1_trace(domain, msg)
    return (bn.FQ(x), bn.FQ(y), bn.FQ.one())


# -- signatures ----------------------------------------------------------------------------------------


def sign(sk: int, msg: bytes, domain: bytes = SIG_DOMAIN) -> G1Point:
    """sk * H(domain, msg)."""
    return bn.multiply(hash_to_g1(domain, msg), sk % R)


def pairing_product_is_one(pairs: Iterable[tuple[G2Point, G1Point]]) -> bool:
    """prod e(Q_i, P_i) == 1 (what precompile 0x08 answers), with one final exponentiation."""
    acc = bn.FQ12.one()
    for q, p in pairs:
        if bn.is_inf(q) or bn.is_inf(p):
            continue
        acc = acc * bn.pairing(q, p, final_exponentiate=False)
    return bn.final_exponentiate(acc) == bn.FQ12.one()


def verify(pk2: G2Point, msg: bytes, sig: G1Point, domain: bytes = SIG_DOMAIN) -> bool:
    """e(sig, -G2) * e(H(domain, msg), pk2) == 1, i.e. e(sig, G2) == e(H(m), pk2)."""
    return pairing_product_is_one([(bn.neg(bn.G2), sig), (pk2, hash_to_g1(domain, msg))])


def aggregate(points: Iterable) -> tuple:
    """The sum of G1 (or G2) points; G1's point at infinity for none."""
    acc = None
    for p in points:
        acc = p if acc is None else bn.add(acc, p)
    return bn.Z1 if acc is None else acc


# -- the on-chain check: one pairing binds the G1 aggregate to the G2 key ----------------------------------


def gamma(msg: bytes, apk1: G1Point, apk2: G2Point, sig: G1Point) -> int:
    """uint256(keccak256(msg || apk1 (x, y) || apk2 (x_im, x_re, y_im, y_re) || sig (x, y))) mod r."""
    words = [*g1_words(apk1), *g2_words(apk2), *g1_words(sig)]
    return int.from_bytes(keccak(bytes(msg) + b"".join(u256(w) for w in words)), "big") % R


def verify_g1g2(msg: bytes, apk1: G1Point, apk2: G2Point, sig: G1Point, domain: bytes = SIG_DOMAIN) -> bool:
    """BLS.verifyG1G2: e(sig + g*apk1, -G2) * e(H(domain, msg) + g*G1, apk2) == 1 with g = gamma(...): sig is a
    signature of msg under apk2 AND apk1 has apk2's discrete log (both hold but with probability ~1/r)."""
    g = gamma(msg, apk1, apk2, sig)
    left = bn.add(sig, bn.multiply(apk1, g))
    right = bn.add(hash_to_g1(domain, msg), bn.multiply(bn.G1, g))
    return pairing_product_is_one([(bn.neg(bn.G2), left), (apk2, right)])


# -- proofs of possession --------------------------------------------------------------------------------


def pop_message(chain_id: int, quorum: str, owner: str, pk1: G1Point) -> bytes:
    """keccak256("pop" || u256 chainid || address quorum || address owner || pk1.x || pk1.y): what a registration
    signs under POP_DOMAIN (bound to one chain, one Quorum contract and the registering account)."""
    x, y = g1_words(pk1)
    return keccak(b"pop" + u256(chain_id) + bytes.fromhex(quorum[2:]) + bytes.fromhex(owner[2:]) + u256(x) + u256(y))


def prove_possession(sk: int, chain_id: int, quorum: str, owner: str) -> G1Point:
    """sk * H(POP_DOMAIN, pop_message(chain_id, quorum, owner, sk * G1))."""
    return sign(sk, pop_message(chain_id, quorum, owner, pk_g1(sk)), POP_DOMAIN)
