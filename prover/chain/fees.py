"""Transaction fees: EIP-1559 caps from the node's fee history unless the user fixes them.

    policy = FeePolicy(max_fee_wei=None, priority_fee_wei=2 * GWEI)     # tip fixed, cap from the history
    fields = policy.fields(chain.rpc)       # {"maxFeePerGas": ..., "maxPriorityFeePerGas": ...} or {"gasPrice": ...}
    bumped = bump(fields)                   # a replacement's fees (same nonce): every field +25%, at least +1 wei

Default tip: the median, over the last ``history_blocks`` blocks, of each block's median tip (eth_feeHistory
reward percentile 50); default cap: twice the next block's base fee plus the tip, so the transaction stays
includable through six consecutive full blocks (the base fee rises at most 12.5% a block). A node without
eth_feeHistory or without a base fee (a pre-London chain) gets a legacy gasPrice (the user's cap, or
eth_gasPrice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

GWEI = 10**9


def gwei_to_wei(text: str) -> int:
    """A decimal number of gwei such as '1.5' as an exact whole number of wei; ValueError otherwise."""
    try:
        v = Fraction(text) * GWEI
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a number of gwei: {text!r}") from None
    if v < 0 or v.denominator != 1:
        raise ValueError(f"not a whole number of wei: {text!r} gwei")
    return int(v)


@dataclass(frozen=True)
class FeePolicy:
    """Fee caps in wei; None = from the node's fee history."""

    max_fee_wei: int | None = None
    priority_fee_wei: int | None = None
    history_blocks: int = 10

    def fields(self, rpc: Callable[[str, list], Any]) -> dict[str, int]:
        """The fee fields of the next transaction: EIP-1559 when the node reports a base fee, else legacy."""
        try:
            h = rpc("eth_feeHistory", [hex(self.history_blocks), "latest", [50]])
            base = int(h["baseFeePerGas"][-1], 16)  # the last entry is the next block's base fee
        except Exception:  # no eth_feeHistory, or no base fee: a legacy chain
            return {"gasPrice": self.max_fee_wei if self.max_fee_wei is not None else int(rpc("eth_gasPrice", []), 16)}
        tip = self.priority_fee_wei
        if tip is None:
            tips = sorted(int(r[0], 16) for r in h.get("reward") or [] if r)
            tip = tips[len(tips) // 2] if tips else 0
        cap = self.max_fee_wei if self.max_fee_wei is not None else 2 * base + tip
        return {"maxFeePerGas": cap, "maxPriorityFeePerGas": min(tip, cap)}


def bump(fields: dict[str, int]) -> dict[str, int]:
    """Fees for a replacement of a stuck transaction (same nonce): nodes require every fee field raised by at
    least 10%; +25% (and at least 1 wei) clears that everywhere."""
    return {k: v + max(v // 4, 1) for k, v in fields.items()}
