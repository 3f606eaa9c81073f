"""Generation: feed the prompt, then the model's own sampled tokens, until a stop token.

Every position runs the same template (the prompt positions too), so step i is always
(token i // S, instruction i % S). The token fed at position t is prompt[t] while t < len(prompt), else
the token sampled at position t-1. The prompt's positions run in blocks (``Executor.run_block``: one weight
pass per block, the same steps as token by token); generated positions one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

from .executor import Executor


@dataclass(frozen=True)
class GenSettings:
    """Generation settings; everything is an integer so the run is reproducible bit for bit."""

    max_new_tokens: int = 32
    temperature_q16: int = 0  # temperature * 2^16; 0 = greedy
    top_k: int = 1
    seed: int = 0

    def run_tensor(self) -> np.ndarray:
        return np.array([self.temperature_q16, self.top_k, self.seed, self.max_new_tokens], dtype=np.int64)


@dataclass
class GenResult:
    prompt: list[int]
    tokens: list[int] = field(default_factory=list)
    positions: int = 0  # positions run (= len(prompt) + len(tokens) - 1 when done)
    stopped: str = ""  # "eos" or "length"


BLOCK_BYTES = 64 << 20  # a block's outputs are held until its steps are reported: bound them


def block_sizes(start: int, stop: int, first: int = 16, budget: int = BLOCK_BYTES, per_position=None):
    """Blocks [a, b) covering [start, stop): ``first`` positions, then as many as ``budget`` bytes of outputs allow
    by ``per_position(p)`` (bytes a position's outputs take, estimated from the last block), at most 64."""
    a = start
    size = first
    while a < stop:
        b = min(stop, a + max(1, size))
        yield a, b
        if per_position is not None:
            size = max(1, min(64, budget // max(1, per_position(b))))
        a = b


def outputs_bytes(outs) -> int:
    """Bytes held by one position's outputs (arrays; KV caches share their buffer and count nothing)."""
    return sum(v.nbytes for v in outs.values() if isinstance(v, np.ndarray))


def generate(
    ex: Executor,
    prompt: list[int],
    settings: GenSettings,
    stop_ids: tuple[int, ...] = (),
    on_token: Callable[[int], None] | None = None,
    on_prompt_progress: Callable[[int, int], None] | None = None,
    positions: int | None = None,
) -> GenResult:
    """Run the prompt, then the model's own samples, until a stop token, max_new_tokens or the context.

    ``positions``: instead, run exactly that many positions (len(prompt) <= positions <= context), ignoring stop
    tokens and max_new_tokens: the honest run a claim of that many positions is judged against (a replay)."""
    if not prompt:
        raise ValueError("empty prompt")
    if positions is not None and not len(prompt) <= positions <= ex.program.context:
        raise ValueError(f"{positions} positions for a prompt of {len(prompt)} in a context of {ex.program.context}")
    run = settings.run_tensor()
    res = GenResult(prompt=list(prompt))
    ex.reset()
    out_name = ex.program.output
    n = len(prompt)
    est = {"bytes": 0}
    for a, b in block_sizes(0, n, per_position=lambda p: est["bytes"]):
        outs = ex.run_block(prompt[a:b], run)
        est["bytes"] = 2 * outputs_bytes(outs)  # the block's last position holds the most; x2 for temporaries
        if on_prompt_progress:
            on_prompt_progress(b, n)
    t = n
    while True:
        nxt = int(outs[out_name][0])
        res.tokens.append(nxt)
        if on_token:
            on_token(nxt)
        if positions is not None:
            if t >= positions:
                res.stopped = "positions"
                break
        elif nxt in stop_ids:
            res.stopped = "eos"
            break
        elif len(res.tokens) >= settings.max_new_tokens:
            res.stopped = "length"
            break
        elif t >= ex.program.context:
            res.stopped = "context"
            break
        outs = ex.step_token(nxt, run)
        t += 1
    res.positions = t
    return res
