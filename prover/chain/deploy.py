"""Deploying the contracts: the one-step verifier (one contract per op family, and the router over them, built
from the op table in engine/ops) and the claim registry (which deploys its dispute game).

    one = deploy_one_step(chain, sender=key)          # the OneStep router; one.families: {contract name: address}
    gc = GameClient.deploy(chain, ..., one_step=one.address, sender=key)
"""

from __future__ import annotations

from typing import Any

from engine import ops

from .client import Chain


def family_table() -> dict[str, list[int]]:
    """{family contract name: its opcodes, ascending} for every registered op (core and plugins)."""
    fams: dict[str, list[int]] = {}
    for op in sorted(ops.all_ops().values(), key=lambda o: o.opcode):
        fams.setdefault(op.solidity, []).append(op.opcode)
    return fams


def deploy_one_step(chain: Chain, sender: Any = None) -> Any:
    """Deploy every op family's verifier, then the OneStep router routing each opcode to its family's contract.
    Returns the router's web3 Contract, with ``.families`` = {contract name: address} and ``.deploy_gas`` (all)."""
    fams = family_table()
    addrs, gas = {}, 0
    for name, c in zip(fams, chain.deploy_many([(name, ()) for name in fams], sender=sender)):  # one block, if it fits
        addrs[name] = c.address
        gas += int(c.deploy_receipt["gasUsed"])
    opcodes = [op for name in fams for op in fams[name]]
    families = [addrs[name] for name in fams for _ in fams[name]]
    router = chain.deploy("OneStep", opcodes, families, sender=sender)
    router.families = addrs
    router.deploy_gas = gas + int(router.deploy_receipt["gasUsed"])
    return router
