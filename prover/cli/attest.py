"""`obrain attest keygen | register | run | aggregate | slash | exit | unstake | withdraw`: fast finality by a
quorum of BLS attesters (docs/quorum.md). `obrain deploy --quorum-stake` is in quorum_deploy.py."""

from __future__ import annotations

from .common import EXIT_MISMATCH, EXIT_OK, UsageError, console, wei
from .keys import chain_args, game_client, signer


def quorum_client(a):
    from prover.quorum.client import QuorumClient

    gc = game_client(a)
    addr = gc.quorum_address()
    if addr is None:
        raise UsageError(f"the registry in {a.deployment} has no Quorum (deploy with --quorum-stake)")
    return QuorumClient(gc, addr)


def read_key(path: str):
    """The BLS key of a key file (64 hex digits: the seed of prover.quorum.bls.keygen)."""
    from pathlib import Path

    from prover.quorum.client import AttesterKey

    try:
        text = Path(path).read_text().strip()
        seed = bytes.fromhex(text.removeprefix("0x"))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the BLS key file {path}: {e}") from None
    if len(seed) != 32:
        raise UsageError(f"{path}: a BLS key file holds 32 bytes in hex (obrain attest keygen)")
    return AttesterKey(seed)


def cmd_keygen(a) -> int:
    import os
    from pathlib import Path

    p = Path(a.out)
    if p.exists():
        raise UsageError(f"{p} exists; refusing to overwrite a key")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    console().print(f"BLS key written to {p} (keep it secret: it signs attestations)")
    return EXIT_OK


def cmd_register(a) -> int:
    qc = quorum_client(a)
    key = read_key(a.bls_key)
    r = qc.register(key, sender=signer(a, qc.chain))
    idx = r.event("Registered").args["index"]
    console().print(f"[green]registered[/green] attester {idx} with stake {qc.stake / 1e18} ETH")
    return EXIT_OK


def cmd_run(a) -> int:
    """Replay every claim like `obrain watch` and sign the right ones' hashes into --out."""
    import time
    from pathlib import Path

    from prover.quorum import bls
    from prover.quorum.attester import Attester

    from .chain import make_watcher

    qc = quorum_client(a)
    key = read_key(a.bls_key)
    if not a.state_dir:  # not `obrain watch`'s default: the two may run side by side
        a.state_dir = str(Path(".obrain") / "attest" / qc.gc.address / bls.g1_words(key.pk1)[0].to_bytes(32).hex()[:16])
    w = make_watcher(a, qc.gc)
    try:
        att = Attester(w, qc, key, a.out)
        n = 0
        while a.max_polls is None or n < a.max_polls:
            att.tick()
            n += 1
            if a.once and w.idle():  # every claim posted so far replayed, and the right ones signed
                break
            time.sleep(a.poll)
    except ValueError as e:
        raise UsageError(str(e)) from None
    finally:
        w.close()
    return EXIT_OK


def cmd_aggregate(a) -> int:
    """Aggregate the claim's signature files into a certificate and submit it (or just check it, --dry-run)."""
    import json

    from prover.quorum.attester import collect

    qc = quorum_client(a)
    cert, bad = collect(qc, a.claim_id, a.sigs or ["attestations"])
    for i in bad:
        console().print(f"[yellow]dropped[/yellow] attester {i}: its signature does not verify")
    if cert is None:
        console().print(f"[red]no valid signature[/red] for claim {a.claim_id}")
        return EXIT_MISMATCH
    err = qc.verify_certificate(cert)
    out = {"claim_id": a.claim_id, "non_signers": list(cert.non_signers), "verifies": err is None, "error": err}
    if err is None and not a.dry_run:
        r = qc.certify(cert, sender=signer(a, qc.chain))
        out.update(certified=True, gas=r.gas, signers=r.event("Certified").args["signers"])
    if a.json:
        print(json.dumps(out))
    else:
        what = "certified: the claim is final" if out.get("certified") else ("verifies" if err is None else err)
        console().print(f"claim {a.claim_id}: {what} ({len(cert.non_signers)} non-signers)")
    return EXIT_OK if err is None else EXIT_MISMATCH  # a certificate the chain refuses: nothing was sent


def cmd_slash(a) -> int:
    """Slash every attester that signed a claim the game slashed (half of each stake is credited to you)."""
    qc = quorum_client(a)
    rs = qc.slash_signers(a.claim_id, sender=signer(a, qc.chain))
    got = sorted(e.args["index"] for r in rs for e in r.events if e.name == "AttesterSlashed")
    console().print(f"claim {a.claim_id}: attesters {got} slashed; `obrain attest withdraw` collects your share")
    return EXIT_OK


def cmd_exit(a) -> int:
    """Leave the attester set; the stake unlocks once no claim it signed can still be slashed."""
    qc = quorum_client(a)
    r = qc.exit(a.index, sender=signer(a, qc.chain))
    console().print(f"attester {a.index} left the set; its stake unlocks at {r.event('Exited').args['unlockAt']}")
    return EXIT_OK


def cmd_unstake(a) -> int:
    """After the unlock time: credit an exited attester's stake to its owner (then `obrain attest withdraw`)."""
    qc = quorum_client(a)
    qc.withdraw_stake(a.index, sender=signer(a, qc.chain))
    console().print(f"attester {a.index}: stake credited; `obrain attest withdraw` collects it")
    return EXIT_OK


def cmd_withdraw(a) -> int:
    qc = quorum_client(a)
    sender = signer(a, qc.chain)
    amount = qc.credit(sender.address)
    if amount == 0:
        console().print("nothing to withdraw from the Quorum")
        return EXIT_OK
    qc.withdraw(sender=sender)
    console().print(f"withdrew {amount / 1e18} ETH from the Quorum")
    return EXIT_OK


def add_parsers(sub) -> None:
    at = sub.add_parser(
        "attest",
        help="fast finality: BLS attesters that replay claims and sign the right ones (docs/quorum.md)",
        description="Attesters register a BLS key with a stake, replay every claim like `obrain watch`, sign the "
        "hash of each claim they find right into files; anyone aggregates the files into a certificate that "
        "finalizes the claim at once. Attesters that sign a claim the game later slashes are slashed too.",
    )
    asub = at.add_subparsers(dest="attest_cmd", required=True, metavar="ACTION")
    kg = asub.add_parser("keygen", help="write a new BLS key file (32 random bytes, hex)")
    kg.add_argument("--out", default="bls.key")
    kg.set_defaults(func=cmd_keygen)

    rg = asub.add_parser("register", help="register your BLS key with the Quorum's stake and a proof of possession")
    rg.add_argument("--bls-key", default="bls.key", metavar="FILE")
    chain_args(rg)
    rg.set_defaults(func=cmd_register)

    rn = asub.add_parser("run", help="replay claims (as `obrain watch` does) and sign the right ones into --out")
    rn.add_argument("--bls-key", default="bls.key", metavar="FILE")
    rn.add_argument("--out", default="attestations", metavar="DIR", help="where signature files go")
    rn.add_argument("--model", action="append", help="attest claims on this model (repeatable; default smollm2)")
    rn.add_argument(
        "--state-dir", default=None, metavar="DIR", help="the replaying watcher's state (default .obrain/attest/...)"
    )
    rn.add_argument("--budget", type=wei, default=0, metavar="ETH", help="challenge wrong claims up to this (0: never)")
    rn.add_argument("--once", action="store_true", help="exit when every claim posted so far is replayed and signed")
    chain_args(rn)
    rn.set_defaults(func=cmd_run)

    ag = asub.add_parser("aggregate", help="aggregate a claim's signature files into a certificate and submit it")
    ag.add_argument("claim_id", type=int)
    ag.add_argument("--sigs", action="append", default=None, metavar="DIR", help="signature dirs (repeatable)")
    ag.add_argument("--dry-run", action="store_true", help="only check the certificate (an eth_call)")
    ag.add_argument("--json", action="store_true")
    chain_args(ag)
    ag.set_defaults(func=cmd_aggregate)

    sl = asub.add_parser("slash", help="slash the attesters that signed a claim the game slashed")
    sl.add_argument("claim_id", type=int)
    chain_args(sl)
    sl.set_defaults(func=cmd_slash)

    ex = asub.add_parser("exit", help="leave the attester set (the stake unlocks after the slashing window)")
    ex.add_argument("index", type=int)
    chain_args(ex)
    ex.set_defaults(func=cmd_exit)

    us = asub.add_parser("unstake", help="after the unlock time, credit an exited attester's stake to its owner")
    us.add_argument("index", type=int)
    chain_args(us)
    us.set_defaults(func=cmd_unstake)

    wd = asub.add_parser("withdraw", help="withdraw your credit (slashing rewards, unlocked stake) from the Quorum")
    chain_args(wd)
    wd.set_defaults(func=cmd_withdraw)
