"""`obrain deploy --quorum-stake`: a Quorum of BLS attesters deployed beside the registry (docs/quorum.md), its
options and its slash tail."""

from __future__ import annotations

from .common import positive, ranged, wei


def quorum_deploy_args(dp) -> None:
    """`obrain deploy`'s quorum options."""
    g = dp.add_argument_group("fast finality (a Quorum of BLS attesters, docs/quorum.md)")
    g.add_argument(
        "--quorum-stake", type=wei, default=None, metavar="ETH", help="deploy a Quorum: each attester's stake"
    )
    g.add_argument(
        "--quorum-threshold-bps",
        type=ranged(1, 10_000, "basis points"),
        default=6667,
        metavar="BPS",
        help="share of the active stake a certificate needs (default 6667: two thirds)",
    )
    g.add_argument(
        "--quorum-withdrawal-delay",
        type=positive,
        default=None,
        metavar="S",
        help="seconds between an attester's exit and its withdrawal (default: the slash tail + the challenge window)",
    )


def slash_tail(move_window: int, steps: int = 1024 * 402, leaves: int = 4096) -> int:
    """The longest a game opened just before a claim's window closes can run: 1 + MAX_STRETCH move windows a round
    (the challenger's one, the defender's stretched by the claim's open games), every round of the worst-case game
    (ceil(log2 steps) + ceil(log2 leaves) + 2), plus one window for the slashing call."""
    from prover.dispute.protocol import ceil_log2
    from prover.dispute.timing import MAX_STRETCH

    return ((1 + MAX_STRETCH) * (ceil_log2(steps) + ceil_log2(leaves) + 2) + 1) * move_window


def deploy_quorum(a, chain, registry: dict, sender) -> tuple:
    """The registry with a Quorum bound to it; the deployment JSON's "quorum" entry."""
    from prover.quorum.client import deploy_with_quorum

    tail = slash_tail(registry["move_window"])
    delay = a.quorum_withdrawal_delay or tail + registry["challenge_window"]
    gc, qc = deploy_with_quorum(
        chain,
        registry=registry,
        stake=a.quorum_stake,
        threshold_bps=a.quorum_threshold_bps,
        withdrawal_delay=delay,
        slash_tail=tail,
        sender=sender,
    )
    info = {
        "address": qc.address,
        "stake_wei": a.quorum_stake,
        "threshold_bps": a.quorum_threshold_bps,
        "withdrawal_delay_s": delay,
        "slash_tail_s": tail,
    }
    return gc, info
