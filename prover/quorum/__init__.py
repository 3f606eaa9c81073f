"""Fast finality by a quorum of BN254 BLS attesters (docs/quorum.md): keys, signatures, hash-to-curve (bls.py),
the on-chain client (client.py) and the attester's loop (attester.py)."""
