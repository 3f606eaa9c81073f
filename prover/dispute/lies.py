"""Dishonest operators, for demos and tests: what a liar changes before it commits a claim.

    Lie(corruption=Corruption(step, element, delta))  a step's output element; the engine computes on with
                                                      it, so the trace from that step on is the liar's own
    Lie(output=(index, token))                        the claimed generated token `index` (the trace is honest)
    Lie(model_root=root, model_id=id)                 the claimed model (the run was computed with another one)

A liar's run directory records its lie in operator.json (``to_json``), so `obrain submit` can replay the run
it committed and defend it as far as the game lets it. An honest player never needs this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..commit.trace import Corruption


@dataclass(frozen=True)
class Lie:
    """At most one of each kind; an empty Lie is an honest operator."""

    corruption: Corruption | None = None
    output: tuple[int, int] | None = None  # (generated token index, claimed token id)
    model_root: bytes | None = None  # claimed model root (32 bytes)
    model_id: str | None = None  # the claimed model's id in the receipt
    computed_with: str | None = None  # the model the run really used (model lies)

    def __post_init__(self):
        if self.output is not None:
            i, tok = self.output
            if i < 0 or not 0 <= tok < 2**31:
                raise ValueError(f"output lie ({i}, {tok}): index must be >= 0 and the token in [0, 2^31)")
        if self.model_root is not None and len(self.model_root) != 32:
            raise ValueError("a claimed model root is 32 bytes")

    @property
    def honest(self) -> bool:
        return self.corruption is None and self.output is None and self.model_root is None

    def claimed_output(self, tokens: Sequence[int]) -> list[int]:
        """The output tokens the liar claims, given its run's real ones (ValueError if the lie changes nothing)."""
        out = [int(t) for t in tokens]
        if self.output is None:
            return out
        i, tok = self.output
        if i >= len(out):
            raise ValueError(f"output lie at token {i}: the run generated only {len(out)} tokens")
        if out[i] == tok:
            raise ValueError(f"output lie at token {i}: the run already generated {tok}; that is no lie")
        out[i] = tok
        return out

    def claimed_model_root(self, real: bytes) -> bytes:
        return real if self.model_root is None else self.model_root

    # -- operator.json ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "corruption": None if self.corruption is None else vars(self.corruption),
            "output": None if self.output is None else list(self.output),
            "model_root": None if self.model_root is None else "0x" + self.model_root.hex(),
            "model_id": self.model_id,
            "computed_with": self.computed_with,
        }

    @classmethod
    def from_json(cls, d: Any) -> Lie:
        """Inverse of to_json; {} or None (an honest operator's notes) give the empty Lie. ValueError (one line)
        for anything else: operator.json sits beside an untrusted receipt."""
        d = d or {}
        try:
            if not isinstance(d, dict) or set(d) - {"corruption", "output", "model_root", "model_id", "computed_with"}:
                raise ValueError("not an operator notes object")
            c, out, root = d.get("corruption"), d.get("output"), d.get("model_root")
            corr = None
            if c:
                if not isinstance(c, dict) or set(c) != {"step", "element", "delta"}:
                    raise ValueError("corruption must be {step, element, delta}")
                vals = [c["step"], c["element"], c["delta"]]
                if not all(isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 for v in vals):
                    raise ValueError("corruption fields must be int64 integers")
                corr = Corruption(*vals)
            if out and (not isinstance(out, list) or len(out) != 2 or not all(isinstance(v, int) for v in out)):
                raise ValueError("output must be [index, token]")
            for k in ("model_id", "computed_with"):
                if d.get(k) is not None and not isinstance(d[k], str):
                    raise ValueError(f"{k} must be a string")
            return cls(
                corruption=corr,
                output=(int(out[0]), int(out[1])) if out else None,
                model_root=bytes.fromhex(root[2:]) if root else None,
                model_id=d.get("model_id"),
                computed_with=d.get("computed_with"),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"bad operator notes: {e}") from None


def apply_to_receipt(receipt, lie: Lie, lm, claimed_lm=None):
    """The receipt the liar publishes: its run's receipt (made with ``lm``) with the claimed output and/or model.

    Every field is made consistent with the lie (output hash and text; for a model lie with ``claimed_lm`` the
    claimed model's name, file hash and template), so nothing but a replay gives the lie away."""
    from engine.runtime import output_text

    from ..commit.model import hex32, model_commitment, output_hash

    upd: dict[str, Any] = {}
    if lie.output is not None:
        toks = lie.claimed_output(receipt.output.tokens)
        upd["output"] = receipt.output.model_copy(
            update={"tokens": toks, "output_hash": hex32(output_hash(toks)), "text": output_text(lm, toks)}
        )
    if lie.model_root is not None:
        m: dict[str, Any] = {"model_root": hex32(lie.model_root)}
        if lie.model_id is not None:
            m["id"] = lie.model_id
        if claimed_lm is not None:
            mc = model_commitment(claimed_lm)
            m.update(
                name=claimed_lm.config.name,
                file_sha256=claimed_lm.loaded.source.sha256(),
                steps_per_token=mc.steps_per_token,
                context=mc.context,
            )
        upd["model"] = receipt.model.model_copy(update=m)
    return receipt.model_copy(update=upd) if upd else receipt
